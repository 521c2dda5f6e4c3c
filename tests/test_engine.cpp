// The public Engine API: backend and option errors, class lookup, results independent of batch composition
// (determinism), resizing of inputs of any size, maps/overlays of the right sizes, the map methods in order
// and the faithfulness metrics against a plain reference.
#include <doctest/doctest.h>

#include <algorithm>
#include <fstream>
#include <random>

#include "engine/base/error.h"
#include "engine/cpu/backend.h"
#include "engine/engine.h"
#include "engine/ops/cpu_ops.h"
#include "tests/test_util.h"

namespace {

const std::string kWeights = camtest::data_path("golden_r50w16.safetensors");

cam::EngineOptions cpu() {
  cam::EngineOptions o;
  o.backend = cam::BackendKind::kCpu;
  return o;
}

}  // namespace

TEST_CASE("option names parse to their values and back; anything else is refused naming the valid ones") {
  for (const char* name : {"auto", "cpu", "cuda"})
    CHECK(std::string(cam::name_of(cam::parse_backend(name))) == name);
  for (const char* name : {"fp32", "tf32", "fp16", "bf16"})
    CHECK(std::string(cam::name_of(cam::parse_precision(name))) == name);
  for (const char* name : {"auto", "off", "on", "graph"})
    CHECK(std::string(cam::name_of(cam::parse_conv_fusion(name))) == name);
  CHECK(cam::parse_precision("bf16") == cam::Precision::kBf16);
  CHECK_THROWS_WITH_AS(cam::parse_backend("tpu"), "unknown backend 'tpu' (expected auto, cpu or cuda)",
                       cam::Error);
  CHECK_THROWS_WITH_AS(cam::parse_precision("int4"),
                       "unknown precision 'int4' (expected fp32, tf32, fp16 or bf16)", cam::Error);
  CHECK_THROWS_WITH_AS(cam::parse_conv_fusion("sometimes"),
                       "unknown conv fusion 'sometimes' (expected auto, off, on or graph)", cam::Error);
  CHECK_THROWS_AS(cam::parse_precision("FP32"), cam::Error);
}

TEST_CASE("option errors are clear") {
  cam::EngineOptions o = cpu();
  o.precision = cam::Precision::kFp16;
  CHECK_THROWS_WITH_AS(cam::Engine(kWeights, o), "the CPU backend computes in fp32 or bf16 (asked for fp16)",
                       cam::Error);
  CHECK_THROWS_WITH_AS(cam::Engine("/nonexistent/w.safetensors", cpu()),
                       doctest::Contains("/nonexistent/w.safetensors: cannot open"), cam::Error);
  cam::Engine engine(kWeights, cpu());
  std::vector<cam::Image> none;
  cam::MapOptions mo;
  mo.topk = 12;
  CHECK_THROWS_WITH_AS(engine.run(none, mo), doctest::Contains("topk 12 out of range 0..11"), cam::Error);
  mo.topk = 1;
  mo.classes = {11};
  CHECK_THROWS_WITH_AS(engine.run(none, mo), doctest::Contains("class index 11 out of range"), cam::Error);
}

TEST_CASE("CUDA requested where there is none: a clear error; auto falls back to the CPU") {
  cam::EngineOptions o;
  o.backend = cam::BackendKind::kAuto;
  cam::Engine automatic(kWeights, o);
  if (automatic.backend_name() == "cpu") {
    o.backend = cam::BackendKind::kCuda;
    CHECK_THROWS_WITH_AS(cam::Engine(kWeights, o),
                         doctest::Contains("CUDA backend requested but unavailable"), cam::Error);
  } else {
    MESSAGE("a CUDA device is present: auto picked " << automatic.backend_name());
  }
}

TEST_CASE("a tuning file on the CPU backend: nothing is measured, nothing written") {
  std::string file = camtest::temp_dir() + "/tuning.json";
  cam::EngineOptions o = cpu();
  o.tuning_file = file;
  cam::Engine engine(kWeights, o);
  std::mt19937 rng(5);
  engine.run(std::vector<cam::Image>{camtest::random_image(50, 40, rng)}, cam::MapOptions());
  CHECK(engine.tuning().empty());
  CHECK(!std::ifstream(file).good());
}

TEST_CASE("class lookup by label or index") {
  cam::Engine engine(kWeights, cpu());
  CHECK(engine.class_index("fruit_07") == 7);
  CHECK(engine.class_index("3") == 3);
  CHECK_THROWS_WITH_AS(engine.class_index("banana"), doctest::Contains("unknown class 'banana'"), cam::Error);
  CHECK_THROWS_AS(engine.class_index("11"), cam::Error);
  CHECK(engine.label(2) == "fruit_02");
}

