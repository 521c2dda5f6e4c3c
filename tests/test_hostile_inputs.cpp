// Hostile inputs, second pass (each case aborted, hung or lost results before its fix): names that are not
// UTF-8, arguments the filesystem refuses, folders and FIFOs and devices as images, an exact --resume with
// failures, duplicates, two writers on one folder, long names, stale temporaries, lists with a BOM, folder
// scans that skip things, out of inodes.
#include <doctest/doctest.h>

#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>

#include "cli/inputs.h"
#include "cli/report.h"
#include "engine/base/error.h"
#include "engine/io/image_io.h"
#include "tests/test_util.h"

namespace fs = std::filesystem;

namespace {

const std::string kWeights = camtest::data_path("golden_r50w16.safetensors");

std::string engine(const std::string& args) {
  return "--weights " + kWeights + " --backend cpu --quiet " + args;
}

void write_images(const std::string& folder, int count, int seed) {
  std::mt19937 rng(seed);
  fs::create_directories(folder);
  for (int i = 0; i < count; ++i)
    cam::write_image(folder + "/p" + std::to_string(i) + ".png", camtest::random_image(50 + i, 40, rng));
}

// Starts cam_engine on the CPU with the golden model and `args` in the background (stderr dropped).
pid_t start_engine(const std::vector<std::string>& args) {
  std::vector<std::string> all = {camtest::engine_bin(), "--weights", kWeights, "--backend", "cpu"};
  all.insert(all.end(), args.begin(), args.end());
  const pid_t pid = fork();
  if (pid == 0) {
    std::vector<char*> argv;
    for (std::string& a : all) argv.push_back(a.data());
    argv.push_back(nullptr);
    freopen("/dev/null", "w", stderr);
    execv(argv[0], argv.data());
    _exit(127);
  }
  return pid;
}

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), {});
}

}  // namespace

TEST_CASE("a file name that is not UTF-8: written losslessly, the run goes on, --resume works") {
  const std::string dir = camtest::temp_dir();
  write_images(dir + "/in", 2, 1);
  fs::copy_file(dir + "/in/p0.png", dir + "/in/a\xe9.png");
  camtest::CliRun r = camtest::run_cli(engine("--out " + dir + "/o " + dir + "/in"), dir, "timeout 120 ");
  CHECK(r.status == 0);
  std::vector<nlohmann::json> records = cam::read_jsonl(dir + "/o/predictions.jsonl");
  REQUIRE(records.size() == 3);
  CHECK(records[0]["path_bytes"].get<std::string>().find("a%E9.png") != std::string::npos);
  CHECK(records[0]["name"] == "a%E9.png");
  CHECK(fs::exists(dir + "/o/" + records[0]["maps"][0]["file"].get<std::string>()));
  r = camtest::run_cli(engine("--resume --out " + dir + "/o " + dir + "/in"), dir, "timeout 120 ");
  CHECK(r.status == 0);
  CHECK(cam::read_jsonl(dir + "/o/predictions.jsonl").size() == 3);
}

TEST_CASE("arguments the filesystem refuses: one clear error, no uncaught exception") {
  const std::string dir = camtest::temp_dir();
  fs::create_symlink(dir + "/loop", dir + "/loop");
  camtest::CliRun r = camtest::run_cli(engine("--out " + dir + "/o " + dir + "/loop"), dir, "timeout 60 ");
  CHECK(r.status == 2);
  CHECK(r.err.find("loop: cannot read (") != std::string::npos);
  r = camtest::run_cli(engine("--out " + dir + "/o " + dir + "/" + std::string(300, 'x')), dir,
                       "timeout 60 ");
  CHECK(r.status == 2);
  CHECK(r.err.find("cannot read (File name too long)") != std::string::npos);
}

TEST_CASE("a folder, a FIFO and a device as images: refused at once with the reason, the run goes on") {
  const std::string dir = camtest::temp_dir();
  write_images(dir + "/in", 1, 2);
  fs::create_directories(dir + "/in/folder.jpg");
  REQUIRE(mkfifo((dir + "/in/pipe.jpg").c_str(), 0644) == 0);
  std::ofstream(dir + "/list.txt") << "in/p0.png\nin/folder.jpg\nin/pipe.jpg\n/dev/zero\n";
  camtest::CliRun r =
      camtest::run_cli(engine("--out " + dir + "/o " + dir + "/list.txt"), dir, "timeout 60 ");
  CHECK(r.status == 1);
  CHECK(r.err.find("folder.jpg: not an image file (a folder)") != std::string::npos);
  CHECK(r.err.find("pipe.jpg: not an image file (a FIFO)") != std::string::npos);
  CHECK(r.err.find("/dev/zero: not an image file (a device)") != std::string::npos);
  CHECK(cam::read_jsonl(dir + "/o/predictions.jsonl").size() == 4);
  r = camtest::run_cli("--weights " + dir + "/in/pipe.jpg --out " + dir + "/w x.png", dir, "timeout 60 ");
  CHECK(r.status == 2);
  CHECK(r.err.find("pipe.jpg: not a weights file (a FIFO)") != std::string::npos);
  // a FIFO inside a folder is skipped with a note
  r = camtest::run_cli(engine("--out " + dir + "/f " + dir + "/in"), dir, "timeout 60 ");
  CHECK(r.err.find("skipped 1 image name(s) that are not regular files") != std::string::npos);
}

