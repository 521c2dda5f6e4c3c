// GPU tests (ggml test-backend-ops style): every kernel against the CPU op on random inputs and odd shapes,
// with a guard region after each output checked untouched; the golden end-to-end tests on the GPU in every
// precision; CUDA Graph replay equal to eager launches bit for bit. Each case prints why it skips when there
// is no device.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <random>

#include <nlohmann/json.hpp>

#include "engine/base/error.h"
#include "engine/cpu/backend.h"
#include "engine/cuda/backend.h"
#include "engine/cuda/graph_conv.cuh"
#include "engine/engine.h"
#include "engine/model/resnet.h"
#include "engine/ops/cpu_ops.h"
#include "kernels/bn_act.cuh"
#include "kernels/cam.cuh"
#include "kernels/pool.cuh"
#include "kernels/preprocess.cuh"
#include "kernels/softmax_topk.cuh"
#include "tests/cuda_test_util.cuh"
#include "tests/golden_check.h"
#include "tests/test_util.h"

using camtest::Guarded;
using camtest::no_gpu;

namespace {

std::mt19937 rng(77);

// Host values rounded through the storage type, their device encoding, and decoding of device results.
std::vector<uint8_t> encode(const std::vector<float>& v, cam::Storage s) {
  std::vector<uint8_t> out(v.size() * cam::storage_bytes(s));
  for (size_t i = 0; i < v.size(); ++i) {
    if (s == cam::Storage::kF32) std::memcpy(&out[i * 4], &v[i], 4);
    if (s == cam::Storage::kF16) {
      __half h = __float2half_rn(v[i]);
      std::memcpy(&out[i * 2], &h, 2);
    }
    if (s == cam::Storage::kBF16) {
      __nv_bfloat16 b = __float2bfloat16_rn(v[i]);
      std::memcpy(&out[i * 2], &b, 2);
    }
  }
  return out;
}

std::vector<float> decode(const std::vector<uint8_t>& raw, cam::Storage s) {
  size_t n = raw.size() / cam::storage_bytes(s);
  std::vector<float> out(n);
  for (size_t i = 0; i < n; ++i) {
    if (s == cam::Storage::kF32) std::memcpy(&out[i], &raw[i * 4], 4);
    if (s == cam::Storage::kF16) {
      __half h;
      std::memcpy(&h, &raw[i * 2], 2);
      out[i] = __half2float(h);
    }
    if (s == cam::Storage::kBF16) {
      __nv_bfloat16 b;
      std::memcpy(&b, &raw[i * 2], 2);
      out[i] = __bfloat162float(b);
    }
  }
  return out;
}

std::vector<float> rounded(const std::vector<float>& v, cam::Storage s) {
  return decode(encode(v, s), s);
}

double tolerance(cam::Storage s) {
  return s == cam::Storage::kF32 ? 1e-6 : (s == cam::Storage::kF16 ? 1e-3 : 8e-3);
}

const cam::Storage kStorages[] = {cam::Storage::kF32, cam::Storage::kF16, cam::Storage::kBF16};

}  // namespace

TEST_CASE("GPU bn_act equals the CPU op (vector and scalar paths, every storage)") {
  if (no_gpu()) return;
  for (cam::Storage s : kStorages)
    for (int channels : {64, 13})
      for (bool residual : {false, true}) {
        const int pixels = 333;
        std::vector<float> x = rounded(camtest::random_floats(pixels * channels, rng), s);
        std::vector<float> res = rounded(camtest::random_floats(pixels * channels, rng), s);
        std::vector<float> shift = camtest::random_floats(channels, rng);
        Guarded dx(x.size() * cam::storage_bytes(s)), dr(x.size() * cam::storage_bytes(s)),
            dy(x.size() * cam::storage_bytes(s));
        Guarded dshift(channels * 4);
        dx.upload(encode(x, s).data());
        dr.upload(encode(res, s).data());
        dshift.upload(shift.data());
        cam::launch_bn_act(s, dx.ptr, dshift.as<float>(), residual ? dr.ptr : nullptr, true, pixels, channels,
                           dy.ptr, nullptr);
        std::vector<float> want(x.size());
        cam::bn_act_cpu(x.data(), shift.data(), residual ? res.data() : nullptr, true, pixels, channels,
                        want.data());
        CHECK(camtest::rel_l2(decode(dy.download(), s), want) <= tolerance(s));
      }
}