TEST_CASE("results do not depend on the batch: one at a time equals all together, bit for bit") {
  cam::Engine engine(kWeights, cpu());
  std::mt19937 rng(9);
  std::vector<cam::Image> images =
      camtest::fixture_images(camtest::data_path("golden_r50w16_expected.safetensors"));
  images.push_back(camtest::random_image(100, 100, rng));
  cam::MapOptions mo;
  mo.topk = 2;
  mo.classes = {4};
  std::vector<cam::ImageResult> all = engine.run(images, mo);
  REQUIRE(all.size() == images.size());
  for (size_t i = 0; i < images.size(); ++i) {
    std::vector<cam::ImageResult> one = engine.run({&images[i]}, mo);
    CHECK(one[0].logits == all[i].logits);
    CHECK(one[0].top == all[i].top);
    REQUIRE(one[0].maps.size() == all[i].maps.size());
    for (size_t m = 0; m < one[0].maps.size(); ++m) {
      CHECK(one[0].maps[m].map == all[i].maps[m].map);
      CHECK(one[0].maps[m].overlay.rgb == all[i].maps[m].overlay.rgb);
    }
  }
}

TEST_CASE("submit/collect: tickets in any order give each batch's own results; at most three in flight") {
  cam::Engine engine(kWeights, cpu());
  std::mt19937 rng(5);
  std::vector<cam::Image> images;
  for (int i = 0; i < 5; ++i) images.push_back(camtest::random_image(40 + 7 * i, 60 - 5 * i, rng));
  cam::MapOptions cam_maps, methods;
  cam_maps.topk = 2;
  methods.methods = {cam::CamMethod::kCam, cam::CamMethod::kGradCamPlusPlus};  // made at submit
  const std::vector<const cam::Image*> a = {&images[0], &images[1]}, b = {&images[2]},
                                       c = {&images[3], &images[4]};
  const uint64_t ta = engine.submit(a, cam_maps), tb = engine.submit(b, methods),
                 tc = engine.submit(c, cam_maps);
  CHECK_THROWS_WITH_AS(engine.submit(a, cam_maps), "submit: 3 batches in flight; collect one first",
                       cam::Error);
  std::vector<cam::ImageResult> got_c = engine.collect(tc), got_a = engine.collect(ta),
                                got_b = engine.collect(tb);
  const std::string unknown = "collect: no batch was submitted with ticket " + std::to_string(tb);
  CHECK_THROWS_WITH_AS(engine.collect(tb), unknown.c_str(), cam::Error);
  const std::vector<cam::ImageResult> want_a = engine.run(a, cam_maps), want_b = engine.run(b, methods),
                                      want_c = engine.run(c, cam_maps);
  for (const auto& [got, want] : {std::pair{&got_a, &want_a}, {&got_b, &want_b}, {&got_c, &want_c}}) {
    REQUIRE(got->size() == want->size());
    for (size_t i = 0; i < got->size(); ++i) {
      CHECK((*got)[i].logits == (*want)[i].logits);
      CHECK((*got)[i].top == (*want)[i].top);
      REQUIRE((*got)[i].maps.size() == (*want)[i].maps.size());
      for (size_t m = 0; m < (*got)[i].maps.size(); ++m) {
        CHECK((*got)[i].maps[m].method == (*want)[i].maps[m].method);
        CHECK((*got)[i].maps[m].map == (*want)[i].maps[m].map);
      }
    }
  }
  CHECK(got_b[0].maps.size() == 2);  // one map per method
  CHECK(engine.collect(engine.submit({}, cam_maps)).empty());
}

TEST_CASE("maps: top-k first then every requested class; map at input size, overlay at original size") {
  cam::Engine engine(kWeights, cpu());
  std::mt19937 rng(3);
  std::vector<cam::Image> images = {camtest::random_image(320, 240, rng), camtest::random_image(40, 57, rng)};
  cam::MapOptions mo;
  mo.topk = 3;
  mo.classes = {0, 10};
  std::vector<cam::ImageResult> results = engine.run(images, mo);
  for (size_t i = 0; i < images.size(); ++i) {
    const cam::ImageResult& r = results[i];
    REQUIRE(r.top.size() == 5);  // the ranking is at least top-5, whatever topk
    for (size_t j = 1; j < r.top.size(); ++j) CHECK(r.logits[r.top[j - 1]] >= r.logits[r.top[j]]);
    double sum = 0;
    for (float p : r.probabilities) sum += p;
    CHECK(sum == doctest::Approx(1.0).epsilon(1e-5));
    REQUIRE(r.maps.size() == 5);  // 3 + 2 on every image, also where class 0 or 10 is in the top 3
    for (size_t m = 0; m < 3; ++m) CHECK(r.maps[m].class_index == r.top[m]);
    CHECK(r.maps[3].class_index == 0);
    CHECK(r.maps[4].class_index == 10);
    for (const cam::ClassMap& m : r.maps) {
      CHECK(m.map.size() == 100u * 100u);
      CHECK(m.overlay.width == images[i].width);
      CHECK(m.overlay.height == images[i].height);
      CHECK(m.probability == r.probabilities[m.class_index]);
    }
  }
  mo.overlays = false;
  CHECK(engine.run(images, mo)[0].maps[0].overlay.rgb.empty());
  // a requested class that is also the top-1 still has its own map, equal to the top-1 map
  mo.topk = 1;
  mo.classes = {results[0].top[0]};
  std::vector<cam::ImageResult> again = engine.run(images, mo);
  REQUIRE(again[0].maps.size() == 2);
  CHECK(again[0].maps[1].map == again[0].maps[0].map);
  // no maps asked: the predictions are still there
  mo.topk = 0;
  mo.classes.clear();
  std::vector<cam::ImageResult> none = engine.run(images, mo);
  CHECK(none[0].maps.empty());
  CHECK(none[0].top == results[0].top);
}

