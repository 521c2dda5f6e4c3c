// The CLI as people meet it: predictions without maps, --class on every image, --resume with other options,
// unknown ground truth, class names, --info, one size syntax, output names, summary lines and notes.
// Each case failed before its fix.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>

#include "cli/report.h"
#include "engine/io/image_io.h"
#include "tests/test_util.h"

namespace fs = std::filesystem;

namespace {

const std::string kWeights =
    camtest::data_path("golden_r50w16.safetensors");  // 11 classes fruit_00..fruit_10

// Two class folders of random images; returns the folder holding them.
std::string make_dataset(const std::string& dir, int per_class = 2) {
  std::mt19937 rng(21);
  for (const char* cls : {"fruit_03", "fruit_07"})
    for (int i = 0; i < per_class; ++i) {
      fs::create_directories(dir + "/data/" + cls);
      cam::write_image(dir + "/data/" + cls + "/img" + std::to_string(i) + ".png",
                       camtest::random_image(80, 60, rng));
    }
  return dir + "/data";
}

std::string engine(const std::string& args) {
  return "--weights " + kWeights + " --backend cpu " + args;
}

}  // namespace

TEST_CASE("--topk 0: predictions (top-5) are still written; the CSV and the report work") {
  const std::string dir = camtest::temp_dir(), data = make_dataset(dir);
  camtest::CliRun r = camtest::run_cli(
      engine("--topk 0 --csv --report --labels-from-folders --out " + dir + "/o " + data), dir);
  REQUIRE(r.status == 0);
  std::vector<nlohmann::json> records = cam::read_jsonl(dir + "/o/predictions.jsonl");
  REQUIRE(records.size() == 4);
  for (const nlohmann::json& rec : records) {
    CHECK(rec["top"].size() == 5);
    // no top-k maps; a misclassified image gets its true class's map, for the report
    const bool wrong = rec["top"][0]["label"] != rec["truth"];
    REQUIRE(rec["maps"].size() == (wrong ? 1u : 0u));
    if (wrong) CHECK(rec["maps"][0]["kind"] == "truth");
    if (wrong) CHECK(rec["maps"][0]["label"] == rec["truth"]);
  }
  std::ifstream csv(dir + "/o/predictions.csv");
  std::string header, line;
  std::getline(csv, header);
  std::getline(csv, line);
  CHECK(line.find(records[0]["top"][0]["label"].get<std::string>()) != std::string::npos);
  // the same accuracy as a run with maps
  camtest::CliRun with_maps =
      camtest::run_cli(engine("--report --labels-from-folders --out " + dir + "/m " + data), dir);
  std::ifstream a(dir + "/o/index.html"), b(dir + "/m/index.html");
  std::string ha((std::istreambuf_iterator<char>(a)), {}), hb((std::istreambuf_iterator<char>(b)), {});
  const size_t at = hb.find("top-1 accuracy");
  REQUIRE(at != std::string::npos);
  CHECK(ha.find(hb.substr(at, hb.find(')', at) - at)) != std::string::npos);
}

TEST_CASE("--class: a map on every image, also when the class is in the top-k; fixed .npy layout") {
  const std::string dir = camtest::temp_dir(), data = make_dataset(dir);
  REQUIRE(camtest::run_cli(engine("--topk 0 --out " + dir + "/p " + data), dir).status == 0);
  const std::string top1 = cam::read_jsonl(dir + "/p/predictions.jsonl")[0]["top"][0]["label"];
  REQUIRE(camtest::run_cli(
              engine("--topk 2 --class " + top1 + " --class fruit_00 --raw --out " + dir + "/o " + data), dir)
              .status == 0);
  std::vector<nlohmann::json> records = cam::read_jsonl(dir + "/o/predictions.jsonl");
  for (const nlohmann::json& rec : records) {
    REQUIRE(rec["maps"].size() == 4);
    CHECK(rec["maps"][0]["kind"] == "top1");
    CHECK(rec["maps"][1]["kind"] == "top2");
    CHECK(rec["maps"][2]["kind"] == "class-" + top1);
    CHECK(rec["maps"][3]["kind"] == "class-fruit_00");
    for (const nlohmann::json& m : rec["maps"]) CHECK(fs::exists(dir + "/o/" + m["file"].get<std::string>()));
    CHECK(fs::file_size(dir + "/o/" + rec["raw"].get<std::string>()) == 128 + 4u * 4 * 100 * 100);
  }
  // the same class by name and by index: one map (one file), said once
  camtest::CliRun r =
      camtest::run_cli(engine("--topk 0 --class fruit_07 --class 7 --out " + dir + "/c " + data), dir);
  REQUIRE(r.status == 0);
  CHECK(r.err.find("cam_engine: --class 7 is class 7 (fruit_07), already asked for; one map\n") !=
        std::string::npos);
  for (const nlohmann::json& rec : cam::read_jsonl(dir + "/c/predictions.jsonl")) {
    REQUIRE(rec["maps"].size() == 1);
    CHECK(rec["maps"][0]["kind"] == "class-fruit_07");
  }
}

