// What cam_engine does when outputs cannot be written: an output file that cannot be created (one line, that
// image's other files removed, the run goes on, exit 1), a file size limit (EFBIG) and a full disk (a small
// tmpfs in a private mount namespace; ENOSPC): the run stops with a clear error and exit 2, every file left
// decodes, every JSONL line is whole, no temporary file is left, and --resume finishes the job.
#include <doctest/doctest.h>

#include <sys/resource.h>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "cli/outputs.h"
#include "cli/report.h"
#include "engine/io/atomic_file.h"
#include "engine/io/image_io.h"
#include "tests/test_util.h"

namespace fs = std::filesystem;

namespace {

const std::string kWeights = camtest::data_path("golden_r50w16.safetensors");

// `count` fixture images as PNGs under dir/in, and dir/list.txt naming them relative to dir.
void make_inputs(const std::string& dir, size_t count) {
  std::vector<cam::Image> images =
      camtest::fixture_images(camtest::data_path("golden_r50w16_expected.safetensors"));
  fs::create_directories(dir + "/in");
  std::ofstream list(dir + "/list.txt");
  for (size_t i = 0; i < count; ++i) {
    std::string name = "in/img" + std::to_string(i) + ".png";
    cam::write_image(dir + "/" + name, images[i % images.size()]);
    list << name << "\n";
  }
}

// Checks what a stopped or failed run left in `out`: no temporary files, every JSONL line whole, every file
// of every successful record present and readable. Returns the number of successful records.
size_t check_left_whole(const std::string& out) {
  for (const fs::directory_entry& e : fs::recursive_directory_iterator(out))
    CHECK_MESSAGE(e.path().filename().string().find(".tmp") == std::string::npos, e.path().string());
  std::ifstream in(out + "/predictions.jsonl");
  std::string line;
  size_t ok = 0;
  while (std::getline(in, line)) {
    nlohmann::json r = nlohmann::json::parse(line);  // throws (fails the test) on a cut line
    if (r.contains("error")) continue;
    ++ok;
    for (const nlohmann::json& m : r["maps"])
      CHECK(cam::read_image(out + "/" + m["file"].get<std::string>()).width == 100);
    if (r.contains("raw"))
      CHECK(fs::file_size(out + "/" + r["raw"].get<std::string>()) == 128 + 3 * 100 * 100 * 4);
  }
  return ok;
}

}  // namespace

TEST_CASE(
    "writers refuse to leave a truncated file: a size limit throws OutputFullError and leaves nothing") {
  std::string dir = camtest::temp_dir();
  std::mt19937 rng(3);
  cam::Image noise = camtest::random_image(256, 256, rng);  // about 200 KB as PNG: noise does not compress
  std::vector<float> values(100000, 0.5f);
  rlimit saved;
  REQUIRE(getrlimit(RLIMIT_FSIZE, &saved) == 0);
  rlimit small = saved;
  small.rlim_cur = 64 * 1024;
  void (*saved_handler)(int) = std::signal(SIGXFSZ, SIG_IGN);
  REQUIRE(setrlimit(RLIMIT_FSIZE, &small) == 0);
  CHECK_THROWS_AS(cam::write_image(dir + "/noise.png", noise), cam::OutputFullError);
  CHECK_THROWS_AS(cam::write_image(dir + "/noise.jpg", noise), cam::OutputFullError);
  CHECK_THROWS_AS(cam::write_npy(dir + "/values.npy", values.data(), {100000}), cam::OutputFullError);
  CHECK_NOTHROW(cam::write_npy(dir + "/small.npy", values.data(), {1000}));
  setrlimit(RLIMIT_FSIZE, &saved);
  std::signal(SIGXFSZ, saved_handler);
  std::vector<std::string> left;
  for (const fs::directory_entry& e : fs::directory_iterator(dir))
    left.push_back(e.path().filename().string());
  CHECK(left == std::vector<std::string>{"small.npy"});
}

