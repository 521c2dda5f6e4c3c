// GPU tests of the map methods beyond CAM: Score-CAM's and the metrics' inputs made on the device, Grad-CAM++
// weights and Eigen-CAM projections against the CPU's, and every method through the engine on both backends.
// Each case prints why it skips when there is no device.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <random>

#include "engine/cpu/backend.h"
#include "engine/engine.h"
#include "engine/methods/eigen_cam.h"
#include "engine/methods/faithfulness.h"
#include "engine/methods/method_maps.h"
#include "engine/methods/score_cam.h"
#include "engine/model/resnet.h"
#include "kernels/cam_methods_math.h"
#include "kernels/eigen_cam.cuh"
#include "kernels/gradcam_plusplus.cuh"
#include "kernels/perturb.cuh"
#include "kernels/score_cam.cuh"
#include "tests/cuda_test_util.cuh"
#include "tests/test_util.h"

using camtest::Guarded;
using camtest::no_gpu;

namespace {

std::mt19937 rng(78);

// A Backend::TakeLogits that appends each job's logits to `all`, checking that jobs come in order.
cam::Backend::TakeLogits collect_logits(std::vector<float>& all, int classes) {
  return [&all, classes](int job, const float* logits) {
    CHECK(static_cast<size_t>(job) * classes == all.size());
    all.insert(all.end(), logits, logits + classes);
  };
}

// The logits of masked or perturbed forwards, `run` on the CPU backend and on the GPU (fp32, plain convs),
// job by job: fp32 convolutions by other libraries, so within 1e-4 of the largest logit.
void compare_logits(const cam::ResNet& net, size_t jobs, int classes,
                    const std::function<void(cam::Backend&, const cam::Backend::TakeLogits&)>& run) {
  cam::CpuBackend cpu(net, 0);
  cam::CudaOptions co;
  co.conv_fusion = cam::ConvFusion::kOff;
  auto gpu = cam::make_cuda_backend(net, cam::Precision::kFp32, co, false);
  std::vector<float> want, got;
  run(cpu, collect_logits(want, classes));
  run(*gpu, collect_logits(got, classes));
  const size_t expected = jobs * classes;
  REQUIRE(want.size() == expected);
  REQUIRE(got.size() == expected);
  double worst = 0, scale = 0;
  for (size_t i = 0; i < want.size(); ++i)
    worst = std::max(worst, static_cast<double>(std::fabs(got[i] - want[i]))),
    scale = std::max(scale, static_cast<double>(std::fabs(want[i])));
  CHECK(worst <= 1e-4 * std::max(1.0, scale));
}

}  // namespace