TEST_CASE("GPU max pool and global average pool equal the CPU ops") {
  if (no_gpu()) return;
  for (cam::Storage s : kStorages)
    for (auto hw : {std::make_pair(13, 13), std::make_pair(7, 4), std::make_pair(112, 111)}) {
      const int n = 2, c = 24, h = hw.first, w = hw.second, oh = (h - 1) / 2 + 1, ow = (w - 1) / 2 + 1;
      std::vector<float> x = rounded(camtest::random_floats(static_cast<size_t>(n) * h * w * c, rng), s);
      Guarded dx(x.size() * cam::storage_bytes(s)),
          dy(static_cast<size_t>(n) * oh * ow * c * cam::storage_bytes(s)), dg(n * c * 4);
      dx.upload(encode(x, s).data());
      cam::launch_max_pool(s, dx.ptr, n, h, w, c, dy.ptr, nullptr);
      cam::launch_global_avg_pool(s, dx.ptr, n, h * w, c, dg.as<float>(), nullptr);
      std::vector<float> want(static_cast<size_t>(n) * oh * ow * c), gap(n * c);
      cam::max_pool_cpu(x.data(), n, h, w, c, want.data());
      cam::global_avg_pool_cpu(x.data(), n, h * w, c, gap.data());
      CHECK(decode(dy.download(), s) == want);
      CHECK(camtest::rel_l2(dg.floats(), gap) <= 1e-6);
    }
}

TEST_CASE("GPU ResNet-D shortcut pool equals the CPU op: the same sums, rounded to the storage type") {
  if (no_gpu()) return;
  for (cam::Storage s : kStorages)
    for (auto hw :
         {std::make_pair(14, 14), std::make_pair(7, 4), std::make_pair(1, 1), std::make_pair(3, 5)}) {
      const int n = 2, c = 24, h = hw.first, w = hw.second, oh = (h + 1) / 2, ow = (w + 1) / 2;
      std::vector<float> x = rounded(camtest::random_floats(static_cast<size_t>(n) * h * w * c, rng), s);
      Guarded dx(x.size() * cam::storage_bytes(s)),
          dy(static_cast<size_t>(n) * oh * ow * c * cam::storage_bytes(s));
      dx.upload(encode(x, s).data());
      cam::launch_avg_down_pool(s, dx.ptr, n, h, w, c, dy.ptr, nullptr);
      std::vector<float> want(static_cast<size_t>(n) * oh * ow * c);
      cam::avg_down_pool_cpu(x.data(), n, h, w, c, want.data());
      CHECK(decode(dy.download(), s) == rounded(want, s));
    }
}

TEST_CASE("GPU forward of every net kind (basic, bottleneck, dilated, ResNeXt-D) equals the CPU backend's") {
  if (no_gpu()) return;
  for (int kind : camtest::kNetKinds)
    for (const char* precision : {"fp32", "fp16", "bf16"}) {
      CAPTURE(kind);
      CAPTURE(precision);
      const cam::ResNet net = camtest::random_resnet(kind, 16, 7, rng);
      const int n = 3, h = 45, w = 38;
      std::vector<float> x = camtest::random_floats(static_cast<size_t>(n) * h * w * 3, rng);
      cam::CpuBackend cpu(net, 0, cam::Precision::kFp32);
      auto gpu = cam::make_cuda_backend(net, cam::parse_precision(precision), cam::CudaOptions(), false);
      cam::ForwardResult want, got;
      cpu.forward(x.data(), n, h, w, true, want);
      gpu->forward(x.data(), n, h, w, true, got);
      REQUIRE(got.stages.size() == want.stages.size());
      const double bound = std::string(precision) == "fp32"   ? 1e-5
                           : std::string(precision) == "fp16" ? 1e-2
                                                              : 5e-2;
      for (size_t i = 0; i < want.stages.size(); ++i)
        CHECK(camtest::rel_l2(got.stages[i], want.stages[i]) < bound);
      CHECK(camtest::rel_l2(got.features, want.features) < bound);
      CHECK(camtest::rel_l2(got.logits, want.logits) < bound);
    }
}

