// The cam_engine command line, run as a user would: outputs that decode, JSONL equal to the engine API, --raw
// maps equal to the golden CAMs, bad files reported and skipped, exit codes, --resume, interruption,
// determinism.
#include <doctest/doctest.h>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "cli/report.h"
#include "engine/engine.h"
#include "engine/io/image_io.h"
#include "engine/io/safetensors.h"
#include "tests/test_util.h"

namespace fs = std::filesystem;

namespace {

const std::string kWeights = camtest::data_path("golden_r50w16.safetensors");
const std::string kExpected = camtest::data_path("golden_r50w16_expected.safetensors");

std::string make_in_folder(std::string dir) {
  fs::create_directories(dir + "/in");
  return dir;
}

std::vector<float> read_npy(const std::string& path) {
  std::vector<uint8_t> bytes = camtest::read_bytes(path);
  size_t header = 10 + (bytes[8] | (bytes[9] << 8));
  std::vector<float> v((bytes.size() - header) / 4);
  std::memcpy(v.data(), bytes.data() + header, v.size() * 4);
  return v;
}

}  // namespace

TEST_CASE("outputs decode; JSONL equals the engine API; --raw equals the golden CAMs") {
  std::string dir = camtest::temp_dir();
  make_in_folder(dir);
  std::vector<cam::Image> images = camtest::fixture_images(kExpected);
  for (size_t i = 0; i < images.size(); ++i)
    cam::write_image(dir + "/in/fruit" + std::to_string(i) + ".png", images[i]);
  camtest::CliRun r = camtest::run_cli(
      "--weights " + kWeights + " --out " + dir +
          "/out --topk 2 --class fruit_10 --raw --panel --csv --report --backend cpu " + dir + "/in",
      dir);
  CHECK(r.status == 0);
  std::vector<nlohmann::json> records = cam::read_jsonl(dir + "/out/predictions.jsonl");
  REQUIRE(records.size() == images.size());
  cam::EngineOptions eo;
  eo.backend = cam::BackendKind::kCpu;
  cam::Engine engine(kWeights, eo);
  cam::SafeTensors expected(kExpected);
  std::vector<float> cams = expected.to_float(expected.get("cams")),
                     cam_classes = expected.to_float(expected.get("cam_classes"));
  for (size_t i = 0; i < images.size(); ++i) {
    const nlohmann::json& rec = records[i];
    CHECK(rec["path"] == dir + "/in/fruit" + std::to_string(i) + ".png");
    cam::ImageResult want = engine.run({&images[i]}, cam::MapOptions())[0];
    CHECK(rec["top"][0]["class"] == want.top[0]);
    CHECK(rec["top"][0]["probability"].get<double>() ==
          doctest::Approx(want.probabilities[want.top[0]]).epsilon(1e-6));
    REQUIRE(rec["maps"].size() == 3);
    for (const nlohmann::json& m : rec["maps"]) {
      cam::Image overlay = cam::read_image(dir + "/out/" + m["file"].get<std::string>());
      CHECK(overlay.width == 100);
    }
    CHECK(cam::read_image(dir + "/out/" + rec["panel"].get<std::string>()).width > 300);
    std::vector<float> raw = read_npy(dir + "/out/" + rec["raw"].get<std::string>());
    REQUIRE(raw.size() == 3 * 100 * 100);
    for (int j = 0; j < 3; ++j) {
      CHECK(rec["maps"][j]["class"].get<int>() == static_cast<int>(cam_classes[i * 3 + j]));
      std::vector<float> got(raw.begin() + j * 10000, raw.begin() + (j + 1) * 10000),
          gold(cams.begin() + (i * 3 + j) * 10000, cams.begin() + (i * 3 + j + 1) * 10000);
      CHECK(camtest::max_abs_diff(got, gold) <= 1e-4);
    }
  }
  CHECK(fs::exists(dir + "/out/index.html"));
  CHECK(fs::exists(dir + "/out/predictions.csv"));
}

TEST_CASE("bad files: one stderr line each, an error record, the run goes on, exit 1") {
  std::string dir = camtest::temp_dir();
  make_in_folder(dir);
  std::mt19937 rng(1);
  cam::write_image(dir + "/in/good.png", camtest::random_image(64, 48, rng));
  camtest::write_bytes(dir + "/in/empty.jpg", {});
  camtest::write_bytes(dir + "/in/text.png", {'n', 'o', 'p', 'e'});
  std::vector<uint8_t> png = camtest::read_bytes(dir + "/in/good.png");
  camtest::write_bytes(dir + "/in/trunc.png",
                       std::vector<uint8_t>(png.begin(), png.begin() + png.size() / 3));
  cam::write_image(dir + "/in/huge.png", camtest::random_image(200, 200, rng));
  std::ofstream(dir + "/list.txt")
      << "in/good.png\nin/missing.jpg\nin/empty.jpg\nin/text.png\nin/trunc.png\nin/huge.png\n";
  camtest::CliRun r = camtest::run_cli(
      "--weights " + kWeights + " --out " + dir + "/out --max-pixels 10000 --quiet " + dir + "/list.txt",
      dir);
  CHECK(r.status == 1);
  for (const char* reason :
       {"missing.jpg: cannot open", "empty.jpg: empty file", "text.png: not a decodable image",
        "trunc.png: corrupt PNG", "huge.png: image is 200x200, over the limit of 10000 pixels"})
    CHECK(r.err.find(reason) != std::string::npos);
  CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 5);
  std::vector<nlohmann::json> records = cam::read_jsonl(dir + "/out/predictions.jsonl");
  REQUIRE(records.size() == 6);
  CHECK(!records[0].contains("error"));
  for (size_t i = 1; i < 6; ++i) CHECK(records[i].contains("error"));
  CHECK(fs::exists(dir + "/out/good.png.top1.png"));
}