TEST_CASE("GPU Score-CAM masked inputs equal the CPU's bit for bit; the masked forwards' logits agree") {
  if (no_gpu()) return;
  for (auto sz :
       {std::make_tuple(4, 4, 100, 100), std::make_tuple(10, 10, 320, 320), std::make_tuple(5, 3, 61, 47)}) {
    const int n = 2, fh = std::get<0>(sz), fw = std::get<1>(sz), h = std::get<2>(sz), w = std::get<3>(sz),
              c = 40;
    std::vector<float> inputs = camtest::random_floats(static_cast<size_t>(n) * h * w * 3, rng),
                       features = camtest::random_floats(static_cast<size_t>(n) * fh * fw * c, rng, 0, 3);
    for (int p = 0; p < fh * fw; ++p) features[static_cast<size_t>(p) * c + 7] = 0.5f;  // a constant channel
    const std::vector<int> jobs = {0, 0, 1, 39, 0, 7, 1, 7, 1, 12};
    const int m = static_cast<int>(jobs.size() / 2);
    Guarded di(inputs.size() * 4), df(features.size() * 4), dj(jobs.size() * 4),
        dout(static_cast<size_t>(m) * h * w * 3 * 4);
    di.upload(inputs.data());
    df.upload(features.data());
    dj.upload(jobs.data());
    cam::launch_score_cam_inputs(di.as<float>(), h, w, df.as<float>(), fh, fw, c, dj.as<int>(), m,
                                 dout.as<float>(), nullptr);
    const std::vector<float> got = dout.floats();
    std::vector<float> want(static_cast<size_t>(h) * w * 3);
    for (int j = 0; j < m; ++j) {
      const int image = jobs[2 * j], k = jobs[2 * j + 1];
      cam::score_cam_input(&inputs[static_cast<size_t>(image) * h * w * 3], h, w,
                           &features[static_cast<size_t>(image) * fh * fw * c], fh, fw, c, k, want.data());
      INFO("size " << fh << "x" << fw << " -> " << h << "x" << w << ", job " << j);
      CHECK(std::equal(want.begin(), want.end(), got.begin() + static_cast<size_t>(j) * want.size()));
    }
  }
  // The whole path: inputs and features up once, masked inputs made on the device, the plan's forward.
  cam::ResNet net = cam::ResNet::load(camtest::data_path("golden_r50w16.safetensors"));
  cam::ScoreCamJobs s;
  s.n = 2, s.h = 64, s.w = 48, s.c = net.feature_channels, s.classes = net.num_classes;
  const std::vector<float> inputs = camtest::random_floats(static_cast<size_t>(s.n) * s.h * s.w * 3, rng);
  cam::CpuBackend cpu(net, 0);
  cam::ForwardResult fwd;
  cpu.forward(inputs.data(), s.n, s.h, s.w, false, fwd);
  s.inputs = inputs.data(), s.features = fwd.features.data(), s.fh = fwd.feature_h, s.fw = fwd.feature_w;
  for (int k = 0; k < 23; ++k) s.jobs.emplace_back(k % 2, (k * 37) % s.c);
  s.batch = 5;  // 23 jobs: short last batch
  compare_logits(net, s.jobs.size(), s.classes,
                 [&](cam::Backend& b, const cam::Backend::TakeLogits& take) { b.score_cam_logits(s, take); });
}

TEST_CASE("GPU perturbed inputs of the metrics equal the CPU's bit for bit; their forwards' logits agree") {
  if (no_gpu()) return;
  cam::ResNet net = cam::ResNet::load(camtest::data_path("golden_r50w16.safetensors"));
  cam::PerturbedJobs p;
  p.n = 2, p.h = 64, p.w = 48, p.maps_count = 3, p.classes = net.num_classes;
  const int pixels = p.h * p.w;
  const std::vector<float> inputs = camtest::random_floats(static_cast<size_t>(p.n) * pixels * 3, rng),
                           maps =
                               camtest::random_floats(static_cast<size_t>(p.maps_count) * pixels, rng, 0, 1);
  std::vector<int> ranks(static_cast<size_t>(p.maps_count) * pixels);
  for (int m = 0; m < p.maps_count; ++m)
    for (int q = 0; q < pixels; ++q) ranks[static_cast<size_t>(m) * pixels + q] = (q * 7919 + m) % pixels;
  p.inputs = inputs.data(), p.maps = maps.data(), p.ranks = ranks.data();
  p.jobs = {{cam::kPerturbBaseline, 0, 0, 0}};
  for (int m = 0; m < p.maps_count; ++m)
    for (int kind : {cam::kPerturbDeletion, cam::kPerturbInsertion, cam::kPerturbMasked})
      for (int count : {0, 1, pixels / 3, pixels}) p.jobs.push_back({kind, m % p.n, m, count});
  const int m = static_cast<int>(p.jobs.size());
  std::vector<int> table;
  for (const cam::PerturbedJob& job : p.jobs)
    table.insert(table.end(), {job.kind, job.image, job.map, job.count});
  Guarded di(inputs.size() * 4), dm(maps.size() * 4), dr(ranks.size() * 4), dj(table.size() * 4),
      dout(static_cast<size_t>(m) * pixels * 3 * 4);
  di.upload(inputs.data());
  dm.upload(maps.data());
  dr.upload(ranks.data());
  dj.upload(table.data());
  cam::launch_perturbed_inputs(di.as<float>(), p.h, p.w, dm.as<float>(), dr.as<int>(), dj.as<int>(), m,
                               dout.as<float>(), nullptr);
  const std::vector<float> out = dout.floats();
  std::vector<float> want_input(static_cast<size_t>(pixels) * 3);
  for (int j = 0; j < m; ++j) {
    cam::perturbed_input(p, p.jobs[j], want_input.data());
    INFO("job " << j << " kind " << p.jobs[j].kind << " count " << p.jobs[j].count);
    CHECK(std::memcmp(want_input.data(), &out[static_cast<size_t>(j) * want_input.size()],
                      want_input.size() * sizeof(float)) == 0);  // bit for bit, zeros' signs included
  }
  // The whole path through each backend's forward.
  p.batch = 4;
  compare_logits(net, p.jobs.size(), p.classes,
                 [&](cam::Backend& b, const cam::Backend::TakeLogits& take) { b.perturbed_logits(p, take); });
}

