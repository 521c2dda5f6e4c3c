// The public Engine API: backend and option errors, class lookup, results independent of batch composition
// (determinism), resizing of inputs of any size, and maps/overlays of the right sizes.
#include <doctest/doctest.h>

#include <fstream>
#include <random>

#include "engine.h"
#include "error.h"
#include "test_util.h"

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
  CHECK_THROWS_WITH_AS(cam::Engine(kWeights, o), "the CPU backend computes in fp32 only (asked for fp16)",
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
