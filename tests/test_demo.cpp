// The demo model (tools/make_demo_model.py) on its held-out synthetic images: accuracy >= 95%, and the CAM
// peak inside the fruit's recorded box for >= 90% of them (the pointing game), on the CPU backend.
#include <doctest/doctest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "engine.h"
#include "image_io.h"
#include "outputs.h"
#include "test_util.h"

TEST_CASE("demo model: held-out accuracy and pointing game") {
  std::ifstream in(camtest::data_path("demo_heldout/boxes.json"));
  REQUIRE(in.good());
  nlohmann::json records = nlohmann::json::parse(in);
  cam::EngineOptions eo;
  eo.backend = "cpu";
  cam::Engine engine(camtest::source_dir() + "/weights/demo_fruits.safetensors", eo);
  int correct = 0, hits = 0;
  for (const nlohmann::json& r : records) {
    cam::Image img = cam::read_image(camtest::data_path("demo_heldout/" + r["file"].get<std::string>()));
    cam::MapOptions mo;
    mo.overlays = false;
    cam::ImageResult res = engine.run(std::vector<cam::Image>{img}, mo)[0];
    correct += engine.label(res.top[0]) == r["label"].get<std::string>();
    const cam::Preprocess& pre = engine.model().preprocess;
    cam::Localization loc =
        cam::localize(res.maps[0].map.data(), pre.height, pre.width, img.width, img.height);
    const auto& box = r["box"];
    hits += loc.peak_x >= box[0].get<int>() && loc.peak_x <= box[2].get<int>() &&
            loc.peak_y >= box[1].get<int>() && loc.peak_y <= box[3].get<int>();
  }
  const double n = static_cast<double>(records.size()), accuracy = correct / n, pointing = hits / n;
  MESSAGE("demo model on " << records.size() << " held-out images: accuracy " << accuracy
                           << ", pointing game " << pointing);
  CHECK(records.size() >= 100);
  CHECK(accuracy >= 0.95);
  CHECK(pointing >= 0.90);
}
