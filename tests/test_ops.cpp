// Per-op tests of the CPU ops and the oneDNN forward against naive reference implementations written here in
// plain loops (double accumulation), on random data and odd shapes (13x13, 7x7, 4x4 maps, stride-2 paths),
// for plain, dilated and ResNeXt-D nets (grouped 3x3s, deep stem, average-pool shortcuts).
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>

#include "engine/base/error.h"
#include "engine/cpu/backend.h"
#include "engine/methods/eigen_cam.h"
#include "engine/methods/faithfulness.h"
#include "engine/methods/method_maps.h"
#include "engine/methods/score_cam.h"
#include "engine/model/resnet.h"
#include "engine/ops/cpu_ops.h"
#include "kernels/colormap_table.h"
#include "tests/test_util.h"

namespace {

std::mt19937 rng(1234);

// ---- naive references

std::vector<float> naive_conv(const std::vector<float>& x, int n, int h, int w, const cam::ConvLayer& c,
                              int& oh, int& ow) {
  const int reach = c.dilation * (c.kernel - 1) + 1;  // the kernel's span with its gaps
  oh = (h + 2 * c.pad - reach) / c.stride + 1;
  ow = (w + 2 * c.pad - reach) / c.stride + 1;
  std::vector<float> y(static_cast<size_t>(n) * oh * ow * c.out_channels);
  for (int b = 0; b < n; ++b)
    for (int oy = 0; oy < oh; ++oy)
      for (int ox = 0; ox < ow; ++ox)
        for (int o = 0; o < c.out_channels; ++o) {
          double acc = 0;
          for (int ky = 0; ky < c.kernel; ++ky)
            for (int kx = 0; kx < c.kernel; ++kx) {
              int iy = oy * c.stride - c.pad + ky * c.dilation, ix = ox * c.stride - c.pad + kx * c.dilation;
              if (iy < 0 || iy >= h || ix < 0 || ix >= w) continue;
              const int cin = c.in_channels / c.groups, first = o / (c.out_channels / c.groups) * cin;
              for (int i = 0; i < cin; ++i)
                acc += static_cast<double>(
                           x[((static_cast<size_t>(b) * h + iy) * w + ix) * c.in_channels + first + i]) *
                       c.weight[((static_cast<size_t>(o) * c.kernel + ky) * c.kernel + kx) * cin + i];
            }
          y[((static_cast<size_t>(b) * oh + oy) * ow + ox) * c.out_channels + o] =
              static_cast<float>(acc + c.shift[o]);
        }
  return y;
}

void naive_relu(std::vector<float>& v) {
  for (float& x : v) x = std::max(x, 0.0f);
}

std::vector<float> naive_maxpool(const std::vector<float>& x, int n, int h, int w, int c, int& oh, int& ow) {
  oh = (h + 2 - 3) / 2 + 1;
  ow = (w + 2 - 3) / 2 + 1;
  std::vector<float> y(static_cast<size_t>(n) * oh * ow * c, -INFINITY);
  for (int b = 0; b < n; ++b)
    for (int oy = 0; oy < oh; ++oy)
      for (int ox = 0; ox < ow; ++ox)
        for (int ch = 0; ch < c; ++ch)
          for (int dy = 0; dy < 3; ++dy)
            for (int dx = 0; dx < 3; ++dx) {
              int iy = oy * 2 - 1 + dy, ix = ox * 2 - 1 + dx;
              if (iy >= 0 && iy < h && ix >= 0 && ix < w) {
                float& out = y[((static_cast<size_t>(b) * oh + oy) * ow + ox) * c + ch];
                out = std::max(out, x[((static_cast<size_t>(b) * h + iy) * w + ix) * c + ch]);
              }
            }
  return y;
}

// nn.AvgPool2d(2, 2, ceil_mode=True, count_include_pad=False): an odd edge is a window of its own.
std::vector<float> naive_avgpool(const std::vector<float>& x, int n, int h, int w, int c, int& oh, int& ow) {
  oh = (h + 1) / 2;
  ow = (w + 1) / 2;
  std::vector<float> y(static_cast<size_t>(n) * oh * ow * c);
  for (int b = 0; b < n; ++b)
    for (int oy = 0; oy < oh; ++oy)
      for (int ox = 0; ox < ow; ++ox)
        for (int ch = 0; ch < c; ++ch) {
          double sum = 0;
          int count = 0;
          for (int iy = 2 * oy; iy < std::min(2 * oy + 2, h); ++iy)
            for (int ix = 2 * ox; ix < std::min(2 * ox + 2, w); ++ix, ++count)
              sum += x[((static_cast<size_t>(b) * h + iy) * w + ix) * c + ch];
          y[((static_cast<size_t>(b) * oh + oy) * ow + ox) * c + ch] = static_cast<float>(sum / count);
        }
  return y;
}

// fp32 -> the nearest bf16 (ties to even), kept in a float: what a bf16 store keeps.
void round_to_bf16(std::vector<float>& v) {
  for (float& f : v) {
    uint32_t bits;
    std::memcpy(&bits, &f, 4);
    bits = (bits + 0x7FFF + ((bits >> 16) & 1)) & 0xFFFF0000u;
    std::memcpy(&f, &bits, 4);
  }
}

// The last block's output in double-accumulated fp32. With stored_bf16, every stored activation (each conv's
// output after its bias, shortcut and ReLU, as the bf16 backend stores them) is rounded to bf16; the caller
// rounds the input and the weights.
std::vector<float> naive_features(const cam::ResNet& net, std::vector<float> x, int n, int& h, int& w,
                                  bool stored_bf16 = false) {
  auto store = [&](std::vector<float>& v) {
    if (stored_bf16) round_to_bf16(v);
  };
  int oh, ow;
  for (const cam::ConvLayer& c : net.stem) {
    x = naive_conv(x, n, h, w, c, oh, ow);
    naive_relu(x);
    store(x);
    h = oh, w = ow;
  }
  x = naive_maxpool(x, n, h, w, net.stem.back().out_channels, h, w);
  for (const auto& stage : net.stages)
    for (const cam::Block& b : stage) {
      int sh = h, sw = w;
      std::vector<float> shortcut = x;
      if (b.avg_down) {
        shortcut = naive_avgpool(x, n, h, w, b.downsample.in_channels, sh, sw);
        store(shortcut);
      }
      if (b.has_downsample) shortcut = naive_conv(shortcut, n, sh, sw, b.downsample, sh, sw);
      store(shortcut);
      std::vector<float> t = naive_conv(x, n, h, w, b.conv1, oh, ow);
      naive_relu(t);
      store(t);
      int th = oh, tw = ow;
      t = naive_conv(t, n, th, tw, b.conv2, oh, ow);
      if (b.conv3.out_channels) {
        naive_relu(t);
        store(t);
        th = oh, tw = ow;
        t = naive_conv(t, n, th, tw, b.conv3, oh, ow);
      }
      for (size_t i = 0; i < t.size(); ++i) t[i] = std::max(0.0f, t[i] + shortcut[i]);
      store(t);
      x = t;
      h = oh, w = ow;
    }
  return x;
}

double naive_src(int dst, int in, int out) {
  double s = (dst + 0.5) * in / out - 0.5;
  return s < 0 ? 0 : s;
}

std::vector<double> naive_bilinear(const std::vector<double>& m, int ih, int iw, int oh, int ow) {
  std::vector<double> out(static_cast<size_t>(oh) * ow);
  for (int y = 0; y < oh; ++y)
    for (int x = 0; x < ow; ++x) {
      double sy = naive_src(y, ih, oh), sx = naive_src(x, iw, ow);
      int y0 = std::min(static_cast<int>(sy), ih - 1), x0 = std::min(static_cast<int>(sx), iw - 1);
      int y1 = std::min(y0 + 1, ih - 1), x1 = std::min(x0 + 1, iw - 1);
      double ly = sy - y0, lx = sx - x0;
      out[static_cast<size_t>(y) * ow + x] = (1 - ly) * ((1 - lx) * m[y0 * iw + x0] + lx * m[y0 * iw + x1]) +
                                             ly * ((1 - lx) * m[y1 * iw + x0] + lx * m[y1 * iw + x1]);
    }
  return out;
}

void naive_minmax(std::vector<double>& m) {
  double lo = *std::min_element(m.begin(), m.end());
  for (double& v : m) v -= lo;
  double hi = *std::max_element(m.begin(), m.end());
  for (double& v : m) v /= 1e-7 + hi;
}

}  // namespace