TEST_CASE(
    "GPU Grad-CAM++ weights equal the CPU's formula: fc rows and given gradients, top-k and requested") {
  if (no_gpu()) return;
  const int n = 3, c = 77, classes = 9, k = 2, r = 1, hw = 49, slots = k + r;
  const std::vector<float> pooled = camtest::random_floats(static_cast<size_t>(n) * c, rng, 0, 2),
                           fc = camtest::random_floats(static_cast<size_t>(classes) * c, rng),
                           given = camtest::random_floats(static_cast<size_t>(n) * slots * c, rng);
  const std::vector<int> topk = {3, 0, 8, 1, 2, 2}, requested = {5};
  Guarded dp(pooled.size() * 4), dfc(fc.size() * 4), dg(given.size() * 4), dt(topk.size() * 4),
      dr(requested.size() * 4);
  dp.upload(pooled.data()), dfc.upload(fc.data()), dg.upload(given.data()), dt.upload(topk.data()),
      dr.upload(requested.data());
  for (bool from_fc : {true, false}) {
    Guarded dout(given.size() * 4);
    cam::launch_gradcam_plusplus_weights(dp.as<float>(), hw, dfc.as<float>(),
                                         from_fc ? nullptr : dg.as<float>(), n, c, dt.as<int>(), k,
                                         dr.as<int>(), r, dout.as<float>(), nullptr);
    const std::vector<float> got = dout.floats();
    for (int i = 0; i < n; ++i)
      for (int j = 0; j < slots; ++j) {
        const int cls = j < k ? topk[i * k + j] : requested[j - k];
        for (int ch = 0; ch < c; ++ch) {
          const size_t at = (static_cast<size_t>(i) * slots + j) * c + ch;
          const float gradient = from_fc ? fc[static_cast<size_t>(cls) * c + ch] : given[at];
          const float want = cam::gradcam_plusplus_channel_weight(
              gradient, pooled[static_cast<size_t>(i) * c + ch] * static_cast<float>(hw), hw);
          INFO("from fc " << from_fc << ", image " << i << ", slot " << j << ", channel " << ch);
          CHECK(got[at] == doctest::Approx(want).epsilon(1e-5));
        }
      }
  }
}

