// --shard K/N and cam_engine merge: three shards merged equal the unsharded run file for file, byte for byte
// (the report's date and run-time row aside); unfinished, missing, mismatched and misplaced shards are
// refused with the folder named.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <regex>

#include "engine/io/image_io.h"
#include "tests/test_util.h"

namespace fs = std::filesystem;

namespace {

const std::string kWeights = camtest::data_path("golden_r50w16.safetensors");

// Ten photos in three class folders, one of them not an image.
std::string make_inputs(const std::string& dir) {
  std::mt19937 rng(11);
  const char* classes[] = {"fruit_01", "fruit_04", "fruit_07"};
  for (int i = 0; i < 10; ++i) {
    const std::string folder = dir + "/in/" + classes[i % 3];
    fs::create_directories(folder);
    cam::write_image(folder + "/img" + std::to_string(i) + ".png",
                     camtest::random_image(50 + 7 * i, 64 - 3 * i, rng));
  }
  std::ofstream(dir + "/in/fruit_04/broken.jpg") << "not a jpeg";
  return dir + "/in";
}

std::map<std::string, std::string> tree(const std::string& root) {
  std::map<std::string, std::string> files;
  for (const auto& entry : fs::recursive_directory_iterator(root)) {
    const std::string name = fs::relative(entry.path(), root).string();
    if (!entry.is_regular_file() || name == ".cam_engine.lock") continue;
    std::vector<uint8_t> bytes = camtest::read_bytes(entry.path().string());
    std::string text(bytes.begin(), bytes.end());
    if (name == "index.html")  // when and how long: the one row a merge cannot repeat
      text = std::regex_replace(text, std::regex("<tr><th>(date|this run)</th><td>[^<]*</td></tr>"), "");
    files[name] = text;
  }
  return files;
}

const std::string kOptions =
    " --backend cpu --topk 2 --raw --panel --csv --report --labels-from-folders --quiet ";

}  // namespace

TEST_CASE("3 shards + merge == the unsharded run, byte for byte") {
  const std::string dir = camtest::temp_dir(), in = make_inputs(dir);
  CHECK(camtest::run_cli("--weights " + kWeights + kOptions + "--batch 4 --out " + dir + "/full " + in, dir)
            .status == 1);
  for (int k = 1; k <= 3; ++k)  // each shard batches other images: the CPU's numbers do not depend on that
    CHECK(camtest::run_cli("--weights " + kWeights + kOptions + "--batch 4 --shard " + std::to_string(k) +
                               "/3 --out " + dir + "/s" + std::to_string(k) + " " + in,
                           dir)
              .status == (k == 2 ? 1 : 0));  // the broken file is the 5th input (sorted): shard 2
  camtest::CliRun merged =
      camtest::run_cli("merge --out " + dir + "/merged " + dir + "/s3 " + dir + "/s1 " + dir + "/s2", dir);
  REQUIRE(merged.status == 0);
  CHECK(merged.err.find("merged 3 shards: 11 images (1 failed)") != std::string::npos);
  const std::map<std::string, std::string> want = tree(dir + "/full"), got = tree(dir + "/merged");
  CHECK(want.size() > 40);  // 10 images x (2 overlays, a panel, an .npy) + JSONL, CSV, report, run.json
  for (const auto& [name, bytes] : want) {
    CAPTURE(name);
    REQUIRE(got.count(name));
    CHECK(got.at(name) == bytes);
  }
  CHECK(got.size() == want.size());
}