TEST_CASE(
    "oneDNN forward equals the naive forward on odd sizes, basic, bottleneck, dilated and ResNeXt-D, fused "
    "and unfused") {
  for (int kind : camtest::kNetKinds)
    for (auto hw : {std::make_pair(27, 19), std::make_pair(49, 49), std::make_pair(40, 33)}) {
      cam::ResNet net = camtest::random_resnet(kind, 8, 7, rng);
      const int n = 2;
      std::vector<float> x = camtest::random_floats(static_cast<size_t>(n) * hw.first * hw.second * 3, rng);
      int h = hw.first, w = hw.second;
      std::vector<float> want = naive_features(net, x, n, h, w);
      for (bool fused : {true, false}) {
        CAPTURE(kind);
        CAPTURE(hw.first);
        CAPTURE(fused);
        cam::CpuBackend backend(net, 0, cam::Precision::kFp32, fused);
        cam::ForwardResult out;
        backend.forward(x.data(), n, hw.first, hw.second, false, out);
        CHECK(out.feature_h == h);
        CHECK(out.feature_w == w);
        CHECK(camtest::rel_l2(out.features, want) < 1e-5);
        std::vector<float> pooled(n * net.feature_channels), logits(n * net.num_classes);
        for (int b = 0; b < n; ++b)
          for (int c = 0; c < net.feature_channels; ++c) {
            double s = 0;
            for (int p = 0; p < h * w; ++p)
              s += want[(static_cast<size_t>(b) * h * w + p) * net.feature_channels + c];
            pooled[b * net.feature_channels + c] = static_cast<float>(s / (h * w));
          }
        for (int b = 0; b < n; ++b)
          for (int k = 0; k < net.num_classes; ++k) {
            double s = net.fc_bias[k];
            for (int c = 0; c < net.feature_channels; ++c)
              s += static_cast<double>(pooled[b * net.feature_channels + c]) *
                   net.fc_weight[k * net.feature_channels + c];
            logits[b * net.num_classes + k] = static_cast<float>(s);
          }
        CHECK(camtest::rel_l2(out.logits, logits) < 1e-5);
      }
    }
}