TEST_CASE("GPU softmax + top-k equal the CPU ops, bias added in place") {
  if (no_gpu()) return;
  for (int classes : {5, 131, 1000}) {
    const int n = 3, k = std::min(5, classes);
    std::vector<float> logits = camtest::random_floats(n * classes, rng, -4, 4),
                       bias = camtest::random_floats(classes, rng);
    logits[7] = logits[3];  // a tie
    Guarded dl(logits.size() * 4), db(classes * 4), dp(logits.size() * 4), dt(n * k * 4);
    dl.upload(logits.data());
    db.upload(bias.data());
    cam::launch_softmax_topk(dl.as<float>(), db.as<float>(), n, classes, k, dp.as<float>(), dt.as<int>(),
                             nullptr);
    for (int i = 0; i < n * classes; ++i) logits[i] += bias[i % classes];
    std::vector<float> probs(logits.size());
    cam::softmax_cpu(logits.data(), n, classes, probs.data());
    CHECK(camtest::rel_l2(dl.floats(), logits) == 0);
    CHECK(camtest::rel_l2(dp.floats(), probs) <= 1e-6);
    std::vector<uint8_t> raw = dt.download();
    std::vector<int> top(n * k);
    std::memcpy(top.data(), raw.data(), raw.size());
    std::vector<float> got_logits = dl.floats();  // ranked by logit, as the CPU backend ranks them
    for (int i = 0; i < n; ++i)
      CHECK(std::vector<int>(top.begin() + i * k, top.begin() + (i + 1) * k) ==
            cam::topk_cpu(&got_logits[i * classes], classes, k));
  }
}

TEST_CASE("GPU CAM equals the CPU class map: top-k and requested slots, odd sizes") {
  if (no_gpu()) return;
  for (cam::Storage s : kStorages)
    for (auto sz : {std::make_tuple(4, 4, 100, 100), std::make_tuple(7, 7, 224, 224),
                    std::make_tuple(13, 11, 64, 48)}) {
      const int n = 2, h = std::get<0>(sz), w = std::get<1>(sz), oh = std::get<2>(sz), ow = std::get<3>(sz),
                c = 96, classes = 7, k = 2, r = 1;
      std::vector<float> a =
          rounded(camtest::random_floats(static_cast<size_t>(n) * h * w * c, rng, 0, 1), s);
      std::vector<float> fc = camtest::random_floats(classes * c, rng);
      std::vector<int> topk = {3, 1, 0, 6}, requested = {5};
      Guarded da(a.size() * cam::storage_bytes(s)), dfc(fc.size() * 4), dt(topk.size() * 4), dr(4),
          dm(static_cast<size_t>(n) * (k + r) * oh * ow * 4);
      da.upload(encode(a, s).data());
      dfc.upload(fc.data());
      dt.upload(topk.data());
      dr.upload(requested.data());
      cam::launch_cam(s, da.ptr, n, h, w, c, dfc.as<float>(), nullptr, nullptr, dt.as<int>(), k, dr.as<int>(),
                      r, oh, ow, dm.as<float>(), nullptr);
      std::vector<float> got = dm.floats(), lowres(h * w), want(static_cast<size_t>(oh) * ow);
      double worst = 0;
      for (int i = 0; i < n; ++i)
        for (int j = 0; j < k + r; ++j) {
          int cls = j < k ? topk[i * k + j] : requested[j - k];
          cam::class_map_cpu(&a[static_cast<size_t>(i) * h * w * c], h, w, c, &fc[cls * c], oh, ow,
                             lowres.data(), want.data());
          std::vector<float> slot(got.begin() + (i * (k + r) + j) * oh * ow,
                                  got.begin() + (i * (k + r) + j + 1) * oh * ow);
          worst = std::max(worst, camtest::max_abs_diff(slot, want));
        }
      CHECK(worst <= 1e-5);
    }
}

