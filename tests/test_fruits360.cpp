// The shipped Fruits-360 model (weights/fruits360_r50.safetensors), CPU backend, on two sets of real photos
// it never trained on: tests/data/fruits360_heldout (3 Test photos per class) and
// tests/data/fruits360_sessions (one photo per class and filming session from the cross-session validation
// split). Top-1 accuracy and the strict pointing game of the top-1 map against the white-background mask stay
// above bounds set from the measurement (weights/fruits360_r50.md). On all 2,547 Test photos accuracy 99.76%
// and pointing game 99.6%; at n = 129 two standard deviations below those are 0.984 and 0.985, so the bounds
// are 0.98 and 0.98 (two errors, two misses). On all 2,150 validation photos 100% and 99.2%; at n = 80 the
// bounds are 0.975 (two errors: the model shipped before, trained on one session per class, makes four on
// these 80) and 0.96 (0.992 - 2 x 0.010 = 0.972, three misses). And the CLI's localisation numbers equal to a
// plain reference computed here (mask by sweeps, energy pixel by pixel, averages by hand).
#include <doctest/doctest.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "cli/object_mask.h"
#include "cli/report.h"
#include "engine/cpu/backend.h"
#include "engine/engine.h"
#include "engine/io/image_io.h"
#include "tests/test_util.h"

namespace fs = std::filesystem;

namespace {

const std::string kModel = camtest::source_dir() + "/weights/fruits360_r50.safetensors";
const std::string kHeldOut = camtest::data_path("fruits360_heldout");
const std::string kSessions = camtest::data_path("fruits360_sessions");

struct Photo {
  std::string path, truth;
};

// The photos of folder/<class>/, sorted by path.
std::vector<Photo> photos_in(const std::string& folder) {
  std::vector<Photo> photos;
  for (const auto& cls : fs::directory_iterator(folder))
    if (cls.is_directory())
      for (const auto& f : fs::directory_iterator(cls.path()))
        photos.push_back({f.path().string(), cls.path().filename().string()});
  std::sort(photos.begin(), photos.end(), [](const Photo& a, const Photo& b) { return a.path < b.path; });
  return photos;
}

// Energy-in-mask the plain way: every map pixel's centre mapped to the original pixel it falls in.
double reference_energy(const std::vector<float>& map, int h, int w, const std::vector<uint8_t>& object,
                        int ow, int oh) {
  double all = 0, on = 0;
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      const int ox = std::min(ow - 1, static_cast<int>((x + 0.5) * ow / w));
      const int oy = std::min(oh - 1, static_cast<int>((y + 0.5) * oh / h));
      all += map[y * w + x];
      on += object[oy * ow + ox] ? map[y * w + x] : 0.0;
    }
  return on / all;
}

// The CLI on the held-out photos (CPU, white object mask, report) with `options`: its run, the folder it
// wrote to and its 129 records.
struct HeldOutRun {
  std::string out;
  camtest::CliRun cli;
  std::vector<nlohmann::json> records;
};

HeldOutRun run_held_out(const std::string& options) {
  const std::string dir = camtest::temp_dir();
  HeldOutRun run;
  run.out = dir + "/out";
  run.cli = camtest::run_cli("--weights " + kModel + " --backend cpu --object-mask white --report " +
                                 options + " --out " + run.out + " " + kHeldOut,
                             dir);
  REQUIRE(run.cli.status == 0);
  run.records = cam::read_jsonl(run.out + "/predictions.jsonl");
  REQUIRE(run.records.size() == 129);
  return run;
}

// Top-1 accuracy, strict pointing game and energy-in-mask of the top-1 map of the engine on `photos`, the
// localisation by the plain reference mask; `scored` counts the maps that have a peak.
struct Scores {
  double accuracy = 0, pointing = 0, energy = 0;
  size_t scored = 0;
};