TEST_CASE("usage, weights and output errors exit 2 before any work") {
  std::string dir = camtest::temp_dir();
  CHECK(camtest::run_cli("--bogus x.png", dir).status == 2);
  CHECK(camtest::run_cli("--weights " + kWeights, dir).err.find("no input images") != std::string::npos);
  camtest::CliRun r =
      camtest::run_cli("--weights " + dir + "/none.safetensors --out " + dir + "/o x.png", dir);
  CHECK(r.status == 2);
  CHECK(r.err.find("none.safetensors: cannot open weights file") != std::string::npos);
  r = camtest::run_cli("--weights " + kWeights + " --out /proc/no_such_dir x.png", dir);
  CHECK(r.status == 2);
  CHECK(r.err.find("cannot create or write the output folder") != std::string::npos);
  r = camtest::run_cli("--weights " + kWeights + " --out " + dir + "/o --class banana x.png", dir);
  CHECK(r.status == 2);
  CHECK(r.err.find("unknown class 'banana'") != std::string::npos);
  CHECK(camtest::run_cli("--weights " + kWeights + " --out " + dir + "/o --topk 3 --alpha 2 x.png", dir)
            .status == 2);
  CHECK(camtest::run_cli("--help", dir).status == 0);
}

// Byte identity across batch sizes and --resume is the CPU backend's promise: on CUDA the conv algorithms
// depend on the batch size (test_cuda_ops checks CUDA's own repeatability).
TEST_CASE("CPU: byte-identical outputs across runs and batch sizes; --out-size and --format") {
  std::string dir = camtest::temp_dir();
  make_in_folder(dir);
  std::mt19937 rng(5);
  for (int i = 0; i < 7; ++i)
    cam::write_image(dir + "/in/img" + std::to_string(i) + ".png",
                     camtest::random_image(60 + 13 * i, 90 - 5 * i, rng));
  for (const char* batch : {"1", "3", "16"})
    REQUIRE(camtest::run_cli(std::string("--weights ") + kWeights +
                                 " --backend cpu --topk 2 --raw --quiet --batch " + batch + " --out " + dir +
                                 "/b" + batch + " " + dir + "/in",
                             dir)
                .status == 0);
  for (const auto& entry : fs::directory_iterator(dir + "/b1")) {
    std::string name = entry.path().filename().string();
    if (name == "run.json") continue;  // records the batch size, for the report of a merge
    CAPTURE(name);
    CHECK(camtest::read_bytes(entry.path().string()) == camtest::read_bytes(dir + "/b3/" + name));
    CHECK(camtest::read_bytes(entry.path().string()) == camtest::read_bytes(dir + "/b16/" + name));
  }
  REQUIRE(camtest::run_cli("--weights " + kWeights + " --quiet --out-size 40x30 --format jpg --out " + dir +
                               "/s " + dir + "/in",
                           dir)
              .status == 0);
  cam::Image small = cam::read_image(dir + "/s/img3.png.top1.jpg");
  CHECK(small.width == 40);
  CHECK(small.height == 30);
}