TEST_CASE("an output file that cannot be written: one line, the image's files removed, the run goes on") {
  std::string dir = camtest::temp_dir();
  make_inputs(dir, 3);
  fs::create_directories(dir + "/out/img1.png.top2.png");  // a folder where a file must go: rename fails
  camtest::CliRun r = camtest::run_cli(
      "--weights " + kWeights + " --out " + dir + "/out --quiet --topk 3 --raw " + dir + "/list.txt", dir);
  CHECK(r.status == 1);
  CHECK(r.err == "cam_engine: " + dir + "/out/img1.png.top2.png: cannot write (Is a directory)\n");
  CHECK(!fs::exists(dir + "/out/img1.png.top1.png"));
  CHECK(!fs::exists(dir + "/out/img1.png.npy"));
  CHECK(check_left_whole(dir + "/out") == 2);
  std::vector<nlohmann::json> records = cam::read_jsonl(dir + "/out/predictions.jsonl");
  REQUIRE(records.size() == 3);
  CHECK(records[1].contains("error"));
}

TEST_CASE("a file size limit stops the run with a clear error; --resume finishes it") {
  std::string dir = camtest::temp_dir();
  make_inputs(dir, 6);
  // 100 blocks (50 or 100 KiB, as the shell counts them): overlays fit, the 120 KB .npy of the first image
  // does not.
  camtest::CliRun r = camtest::run_cli(
      "--weights " + kWeights + " --out " + dir + "/out --quiet --topk 3 --raw " + dir + "/list.txt", dir,
      "ulimit -f 100 && ");
  CHECK(r.status == 2);
  CHECK(r.err.find("img0.png.npy: cannot write (File too large)") != std::string::npos);
  CHECK(r.err.find("cam_engine: stopped: the output is full; free space, then run again with --resume") !=
        std::string::npos);
  CHECK(check_left_whole(dir + "/out") == 0);
  CHECK(!fs::exists(dir + "/out/img0.png.top1.png"));
  r = camtest::run_cli(
      "--weights " + kWeights + " --out " + dir + "/out --quiet --topk 3 --raw --resume " + dir + "/list.txt",
      dir);
  CHECK(r.status == 0);
  CHECK(check_left_whole(dir + "/out") == 6);
}

TEST_CASE("a full disk stops the run with a clear error and leaves only whole files") {
  std::string dir = camtest::temp_dir();
  make_inputs(dir, 12);
  fs::create_directories(dir + "/small");
  // A 512 KiB tmpfs holds about four images' outputs (three overlays and a 120 KB .npy each). The mount lives
  // in a private namespace, so the output is copied out before it goes away.
  std::string script = "mount -t tmpfs -o size=512k tmpfs " + dir + "/small && " + camtest::engine_bin() +
                       " --weights " + kWeights + " --out " + dir + "/small/out --quiet --topk 3 --raw " +
                       dir + "/list.txt 2>" + dir + "/stderr.txt; echo $? >" + dir + "/status; cp -r " + dir +
                       "/small/out " + dir + "/copy";
  if (camtest::run_command("unshare -Urm sh -c '" + script + "' </dev/null >/dev/null 2>&1") != 0 ||
      !fs::exists(dir + "/status")) {
    MESSAGE("SKIPPED: cannot mount a small tmpfs here (unshare -Urm + mount -t tmpfs failed)");
    return;
  }
  std::ifstream status_file(dir + "/status"), err_file(dir + "/stderr.txt");
  int status = -1;
  status_file >> status;
  std::string err((std::istreambuf_iterator<char>(err_file)), std::istreambuf_iterator<char>());
  CHECK(status == 2);
  CHECK(err.find("(No space left on device)") != std::string::npos);
  size_t ok = check_left_whole(dir + "/copy");
  CHECK(ok >= 1);
  CHECK(ok < 12);
}
