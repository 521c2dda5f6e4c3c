// What the CLI does before a run starts: the output folder's lock, the run record --resume checks, warnings
// about the inputs, --info, and the memory plan.
#include "cli/cli_setup.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "cli/outputs.h"
#include "engine/base/error.h"
#include "engine/io/atomic_file.h"
#include "engine/model/resnet.h"
#include "engine/pipeline.h"

namespace fs = std::filesystem;

namespace cam {

double memory_budget_bytes(const CliOptions& o) {
  if (o.memory_budget_mb > 0) return o.memory_budget_mb * 1024.0 * 1024.0;
  double ram = static_cast<double>(sysconf(_SC_PHYS_PAGES)) * static_cast<double>(sysconf(_SC_PAGESIZE));
  if (!(ram > 0)) ram = 8.0 * 1024 * 1024 * 1024;
  struct rlimit limit;  // an address-space limit (ulimit -v) caps it too, past the program's own ~1 GiB
  if (getrlimit(RLIMIT_AS, &limit) == 0 && limit.rlim_cur != RLIM_INFINITY)
    ram = std::min(ram, 2.0 * (static_cast<double>(limit.rlim_cur) - 1024.0 * 1024 * 1024));
  return std::max(ram / 2, 64.0 * 1024 * 1024);
}

namespace {

// The engine's activation arena for `batch` images at the model's input size, in bytes.
double engine_arena_bytes(const ResNet& net, int batch) {
  const Preprocess& pre = net.preprocess;
  return batch * static_cast<double>(net.schedule(pre.height, pre.width).largest) * 4 * Schedule::kBuffers;
}

}  // namespace

std::string memory_estimate(const ResNet& net, int batch, size_t map_count, double canvas_bytes) {
  // What a run holds whatever its length: the engine's arena, then per image in flight its maps (float, at
  // the input size) and, for photos of the input size, its decode, resize and overlays.
  const Preprocess& pre = net.preprocess;
  const double mib = 1024.0 * 1024, input_pixels = static_cast<double>(pre.height) * pre.width;
  const double arena = engine_arena_bytes(net, batch);
  const double in_flight =
      static_cast<double>(kPipelineBatchesAlive) * batch *
      (map_count * input_pixels * 4 + 3.0 * input_pixels * (map_count + 2) + canvas_bytes);
  char text[400];
  std::snprintf(
      text, sizeof text,
      "memory estimate ~%.0f MiB beside the weights and libraries (engine arena %.0f MiB, %d batches "
      "of %d images with %zu maps each in flight %.0f MiB at %dx%d photos); with the number of images "
      "only the list of inputs grows, about 0.4 KiB per path",
      (arena + in_flight) / mib, arena / mib, kPipelineBatchesAlive, batch, map_count, in_flight / mib,
      pre.width, pre.height);
  return text;
}

int64_t plan_memory(const CliOptions& o, const Engine& engine, const MapOptions& maps, int out_w, int out_h) {
  const Preprocess& pre = engine.model().preprocess;
  const double engine_bytes = engine_arena_bytes(engine.model(), o.batch);
  const double budget = memory_budget_bytes(o);
  const double gib = 1024.0 * 1024 * 1024;
  char what[256];
  if (engine_bytes > budget / 2) {
    std::snprintf(
        what, sizeof what,
        "--batch %d at %dx%d needs about %.1f GiB of engine buffers, over half the memory budget of "
        "%.1f GiB (--memory-budget); use a smaller --batch",
        o.batch, pre.width, pre.height, engine_bytes / gib, budget / gib);
    throw Error(what);
  }
  const size_t map_count =
      (maps.topk + maps.classes.size() + 1) * maps.methods.size();  // + a true-class map per method
  const double per_image = (budget - engine_bytes) / (static_cast<double>(kPipelineBatchesAlive) * o.batch);
  const double canvas = out_w ? 3.0 * out_w * out_h * (map_count + 1) : 0;
  if (canvas > per_image / 2) {
    std::snprintf(
        what, sizeof what,
        "--out-size %dx%d needs %.1f GiB for the overlays of %d batches of %d images, over the memory "
        "budget of %.1f GiB (--memory-budget); use a smaller --out-size or --batch",
        out_w, out_h, canvas * kPipelineBatchesAlive * o.batch / gib, kPipelineBatchesAlive, o.batch,
        budget / gib);
    throw Error(what);
  }
  // An image of P pixels holds its decode, its resized copy and one overlay per map: 3 P (maps + 2) bytes.
  const int64_t fits = static_cast<int64_t>((per_image - canvas) / (3.0 * (map_count + 2)));
  const int64_t limit = std::min<int64_t>(o.max_pixels, fits);
  if (o.verbose) {
    std::fprintf(
        stderr,
        "cam_engine: memory budget %.1f GiB: engine buffers ~%.2f GiB, images up to %lld pixels each "
        "(%d batches of %d in flight)\ncam_engine: %s\n",
        budget / gib, engine_bytes / gib, static_cast<long long>(limit), kPipelineBatchesAlive, o.batch,
        memory_estimate(engine.model(), o.batch, map_count, canvas).c_str());
  }
  return limit;
}

namespace {
const char* const kLockFileName = ".cam_engine.lock";  // in the output folder, held for the whole run
}  // namespace

void remove_unused_output_folder(const std::string& out, bool created_by_this_run) {
  if (!created_by_this_run) return;
  std::error_code ec;
  const fs::path lock = fs::path(out) / kLockFileName;
  for (fs::directory_iterator it(out, ec), end; !ec && it != end; it.increment(ec))
    if (it->path() != lock) return;  // something was written: the run's record stays
  fs::remove(lock, ec);
  fs::remove(out, ec);  // only if empty
}

void lock_output_folder(const std::string& out) {
  const std::string lock_path = (fs::path(out) / kLockFileName).string();
  const int fd = open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) throw Error(lock_path + ": cannot create the lock file (" + std::strerror(errno) + ")");
  if (flock(fd, LOCK_EX | LOCK_NB) != 0)
    throw Error(out + ": in use by another cam_engine run (" + lock_path +
                " is locked); wait for it to finish or write to another --out");
  std::error_code ec;
  size_t removed = 0;
  for (fs::recursive_directory_iterator it(out, ec), end; !ec && it != end; it.increment(ec))
    if (it->path().filename().string().rfind(kTemporaryPrefix, 0) == 0 && it->is_regular_file(ec))
      removed += fs::remove(it->path(), ec);
  if (removed)
    std::fprintf(stderr, "cam_engine: removed %zu temporary file(s) an earlier run left\n", removed);
}