TEST_CASE("bf16 forward equals the naive forward that rounds what the bf16 backend stores") {
  const std::string why = cam::cpu_bf16_unavailable_reason();
  if (!why.empty()) {
    MESSAGE("skipped: " << why);
    cam::ResNet net = camtest::random_resnet(camtest::kBottleneck, 8, 7, rng);
    CHECK_THROWS_WITH_AS(cam::CpuBackend(net, 0, cam::Precision::kBf16),
                         ("bf16 on the CPU backend: " + why).c_str(), cam::Error);
    return;
  }
  for (int kind : camtest::kNetKinds)
    for (auto hw : {std::make_pair(27, 19), std::make_pair(40, 33)}) {
      CAPTURE(kind);
      CAPTURE(hw.first);
      cam::ResNet net = camtest::random_resnet(kind, 16, 7, rng);
      const int n = 2;
      std::vector<float> x = camtest::random_floats(static_cast<size_t>(n) * hw.first * hw.second * 3, rng);
      int h = hw.first, w = hw.second;
      const std::vector<float> fp32 = naive_features(net, x, n, h, w);
      cam::ResNet rounded = net;
      for (cam::ConvLayer& c : rounded.stem) round_to_bf16(c.weight);
      for (auto& stage : rounded.stages)
        for (cam::Block& b : stage)
          for (cam::ConvLayer* c : {&b.conv1, &b.conv2, &b.conv3, &b.downsample}) round_to_bf16(c->weight);
      std::vector<float> x16 = x;
      round_to_bf16(x16);
      h = hw.first, w = hw.second;
      const std::vector<float> emulated = naive_features(rounded, x16, n, h, w, true);
      cam::CpuBackend backend(net, 0, cam::Precision::kBf16);
      cam::ForwardResult out;
      backend.forward(x.data(), n, hw.first, hw.second, false, out);
      REQUIRE(out.features.size() == fp32.size());
      // Only the accumulation order differs from the emulation: now and then a value lands on the other side
      // of a bf16 rounding step and the layers after it carry the difference on, while against fp32 every
      // stored value differs by its rounding. So most features equal the emulation's bit for bit, few fp32's.
      size_t equal_emulated = 0, equal_fp32 = 0, nonzero = 0;  // among the features fp32 has above 0
      for (size_t i = 0; i < fp32.size(); ++i) {
        if (fp32[i] == 0.0f) continue;
        ++nonzero;
        equal_emulated += out.features[i] == emulated[i];
        equal_fp32 += out.features[i] == fp32[i];
      }
      const double to_emulated = camtest::rel_l2(out.features, emulated),
                   to_fp32 = camtest::rel_l2(out.features, fp32);
      MESSAGE("bf16 features: rel. L2 " << to_emulated << " to the bf16 emulation, " << to_fp32
                                        << " to fp32; " << equal_emulated << " and " << equal_fp32 << " of "
                                        << nonzero << " positive features bit-equal");
      CHECK(equal_emulated > 0.5 * nonzero);
      CHECK(equal_fp32 < 0.05 * nonzero);
      CHECK(to_emulated < 0.5 * to_fp32);
      CHECK(to_fp32 < 3e-2);
    }
}

