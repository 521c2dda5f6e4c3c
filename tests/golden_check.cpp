#include "tests/golden_check.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <cstdio>

#include "engine/engine.h"
#include "engine/io/safetensors.h"
#include "engine/ops/cpu_ops.h"
#include "tests/test_util.h"

namespace camtest {

void check_forward(cam::Backend& backend, const std::string& expected_path, const GoldenBounds& bounds) {
  cam::SafeTensors expected(expected_path);
  const cam::TensorView& in = expected.get("input");
  const int n = static_cast<int>(in.shape[0]), h = static_cast<int>(in.shape[1]),
            w = static_cast<int>(in.shape[2]);
  std::vector<float> input = expected.to_float(in);
  cam::ForwardResult out;
  backend.forward(input.data(), n, h, w, true, out);

  std::vector<float> logits = expected.to_float(expected.get("logits"));
  double err = rel_l2(out.logits, logits);
  std::printf("%s [%s]: logits rel L2 %.3g\n", expected_path.c_str(), backend.name().c_str(), err);
  CHECK(err <= bounds.logits_rel_l2);
  const int classes = static_cast<int>(logits.size()) / n;
  for (int i = 0; i < n; ++i) {
    int k = std::min(bounds.identical_top, classes);
    CHECK(cam::topk_cpu(&out.logits[i * classes], classes, k) ==
          cam::topk_cpu(&logits[i * classes], classes, k));
  }
  REQUIRE(out.stages.size() == 5);
  for (int s = 0; s < 5; ++s) {
    std::vector<float> want = expected.to_float(expected.get("stage" + std::to_string(s)));
    double stage_err = rel_l2(out.stages[s], want);
    std::printf("  stage %d rel L2 %.3g\n", s, stage_err);
    CHECK(stage_err <= bounds.stage_rel_l2);
  }
}

void check_engine(const std::string& weights_path, const std::string& expected_path,
                  const std::string& backend, const std::string& precision, const GoldenBounds& bounds) {
  cam::EngineOptions options;
  options.backend = cam::parse_backend(backend);
  options.precision = cam::parse_precision(precision);
  cam::Engine engine(weights_path, options);
  cam::SafeTensors expected(expected_path);
  std::vector<cam::Image> images = fixture_images(expected_path);
  const cam::TensorView& cams_view = expected.get("cams");
  std::vector<float> cams = expected.to_float(cams_view);
  std::vector<float> cam_classes = expected.to_float(expected.get("cam_classes"));
  const int n = static_cast<int>(cams_view.shape[0]), k = static_cast<int>(cams_view.shape[1]);
  const size_t map_size = static_cast<size_t>(cams_view.shape[2] * cams_view.shape[3]);

  double worst = 0;
  for (int i = 0; i < n; ++i) {
    cam::MapOptions mo;
    mo.topk = 0;
    for (int j = 0; j < k; ++j) mo.classes.push_back(static_cast<int>(cam_classes[i * k + j]));
    std::vector<cam::ImageResult> results = engine.run({&images[i]}, mo);
    REQUIRE(results.size() == 1);
    const cam::ImageResult& r = results[0];
    int m = 0;
    for (int j = 0; j < k; ++j) {
      int cls = mo.classes[j];
      auto it = std::find_if(r.maps.begin(), r.maps.end(),
                             [&](const cam::ClassMap& cm) { return cm.class_index == cls; });
      REQUIRE(it != r.maps.end());
      std::vector<float> want(cams.begin() + (i * k + j) * map_size,
                              cams.begin() + (i * k + j + 1) * map_size);
      worst = std::max(worst, max_abs_diff(it->map, want));
      ++m;
    }
    CHECK(m == k);
    if (i == 0) {
      const cam::TensorView& ov = expected.get("overlay");
      const cam::Image& got = r.maps[0].overlay;
      REQUIRE(got.rgb.size() == ov.nbytes);
      int max_diff = 0, differing = 0;
      for (size_t p = 0; p < ov.nbytes; ++p) {
        int d = std::abs(static_cast<int>(got.rgb[p]) - static_cast<int>(ov.data[p]));
        max_diff = std::max(max_diff, d);
        differing += d != 0;
      }
      std::printf("  overlay: max |diff| %d, %d of %zu values differ\n", max_diff, differing, ov.nbytes);
      CHECK(max_diff <= bounds.overlay_max_abs);
      CHECK(differing <= bounds.overlay_differing_fraction * static_cast<double>(ov.nbytes));
    }
  }
  std::printf("%s [%s %s]: CAM max |diff| %.3g\n", expected_path.c_str(), engine.backend_name().c_str(),
              precision.c_str(), worst);
  CHECK(worst <= bounds.cam_max_abs);
}

}  // namespace camtest