int print_info(const CliOptions& o) {
  const std::string& weights = o.info;
  const ResNet net = ResNet::load(weights);
  const Preprocess& p = net.preprocess;
  std::printf(
      "%s\n%s\ninput %dx%d (WxH, resized %s), maps %dx%d, %s, scale %g, mean [%g, %g, %g], std [%g, %g, "
      "%g]\n",
      weights.c_str(), net.describe().c_str(), p.width, p.height, describe_resize(p).c_str(),
      net.feature_size(p.width), net.feature_size(p.height), p.bgr ? "BGR" : "RGB", p.scale, p.mean[0],
      p.mean[1], p.mean[2], p.stddev[0], p.stddev[1], p.stddev[2]);
  if (!net.source.empty()) std::printf("source: %s\n", net.source.c_str());
  const size_t map_count = (o.topk + o.classes.size() + (o.labels_from_folders ? 1 : 0)) * o.methods.size();
  std::printf("--batch %d, %zu map%s per image: %s\n", o.batch, map_count, map_count == 1 ? "" : "s",
              memory_estimate(net, o.batch, map_count, 0).c_str());
  std::printf("%d classes:\n", net.num_classes);
  for (int k = 0; k < net.num_classes; ++k) std::printf("%5d  %s\n", k, net.labels[k].c_str());
  return std::fflush(stdout) == 0 && !std::ferror(stdout) ? 0 : 2;
}

void warn_unknown_truth(const std::vector<InputItem>& items, const Engine& engine) {
  std::set<std::string> labels(engine.model().labels.begin(), engine.model().labels.end()), unknown;
  std::map<std::string, int> count;
  for (const InputItem& item : items)
    if (!item.truth.empty() && !labels.count(item.truth)) ++count[item.truth];
  for (const auto& [truth, n] : count)
    std::fprintf(stderr,
                 "cam_engine: ground truth '%s' (%d image%s) is not a label of this model; left out of the "
                 "accuracy (cam_engine --info lists the labels)\n",
                 truth.c_str(), n, n == 1 ? "" : "s");
}

std::vector<InputItem> shard_of(const std::vector<InputItem>& items, int k, int n) {
  std::vector<InputItem> mine;
  for (size_t i = static_cast<size_t>(k - 1); i < items.size(); i += static_cast<size_t>(n))
    mine.push_back(items[i]);
  return mine;
}

namespace {

// "cam", or the methods in order: "cam, gradcam++"; Score-CAM's channel choice when not all.
std::string methods_text(const MapOptions& mo) {
  std::string text;
  for (CamMethod m : mo.methods) {
    text += (text.empty() ? "" : ", ") + std::string(name_of(m));
    if (m == CamMethod::kScoreCam && mo.scorecam_channels)
      text += " (" + std::to_string(mo.scorecam_channels) + " channels of highest variance)";
  }
  return text;
}

}  // namespace