TEST_CASE("GPU overlay equals the CPU overlay at original sizes, over the whole photo and a crop's region") {
  if (no_gpu()) return;
  cam::upload_colormaps();
  const int mh = 100, mw = 100, slots = 2;
  std::vector<cam::Image> images = {camtest::random_image(100, 100, rng),
                                    camtest::random_image(37, 251, rng)};
  std::vector<float> maps = camtest::random_floats(images.size() * slots * mh * mw, rng, 0, 1);
  std::vector<uint8_t> packed;
  std::vector<cam::PackedOverlay> desc;
  size_t out_bytes = 0;
  for (const cam::Image& im : images) {
    cam::Preprocess pre;
    pre.height = mh, pre.width = mw, pre.resize_shorter = desc.empty() ? 0 : 112;
    desc.push_back({static_cast<int64_t>(packed.size()), static_cast<int64_t>(out_bytes), im.width, im.height,
                    cam::input_region(pre, im.height, im.width)});
    packed.insert(packed.end(), im.rgb.begin(), im.rgb.end());
    out_bytes += im.rgb.size() * slots;
  }
  Guarded dmaps(maps.size() * 4), dimg(packed.size()), ddesc(desc.size() * sizeof(cam::PackedOverlay)),
      dmax(images.size() * slots * 4), dout(out_bytes);
  dmaps.upload(maps.data());
  dimg.upload(packed.data());
  ddesc.upload(desc.data());
  cam::launch_overlay(dmaps.as<float>(), 2, slots, mh, mw, dimg.as<uint8_t>(), ddesc.as<cam::PackedOverlay>(),
                      37 * 251, 0.5f, 1, dmax.as<float>(), dout.as<uint8_t>(), nullptr);
  std::vector<uint8_t> got = dout.download();
  for (size_t i = 0; i < images.size(); ++i)
    for (int j = 0; j < slots; ++j) {
      const cam::Image& im = images[i];
      std::vector<uint8_t> want(im.rgb.size());
      cam::overlay_cpu(&maps[(i * slots + j) * mh * mw], mh, mw, im.rgb.data(), im.height, im.width,
                       desc[i].region, 0.5f, 1, want.data());
      int worst = 0;
      for (size_t b = 0; b < want.size(); ++b)
        worst = std::max(worst, std::abs(got[desc[i].output_offset + j * want.size() + b] - want[b]));
      CHECK(worst <= 3);
    }
}

TEST_CASE("GPU preprocess equals the CPU backend's, in every resize mode, stretched and centre-cropped") {
  if (no_gpu()) return;
  std::vector<cam::Image> images = {
      camtest::random_image(100, 100, rng), camtest::random_image(640, 480, rng),
      camtest::random_image(31, 17, rng), camtest::random_image(200, 200, rng),  // cv2-linear: a halving
      camtest::random_image(60, 400, rng)};  // pil-bilinear: Pillow 13 runs the vertical pass first
  const int oh = 100, ow = 100, channels = 8;
  std::vector<uint8_t> packed;
  size_t most_rows = 0;  // the scratch for the larger of the two pass orders
  for (const cam::Image& im : images) {
    packed.insert(packed.end(), im.rgb.begin(), im.rgb.end());
    most_rows += static_cast<size_t>(std::max(im.height * ow, oh * im.width)) * 3;
  }  // (a crop's first pass is no larger: the input's rows or columns of it)
  cam::Normalization norm{1.0f / 255, {0.485f, 0.456f, 0.406f}, {0.229f, 0.224f, 0.225f}, 0};
  Guarded dimg(packed.size()), dslots(images.size() * sizeof(cam::PackedImage)), drows(most_rows),
      dout(images.size() * oh * ow * channels * 4);
  dimg.upload(packed.data());
  for (int shorter : {0, 115})  // stretched; the shorter side to 115 and the centre 100x100 crop
    for (cam::ResizeMode mode :
         {cam::ResizeMode::kPilBilinear, cam::ResizeMode::kPil12Bilinear, cam::ResizeMode::kPilBicubic,
          cam::ResizeMode::kPil12Bicubic, cam::ResizeMode::kPilNearest, cam::ResizeMode::kCvLinear,
          cam::ResizeMode::kCvArea, cam::ResizeMode::kTfBilinear, cam::ResizeMode::kTfBilinearAntialias}) {
      CAPTURE(static_cast<int>(mode));
      CAPTURE(shorter);
      std::vector<cam::PackedImage> slots;
      int64_t offset = 0, rows = 0;
      int first_rows = 0, first_cols = 0;
      for (const cam::Image& im : images) {
        const cam::ResizeBox box = cam::resize_box(im.height, im.width, oh, ow, shorter);
        const cam::PilPasses passes = cam::pil_passes(im.height, im.width, box, oh, ow, mode);
        slots.push_back({offset, rows, im.width, im.height, box});
        offset += static_cast<int64_t>(im.rgb.size());
        rows += static_cast<int64_t>(passes.rows) * passes.cols * 3;
        first_rows = std::max(first_rows, passes.rows), first_cols = std::max(first_cols, passes.cols);
      }
      dslots.upload(slots.data());
      cam::launch_preprocess(cam::Storage::kF32, dimg.as<uint8_t>(), dslots.as<cam::PackedImage>(),
                             static_cast<int>(images.size()), first_rows, first_cols, oh, ow, channels, mode,
                             norm, drows.as<uint8_t>(), dout.ptr, nullptr);
      std::vector<float> got = dout.floats();
      for (size_t i = 0; i < images.size(); ++i) {
        cam::Preprocess pre;
        pre.height = oh, pre.width = ow, pre.resize = mode, pre.resize_shorter = shorter;
        std::vector<float> want(oh * ow * 3);
        cam::preprocess_image_cpu(images[i], pre, want.data());
        double worst = 0;
        for (int p = 0; p < oh * ow; ++p) {
          for (int c = 0; c < 3; ++c)
            worst = std::max(worst, std::fabs(static_cast<double>(got[(i * oh * ow + p) * channels + c]) -
                                              want[p * 3 + c]));
          for (int c = 3; c < channels; ++c) CHECK(got[(i * oh * ow + p) * channels + c] == 0.0f);
        }
        CHECK(worst <=
              1.0 / 255 / 0.224 + 1e-6);  // at most one uint8 level from FMA contraction at a rounding edge
      }
    }
}