TEST_CASE("bn_act: shift, residual and ReLU in every combination") {
  const int pixels = 37, c = 13;
  std::vector<float> x = camtest::random_floats(pixels * c, rng), r = camtest::random_floats(pixels * c, rng);
  std::vector<float> shift = camtest::random_floats(c, rng);
  for (bool use_residual : {false, true})
    for (bool relu : {false, true}) {
      std::vector<float> y(pixels * c);
      cam::bn_act_cpu(x.data(), shift.data(), use_residual ? r.data() : nullptr, relu, pixels, c, y.data());
      for (int i = 0; i < pixels * c; ++i) {
        double v = static_cast<double>(x[i]) + shift[i % c] + (use_residual ? r[i] : 0.0);
        if (relu) v = std::max(v, 0.0);
        CHECK(y[i] == doctest::Approx(v).epsilon(1e-6));
      }
    }
}

TEST_CASE("max pool 3x3/2 pad 1 on odd and tiny maps") {
  for (auto hw :
       {std::make_pair(13, 13), std::make_pair(7, 4), std::make_pair(1, 1), std::make_pair(112, 111)}) {
    const int n = 2, c = 5;
    std::vector<float> x = camtest::random_floats(static_cast<size_t>(n) * hw.first * hw.second * c, rng);
    int oh, ow;
    std::vector<float> want = naive_maxpool(x, n, hw.first, hw.second, c, oh, ow);
    std::vector<float> got(want.size());
    cam::max_pool_cpu(x.data(), n, hw.first, hw.second, c, got.data());
    CHECK(got == want);
  }
}

TEST_CASE("ResNet-D's shortcut pool 2x2/2, ceil mode, padding not counted, on odd and tiny maps") {
  for (auto hw : {std::make_pair(14, 14), std::make_pair(7, 4), std::make_pair(1, 1), std::make_pair(3, 5)}) {
    const int n = 2, c = 5;
    std::vector<float> x = camtest::random_floats(static_cast<size_t>(n) * hw.first * hw.second * c, rng);
    int oh, ow;
    std::vector<float> want = naive_avgpool(x, n, hw.first, hw.second, c, oh, ow);
    std::vector<float> got(want.size());
    cam::avg_down_pool_cpu(x.data(), n, hw.first, hw.second, c, got.data());
    CAPTURE(hw.first);
    CAPTURE(hw.second);
    CHECK(camtest::max_abs_diff(got, want) < 1e-6);
  }
}