TEST_CASE(
    "methods: maps per method in order; CAM, Grad-CAM++ and Eigen-CAM by either path equal bit for bit") {
  cam::Engine engine(kWeights, cpu());
  std::mt19937 rng(5);
  std::vector<cam::Image> images = {camtest::random_image(120, 90, rng), camtest::random_image(64, 64, rng)};
  cam::MapOptions mo;
  mo.topk = 2;
  mo.classes = {3};
  const std::vector<cam::ImageResult> plain = engine.run(images, mo);
  mo.methods = {cam::CamMethod::kCam, cam::CamMethod::kGradCam, cam::CamMethod::kEigenCam,
                cam::CamMethod::kGradCamPlusPlus, cam::CamMethod::kScoreCam};
  mo.scorecam_channels = 16;
  const std::vector<cam::ImageResult> all = engine.run(images, mo);
  for (size_t i = 0; i < images.size(); ++i) {
    const cam::ImageResult &a = plain[i], &b = all[i];
    CHECK(a.logits == b.logits);
    CHECK(a.top == b.top);
    REQUIRE(b.maps.size() == 3 * mo.methods.size());
    for (size_t j = 0; j < b.maps.size(); ++j) {
      const cam::ClassMap& m = b.maps[j];
      CHECK(m.method == mo.methods[j / 3]);
      CHECK(m.class_index == a.maps[j % 3].class_index);
      CHECK(m.map.size() == 100u * 100u);
      CHECK(*std::max_element(m.map.begin(), m.map.end()) <= 1.0f);
      CHECK(*std::min_element(m.map.begin(), m.map.end()) >= 0.0f);
      CHECK(m.overlay.width == images[i].width);
      CHECK_FALSE(m.metrics.measured);
    }
    for (size_t j = 0; j < 3; ++j) {
      CHECK(b.maps[j].map == a.maps[j].map);      // cam, forward path
      CHECK(b.maps[3 + j].map == a.maps[j].map);  // gradcam is the same map
      CHECK(b.maps[j].overlay.rgb == a.maps[j].overlay.rgb);
      CHECK(b.maps[6 + j].map == b.maps[6].map);  // eigencam: one map whatever the class
    }
    CHECK(b.maps[9].map != b.maps[0].map);
  }
  // The backend's path tags its maps too, and repeats CAM's maps as Grad-CAM's.
  mo.methods = {cam::CamMethod::kGradCam, cam::CamMethod::kCam};
  const std::vector<cam::ImageResult> both = engine.run(images, mo);
  REQUIRE(both[0].maps.size() == 6);
  CHECK(both[0].maps[0].method == cam::CamMethod::kGradCam);
  CHECK(both[0].maps[3].method == cam::CamMethod::kCam);
  CHECK(both[0].maps[3].map == plain[0].maps[0].map);
  // Without Score-CAM, Eigen-CAM and Grad-CAM++ are the backend's own maps: the same as by the forward path.
  mo.methods = {cam::CamMethod::kGradCamPlusPlus, cam::CamMethod::kEigenCam};
  const std::vector<cam::ImageResult> own = engine.run(images, mo);
  for (size_t i = 0; i < images.size(); ++i) {
    REQUIRE(own[i].maps.size() == 6);
    for (size_t j = 0; j < 3; ++j) {
      CHECK(own[i].maps[j].method == cam::CamMethod::kGradCamPlusPlus);
      CHECK(own[i].maps[j].map == all[i].maps[9 + j].map);
      CHECK(own[i].maps[3 + j].method == cam::CamMethod::kEigenCam);
      CHECK(own[i].maps[3 + j].map == all[i].maps[6 + j].map);
      CHECK(own[i].maps[3 + j].overlay.rgb == all[i].maps[6 + j].overlay.rgb);
    }
  }
}