TEST_CASE("merge refuses missing, unfinished, mismatched and misplaced shards; --shard checks its value") {
  const std::string dir = camtest::temp_dir(), in = make_inputs(dir);
  for (int k = 1; k <= 3; ++k)
    camtest::run_cli("--weights " + kWeights + kOptions + "--shard " + std::to_string(k) + "/3 --out " + dir +
                         "/s" + std::to_string(k) + " " + in,
                     dir);
  camtest::CliRun r = camtest::run_cli("merge --out " + dir + "/m1 " + dir + "/s1 " + dir + "/s2", dir);
  CHECK(r.status == 2);
  CHECK(r.err.find("shard 3/3 not given") != std::string::npos);
  r = camtest::run_cli("merge --out " + dir + "/m2 " + dir + "/s1 " + dir + "/s1 " + dir + "/s2", dir);
  CHECK(r.err.find("given twice") != std::string::npos);
  r = camtest::run_cli("merge --out " + dir + "/s1 " + dir + "/s1 " + dir + "/s2 " + dir + "/s3", dir);
  CHECK(r.status == 2);
  CHECK(r.err.find("is one of the shard folders") != std::string::npos);
  r = camtest::run_cli("merge --out " + dir + "/m3 " + in + " " + dir + "/s2", dir);
  CHECK(r.err.find("in: no run.json (not a cam_engine --out folder)") != std::string::npos);

  // An interrupted shard: its last record gone.
  const std::string jsonl = dir + "/s3/predictions.jsonl";
  std::vector<uint8_t> bytes = camtest::read_bytes(jsonl);
  std::string text(bytes.begin(), bytes.end());
  text.erase(text.rfind('\n', text.size() - 2) + 1);
  std::ofstream(jsonl, std::ios::trunc) << text;
  r = camtest::run_cli("merge --out " + dir + "/m4 " + dir + "/s1 " + dir + "/s2 " + dir + "/s3", dir);
  CHECK(r.status == 2);
  CHECK(r.err.find("s3 (shard 3/3): 2 of 3 images done; finish it with --resume") != std::string::npos);
  CHECK(!fs::exists(dir + "/m4/predictions.jsonl"));

  // A shard run with other options.
  camtest::run_cli("--weights " + kWeights +
                       " --backend cpu --topk 1 --labels-from-folders --quiet --shard 3/3 --out " + dir +
                       "/s3b " + in,
                   dir);
  r = camtest::run_cli("merge --out " + dir + "/m5 " + dir + "/s1 " + dir + "/s2 " + dir + "/s3b", dir);
  CHECK(r.err.find("s3b: run with other options or inputs than") != std::string::npos);
  CHECK_MESSAGE(r.err.find("topk 2 -> 1") != std::string::npos, r.err);  // what differs, as --resume says

  for (const char* bad : {"0/3", "4/3", "a/b", "3", "1/"}) {
    CAPTURE(bad);
    r = camtest::run_cli("--weights " + kWeights + " --shard " + bad + " --out " + dir + "/x " + in, dir);
    CHECK(r.status == 2);
    CHECK(r.err.find("--shard must be K/N with 1 <= K <= N") != std::string::npos);
  }
}

TEST_CASE("more shards than images: the empty shards finish, the merge holds every image once") {
  const std::string dir = camtest::temp_dir();
  std::mt19937 rng(3);
  fs::create_directories(dir + "/in");
  for (int i = 0; i < 2; ++i)
    cam::write_image(dir + "/in/p" + std::to_string(i) + ".png", camtest::random_image(40, 30, rng));
  std::string shards;
  for (int k = 1; k <= 4; ++k) {
    const std::string out = dir + "/s" + std::to_string(k);
    CHECK(camtest::run_cli("--weights " + kWeights + " --backend cpu --quiet --shard " + std::to_string(k) +
                               "/4 --out " + out + " " + dir + "/in",
                           dir)
              .status == 0);
    shards += " " + out;
  }
  CHECK(fs::file_size(dir + "/s4/predictions.jsonl") == 0);
  REQUIRE(camtest::run_cli("merge --quiet --out " + dir + "/m" + shards, dir).status == 0);
  std::vector<uint8_t> merged = camtest::read_bytes(dir + "/m/predictions.jsonl");
  CHECK(std::count(merged.begin(), merged.end(), '\n') == 2);
  CHECK(fs::exists(dir + "/m/p0.png.top1.png"));
  CHECK(fs::exists(dir + "/m/p1.png.top1.png"));
}