TEST_CASE("global average pool, linear, softmax, top-k with ties") {
  const int n = 3, hw = 16, c = 9, classes = 6;
  std::vector<float> x = camtest::random_floats(n * hw * c, rng), pooled(n * c);
  cam::global_avg_pool_cpu(x.data(), n, hw, c, pooled.data());
  for (int b = 0; b < n; ++b)
    for (int ch = 0; ch < c; ++ch) {
      double s = 0;
      for (int p = 0; p < hw; ++p) s += x[(b * hw + p) * c + ch];
      CHECK(pooled[b * c + ch] == doctest::Approx(s / hw).epsilon(1e-6));
    }
  std::vector<float> w = camtest::random_floats(classes * c, rng),
                     bias = camtest::random_floats(classes, rng), y(n * classes), p(n * classes);
  cam::linear_cpu(pooled.data(), n, c, w.data(), bias.data(), classes, y.data());
  cam::softmax_cpu(y.data(), n, classes, p.data());
  for (int b = 0; b < n; ++b) {
    double z = 0;
    for (int k = 0; k < classes; ++k) {
      double s = bias[k];
      for (int ch = 0; ch < c; ++ch) s += static_cast<double>(pooled[b * c + ch]) * w[k * c + ch];
      CHECK(y[b * classes + k] == doctest::Approx(s).epsilon(1e-5));
      z += std::exp(s);
    }
    for (int k = 0; k < classes; ++k)
      CHECK(p[b * classes + k] == doctest::Approx(std::exp(y[b * classes + k]) / z).epsilon(1e-5));
  }
  std::vector<float> v = {0.1f, 0.5f, 0.2f, 0.5f, 0.9f};
  CHECK(cam::topk_cpu(v.data(), 5, 3) == std::vector<int>{4, 1, 3});
  CHECK(cam::topk_cpu(v.data(), 5, 9) == std::vector<int>{4, 1, 3, 2, 0});
}

TEST_CASE("class map: weighted sum, ReLU, min-max, bilinear upsample, min-max (odd sizes)") {
  for (auto s : {std::make_tuple(4, 4, 100, 100), std::make_tuple(7, 7, 224, 224),
                 std::make_tuple(13, 13, 64, 48), std::make_tuple(3, 2, 5, 7), std::make_tuple(4, 4, 2, 3)}) {
    const int h = std::get<0>(s), w = std::get<1>(s), oh = std::get<2>(s), ow = std::get<3>(s), c = 33;
    std::vector<float> a = camtest::random_floats(static_cast<size_t>(h) * w * c, rng, 0.0f, 1.0f);
    // Weights leaning positive, so the map is never all zero after ReLU (that case is checked below).
    std::vector<float> wt = camtest::random_floats(c, rng, -0.5f, 1.0f);
    std::vector<float> lowres(h * w), got(static_cast<size_t>(oh) * ow);
    cam::class_map_cpu(a.data(), h, w, c, wt.data(), oh, ow, lowres.data(), got.data());
    std::vector<double> m(h * w);
    for (int p = 0; p < h * w; ++p) {
      double acc = 0;
      for (int k = 0; k < c; ++k) acc += static_cast<double>(wt[k]) * a[p * c + k];
      m[p] = std::max(acc, 0.0);
    }
    naive_minmax(m);
    std::vector<double> up = naive_bilinear(m, h, w, oh, ow);
    naive_minmax(up);
    double worst = 0;
    for (size_t i = 0; i < up.size(); ++i) worst = std::max(worst, std::fabs(up[i] - got[i]));
    CAPTURE(h);
    CAPTURE(oh);
    CHECK(worst < 1e-5);
    CHECK(*std::min_element(got.begin(), got.end()) == 0.0f);
    CHECK(*std::max_element(got.begin(), got.end()) == doctest::Approx(1.0).epsilon(1e-6));
  }
  // a map that is all zero after ReLU stays zero
  std::vector<float> a(16 * 3, 1.0f), wt = {-1.0f, -2.0f, -0.5f}, lowres(16), out(64);
  cam::class_map_cpu(a.data(), 4, 4, 3, wt.data(), 8, 8, lowres.data(), out.data());
  CHECK(*std::max_element(out.begin(), out.end()) == 0.0f);
}