Scores score(cam::Engine& engine, const std::vector<Photo>& photos) {
  const cam::Preprocess& pre = engine.model().preprocess;
  cam::MapOptions mo;
  mo.overlays = false;
  int correct = 0, hits = 0;
  size_t scored = 0;
  double energy = 0;
  for (size_t start = 0; start < photos.size(); start += 16) {
    std::vector<cam::Image> images;
    for (size_t i = start; i < std::min(photos.size(), start + 16); ++i)
      images.push_back(cam::read_image(photos[i].path));
    std::vector<cam::ImageResult> results = engine.run(images, mo);
    for (size_t j = 0; j < images.size(); ++j) {
      const Photo& photo = photos[start + j];
      correct += engine.label(results[j].top[0]) == photo.truth;
      const std::vector<float>& map = results[j].maps[0].map;
      const std::vector<uint8_t> object = camtest::reference_object_mask(images[j], 230);
      cam::Localization loc =
          cam::localize(map.data(), pre.height, pre.width, {0, 0, images[j].width, images[j].height});
      if (loc.empty) continue;
      ++scored;
      hits += object[static_cast<size_t>(loc.peak_y) * images[j].width + loc.peak_x];
      energy += reference_energy(map, pre.height, pre.width, object, images[j].width, images[j].height);
    }
  }
  Scores s;
  s.accuracy = correct / static_cast<double>(photos.size());
  s.scored = scored;
  s.pointing = hits / static_cast<double>(scored);
  s.energy = energy / scored;
  MESSAGE("Fruits-360 (" << photos.size() << " photos): accuracy " << s.accuracy << ", pointing game "
                         << s.pointing << ", energy-in-mask " << s.energy);
  return s;
}

}  // namespace

TEST_CASE(
    "Fruits-360 model: accuracy and pointing game of the top-1 map on held-out Test photos and on photos of "
    "every filming session (CPU)") {
  cam::EngineOptions eo;
  eo.backend = cam::BackendKind::kCpu;
  cam::Engine engine(kModel, eo);
  CHECK(engine.model().num_classes == 43);
  const std::vector<Photo> test = photos_in(kHeldOut);
  REQUIRE(test.size() == 129);  // 43 classes x 3
  const Scores t = score(engine, test);
  CHECK(t.accuracy >= 0.98);
  CHECK(t.scored >= test.size() - 2);
  CHECK(t.pointing >= 0.98);
  const std::vector<Photo> sessions = photos_in(kSessions);
  REQUIRE(sessions.size() == 80);  // one per class and filming session
  const Scores v = score(engine, sessions);
  CHECK(v.accuracy >= 0.975);
  CHECK(v.scored >= sessions.size() - 2);
  CHECK(v.pointing >= 0.96);
}

TEST_CASE("Fruits-360 model: the CLI's pointing game and energy-in-mask equal the plain reference") {
  const HeldOutRun run = run_held_out("--labels-from-folders");
  const camtest::CliRun& r = run.cli;
  const std::vector<nlohmann::json>& records = run.records;
  int hits = 0, maps = 0;
  double energy = 0;
  for (const nlohmann::json& rec : records) {
    cam::Image img = cam::read_image(rec["path"].get<std::string>());
    const std::vector<uint8_t> object = camtest::reference_object_mask(img, 230);
    size_t area = 0;
    for (uint8_t v : object) area += v;
    CHECK(rec["object_area"].get<double>() == doctest::Approx(static_cast<double>(area) / object.size()));
    const nlohmann::json& m = rec["maps"][0];
    if (m["pointing"].is_null()) continue;
    const bool inside = object[m["peak"][1].get<int>() * img.width + m["peak"][0].get<int>()];
    CHECK(m["pointing"].get<bool>() == inside);
    ++maps;
    hits += inside;
    energy += m["energy_in_mask"].get<double>();
  }
  char line[256];
  std::snprintf(line, sizeof line, "pointing game %.1f%% (%d/%d), energy-in-mask %.3f", 100.0 * hits / maps,
                hits, maps, energy / maps);
  CHECK(r.err.find(line) != std::string::npos);
  CAPTURE(line);
  CHECK(r.err.find("top-1 maps against the object mask") != std::string::npos);
}