nlohmann::json run_details(const CliOptions& o, const MapOptions& mo, const Engine& engine) {
  const Preprocess& pre = engine.model().preprocess;
  std::string classes;
  for (int c : mo.classes) classes += (classes.empty() ? "" : ", ") + engine.label(c);
  return {
      {"model", o.weights},
      {"network", engine.model().describe()},
      {"labels", engine.model().num_classes},
      {"input size",
       std::to_string(pre.width) + "x" + std::to_string(pre.height) + ", resized " + describe_resize(pre)},
      {"backend", engine.backend_name()},
      {"precision", name_of(o.precision)},
      {"maps",
       methods_text(mo) + ": top-" + std::to_string(mo.topk) + (classes.empty() ? "" : " and " + classes) +
           (mo.metrics ? "; metrics with " + std::to_string(mo.metric_steps) + " steps" : "") +
           (o.object_mask.empty() ? ""
                                  : "; object mask " + o.object_mask + ", pointing tolerance " +
                                        std::to_string(static_cast<int>(o.pointing_tolerance)) + " px")},
      {"batch", o.batch}};
}

std::string record_differences(const nlohmann::json& before, const nlohmann::json& now) {
  std::string changed;
  for (auto it = now.begin(); it != now.end(); ++it)
    if (!before.contains(it.key()) || before[it.key()] != it.value())
      changed += (changed.empty() ? "" : ", ") + it.key() + " " +
                 (before.contains(it.key()) ? before[it.key()].dump() : "(unset)") + " -> " +
                 it.value().dump();
  return changed;
}

nlohmann::json run_record(const CliOptions& o, const MapOptions& mo, const Engine& engine, size_t inputs,
                          size_t shard_inputs) {
  const Preprocess& pre = engine.model().preprocess;
  std::error_code ec;
  nlohmann::json record = {{"weights", fs::absolute(o.weights, ec).lexically_normal().string()},
                           {"weights_bytes", fs::file_size(o.weights, ec)},
                           {"topk", mo.topk},
                           {"predictions", std::min(o.predictions, engine.model().num_classes)},
                           {"classes", mo.classes},
                           {"format", o.format},
                           {"out_size", o.out_size},
                           {"input_size", std::to_string(pre.width) + "x" + std::to_string(pre.height)},
                           {"panel", o.panel},
                           {"raw", o.raw},
                           {"colormap", o.colormap},
                           {"alpha", o.alpha},
                           {"precision", cam::name_of(o.precision)},
                           {"object_mask", o.object_mask},
                           {"pointing_tolerance", o.pointing_tolerance},
                           {"labels_from_folders", o.labels_from_folders},
                           {"exif_orientation", o.ignore_exif ? "ignore" : "apply"},
                           {"resize", name_of(pre.resize)}};
  // Recorded only when not the default, so that runs of versions before --method resume.
  if (mo.methods != std::vector<CamMethod>{CamMethod::kCam}) record["methods"] = methods_text(mo);
  if (mo.metrics) record["metric_steps"] = mo.metric_steps;
  if (pre.resize_shorter) record["resize_shorter"] = pre.resize_shorter;
  if (pre.jpeg_idct != JpegIdct::kAccurate) record["jpeg_idct"] = name_of(pre.jpeg_idct);
  if (o.shards) {
    record["shard"] = std::to_string(o.shard) + "/" + std::to_string(o.shards);
    record["inputs"] = inputs, record["shard_inputs"] = shard_inputs;
  }
  record["details"] = run_details(o, mo, engine);  // for the report of a merge; not compared by --resume
  return record;
}

void check_run_record(const CliOptions& o, const MapOptions& mo, const Engine& engine, size_t inputs,
                      size_t shard_inputs) {
  const nlohmann::json record = run_record(o, mo, engine, inputs, shard_inputs);
  const fs::path path = fs::path(o.out) / "run.json";
  if (o.resume) {
    std::ifstream in(path);
    nlohmann::json before = in ? nlohmann::json::parse(in, nullptr, false) : nlohmann::json();
    if (before.is_object()) {
      nlohmann::json compared = record;  // the details are the report's, not compared
      compared.erase("details");
      const std::string changed = record_differences(before, compared);
      if (!changed.empty())
        throw Error("--resume: " + o.out + " was written with other options (" + changed +
                    "); resume with the same options, or write to a new --out");
    }
  } else if (fs::exists(fs::path(o.out) / "predictions.jsonl") && !o.quiet) {
    std::fprintf(
        stderr,
        "cam_engine: note: %s holds an earlier run; this run rewrites predictions.jsonl, and the earlier "
        "files it does not rewrite stay (use a new --out, or --resume to continue that run)\n",
        o.out.c_str());
  }
  write_text_file(path.string(), record.dump(1) + "\n");
}

}  // namespace cam