TEST_CASE("overlay: colormap + blend + normalise by max + truncate, map resized to the image") {
  const int mh = 6, mw = 5, h = 11, w = 9;
  // Its own generator: the shared one's state depends on which cases ran before (the bf16 ones skip on
  // some CPUs).
  std::mt19937 local(99);
  std::vector<float> map = camtest::random_floats(mh * mw, local, 0.0f, 1.0f);
  cam::Image img = camtest::random_image(w, h, local);
  for (auto setting : {std::make_pair(0.5f, 0), std::make_pair(0.3f, 2)}) {
    const float weight = setting.first;
    const unsigned char* table = cam::kColormaps[setting.second];
    std::vector<uint8_t> got(h * w * 3);
    cam::overlay_cpu(map.data(), mh, mw, img.rgb.data(), h, w, {0, 0, w, h}, weight, setting.second,
                     got.data());
    std::vector<double> mm(map.begin(), map.end());
    std::vector<double> mask = naive_bilinear(mm, mh, mw, h, w);
    // The colormap index truncates 255 * mask: where that lands within 1e-4 of an integer, float and double
    // may truncate to neighbouring indices, and either is right.
    auto blended = [&](int p, int c, int idx) {
      return (1 - weight) * table[idx * 3 + c] / 255.0 + weight * img.rgb[p * 3 + c] / 255.0;
    };
    std::vector<double> blend(h * w * 3);
    for (int p = 0; p < h * w; ++p)
      for (int c = 0; c < 3; ++c) blend[p * 3 + c] = blended(p, c, static_cast<int>(255 * mask[p]));
    double mx = *std::max_element(blend.begin(), blend.end());
    int worst = 0;
    for (int p = 0; p < h * w; ++p)
      for (int c = 0; c < 3; ++c) {
        const double scaled = 255 * mask[p];
        const bool borderline = std::abs(scaled - std::round(scaled)) < 1e-4;
        int best = 255;
        for (int idx : {static_cast<int>(scaled), static_cast<int>(std::round(scaled)) - 1,
                        static_cast<int>(std::round(scaled))}) {
          if (idx < 0 || idx > 255 || (!borderline && idx != static_cast<int>(scaled))) continue;
          best = std::min(best, std::abs(static_cast<int>(255 * blended(p, c, idx) / mx) - got[p * 3 + c]));
        }
        worst = std::max(worst, best);
      }
    CHECK(worst <= 1);
  }
}

TEST_CASE("JET table matches OpenCV's anchors") {
  CHECK(cam::kJetRgb[0] == 0);
  CHECK(cam::kJetRgb[2] == 128);            // dark blue at 0
  CHECK(cam::kJetRgb[255 * 3 + 0] == 128);  // dark red at 255
  CHECK(cam::kJetRgb[255 * 3 + 2] == 0);
  CHECK(cam::kJetRgb[128 * 3 + 1] == 255);  // green in the middle
}

TEST_CASE("nearest resize: doubling repeats each pixel, halving takes the odd ones, as PIL's NEAREST") {
  cam::Image img = camtest::random_image(37, 23, rng);
  std::vector<uint8_t> twice(46 * 74 * 3), half(11 * 18 * 3);
  cam::resize_image_cpu(img.rgb.data(), 23, 37, twice.data(), 46, 74, cam::ResizeMode::kPilNearest);
  cam::resize_image_cpu(img.rgb.data(), 23, 37, half.data(), 11, 18, cam::ResizeMode::kPilNearest);
  for (int y = 0; y < 46; ++y)
    for (int x = 0; x < 74; ++x)
      for (int c = 0; c < 3; ++c)
        CHECK(twice[(y * 74 + x) * 3 + c] == img.rgb[((y / 2) * 37 + x / 2) * 3 + c]);
  // 23 -> 11 and 37 -> 18 are steps of 23/11 and 37/18: output i samples floor((i + 0.5) * step)
  for (int y = 0; y < 11; ++y)
    for (int x = 0; x < 18; ++x) {
      const int sy = static_cast<int>((y + 0.5) * 23 / 11), sx = static_cast<int>((x + 0.5) * 37 / 18);
      for (int c = 0; c < 3; ++c) CHECK(half[(y * 18 + x) * 3 + c] == img.rgb[(sy * 37 + sx) * 3 + c]);
    }
}