TEST_CASE(
    "cuDNN accepts every graph descriptor of every ResNet-50 conv and epilogue, in every precision, and "
    "the grouped 3x3s of a ResNeXt (no GPU)") {
  // What --conv-fusion graph makes before it needs a GPU: tensors, conv, pointwise epilogue, operation graph
  // and heuristics. Without a device cuDNN checks the attributes, their types and counts (not whether the
  // shapes agree, and it lists no engines), so CI catches a wrongly set descriptor.
  cam::ResNet net = cam::ResNet::load(camtest::data_path("golden_r50w16.safetensors"));
  for (cudnnDataType_t type : {CUDNN_DATA_FLOAT, CUDNN_DATA_HALF, CUDNN_DATA_BFLOAT16})
    for (int size : {224, 100})
      for (const cam::Step& step : net.schedule(size, size).steps) {
        if (step.kind != cam::Step::Kind::kConv) continue;
        const cam::ConvLayer& c = *step.conv;
        const int ih = step.in_h, iw = step.in_w;
        const bool residual = step.residual != cam::Step::kNone, relu = step.relu;
        // The 3x3s of the blocks also as ResNeXt's grouped convs (8 groups divide every width here).
        const bool inner = c.kernel == 3 && &c != &net.stem.front();
        for (int groups : {1, 8}) {
          if (groups > 1 && !inner) continue;
          cam::cuda_detail::GraphConvShape s;
          s.n = 64, s.in_channels = &c == &net.stem.front() ? 8 : c.in_channels, s.h = ih, s.w = iw;
          s.out_channels = c.out_channels, s.kernel = c.kernel, s.stride = c.stride, s.pad = c.pad;
          s.out_h = c.out_size(ih), s.out_w = c.out_size(iw), s.residual = residual, s.relu = relu;
          s.data_type = type, s.groups = groups;
          cam::cuda_detail::GraphConv graph;
          CAPTURE(c.name);
          CAPTURE(size);
          CAPTURE(groups);
          CAPTURE(static_cast<int>(type));
          CHECK_MESSAGE(graph.describe(s, nullptr), graph.why());
        }
      }
}

namespace {

// The bounds against the PyTorch fixtures per precision: fp32 at the CPU's.
camtest::GoldenBounds golden_bounds(const std::string& precision) {
  camtest::GoldenBounds b;
  if (precision == "fp32") return b;
  // 10-bit (tf32/fp16) and 7-bit (bf16) mantissas through 50 layers: errors of a few 1e-3 to 1e-2 in
  // activations; the order of the top class and the maps must hold. Measured on an H200 over two runs
  // (2026-11-26; cuDNN's timed algorithm choices vary between runs): CAM max |diff| up to 4.6e-3 (fp16) and
  // 3.7e-2 (bf16, whose rounding unit is 8x fp16's); overlay bytes off by at most 6 levels, in up to 15%
  // (fp16) and 38% (bf16) of them.
  const bool bf16 = precision == "bf16";
  b.logits_rel_l2 = bf16 ? 5e-2 : 1e-2;
  b.stage_rel_l2 = bf16 ? 5e-2 : 1e-2;
  b.cam_max_abs = bf16 ? 0.1 : 2e-2;
  b.identical_top = 1;
  b.overlay_max_abs = 40;
  b.overlay_differing_fraction = bf16 ? 0.75 : 0.4;
  return b;
}

// f(weights path, expected path, network, precision) for every golden fixture in every precision.
void for_each_golden(const std::function<void(const std::string&, const std::string&, const cam::ResNet&,
                                              const std::string&)>& f) {
  for (const char* name : {"golden_r50w16", "golden_r18w8", "golden_r18w8_mlp", "golden_r50w8_dilated"}) {
    std::string weights = camtest::data_path(std::string(name) + ".safetensors"),
                expected = camtest::data_path(std::string(name) + "_expected.safetensors");
    cam::ResNet net = cam::ResNet::load(weights);
    for (const char* precision : {"fp32", "tf32", "fp16", "bf16"}) {
      CAPTURE(name);
      CAPTURE(precision);
      f(weights, expected, net, precision);
    }
  }
}

}  // namespace