TEST_CASE("--resume after an interruption equals the uninterrupted run byte for byte, failures included") {
  const std::string dir = camtest::temp_dir();
  write_images(dir + "/in", 40, 3);
  for (int i : {3, 17, 30}) camtest::write_bytes(dir + "/in/p" + std::to_string(i) + ".png", {'b', 'a', 'd'});
  REQUIRE(camtest::run_cli(engine("--batch 4 --out " + dir + "/full " + dir + "/in"), dir).status == 1);
  // interrupted after a few batches, then resumed twice (the second resume finds nothing to do)
  const pid_t pid = start_engine({"--batch", "4", "--io-threads", "1", "--out", dir + "/cut", dir + "/in"});
  for (int waited = 0; waited < 30000 && cam::read_jsonl(dir + "/cut/predictions.jsonl").size() < 8;
       waited += 5)
    usleep(5000);
  kill(pid, SIGINT);
  waitpid(pid, nullptr, 0);
  for (int round = 0; round < 2; ++round)
    CHECK(camtest::run_cli(engine("--batch 4 --resume --out " + dir + "/cut " + dir + "/in"), dir).status ==
          1);
  CHECK(read_text(dir + "/cut/predictions.jsonl") == read_text(dir + "/full/predictions.jsonl"));
}

TEST_CASE("duplicate inputs: each copy its own name and files, no races on temporary files") {
  const std::string dir = camtest::temp_dir();
  write_images(dir + "/in", 1, 4);
  std::ofstream list(dir + "/list.txt");
  for (int i = 0; i < 300; ++i) list << "in/p0.png\n";
  list.close();
  camtest::CliRun r =
      camtest::run_cli(engine("--io-threads 4 --out " + dir + "/o " + dir + "/list.txt"), dir);
  CHECK(r.status == 0);
  CHECK(r.err.empty());
  std::vector<nlohmann::json> records = cam::read_jsonl(dir + "/o/predictions.jsonl");
  REQUIRE(records.size() == 300);
  CHECK(records[0]["name"] == "p0.png");
  CHECK(records[299]["name"] == "p0.png~300");
  for (const nlohmann::json& rec : records)
    CHECK(fs::exists(dir + "/o/" + rec["maps"][0]["file"].get<std::string>()));
}

TEST_CASE("two runs on one output folder: the second is refused while the first holds it") {
  const std::string dir = camtest::temp_dir();
  write_images(dir + "/in", 60, 5);
  const pid_t pid = start_engine({"--batch", "1", "--threads", "1", "--out", dir + "/o", dir + "/in"});
  for (int waited = 0; waited < 30000 && !fs::exists(dir + "/o/run.json"); waited += 5) usleep(5000);
  camtest::CliRun r = camtest::run_cli(engine("--out " + dir + "/o " + dir + "/in"), dir);
  int status = 0;
  waitpid(pid, &status, 0);
  CHECK(r.status == 2);
  CHECK(r.err.find("in use by another cam_engine run") != std::string::npos);
  CHECK(WIFEXITED(status));
  CHECK(cam::read_jsonl(dir + "/o/predictions.jsonl").size() == 60);
}

TEST_CASE("a 250-byte input name: its outputs and their temporary files fit; stale temporaries are removed") {
  const std::string dir = camtest::temp_dir();
  write_images(dir + "/in", 1, 6);
  const std::string name = std::string(236, 'n') + ".png";  // "NAME.top1.png" is 250 + 9 bytes: too long
  fs::rename(dir + "/in/p0.png", dir + "/in/" + name);
  fs::create_directories(dir + "/o");
  std::ofstream(dir + "/o/.cam-tmp-99999-0.tmp") << "left by a killed run";
  camtest::CliRun r = camtest::run_cli(engine("--out " + dir + "/o " + dir + "/in"), dir);
  CHECK(r.status == 0);
  CHECK(!fs::exists(dir + "/o/.cam-tmp-99999-0.tmp"));
  CHECK(fs::exists(dir + "/o/" + name + ".top1.png"));
}