TEST_CASE("cv2-linear resize: identity, and an exact halving is the rounded 2x2 mean, as cv2's INTER_AREA") {
  cam::Image img = camtest::random_image(36, 24, rng);
  std::vector<uint8_t> same(img.rgb.size()), half(12 * 18 * 3);
  cam::resize_image_cpu(img.rgb.data(), 24, 36, same.data(), 24, 36, cam::ResizeMode::kCvLinear);
  CHECK(same == img.rgb);
  cam::resize_image_cpu(img.rgb.data(), 24, 36, half.data(), 12, 18, cam::ResizeMode::kCvLinear);
  for (int y = 0; y < 12; ++y)
    for (int x = 0; x < 18; ++x)
      for (int c = 0; c < 3; ++c) {
        auto at = [&](int yy, int xx) { return img.rgb[(yy * 36 + xx) * 3 + c]; };
        const int sum =
            at(2 * y, 2 * x) + at(2 * y, 2 * x + 1) + at(2 * y + 1, 2 * x) + at(2 * y + 1, 2 * x + 1);
        CHECK(half[(y * 18 + x) * 3 + c] == (sum + 2) / 4);
      }
}

TEST_CASE("cv2-area resize: a whole-number shrink is the rounded mean of each cell") {
  cam::Image img = camtest::random_image(36, 24, rng);
  std::vector<uint8_t> third(8 * 12 * 3);
  cam::resize_image_cpu(img.rgb.data(), 24, 36, third.data(), 8, 12, cam::ResizeMode::kCvArea);
  for (int y = 0; y < 8; ++y)
    for (int x = 0; x < 12; ++x)
      for (int c = 0; c < 3; ++c) {
        int sum = 0;
        for (int j = 0; j < 3; ++j)
          for (int i = 0; i < 3; ++i) sum += img.rgb[((3 * y + j) * 36 + 3 * x + i) * 3 + c];
        CHECK(third[(y * 12 + x) * 3 + c] == std::lround(sum / 9.0));  // never a tie: 9 is odd
      }
}

TEST_CASE("image resize: identity, antialiased shrink and bilinear enlarge against a PIL-style reference") {
  cam::Image img = camtest::random_image(37, 23, rng);
  std::vector<uint8_t> same(img.rgb.size());
  cam::resize_image_cpu(img.rgb.data(), 23, 37, same.data(), 23, 37, cam::ResizeMode::kPilBilinear);
  CHECK(same == img.rgb);
  for (auto size : {std::make_pair(10, 16), std::make_pair(50, 80), std::make_pair(23, 5)}) {
    const int oh = size.first, ow = size.second;
    std::vector<uint8_t> got(oh * ow * 3);
    cam::resize_image_cpu(img.rgb.data(), 23, 37, got.data(), oh, ow, cam::ResizeMode::kPilBilinear);
    // reference: separable triangle filter, support scaled when shrinking, horizontal first, uint8 rounding
    auto pass = [](const std::vector<double>& in, int outer, int in_len, int out_len, bool horizontal) {
      std::vector<double> out(static_cast<size_t>(outer) * out_len * 3);
      double scale = static_cast<double>(in_len) / out_len, support = std::max(scale, 1.0);
      for (int o = 0; o < outer; ++o)
        for (int d = 0; d < out_len; ++d) {
          double center = (d + 0.5) * scale, total = 0, acc[3] = {0, 0, 0};
          for (int j = 0; j < in_len; ++j) {
            double t = std::fabs((j + 0.5 - center) / support), wgt = t < 1 ? 1 - t : 0;
            total += wgt;
            for (int c = 0; c < 3; ++c)
              acc[c] += wgt * in[horizontal ? (o * in_len + j) * 3 + c : (j * outer + o) * 3 + c];
          }
          for (int c = 0; c < 3; ++c) {
            double v = std::round(std::min(255.0, std::max(0.0, acc[c] / total)));
            out[horizontal ? (o * out_len + d) * 3 + c : (d * outer + o) * 3 + c] = v;
          }
        }
      return out;
    };
    std::vector<double> src(img.rgb.begin(), img.rgb.end());
    std::vector<double> want = pass(pass(src, 23, 37, ow, true), ow, 23, oh, false);
    int worst = 0;
    for (size_t i = 0; i < want.size(); ++i)
      worst = std::max(worst, std::abs(static_cast<int>(want[i]) - got[i]));
    CAPTURE(oh);
    CAPTURE(ow);
    CHECK(worst <= 1);
  }
}