TEST_CASE("GPU end-to-end against PyTorch fixtures: fp32 at the CPU bounds, tf32/fp16/bf16 at reduced ones") {
  if (no_gpu()) return;
  for_each_golden([](const std::string& weights, const std::string& expected, const cam::ResNet& net,
                     const std::string& precision) {
    camtest::GoldenBounds b = golden_bounds(precision);
    // Both conv epilogues at the same bounds: bn_act after each conv, and cuDNN's fused call wherever it runs
    // (the auto mode picks between them per shape by speed).
    for (const char* fusion : {"off", "on"}) {
      CAPTURE(fusion);
      cam::CudaOptions co;
      co.conv_fusion = cam::parse_conv_fusion(fusion);
      auto backend = cam::make_cuda_backend(net, cam::parse_precision(precision), co, false);
      camtest::check_forward(*backend, expected, b);
    }
    camtest::check_engine(weights, expected, "cuda", precision, b);
  });
}

TEST_CASE("graph path: --conv-fusion graph against PyTorch fixtures in every precision") {
  if (no_gpu()) return;
  for_each_golden([](const std::string&, const std::string& expected, const cam::ResNet& net,
                     const std::string& precision) {
    cam::CudaOptions co;
    co.conv_fusion = cam::ConvFusion::kGraph;
    auto backend = cam::make_cuda_backend(net, cam::parse_precision(precision), co, false);
    camtest::check_forward(*backend, expected, golden_bounds(precision));
    // cuDNN must build a graph for some convs at least (the tuning record lists those).
    CHECK(!nlohmann::json::parse(backend->tuning())["graph"].empty());
  });
}

namespace {

// Two runs' results for the same images, bit for bit.
void check_identical(const std::vector<cam::ImageResult>& a, const std::vector<cam::ImageResult>& b,
                     size_t offset = 0) {
  REQUIRE(a.size() >= offset + b.size());
  for (size_t i = 0; i < b.size(); ++i) {
    const cam::ImageResult &x = a[offset + i], &y = b[i];
    CHECK(x.logits == y.logits);
    CHECK(x.top == y.top);
    REQUIRE(x.maps.size() == y.maps.size());
    for (size_t m = 0; m < x.maps.size(); ++m) {
      CHECK(x.maps[m].map == y.maps[m].map);
      CHECK(x.maps[m].overlay.rgb == y.maps[m].overlay.rgb);
    }
  }
}

cam::BatchRequest request_for(const std::vector<cam::Image>& images, int topk, std::vector<int> classes) {
  cam::BatchRequest req;
  for (const cam::Image& im : images) req.images.push_back(&im);
  req.topk = topk;
  req.classes = std::move(classes);
  return req;
}

}  // namespace

TEST_CASE("CUDA Graph replay equals eager launches bit for bit") {
  if (no_gpu()) return;
  cam::ResNet net = cam::ResNet::load(camtest::data_path("golden_r50w16.safetensors"));
  std::vector<cam::Image> images =
      camtest::fixture_images(camtest::data_path("golden_r50w16_expected.safetensors"));
  images.push_back(camtest::random_image(333, 250, rng));
  cam::BatchRequest req = request_for(images, 3, {0, 4});
  for (const char* precision : {"fp32", "fp16"}) {
    cam::CudaOptions co;
    auto graph = cam::make_cuda_backend(net, cam::parse_precision(precision), co, false);
    co.use_graphs = false;
    auto eager = cam::make_cuda_backend(net, cam::parse_precision(precision), co, false);
    std::vector<cam::ImageResult> a, b, again;
    graph->run(req, a);
    eager->set_tuning(
        graph->tuning());  // the same algorithms and fusion choices: only the launch mode differs
    eager->run(req, b);
    graph->run(req, again);
    check_identical(a, b);
    check_identical(a, again);
  }
}