TEST_CASE("a mistyped option: the option it was probably meant to be") {
  const std::string dir = camtest::temp_dir();
  const std::pair<const char*, const char*> typos[] = {
      {"--topk3", "unknown option '--topk3'; did you mean '--topk 3'? (see --help)"},
      {"--labels-from-folder",
       "unknown option '--labels-from-folder'; did you mean '--labels-from-folders'?"},
      {"--qiet", "unknown option '--qiet'; did you mean '--quiet'?"},
      {"--colourmap", "unknown option '--colourmap'; did you mean '--colormap'?"},
      {"--frobnicate", "unknown option '--frobnicate' (see --help)"}};
  for (const auto& [typo, message] : typos) {
    camtest::CliRun r = camtest::run_cli(engine(std::string(typo) + " --out " + dir + "/o x.jpg"), dir);
    CHECK(r.status == 2);
    CHECK_MESSAGE(r.err.find(message) != std::string::npos, r.err);
  }
}

TEST_CASE("--resume refuses options that change the outputs; the same options resume") {
  const std::string dir = camtest::temp_dir(), data = make_dataset(dir);
  REQUIRE(camtest::run_cli(engine("--out " + dir + "/o " + data), dir).status == 0);
  camtest::CliRun r = camtest::run_cli(engine("--resume --topk 3 --panel --out " + dir + "/o " + data), dir);
  CHECK(r.status == 2);
  CHECK(r.err.find("was written with other options (") != std::string::npos);
  CHECK(r.err.find("topk 1 -> 3") != std::string::npos);
  CHECK(r.err.find("panel false -> true") != std::string::npos);
  // resuming a finished run: said in one line, no "0/0 images (100%) ... ETA --:--" progress
  r = camtest::run_cli(engine("--resume --out " + dir + "/o " + data), dir);
  CHECK(r.status == 0);
  CHECK(r.err == "cam_engine: nothing left to do: all 4 images were done before; outputs in " + dir + "/o\n");
  // a fresh run into the same folder says the earlier files stay
  r = camtest::run_cli(engine("--topk 2 --out " + dir + "/o " + data), dir);
  CHECK(r.err.find("holds an earlier run") != std::string::npos);
}

TEST_CASE("ground truth the model does not know: warned once, left out of the accuracy, listed") {
  const std::string dir = camtest::temp_dir(), data = make_dataset(dir);
  fs::rename(data + "/fruit_07", data + "/Apple Red 1");
  camtest::CliRun r =
      camtest::run_cli(engine("--labels-from-folders --report --out " + dir + "/o " + data), dir);
  CHECK(r.status == 0);
  CHECK(r.err.find("ground truth 'Apple Red 1' (2 images) is not a label of this model") !=
        std::string::npos);
  CHECK(r.err.find("/2 images with a known true class") != std::string::npos);
  std::ifstream in(dir + "/o/index.html");
  std::string html((std::istreambuf_iterator<char>(in)), {});
  CHECK(html.find("Apple Red 1 (2)") != std::string::npos);
  CHECK(html.find("/2)</p>") != std::string::npos);  // accuracy over the 2 known images
}

TEST_CASE("class names: case-insensitive when unambiguous, nearest labels suggested; --info lists them") {
  const std::string dir = camtest::temp_dir(), data = make_dataset(dir, 1);
  CHECK(camtest::run_cli(engine("--class FRUIT_03 --out " + dir + "/o " + data), dir).status == 0);
  camtest::CliRun r = camtest::run_cli(engine("--class fruit_3 --out " + dir + "/o " + data), dir);
  CHECK(r.status == 2);
  CHECK(r.err.find("nearest labels: 'fruit_03'") != std::string::npos);
  // a start that fails (an unknown class, weights that cannot be read) leaves no output folder behind
  r = camtest::run_cli(engine("--class fruit_3 --out " + dir + "/never " + data), dir);
  CHECK(r.status == 2);
  CHECK(!fs::exists(dir + "/never"));
  r = camtest::run_cli("--weights " + dir + "/missing.safetensors --out " + dir + "/never " + data, dir);
  CHECK(r.status == 2);
  CHECK(!fs::exists(dir + "/never"));
  const std::string out = dir + "/info.txt";
  CHECK(camtest::run_command(camtest::engine_bin() + " --info " + kWeights + " > " + out) == 0);
  std::ifstream in(out);
  std::string text((std::istreambuf_iterator<char>(in)), {});
  CHECK(text.find("input 100x100 (WxH, resized pil-bilinear), maps 4x4") != std::string::npos);
  CHECK(text.find("11 classes:") != std::string::npos);
  CHECK(text.find("   10  fruit_10") != std::string::npos);
}