TEST_CASE("CPU: interrupted run leaves only complete files; --resume finishes with the same results") {
  std::string dir = camtest::temp_dir();
  make_in_folder(dir);
  std::mt19937 rng(8);
  std::ofstream list(dir + "/list.txt");
  for (int i = 0; i < 300; ++i) {
    std::string name = "in/p" + std::to_string(i) + ".png";
    cam::write_image(dir + "/" + name, camtest::random_image(100, 100, rng));
    list << name << "\n";
  }
  list.close();
  REQUIRE(camtest::run_cli("--weights " + kWeights + " --backend cpu --quiet --batch 8 --out " + dir +
                               "/full " + dir + "/list.txt",
                           dir)
              .status == 0);

  pid_t pid = fork();
  if (pid == 0) {
    std::string out = dir + "/cut", lst = dir + "/list.txt", bin = camtest::engine_bin();
    freopen("/dev/null", "w", stderr);
    execl(bin.c_str(), bin.c_str(), "--weights", kWeights.c_str(), "--backend", "cpu", "--batch", "4",
          "--io-threads", "1", "--out", out.c_str(), lst.c_str(), nullptr);
    _exit(127);
  }
  for (int waited = 0; waited < 30000 && cam::read_jsonl(dir + "/cut/predictions.jsonl").empty(); waited += 5)
    usleep(5000);
  kill(pid, SIGINT);  // as soon as the first batch is written
  int status = 0;
  waitpid(pid, &status, 0);
  int code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  CHECK(code == 130);
  std::vector<nlohmann::json> partial = cam::read_jsonl(dir + "/cut/predictions.jsonl");
  CHECK(partial.size() < 300);
  MESSAGE("interrupted with exit " << code << " after " << partial.size() << " of 300 images");
  for (const auto& entry : fs::recursive_directory_iterator(dir + "/cut"))
    CHECK(entry.path().string().find(".tmp") == std::string::npos);
  for (const nlohmann::json& r : partial)
    CHECK(cam::read_image(dir + "/cut/" + r["maps"][0]["file"].get<std::string>()).width == 100);

  camtest::CliRun r = camtest::run_cli("--weights " + kWeights + " --backend cpu --batch 8 --resume --out " +
                                           dir + "/cut " + dir + "/list.txt",
                                       dir);
  CHECK(r.status == 0);
  CHECK(r.err.find(std::to_string(partial.size()) + " skipped as done") != std::string::npos);
  std::vector<nlohmann::json> full = cam::read_jsonl(dir + "/full/predictions.jsonl"),
                              resumed = cam::read_jsonl(dir + "/cut/predictions.jsonl");
  REQUIRE(resumed.size() == full.size());
  std::map<std::string, std::string> a, b;
  for (const nlohmann::json& x : full) a[x["path"]] = x.dump();
  for (const nlohmann::json& x : resumed) b[x["path"]] = x.dump();
  CHECK(a == b);
  for (const nlohmann::json& x : full) {
    std::string f = x["maps"][0]["file"];
    CHECK(camtest::read_bytes(dir + "/full/" + f) == camtest::read_bytes(dir + "/cut/" + f));
  }
}

TEST_CASE("--method and --metrics: per-method files and JSONL maps equal to the engine API; summary lines") {
  std::string dir = camtest::temp_dir();
  make_in_folder(dir);
  std::vector<cam::Image> images = camtest::fixture_images(kExpected);
  images.resize(2);
  for (size_t i = 0; i < images.size(); ++i)
    cam::write_image(dir + "/in/fruit" + std::to_string(i) + ".png", images[i]);
  camtest::CliRun r = camtest::run_cli("--weights " + kWeights + " --out " + dir +
                                           "/out --method cam,eigencam,scorecam --scorecam-channels 8 "
                                           "--metrics --metric-steps 4 --raw --report --backend cpu " +
                                           dir + "/in",
                                       dir);
  CHECK(r.status == 0);
  CHECK(r.err.find("faithfulness of the top-1 maps, eigencam: insertion AUC") != std::string::npos);
  std::vector<nlohmann::json> records = cam::read_jsonl(dir + "/out/predictions.jsonl");
  REQUIRE(records.size() == images.size());
  cam::EngineOptions eo;
  eo.backend = cam::BackendKind::kCpu;
  cam::Engine engine(kWeights, eo);
  cam::MapOptions mo;
  mo.methods = {cam::CamMethod::kCam, cam::CamMethod::kEigenCam, cam::CamMethod::kScoreCam};
  mo.scorecam_channels = 8, mo.metrics = true, mo.metric_steps = 4, mo.overlays = false;
  const char* names[] = {"cam", "eigencam", "scorecam"};
  for (size_t i = 0; i < images.size(); ++i) {
    const nlohmann::json& rec = records[i];
    const cam::ImageResult want = engine.run({&images[i]}, mo)[0];
    REQUIRE(rec["maps"].size() == 3);
    std::vector<float> raw = read_npy(dir + "/out/" + rec["raw"].get<std::string>());
    REQUIRE(raw.size() == 3 * 100 * 100);
    for (size_t j = 0; j < 3; ++j) {
      const nlohmann::json& m = rec["maps"][j];
      CHECK(m["method"] == names[j]);
      const std::string file =
          "fruit" + std::to_string(i) + ".png." + (j ? std::string(names[j]) + "." : "") + "top1.png";
      CHECK(m["file"] == file);
      CHECK(fs::exists(dir + "/out/" + file));
      CHECK(std::equal(want.maps[j].map.begin(), want.maps[j].map.end(), raw.begin() + j * 100 * 100));
      CHECK(m["metrics"]["insertion"].get<double>() == want.maps[j].metrics.insertion);
      CHECK(m["metrics"]["deletion"].get<double>() == want.maps[j].metrics.deletion);
      CHECK(m["metrics"]["increase"].get<bool>() == want.maps[j].metrics.increase);
    }
  }
  const std::vector<uint8_t> html = camtest::read_bytes(dir + "/out/index.html");
  const std::string report(html.begin(), html.end());
  CHECK(report.find("Faithfulness of the top-1 maps") != std::string::npos);
  CHECK(report.find("cam | eigencam | scorecam") != std::string::npos);
  CHECK(camtest::run_cli("--weights " + kWeights + " --out " + dir + "/o2 --method cam,nope " + dir + "/in",
                         dir)
            .err.find("unknown method 'nope' (expected cam, gradcam, gradcam++, scorecam or eigencam)") !=
        std::string::npos);
}