TEST_CASE("TensorFlow's float resize normalised in RGB and BGR order, stretched and centre-cropped") {
  const cam::Image img = camtest::random_image(37, 23, rng);
  for (bool bgr : {false, true})
    for (int shorter : {0, 41}) {
      cam::Preprocess pre;
      pre.height = 29, pre.width = 31, pre.resize = cam::ResizeMode::kTfBilinear, pre.bgr = bgr;
      pre.resize_shorter = shorter, pre.scale = 1.0f, pre.mean = {103.939f, 116.779f, 123.68f},
      pre.stddev = {1, 1, 1};
      std::vector<float> floats(29 * 31 * 3), got(29 * 31 * 3);
      cam::resize_tf_cpu(img.rgb.data(), img.height, img.width,
                         cam::resize_box(img.height, img.width, 29, 31, shorter), floats.data(), 29, 31,
                         pre.resize);
      cam::preprocess_image_cpu(img, pre, got.data());
      for (int p = 0; p < 29 * 31; ++p)
        for (int c = 0; c < 3; ++c) CHECK(got[p * 3 + c] == floats[p * 3 + (bgr ? 2 - c : c)] - pre.mean[c]);
    }
}

TEST_CASE("normalise: (v * scale - mean) / std, RGB and BGR order") {
  cam::Image img = camtest::random_image(3, 2, rng);
  cam::Preprocess pre;
  pre.width = 3, pre.height = 2;
  std::vector<float> out(18);
  cam::preprocess_image_cpu(img, pre, out.data());
  for (int i = 0; i < 18; ++i)
    CHECK(out[i] ==
          doctest::Approx((img.rgb[i] / 255.0 - pre.mean[i % 3]) / pre.stddev[i % 3]).epsilon(1e-6));
  pre.scale = 1.0f, pre.mean = {103.939f, 116.779f, 123.68f}, pre.stddev = {1, 1, 1}, pre.bgr = true;
  cam::preprocess_image_cpu(img, pre, out.data());
  for (int p = 0; p < 6; ++p)
    for (int c = 0; c < 3; ++c)
      CHECK(out[p * 3 + c] == doctest::Approx(img.rgb[p * 3 + 2 - c] - pre.mean[c]).epsilon(1e-6));
}

TEST_CASE(
    "eigen_projection: features a_p b_k + c_k project on a (times |b|), sign as pytorch-grad-cam fixes it") {
  std::mt19937 gen(4);
  std::normal_distribution<float> normal;
  for (int hw : {1, 4, 49, 196}) {
    const int channels = 37;
    std::vector<double> a(hw), b(channels), c(channels);
    double mean = 0;
    for (double& v : a) v = normal(gen), mean += v / hw;
    for (double& v : a) v -= mean;  // centred, so the channel means are c
    double norm_b = 0;
    for (int k = 0; k < channels; ++k) b[k] = normal(gen), c[k] = 3 + normal(gen), norm_b += b[k] * b[k];
    norm_b = std::sqrt(norm_b);
    std::vector<float> features(static_cast<size_t>(hw) * channels), got(hw);
    for (int p = 0; p < hw; ++p)
      for (int k = 0; k < channels; ++k)
        features[static_cast<size_t>(p) * channels + k] = static_cast<float>(a[p] * b[k] + c[k]);
    cam::eigen_projection(features.data(), hw, channels, got.data());
    if (hw == 1) {  // one pixel: nothing varies, the projection is zero
      CHECK(got[0] == 0.0f);
      continue;
    }
    const auto [lo, hi] = std::minmax_element(a.begin(), a.end());
    const double sign = std::fabs(*lo) > std::fabs(*hi) ? -1 : 1;
    for (int p = 0; p < hw; ++p)
      CHECK(got[p] == doctest::Approx(sign * a[p] * norm_b).epsilon(1e-4).scale(1e-3));
  }
}