TEST_CASE("graphs stay valid when later plans move the conv workspace: batch sizes in any order") {
  if (no_gpu()) return;
  // Each new, larger batch size measures its convs in a large workspace and then shrinks it, so the workspace
  // moves and the graphs captured before must follow it (a soak run with bad images, hence batches of 31 and
  // 32, read freed memory before they did); smaller batches run on the larger plan.
  cam::ResNet net = cam::ResNet::load(camtest::data_path("golden_r50w16.safetensors"));
  std::vector<cam::Image> images;
  for (int i = 0; i < 6; ++i) images.push_back(camtest::random_image(40 + 9 * i, 70 - 5 * i, rng));
  std::vector<std::vector<cam::Image>> batches;
  for (int n : {3, 4, 6, 5, 3, 6, 4}) batches.emplace_back(images.begin(), images.begin() + n);
  cam::CudaOptions co;
  auto graph = cam::make_cuda_backend(net, cam::Precision::kFp32, co, false);
  std::vector<std::vector<cam::ImageResult>> got(batches.size());
  for (size_t i = 0; i < batches.size(); ++i) graph->run(request_for(batches[i], 2, {1}), got[i]);
  co.use_graphs = false;
  auto eager = cam::make_cuda_backend(net, cam::Precision::kFp32, co, false);
  eager->set_tuning(graph->tuning());  // the same kernels: only the launch mode differs
  for (size_t i = 0; i < batches.size(); ++i) {
    CAPTURE(i);
    std::vector<cam::ImageResult> want;
    eager->run(request_for(batches[i], 2, {1}), want);
    check_identical(got[i], want);
  }
}

TEST_CASE("overlapped batches (submitted before the previous ones are collected) equal one batch at a time") {
  if (no_gpu()) return;
  cam::ResNet net = cam::ResNet::load(camtest::data_path("golden_r50w16.safetensors"));
  std::vector<cam::Image> images;
  for (int i = 0; i < 40; ++i) images.push_back(camtest::random_image(30 + i % 7 * 13, 20 + i % 5 * 17, rng));
  // Full batches, a short one (the full plan), a larger one (a new plan while batches are in flight).
  std::vector<std::vector<cam::Image>> batches;
  for (auto [first, count] : {std::pair{0, 12}, {12, 12}, {24, 5}, {24, 16}, {0, 16}, {16, 16}})
    batches.emplace_back(images.begin() + first, images.begin() + first + count);
  for (bool graphs : {true, false}) {
    CAPTURE(graphs);
    cam::CudaOptions co;
    co.use_graphs = graphs;
    auto sequential = cam::make_cuda_backend(net, cam::Precision::kFp32, co, false);
    std::vector<std::vector<cam::ImageResult>> want(batches.size());
    for (size_t i = 0; i < batches.size(); ++i) sequential->run(request_for(batches[i], 2, {3}), want[i]);
    auto overlapped = cam::make_cuda_backend(net, cam::Precision::kFp32, co, false);
    overlapped->set_tuning(sequential->tuning());  // the same kernels: only the overlap differs
    std::vector<std::vector<cam::ImageResult>> got(batches.size());
    std::vector<uint64_t> ticket(batches.size());
    auto submit = [&](size_t i) { ticket[i] = overlapped->submit(request_for(batches[i], 2, {3})); };
    submit(0), submit(1), submit(2);  // three in flight, the most there may be
    CHECK_THROWS_AS(overlapped->submit(request_for(batches[3], 2, {3})), cam::Error);
    overlapped->collect(ticket[1], got[1]);  // out of order
    submit(3);                               // a larger batch: a new plan while 0 and 2 are in flight
    overlapped->collect(ticket[0], got[0]);
    cam::ForwardResult fwd;  // a synchronous forward while batches are in flight waits for them
    std::vector<float> input(static_cast<size_t>(2) * 64 * 64 * 3, 0.25f);
    overlapped->forward(input.data(), 2, 64, 64, false, fwd);
    submit(4);
    overlapped->collect(ticket[2], got[2]);
    std::vector<cam::ImageResult> run_between;
    overlapped->run(request_for(batches[0], 2, {3}), run_between);  // run() among batches in flight
    check_identical(want[0], run_between);
    submit(5);
    for (size_t i : {3, 5, 4}) overlapped->collect(ticket[i], got[i]);
    CHECK_THROWS_AS(overlapped->collect(ticket[5], got[5]), cam::Error);  // collected already
    for (size_t i = 0; i < batches.size(); ++i) {
      CAPTURE(i);
      REQUIRE(got[i].size() == batches[i].size());
      check_identical(want[i], got[i]);
    }
  }
}