TEST_CASE(
    "GPU Eigen-CAM projections agree with the CPU's: squared and plain starts, noise, constant features") {
  if (no_gpu()) return;
  // 7x7 and 16x16 maps square their start, 20x20 and 17x19 do not (kEigenSquaringMaxPixels).
  for (auto shape : {std::make_tuple(7, 7, 64), std::make_tuple(16, 16, 48), std::make_tuple(20, 20, 40),
                     std::make_tuple(17, 19, 70)}) {
    const int fh = std::get<0>(shape), fw = std::get<1>(shape), c = std::get<2>(shape), n = 3, hw = fh * fw;
    const size_t size = static_cast<size_t>(hw) * c;
    // Image 0: a rank-one pattern plus noise through ReLU, as a last block's output looks; image 1: noise
    // alone (close eigenvalues, a slow iteration); image 2: constant (an all-zero map on both sides).
    std::vector<float> features(n * size, 0.25f);
    const std::vector<float> pattern = camtest::random_floats(hw + c, rng, 0, 1),
                             noise = camtest::random_floats(2 * size, rng, 0, 1);
    for (int p = 0; p < hw; ++p)
      for (int k = 0; k < c; ++k) {
        const size_t e = static_cast<size_t>(p) * c + k;
        features[e] = std::max(0.0f, 3 * pattern[p] * pattern[hw + k] + noise[e] - 0.3f);
        features[size + e] = noise[size + e];
      }
    Guarded df(features.size() * 4), dout(static_cast<size_t>(n) * hw * 4),
        dscratch(cam::eigen_scratch_bytes(n, hw, c));
    df.upload(features.data());
    cam::launch_eigen_projections(cam::Storage::kF32, df.as<float>(), n, hw, c, dscratch.ptr,
                                  dout.as<float>(), nullptr);
    const std::vector<float> got = dout.floats();
    std::vector<float> want(hw);
    for (int i = 0; i < n; ++i) {
      cam::eigen_projection(&features[i * size], hw, c, want.data());
      float range = 0, worst = 0;
      for (int p = 0; p < hw; ++p) {
        range = std::max(range, std::fabs(want[p]));
        worst = std::max(worst, std::fabs(got[static_cast<size_t>(i) * hw + p] - want[p]));
      }
      INFO(fh << "x" << fw << " maps, " << c << " channels, image " << i << ": range " << range);
      CHECK((i == 2) == (range == 0));
      CHECK(worst <= 1e-5f * range);
    }
  }
}

TEST_CASE(
    "Grad-CAM++ and Eigen-CAM on the device's own path agree with the CPU backend: every precision, MLP "
    "head, short and overlapped batches") {
  if (no_gpu()) return;
  for (const char* name : {"golden_r50w16", "golden_r18w8_mlp"}) {
    const std::string weights = camtest::data_path(std::string(name) + ".safetensors");
    std::vector<cam::Image> images =
        camtest::fixture_images(camtest::data_path(std::string(name) + "_expected.safetensors"));
    const std::vector<const cam::Image*> all = {&images[0], &images[1], &images[2]};
    const std::vector<const cam::Image*> short_batch = {&images[1], &images[2]};
    cam::MapOptions mo;
    mo.topk = 2;
    mo.classes = {1};
    mo.methods = {cam::CamMethod::kGradCamPlusPlus, cam::CamMethod::kCam, cam::CamMethod::kEigenCam,
                  cam::CamMethod::kGradCam};
    cam::EngineOptions eo;
    eo.backend = cam::BackendKind::kCpu;
    cam::Engine cpu_engine(weights, eo);
    const std::vector<cam::ImageResult> cpu = cpu_engine.run(all, mo);
    for (cam::Precision precision :
         {cam::Precision::kFp32, cam::Precision::kTf32, cam::Precision::kFp16, cam::Precision::kBf16}) {
      eo.backend = cam::BackendKind::kCuda;
      eo.precision = precision;
      cam::Engine gpu_engine(weights, eo);
      // A full batch, then a short one on its plan, then both in flight at once.
      const std::vector<cam::ImageResult> full = gpu_engine.run(all, mo);
      const std::vector<cam::ImageResult> rest = gpu_engine.run(short_batch, mo);
      const uint64_t first = gpu_engine.submit(all, mo), second = gpu_engine.submit(short_batch, mo);
      const std::vector<cam::ImageResult> overlapped_rest = gpu_engine.collect(second);
      const std::vector<cam::ImageResult> overlapped_full = gpu_engine.collect(first);
      // fp32 as the CPU; the reduced precisions at about twice golden_bounds' CAM bounds (Grad-CAM++ weighs
      // the same features). There the second class may swap with the third and Eigen-CAM's sign may flip
      // where the component's largest and smallest entries are close in size, so those maps are only checked
      // to be maps: every value within [0, 1].
      const bool fp32 = precision == cam::Precision::kFp32;
      const float bound = fp32 ? 1e-3f : precision == cam::Precision::kBf16 ? 0.2f : 0.05f;
      auto compare = [&](const cam::ImageResult& g, const cam::ImageResult& c, const char* run) {
        REQUIRE(g.maps.size() == c.maps.size());
        REQUIRE(g.maps.size() == 4 * 3);
        for (size_t j = 0; j < c.maps.size(); ++j) {
          const cam::ClassMap &gm = g.maps[j], &cm = c.maps[j];
          INFO(name << " " << cam::name_of(precision) << " " << run << ", map " << j << " ("
                    << cam::name_of(cm.method) << ", class " << cm.class_index << ")");
          CHECK(gm.method == cm.method);
          REQUIRE(gm.map.size() == cm.map.size());
          if (!fp32 && (cm.method == cam::CamMethod::kEigenCam || j % 3 == 1)) {
            CHECK(std::all_of(gm.map.begin(), gm.map.end(), [](float v) { return v >= 0.0f && v <= 1.0f; }));
            continue;
          }
          CHECK(gm.class_index == cm.class_index);
          float worst = 0;
          for (size_t p = 0; p < cm.map.size(); ++p)
            worst = std::max(worst, std::fabs(gm.map[p] - cm.map[p]));
          CHECK(worst <= bound);
          REQUIRE(gm.overlay.rgb.size() == cm.overlay.rgb.size());
          double overlay_diff = 0;
          for (size_t b = 0; b < cm.overlay.rgb.size(); ++b)
            overlay_diff += std::abs(int(gm.overlay.rgb[b]) - int(cm.overlay.rgb[b]));
          CHECK(overlay_diff / cm.overlay.rgb.size() <= (fp32 ? 0.5 : 6.0));
        }
      };
      for (size_t i = 0; i < 3; ++i) {
        compare(full[i], cpu[i], "full batch");
        compare(overlapped_full[i], cpu[i], "overlapped full batch");
      }
      for (size_t i = 0; i < 2; ++i) {
        compare(rest[i], cpu[i + 1], "short batch");
        compare(overlapped_rest[i], cpu[i + 1], "overlapped short batch");
      }
    }
  }
}