TEST_CASE("lists: a UTF-8 byte-order mark and leading spaces are not part of the first path") {
  std::istringstream in("\xEF\xBB\xBF  a.jpg\n  b.jpg\tB\n");
  std::vector<cam::InputItem> items = cam::parse_list(in, "", "l.txt");
  REQUIRE(items.size() == 2);
  CHECK(items[0].path == "a.jpg");
  CHECK(items[1].path == "b.jpg");
}

TEST_CASE("folder scans say what they skip: unreadable subfolders and looping links") {
  const std::string dir = camtest::temp_dir();
  write_images(dir + "/in/a", 1, 7);
  fs::create_directory_symlink(dir + "/in", dir + "/in/a/back");  // a loop
  std::vector<std::string> notes;
  std::vector<cam::InputItem> items = cam::list_folder(dir + "/in", false, &notes);
  CHECK(items.size() == 1);
  std::string all;
  for (const std::string& n : notes) all += n + "\n";
  CHECK(all.find("already listed (a loop)") != std::string::npos);
  if (geteuid() != 0) {  // root reads everything
    fs::create_directories(dir + "/in/locked");
    fs::permissions(dir + "/in/locked", fs::perms::none);
    notes.clear();
    cam::list_folder(dir + "/in", false, &notes);
    fs::permissions(dir + "/in/locked", fs::perms::owner_all);
    CHECK(!notes.empty());
  } else {
    MESSAGE("unreadable-subfolder case not checked: running as root, which reads every folder");
  }
}

TEST_CASE("out of inodes is a full output: the run stops with exit 2 and --resume finishes it") {
  const std::string dir = camtest::temp_dir();
  write_images(dir + "/in", 12, 8);
  fs::create_directories(dir + "/small");
  const std::string script = "mount -t tmpfs -o size=64m,nr_inodes=24 tmpfs " + dir + "/small && " +
                             camtest::engine_bin() + " " +
                             engine("--topk 2 --out " + dir + "/small/out " + dir + "/in") + " 2>" + dir +
                             "/stderr.txt; echo $? >" + dir + "/status";
  if (camtest::run_command("unshare -Urm sh -c '" + script + "' </dev/null >/dev/null 2>&1") != 0 ||
      !fs::exists(dir + "/status")) {
    MESSAGE("SKIPPED: cannot mount a small tmpfs here (unshare -Urm + mount -t tmpfs failed)");
    return;
  }
  std::ifstream status_file(dir + "/status");
  int status = -1;
  status_file >> status;
  CHECK(status == 2);
  CHECK(read_text(dir + "/stderr.txt").find("the output is full") != std::string::npos);
}

TEST_CASE("memory: options that cannot fit the budget are refused; huge images one by one; under ulimit -v") {
  const std::string dir = camtest::temp_dir();
  write_images(dir + "/in", 2, 9);
  camtest::CliRun r =
      camtest::run_cli(engine("--batch 4096 --memory-budget 2048 --out " + dir + "/o " + dir + "/in"), dir);
  CHECK(r.status == 2);
  CHECK(r.err.find("--batch 4096 at 100x100 needs about") != std::string::npos);
  // AddressSanitizer reserves terabytes of address space, so an ASan build cannot run under ulimit -v.
#if defined(__SANITIZE_ADDRESS__)
  const std::string limit_as = "";
  MESSAGE("ulimit -v not applied: AddressSanitizer build (its shadow memory needs the address space)");
#else
  const std::string limit_as = "ulimit -v 3000000 && ";
#endif
  r = camtest::run_cli(engine("--out-size 16384x16384 --out " + dir + "/o " + dir + "/in"), dir, limit_as);
  CHECK(r.status == 2);
  CHECK(r.err.find("--out-size 16384x16384 needs") != std::string::npos);
  // a 10000x10000 PNG (a few hundred KB) within the default --max-pixels: refused for the budget, the run
  // goes on
  cam::Image big;
  big.width = big.height = 10000;
  big.rgb.assign(size_t{10000} * 10000 * 3, 200);
  cam::write_image(dir + "/in/big.png", big);
  big = cam::Image();
  r = camtest::run_cli(engine("--memory-budget 1024 --out " + dir + "/b " + dir + "/in"), dir, limit_as);
  CHECK(r.status == 1);
  CHECK(r.err.find("big.png: image is 10000x10000, over the limit of") != std::string::npos);
  CHECK(cam::read_jsonl(dir + "/b/predictions.jsonl").size() == 3);
  // the default budget follows the address-space limit
  if (!limit_as.empty()) {
    r = camtest::run_cli(engine("--batch 4096 --input-size 512 --out " + dir + "/v " + dir + "/in"), dir,
                         limit_as);
    CHECK(r.status == 2);
    CHECK(r.err.find("over half the memory budget") != std::string::npos);
  }
}