TEST_CASE("metrics: deletion and insertion AUC and Average Drop against a plain reference here") {
  cam::Engine engine(kWeights, cpu());
  std::mt19937 rng(8);
  std::vector<cam::Image> images = {camtest::random_image(100, 100, rng)};
  cam::MapOptions mo;
  mo.metrics = true;
  mo.metric_steps = 7;
  mo.perturbed_batch = 3;  // jobs straddle batches
  mo.overlays = false;
  const cam::ImageResult r = engine.run(images, mo)[0];
  REQUIRE(r.maps.size() == 1);
  const cam::ClassMap& m = r.maps[0];
  REQUIRE(m.metrics.measured);
  // Reference: the network input as the engine makes it (the image is at the input size), perturbed here.
  const cam::Preprocess& pre = engine.model().preprocess;
  const int pixels = pre.height * pre.width, step = (pixels + 6) / 7;
  std::vector<float> input(pixels * 3);
  for (int p = 0; p < pixels; ++p)
    for (int c = 0; c < 3; ++c)
      input[p * 3 + c] = (images[0].rgb[p * 3 + c] * pre.scale - pre.mean[c]) / pre.stddev[c];
  std::vector<int> order(pixels);
  for (int p = 0; p < pixels; ++p) order[p] = p;
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return m.map[a] > m.map[b]; });
  cam::CpuBackend backend(engine.model(), 0);
  auto probability_of = [&](const std::vector<float>& x) {
    cam::ForwardResult fwd;
    backend.forward(x.data(), 1, pre.height, pre.width, false, fwd);
    std::vector<float> probabilities(fwd.logits.size());
    cam::softmax_cpu(fwd.logits.data(), 1, static_cast<int>(fwd.logits.size()), probabilities.data());
    return static_cast<double>(probabilities[m.class_index]);
  };
  double deletion = 0, insertion = 0, previous_deleted = 0, previous_inserted = 0;
  int previous = 0;
  for (int count = 0;; count = std::min(pixels, count + step)) {
    std::vector<float> deleted = input, inserted(pixels * 3, 0.0f);
    for (int r2 = 0; r2 < count; ++r2)
      for (int c = 0; c < 3; ++c)
        deleted[order[r2] * 3 + c] = 0.0f, inserted[order[r2] * 3 + c] = input[order[r2] * 3 + c];
    const double d = probability_of(deleted), s = probability_of(inserted);
    if (count > 0) {
      const double width = static_cast<double>(count - previous) / pixels;
      deletion += width * (previous_deleted + d) / 2, insertion += width * (previous_inserted + s) / 2;
    }
    previous = count, previous_deleted = d, previous_inserted = s;
    if (count == pixels) break;
  }
  CHECK(m.metrics.deletion == doctest::Approx(deletion).epsilon(1e-5));
  CHECK(m.metrics.insertion == doctest::Approx(insertion).epsilon(1e-5));
  std::vector<float> masked = input;
  for (int p = 0; p < pixels; ++p)
    for (int c = 0; c < 3; ++c) masked[p * 3 + c] *= m.map[p];
  const double p = r.probabilities[m.class_index], q = probability_of(masked);
  CHECK(m.metrics.masked_probability == doctest::Approx(q).epsilon(1e-5));
  CHECK(m.metrics.average_drop == doctest::Approx(std::max(0.0, p - q) / (p + 1e-7)).epsilon(1e-4));
  CHECK(m.metrics.increase == (q > p));
}

TEST_CASE("method options are checked") {
  cam::Engine engine(kWeights, cpu());
  std::mt19937 rng(2);
  std::vector<cam::Image> images = {camtest::random_image(32, 32, rng)};
  cam::MapOptions mo;
  mo.methods = {cam::CamMethod::kCam, cam::CamMethod::kCam};
  CHECK_THROWS_WITH_AS(engine.run(images, mo), "method 'cam' given twice", cam::Error);
  mo.methods = {};
  CHECK_THROWS_AS(engine.run(images, mo), cam::Error);
  mo.methods = {cam::CamMethod::kScoreCam};
  mo.scorecam_channels = engine.model().feature_channels + 1;
  CHECK_THROWS_AS(engine.run(images, mo), cam::Error);
  mo.scorecam_channels = 0;
  mo.metric_steps = 0;
  CHECK_THROWS_AS(engine.run(images, mo), cam::Error);
  CHECK(cam::parse_cam_method("gradcam++") == cam::CamMethod::kGradCamPlusPlus);
  CHECK_THROWS_AS(cam::parse_cam_method("gradcampp"), cam::Error);
}