TEST_CASE("map methods and their metrics on CUDA (fp32) agree with the CPU backend") {
  if (no_gpu()) return;
  const std::string weights = camtest::data_path("golden_r50w16.safetensors");
  std::vector<cam::Image> images =
      camtest::fixture_images(camtest::data_path("golden_r50w16_expected.safetensors"));
  cam::MapOptions mo;
  mo.topk = 2;
  mo.methods = {cam::CamMethod::kCam, cam::CamMethod::kGradCamPlusPlus, cam::CamMethod::kEigenCam,
                cam::CamMethod::kScoreCam};
  mo.scorecam_channels = 24;
  mo.metrics = true;
  mo.metric_steps = 6;
  mo.perturbed_batch = 7;  // short batches too
  cam::EngineOptions eo;
  eo.backend = cam::BackendKind::kCuda;
  eo.cuda.conv_fusion = cam::ConvFusion::kOff;
  const std::vector<cam::ImageResult> gpu = cam::Engine(weights, eo).run(images, mo);
  eo.backend = cam::BackendKind::kCpu;
  const std::vector<cam::ImageResult> cpu = cam::Engine(weights, eo).run(images, mo);
  REQUIRE(gpu.size() == cpu.size());
  for (size_t i = 0; i < cpu.size(); ++i) {
    CHECK(gpu[i].top == cpu[i].top);
    REQUIRE(gpu[i].maps.size() == cpu[i].maps.size());
    for (size_t j = 0; j < cpu[i].maps.size(); ++j) {
      const cam::ClassMap &g = gpu[i].maps[j], &c = cpu[i].maps[j];
      CHECK(g.method == c.method);
      float worst = 0;
      for (size_t p = 0; p < c.map.size(); ++p) worst = std::max(worst, std::fabs(g.map[p] - c.map[p]));
      INFO("image " << i << ", map " << j << " (" << cam::name_of(c.method) << ")");
      CHECK(worst <= 1e-3f);
      CHECK(g.metrics.insertion == doctest::Approx(c.metrics.insertion).epsilon(1e-3));
      CHECK(g.metrics.deletion == doctest::Approx(c.metrics.deletion).epsilon(1e-3));
      CHECK(g.metrics.masked_probability == doctest::Approx(c.metrics.masked_probability).epsilon(1e-3));
    }
  }
}