TEST_CASE(
    "--info and --verbose give the same memory estimate for the options given; the arena scales with "
    "--batch") {
  const std::string dir = camtest::temp_dir(), data = make_dataset(dir, 1);
  auto info_line = [&](const std::string& options) {
    const std::string out = dir + "/info.txt";
    REQUIRE(camtest::run_command(camtest::engine_bin() + " --info " + kWeights + " " + options + " > " +
                                 out) == 0);
    std::ifstream in(out);
    for (std::string line; std::getline(in, line);)
      if (line.find("memory estimate") != std::string::npos) return line.substr(line.find("memory estimate"));
    return std::string();
  };
  const std::string small = info_line("--batch 4 --topk 3 --labels-from-folders");
  CHECK(small.find("engine arena") != std::string::npos);
  CHECK(small.find("5 batches of 4 images with 4 maps each") != std::string::npos);
  camtest::CliRun r = camtest::run_cli(
      engine("--verbose --batch 4 --topk 3 --labels-from-folders --out " + dir + "/o " + data), dir);
  REQUIRE(r.status == 0);
  CHECK(r.err.find(small) != std::string::npos);
  auto arena_mib = [](const std::string& line) {
    return std::stod(line.substr(line.find("engine arena ") + 13));
  };
  const std::string large = info_line("--batch 64 --topk 3 --labels-from-folders");
  CHECK(arena_mib(large) == doctest::Approx(16 * arena_mib(small)).epsilon(0.1));
}

TEST_CASE("one size syntax (WxH or N), --format jpeg, panels in the chosen format, zero-padded top-k") {
  const std::string dir = camtest::temp_dir(), data = make_dataset(dir, 1);
  CHECK(camtest::run_cli(engine("--input-size 0x0 x.png"), dir).status == 2);
  CHECK(camtest::run_cli(engine("--out-size 10x10abc x.png"), dir).err.find("--out-size must be") !=
        std::string::npos);
  REQUIRE(camtest::run_cli(engine("--input-size 64 --out-size 50 --format jpeg --panel --topk 10 --out " +
                                  dir + "/o " + data),
                           dir)
              .status == 0);
  nlohmann::json rec = cam::read_jsonl(dir + "/o/predictions.jsonl")[0];
  CHECK(rec["maps"][0]["file"] == "fruit_03/img0.png.top01.jpg");
  CHECK(rec["maps"][9]["file"] == "fruit_03/img0.png.top10.jpg");
  CHECK(rec["panel"] == "fruit_03/img0.png.panel.jpg");
  CHECK(cam::read_image(dir + "/o/fruit_03/img0.png.top01.jpg").width == 50);
  CHECK(cam::read_image(dir + "/o/" + rec["panel"].get<std::string>()).width > 50);
  CHECK(camtest::run_command(std::string(CAM_BENCH_BIN) + " --help > /dev/null") == 0);
}

TEST_CASE("summary and notes: accuracy, singular, empty folder, too large a top-k, no GPU chatter") {
  const std::string dir = camtest::temp_dir(), data = make_dataset(dir, 1);
  fs::create_directories(dir + "/empty");
  camtest::CliRun r = camtest::run_cli(engine("--out " + dir + "/e " + dir + "/empty"), dir);
  CHECK(r.status == 2);
  CHECK(r.err.find("empty: no images in this folder") != std::string::npos);
  CHECK(r.err.find("no images found in the inputs given") != std::string::npos);
  r = camtest::run_cli(engine("--topk 20 --labels-from-folders --out " + dir + "/o " + data + "/fruit_03"),
                       dir);
  CHECK(r.status == 0);
  CHECK(r.err.find("--topk 20 is more than the model's 11 classes; making 11 maps") != std::string::npos);
  CHECK(r.err.find("1 image (1 ok") != std::string::npos);
  CHECK(r.err.find("top-1 accuracy") != std::string::npos);
  CHECK(r.err.find("(100%), ") !=
        std::string::npos);  // the non-terminal progress line has a share and an ETA
  CHECK(r.err.find("ETA") != std::string::npos);
  if (!fs::exists("/proc/driver/nvidia/version")) {
    r = camtest::run_cli("--weights " + kWeights + " --out " + dir + "/g " + data, dir);
    CHECK(r.err.find("no usable GPU") == std::string::npos);
  }
}
