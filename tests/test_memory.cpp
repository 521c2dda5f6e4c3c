// Memory flat whatever the list: the CLI with every output option on (labels from folders, object masks,
// top-3, the report, CSV, panels, raw maps) over N and 10 N photos, from a folder and from a list, must peak
// at the same resident size within a fixed margin. The photos are tests/data/fruits360_heldout repeated, each
// under the folder (or list label) of another class, so that every image is misclassified and gets a
// true-class map: the path that held a plan per batch size before.
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "doctest/doctest.h"
#include "tests/test_util.h"

namespace fs = std::filesystem;

namespace {

const std::string kHeldOut = camtest::data_path("fruits360_heldout");
const char* kOptions =
    " --weights weights/fruits360_r50.safetensors --quiet --labels-from-folders --object-mask white --topk 3"
    " --report --csv --panel --raw --batch 4";

// The held-out photos as (class folder, file) pairs, sorted.
std::vector<std::pair<std::string, std::string>> held_out_photos() {
  std::vector<std::pair<std::string, std::string>> photos;
  for (const auto& c : fs::directory_iterator(kHeldOut))
    if (c.is_directory())
      for (const auto& f : fs::directory_iterator(c.path()))
        photos.emplace_back(c.path().filename().string(), f.path().filename().string());
  std::sort(photos.begin(), photos.end());
  return photos;
}

// The class folder after `name` in sorted order, so that its photos are labelled wrongly.
std::string other_class(const std::vector<std::pair<std::string, std::string>>& photos,
                        const std::string& name) {
  for (const auto& p : photos)
    if (p.first > name) return p.first;
  return photos.front().first;
}

// A folder of `copies` links to every held-out photo, each under another class's folder.
std::string make_folder(const std::string& dir, int copies) {
  const auto photos = held_out_photos();
  for (int k = 0; k < copies; ++k)
    for (const auto& [cls, file] : photos) {
      const fs::path target = fs::path(dir) / other_class(photos, cls);
      fs::create_directories(target);
      fs::create_symlink(fs::path(kHeldOut) / cls / file, target / ("copy" + std::to_string(k) + "_" + file));
    }
  return dir;
}

// A list of `copies` times every held-out photo, each with another class as its truth.
std::string make_list(const std::string& path, int copies) {
  const auto photos = held_out_photos();
  std::ofstream out(path);
  for (int k = 0; k < copies; ++k)
    for (const auto& [cls, file] : photos)
      out << (fs::path(kHeldOut) / cls / file).string() << '\t' << other_class(photos, cls) << '\n';
  return path;
}

// Runs the CLI from the source folder and returns its peak resident size in KiB (the process itself: the
// shell execs it).
long peak_rss_kib(const std::string& args, const std::string& out) {
  const std::string command = "cd '" + camtest::source_dir() + "' && exec '" + camtest::engine_bin() + "'" +
                              kOptions + " --out '" + out + "' " + args + " < /dev/null > /dev/null 2>&1";
  const pid_t pid = fork();
  if (pid == 0) {
    execl("/bin/sh", "sh", "-c", command.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  int status = 0;
  struct rusage usage {};
  REQUIRE(wait4(pid, &status, 0, &usage) == pid);
  REQUIRE(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  return usage.ru_maxrss;
}

size_t jsonl_lines(const std::string& out) {
  std::ifstream in(out + "/predictions.jsonl");
  size_t lines = 0;
  for (std::string line; std::getline(in, line);) ++lines;
  return lines;
}

// 1x against 10x the photos: the larger run may hold at most this much more. Batches of 4 keep the test's
// margin meaningful: the peak includes up to 5 batches in flight with their maps, and at batch 16 one batch's
// maps alone are ~26 MB, so how full the pipeline happened to be at its peak would decide the outcome, not
// growth.
constexpr long kMarginKiB = 16 * 1024;

}  // namespace

TEST_CASE("peak memory does not grow with the list: from a folder and from a list, every output on") {
  const std::string dir = camtest::temp_dir();
  const size_t photos = held_out_photos().size();
  for (const bool folder : {true, false}) {
    long rss[2];
    const int copies[2] = {2, 20};
    for (int run = 0; run < 2; ++run) {
      const std::string name = (folder ? "folder" : "list") + std::to_string(copies[run]);
      const std::string input = folder ? make_folder(dir + "/" + name, copies[run])
                                       : make_list(dir + "/" + name + ".txt", copies[run]);
      const std::string out = dir + "/out_" + name;
      rss[run] = peak_rss_kib("'" + input + "'", out);
      CHECK(jsonl_lines(out) == photos * copies[run]);
      std::printf("%s: %zu images, peak RSS %ld KiB\n", name.c_str(), photos * copies[run], rss[run]);
      fs::remove_all(out);
    }
    CHECK(rss[1] - rss[0] < kMarginKiB);
  }
}