TEST_CASE("Fruits-360 model: with several methods the summary and the report score each method's maps") {
  const HeldOutRun run = run_held_out("--method cam,gradcam++,eigencam");
  const camtest::CliRun& r = run.cli;
  const std::vector<nlohmann::json>& records = run.records;
  const std::vector<uint8_t> page = camtest::read_bytes(run.out + "/index.html");
  const std::string html(page.begin(), page.end());
  for (const char* method : {"cam", "gradcam++", "eigencam"}) {
    int hits = 0, maps = 0;
    double energy = 0;
    for (const nlohmann::json& rec : records)
      for (const nlohmann::json& m : rec["maps"])
        if (m["kind"] == "top1" && m["method"] == method && !m["pointing"].is_null())
          ++maps, hits += m["pointing"].get<bool>(), energy += m["energy_in_mask"].get<double>();
    REQUIRE(maps > 120);
    char line[256];
    std::snprintf(
        line, sizeof line,
        "top-1 maps (%s) against the object mask: pointing game %.1f%% (%d/%d), energy-in-mask %.3f", method,
        100.0 * hits / maps, hits, maps, energy / maps);
    CAPTURE(line);
    CHECK(r.err.find(line) != std::string::npos);
    line[0] = 'T';
    CHECK(html.find(line) != std::string::npos);
  }
}

// bf16 against fp32, measured on all 2,547 Test photos (AMD EPYC, AVX512-BF16; weights/fruits360_r50.md):
// top-1 agreement 100%, probabilities within 6.3e-3, top-1 maps within 0.021, pointing game unchanged
// (99.57%). The bounds leave about 3x room on the values and one photo on the pointing game (0.5 points at n
// = 209).
TEST_CASE(
    "Fruits-360 model: bf16 on the CPU gives fp32's top-1, probabilities and maps to bf16's precision") {
  const std::string why = cam::cpu_bf16_unavailable_reason();
  if (!why.empty()) {
    MESSAGE("skipped: " << why);
    return;
  }
  cam::EngineOptions eo;
  eo.backend = cam::BackendKind::kCpu;
  cam::Engine fp32(kModel, eo);
  eo.precision = cam::Precision::kBf16;
  cam::Engine bf16(kModel, eo);
  std::vector<Photo> photos = photos_in(kHeldOut), sessions = photos_in(kSessions);
  photos.insert(photos.end(), sessions.begin(), sessions.end());
  cam::MapOptions mo;
  mo.overlays = false;
  double prob_diff = 0, map_diff = 0;
  int same_top1 = 0, hits_fp32 = 0, hits_bf16 = 0;
  for (size_t start = 0; start < photos.size(); start += 16) {
    std::vector<cam::Image> images;
    for (size_t i = start; i < std::min(photos.size(), start + 16); ++i)
      images.push_back(cam::read_image(photos[i].path));
    const std::vector<cam::ImageResult> a = fp32.run(images, mo), b = bf16.run(images, mo);
    for (size_t j = 0; j < images.size(); ++j) {
      same_top1 += a[j].top[0] == b[j].top[0];
      for (size_t k = 0; k < a[j].probabilities.size(); ++k)
        prob_diff =
            std::max(prob_diff, static_cast<double>(std::abs(a[j].probabilities[k] - b[j].probabilities[k])));
      const std::vector<uint8_t> object = camtest::reference_object_mask(images[j], 230);
      const cam::Preprocess& pre = fp32.model().preprocess;
      for (const auto* r : {&a[j], &b[j]}) {
        cam::Localization loc = cam::localize(r->maps[0].map.data(), pre.height, pre.width,
                                              {0, 0, images[j].width, images[j].height});
        if (!loc.empty)
          (r == &a[j] ? hits_fp32 : hits_bf16) +=
              object[static_cast<size_t>(loc.peak_y) * images[j].width + loc.peak_x];
      }
      if (a[j].top[0] != b[j].top[0]) continue;
      for (size_t p = 0; p < a[j].maps[0].map.size(); ++p)
        map_diff =
            std::max(map_diff, static_cast<double>(std::abs(a[j].maps[0].map[p] - b[j].maps[0].map[p])));
    }
  }
  MESSAGE("bf16 against fp32 on " << photos.size() << " photos: top-1 agreement " << same_top1
                                  << ", probability " << prob_diff << ", top-1 map " << map_diff
                                  << ", pointing hits " << hits_fp32 << " -> " << hits_bf16);
  CHECK(same_top1 == static_cast<int>(photos.size()));
  CHECK(prob_diff < 0.02);
  CHECK(map_diff < 0.06);
  CHECK(std::abs(hits_fp32 - hits_bf16) <= 1);
}