TEST_CASE("a short batch runs on the full batch's plan: its images' outputs equal theirs in the full batch") {
  if (no_gpu()) return;
  cam::ResNet net = cam::ResNet::load(camtest::data_path("golden_r50w16.safetensors"));
  std::vector<cam::Image> images;
  for (int i = 0; i < 16; ++i) images.push_back(camtest::random_image(50 + i % 5 * 31, 40 + i % 3 * 29, rng));
  for (bool graphs : {true, false}) {
    CAPTURE(graphs);
    cam::CudaOptions co;
    co.use_graphs = graphs;
    auto backend = cam::make_cuda_backend(net, cam::Precision::kFp32, co, false);
    cam::BatchRequest req = request_for(images, 2, {3});
    std::vector<cam::ImageResult> whole, part;
    backend->run(req, whole);
    const std::string tuning = backend->tuning();
    for (int n : {5, 1, 11}) {  // the last batch of a list, or one with images that failed to decode
      CAPTURE(n);
      cam::BatchRequest shorter = req;
      shorter.images.resize(n);
      backend->run(shorter, part);
      REQUIRE(part.size() == static_cast<size_t>(n));
      check_identical(whole, part, 0);
    }
    CHECK(backend->tuning() == tuning);  // nothing measured for the short batches: no new plan
  }
}

namespace {

// Two engines sharing a tuning file (fp16, the given conv fusion mode): the second repeats the first's
// outputs bit for bit and measures nothing new. Returns the record.
std::vector<uint8_t> check_tuning_repeats(const std::string& fusion, const std::string& file) {
  std::string weights = camtest::data_path("golden_r50w16.safetensors");
  std::vector<cam::Image> images =
      camtest::fixture_images(camtest::data_path("golden_r50w16_expected.safetensors"));
  cam::EngineOptions eo;
  eo.backend = cam::BackendKind::kCuda, eo.precision = cam::Precision::kFp16;
  eo.cuda.conv_fusion = cam::parse_conv_fusion(fusion), eo.tuning_file = file;
  cam::MapOptions mo;
  mo.topk = 2;
  std::vector<cam::ImageResult> first, second;
  {
    cam::Engine engine(weights, eo);
    first = engine.run(images, mo);
  }
  std::vector<uint8_t> record = camtest::read_bytes(file);  // written after the first batch
  REQUIRE(!record.empty());
  {
    cam::Engine engine(weights, eo);
    second = engine.run(images, mo);
  }
  check_identical(first, second);
  CHECK(camtest::read_bytes(file) == record);  // nothing new was measured, nothing rewritten
  return record;
}

}  // namespace

TEST_CASE("a tuning file makes a later engine repeat the kernels and outputs; bad records are refused") {
  if (no_gpu()) return;
  std::string dir = camtest::temp_dir(), file = dir + "/tuning.json",
              weights = camtest::data_path("golden_r50w16.safetensors");
  check_tuning_repeats("auto", file);
  cam::EngineOptions eo;
  eo.backend = cam::BackendKind::kCuda, eo.tuning_file = file;
  eo.precision = cam::Precision::kFp32;
  CHECK_THROWS_WITH_AS(cam::Engine(weights, eo),
                       doctest::Contains("tuning.json: the tuning record was made for"), cam::Error);
  camtest::write_bytes(file, {'{', '}'});
  CHECK_THROWS_WITH_AS(cam::Engine(weights, eo), doctest::Contains("tuning.json: not a tuning record"),
                       cam::Error);
}

TEST_CASE("graph path: a tuning file repeats the cuDNN engine configs and outputs") {
  if (no_gpu()) return;
  std::vector<uint8_t> record = check_tuning_repeats("graph", camtest::temp_dir() + "/tuning.json");
  nlohmann::json j = nlohmann::json::parse(record.begin(), record.end());
  CHECK(!j["graph"].empty());
}
