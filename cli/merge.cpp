// cam_engine merge (merge.h). Shard K of N holds inputs K-1, K-1+N, ... of the whole list in order (one
// record each, failures included), so record i of the whole run is line i / N of shard i % N + 1.
#include "cli/merge.h"

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cli/cli_records.h"
#include "cli/cli_setup.h"
#include "cli/outputs.h"
#include "cli/report.h"
#include "engine/base/error.h"
#include "engine/io/atomic_file.h"

namespace fs = std::filesystem;

namespace cam {
namespace {

constexpr const char* kMergeUsage =
    "usage: cam_engine merge --out DIR [--csv] [--report] [--quiet] SHARD_OUT...\n"
    "joins the --out folders of cam_engine --shard 1/N ... N/N (all of them, any order) into DIR, as one\n"
    "unsharded run would have written it: predictions.jsonl in input order, the overlays, panels and .npy\n"
    "files (hard links where possible), run.json, and predictions.csv / index.html where the shards wrote\n"
    "them or when asked.\n";

struct Shard {
  fs::path dir;
  nlohmann::json record;           // its run.json
  int index = 0, count = 0;        // K and N of --shard K/N
  std::vector<std::string> lines;  // its predictions.jsonl, one complete record per line, newline kept
};

Shard read_shard(const fs::path& dir) {
  Shard s;
  s.dir = dir;
  const fs::path record_path = dir / "run.json";
  std::ifstream in(record_path);
  if (!in) throw Error(dir.string() + ": no run.json (not a cam_engine --out folder)");
  s.record = nlohmann::json::parse(in, nullptr, false);
  if (!s.record.is_object()) throw Error(record_path.string() + ": not a JSON object");
  if (!s.record.contains("shard") || !s.record["shard"].is_string())
    throw Error(dir.string() + ": not written by a --shard run (run.json has no \"shard\")");
  const std::string shard = s.record["shard"];
  if (std::sscanf(shard.c_str(), "%d/%d", &s.index, &s.count) != 2 || s.index < 1 || s.index > s.count)
    throw Error(record_path.string() + ": bad shard '" + shard + "'");
  std::ifstream jsonl(dir / "predictions.jsonl", std::ios::binary);
  if (!jsonl) throw Error(dir.string() + ": no predictions.jsonl");
  std::string text((std::istreambuf_iterator<char>(jsonl)), std::istreambuf_iterator<char>());
  for (size_t start = 0; start < text.size();) {
    const size_t end = text.find('\n', start);
    if (end == std::string::npos) break;  // a line cut by an interruption: not a record
    s.lines.push_back(text.substr(start, end + 1 - start));
    start = end + 1;
  }
  const size_t expected = s.record.value("shard_inputs", size_t(0));
  if (s.lines.size() != expected)
    throw Error(dir.string() + " (shard " + shard + "): " + std::to_string(s.lines.size()) + " of " +
                std::to_string(expected) + " images done; finish it with --resume before merging");
  return s;
}

// run.json without what differs between shards: what every shard must agree on, and the merged run.json.
nlohmann::json shared_record(const nlohmann::json& record) {
  nlohmann::json shared = record;
  for (const char* key : {"shard", "shard_inputs", "inputs"}) shared.erase(key);
  return shared;
}

// The file `name` of a shard at the same name in the merged folder: a hard link, else a copy.
void bring_file(const fs::path& from_dir, const fs::path& to_dir, const std::string& name) {
  const fs::path from = from_dir / name, to = to_dir / name;
  std::error_code ec;
  fs::create_directories(to.parent_path(), ec);
  fs::remove(to, ec);
  fs::create_hard_link(from, to, ec);
  if (!ec) return;
  fs::copy_file(from, to, fs::copy_options::overwrite_existing, ec);
  if (ec) throw Error(to.string() + ": cannot copy from " + from.string() + " (" + ec.message() + ")");
}

// Each shard by its index (1..count), checked: all of the same count, none twice, none missing, and all run
// with the same options and inputs.
std::map<int, const Shard*> shards_by_index(const std::vector<Shard>& shards) {
  const int count = shards[0].count;
  std::map<int, const Shard*> by_index;
  for (const Shard& s : shards) {
    if (s.count != count)
      throw Error(s.dir.string() + ": shard " + s.record["shard"].get<std::string>() +
                  ", the others are of " + std::to_string(count));
    if (by_index.count(s.index))
      throw Error(s.dir.string() + ": shard " + std::to_string(s.index) + "/" + std::to_string(count) +
                  " given twice (also " + by_index[s.index]->dir.string() + ")");
    nlohmann::json first = shared_record(shards[0].record), mine = shared_record(s.record);
    first["inputs"] = shards[0].record.value("inputs", 0), mine["inputs"] = s.record.value("inputs", 0);
    const std::string changed = record_differences(first, mine);
    if (!changed.empty())
      throw Error(s.dir.string() + ": run with other options or inputs than " + shards[0].dir.string() +
                  " (" + changed + ")");
    by_index[s.index] = &s;
  }
  std::string missing;
  for (int k = 1; k <= count; ++k)
    if (!by_index.count(k))
      missing += (missing.empty() ? "" : ", ") + std::to_string(k) + "/" + std::to_string(count);
  if (!missing.empty()) throw Error("merge: shard " + missing + " not given");
  return by_index;
}

// predictions.jsonl in `out` in input order (image i is line i / count of shard i % count + 1), with every
// file its records name brought over; returns the number of error records.
size_t merge_predictions(const std::vector<Shard>& shards, const std::map<int, const Shard*>& by_index,
                         const std::string& out, size_t inputs) {
  const int count = shards[0].count;
  const std::string jsonl_path = (fs::path(out) / "predictions.jsonl").string();
  AtomicFile jsonl(jsonl_path);
  size_t failed = 0;
  for (size_t i = 0; i < inputs; ++i) {
    const Shard& s = *by_index.at(static_cast<int>(i % count) + 1);
    const std::string& line = s.lines[i / count];
    nlohmann::json record = nlohmann::json::parse(line, nullptr, false);
    if (!record.is_object())
      throw Error((s.dir / "predictions.jsonl").string() + ": a line is not a JSON record");
    for (const std::string& file : record_files(record)) bring_file(s.dir, out, file);
    jsonl.append(line);
    failed += record.contains("error");
  }
  jsonl.commit();
  return failed;
}

}  // namespace

int merge_main(int argc, char** argv) {
  std::string out;
  bool csv = false, report = false, quiet = false;
  std::vector<fs::path> dirs;
  try {
    for (int i = 1; i < argc; ++i) {
      const std::string a = argv[i];
      if (a == "--help" || a == "-h") return std::fputs(kMergeUsage, stdout) < 0 ? 2 : 0;
      if (a == "--out" && i + 1 < argc) {
        out = argv[++i];
      } else if (a.rfind("--out=", 0) == 0) {
        out = a.substr(6);
      } else if (a == "--csv" || a == "--report" || a == "--quiet") {
        (a == "--csv" ? csv : a == "--report" ? report : quiet) = true;
      } else if (!a.empty() && a[0] == '-') {
        throw Error("merge: unknown option '" + a + "'\n" + kMergeUsage);
      } else {
        dirs.push_back(a);
      }
    }
    if (out.empty()) throw Error(std::string("merge: --out is required\n") + kMergeUsage);
    if (dirs.empty()) throw Error(std::string("merge: no shard folders given\n") + kMergeUsage);
    std::vector<Shard> shards;
    for (const fs::path& dir : dirs) shards.push_back(read_shard(dir));
    const int count = shards[0].count;
    const std::map<int, const Shard*> by_index = shards_by_index(shards);

    std::error_code ec;
    fs::create_directories(out, ec);
    for (const Shard& s : shards)
      if (fs::equivalent(s.dir, out, ec))
        throw Error(out + ": is one of the shard folders; merge into a new one");
    lock_output_folder(out);
    const size_t inputs = shards[0].record.value("inputs", size_t(0));
    const size_t failed = merge_predictions(shards, by_index, out, inputs);
    write_text_file((fs::path(out) / "run.json").string(), shared_record(shards[0].record).dump(1) + "\n");
    const fs::path first = shards[0].dir;
    write_run_summaries(
        out, shards[0].record.value("details", nlohmann::json::object()),
        "merged from " + std::to_string(count) + " shards: " + std::to_string(inputs) + " images",
        csv || fs::exists(first / "predictions.csv"), report || fs::exists(first / "index.html"));
    if (!quiet) {
      std::fprintf(stderr, "cam_engine: merged %d shards: %zu images (%zu failed) into %s\n", count, inputs,
                   failed, out.c_str());
    }
    return 0;
  } catch (const Error& e) {
    std::fprintf(stderr, "cam_engine: %s\n", e.what());
    return 2;
  }
}

}  // namespace cam
