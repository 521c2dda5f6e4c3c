// cam_engine: predictions and class activation maps for image lists and folders.
// The run is engine/pipeline.h's (decode threads -> engine one batch at a time -> encode threads); this file
// supplies what is done to each image and writes predictions.jsonl in input order after each batch's files
// are complete, with resume, progress and the summary.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "cli/cli_options.h"
#include "cli/cli_records.h"
#include "cli/cli_setup.h"
#include "cli/image_files.h"
#include "cli/inputs.h"
#include "cli/merge.h"
#include "cli/object_mask.h"
#include "cli/outputs.h"
#include "cli/report.h"
#include "engine/base/error.h"
#include "engine/cpu/backend.h"
#include "engine/engine.h"
#include "engine/io/atomic_file.h"
#include "engine/io/image_io.h"
#include "engine/pipeline.h"

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

std::atomic<bool> g_interrupted{false};
extern "C" void on_signal(int) {
  g_interrupted = true;
}

double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

class Runner {
 public:
  Runner(const cam::CliOptions& o, cam::Engine& engine, const cam::MapOptions& maps)
      : o_(o),
        engine_(engine),
        maps_(maps),
        masks_(o.object_mask.empty() ? cam::MaskSource() : cam::MaskSource(o.object_mask)),
        files_(engine, maps_, masks_, file_options(o)),
        pipeline_(o.batch, o.io_threads) {
    progress_tty_ = !o.quiet && isatty(STDERR_FILENO);
    max_pixels_ = cam::plan_memory(o, engine, maps_, files_.out_w(), files_.out_h());
  }

  static cam::FileOptions file_options(const cam::CliOptions& o) {
    cam::FileOptions f;
    f.out = o.out, f.format = o.format, f.out_size = o.out_size;
    f.raw = o.raw, f.panel = o.panel, f.truth_maps = o.report || o.panel;
    f.pointing_tolerance = o.pointing_tolerance;
    return f;
  }

  // Images per second with the digits that matter: a slow run (Score-CAM, a big photo) is not "0 img/s".
  static std::string rate_text(double rate) {
    char text[32];
    std::snprintf(text, sizeof text, "%.*f", rate < 10 ? (rate < 1 ? 2 : 1) : 0, rate);
    return text;
  }

  // Returns the exit status.
  int run(const std::vector<cam::InputItem>& all) {
    const std::string jsonl_path = (fs::path(o_.out) / "predictions.jsonl").string();
    std::vector<cam::InputItem> todo;
    if (o_.resume) todo = resume(all, jsonl_path);
    const std::vector<cam::InputItem>& items = o_.resume ? todo : all;  // no copy of a long list
    jsonl_ = open(jsonl_path.c_str(), O_WRONLY | O_CREAT | (o_.resume ? O_APPEND : O_TRUNC), 0644);
    if (jsonl_ < 0) throw cam::Error(jsonl_path + ": cannot open for writing (" + std::strerror(errno) + ")");
    jsonl_size_ = lseek(jsonl_, 0, SEEK_END);
    total_ = items.size();
    start_ = last_line_ = Clock::now();
    const cam::DecodeOptions decode{
        max_pixels_, o_.ignore_exif ? cam::ExifOrientation::kIgnore : cam::ExifOrientation::kApply,
        engine_.model().preprocess.jpeg_idct};
    cam::PipelineHooks hooks;
    hooks.decode = [&](size_t i) { return cam::read_image(items[i].path, decode); };
    hooks.submit = [&](const std::vector<size_t>&, const std::vector<const cam::Image*>& images) {
      return engine_.submit(images, maps_);
    };
    hooks.collect = [&](uint64_t ticket, const std::vector<size_t>& batch,
                        const std::vector<const cam::Image*>& images) {
      std::vector<cam::ImageResult> results = engine_.collect(ticket);
      std::vector<const cam::InputItem*> batch_items;
      for (size_t i : batch) batch_items.push_back(&items[i]);
      files_.add_truth_maps(batch_items, images, results);
      return results;
    };
    hooks.encode = [&](size_t i, const cam::Image& image, const cam::ImageResult& result) {
      return files_.write(items[i], image, result);
    };
    hooks.failed = [&](size_t i, const std::string& error) { return cam::error_record(items[i], error); };
    hooks.deliver = [&](std::vector<cam::Record>& records) {
      finish(records);
      show_progress(false);
    };
    hooks.stop = [&] { return g_interrupted || files_.output_full(); };
    if (o_.verbose)
      std::fprintf(stderr, "cam_engine: %d I/O threads (decode, encode, write)%s\n", pipeline_.io_threads(),
                   o_.io_threads > 0 ? " (--io-threads)" : ", one per core");
    const bool complete = pipeline_.run(items.size(), hooks);
    show_progress(true);
    close(jsonl_);
    if (files_.output_full()) {
      std::fprintf(stderr,
                   "cam_engine: stopped: the output is full; free space, then run again with --resume\n");
      return 2;
    }
    if (o_.resume && complete) put_in_input_order(all, jsonl_path);
    cam::write_run_summaries(o_.out, cam::run_details(o_, maps_, engine_), this_run(), o_.csv, o_.report);
    if (!o_.quiet) summary(!complete);
    if (!complete) return 130;
    return failed_ + failed_before_ ? 1 : 0;  // a resumed run ends as the uninterrupted one would
  }

 private:
  // The key a record is resumed by: its output name (unique per input), or for records of older versions the
  // path.
  static std::string resume_key(const nlohmann::json& r) {
    return r.contains("name") ? "name:" + r["name"].get<std::string>() : cam::record_key(r);
  }

  // Keeps the previous run's complete records, failures included (an image that failed fails again, and the
  // resumed output must equal an uninterrupted run's), drops those whose files are missing, and returns the
  // items still to do. The records are streamed into the new file; only their keys are held.
  std::vector<cam::InputItem> resume(const std::vector<cam::InputItem>& all, const std::string& jsonl_path) {
    std::set<std::string> done;
    cam::AtomicFile kept(jsonl_path);
    cam::JsonlRecords(jsonl_path).each([&](const nlohmann::json& r, uint64_t) {
      bool complete = true;
      for (const std::string& f : cam::record_files(r))
        complete = complete && fs::exists(fs::path(o_.out) / f);
      if (!complete || !done.insert(resume_key(r)).second) return;
      failed_before_ += r.contains("error");
      kept.append(cam::json_line(r));
    });
    kept.commit();
    std::vector<cam::InputItem> todo;
    for (const cam::InputItem& item : all)
      if (!done.count("name:" + item.output) && !done.count(cam::path_key(item.path))) todo.push_back(item);
    skipped_ = all.size() - todo.size();
    return todo;
  }

  // After a resumed run: the records in input order, as an uninterrupted run writes them (redone images were
  // appended); records of inputs no longer given stay, after the others. Held: each record's key and
  // position.
  void put_in_input_order(const std::vector<cam::InputItem>& all, const std::string& jsonl_path) {
    const cam::JsonlRecords records(jsonl_path);
    std::map<std::string, uint64_t> position;
    std::vector<uint64_t> rest;
    records.each([&](const nlohmann::json& r, uint64_t at) {
      if (!position.emplace(resume_key(r), at).second) rest.push_back(at);
    });
    cam::AtomicFile ordered(jsonl_path);
    for (const cam::InputItem& item : all) {
      auto it = position.find("name:" + item.output);
      if (it == position.end()) it = position.find(cam::path_key(item.path));
      if (it == position.end()) continue;
      ordered.append(cam::json_line(records.at(it->second)));
      position.erase(it);
    }
    for (const auto& kv : position) rest.push_back(kv.second);
    for (uint64_t at : rest) ordered.append(cam::json_line(records.at(at)));
    ordered.commit();
  }

  // Appends a batch's records in input order, reporting failures on stderr. The lines go out in one checked
  // write; if it fails, the file is cut back to its last whole line and the run stops.
  void finish(std::vector<cam::Record>& records) {
    std::string lines;
    for (const cam::Record& r : records) {
      if (r.contains("retry")) {
        if (progress_tty_) std::fprintf(stderr, "\r\033[K");
        std::fprintf(stderr, "cam_engine: %s\n", r["error"].get<std::string>().c_str());
        continue;
      }
      if (r.contains("error")) {
        ++failed_;
        if (progress_tty_) std::fprintf(stderr, "\r\033[K");
        std::fprintf(stderr, "cam_engine: %s\n", r["error"].get<std::string>().c_str());
      } else {
        ++ok_;
        if (r.contains("object_mask_error"))
          std::fprintf(stderr, "cam_engine: %s\n", r["object_mask_error"].get<std::string>().c_str());
        localization_.add(r);
        faithfulness_.add(r);
        if (r.contains("truth") && !r.contains("truth_unknown")) {
          ++judged_;
          right_ += !r["top"].empty() && r["top"][0]["label"] == r["truth"];
        }
      }
      lines += cam::json_line(r);
    }
    records.clear();
    for (size_t done = 0; done < lines.size();) {
      ssize_t n = write(jsonl_, lines.data() + done, lines.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        int err = n < 0 ? errno : ENOSPC;
        if (ftruncate(jsonl_, jsonl_size_) != 0) err = errno;
        throw cam::Error((fs::path(o_.out) / "predictions.jsonl").string() + ": cannot write (" +
                         std::strerror(err) +
                         "); it keeps the records before this batch, --resume goes on from there");
      }
      done += static_cast<size_t>(n);
    }
    jsonl_size_ += static_cast<off_t>(lines.size());
  }

  void show_progress(bool final_line) {
    if (o_.quiet || total_ == 0) return;  // a resumed run with nothing left says so in its summary
    const size_t done = ok_ + failed_;
    const double elapsed = seconds_since(start_), rate = elapsed > 0 ? done / elapsed : 0;
    // The ETA is unknown until the first images are done.
    char eta[32] = "--:--";
    if (done && rate > 0) {
      const int left = static_cast<int>((total_ - done) / rate);
      std::snprintf(eta, sizeof eta, "%d:%02d", left / 60, left % 60);
    }
    const double share = 100.0 * done / total_;
    if (progress_tty_) {
      const int width = 30, filled = static_cast<int>(width * done / total_);
      std::fprintf(stderr, "\r[%s%s] %zu/%zu  %s img/s  ETA %s%s", std::string(filled, '#').c_str(),
                   std::string(width - filled, '.').c_str(), done, total_, rate_text(rate).c_str(), eta,
                   final_line ? "\n" : "");
    } else if (final_line || seconds_since(last_line_) >= 5.0) {
      last_line_ = Clock::now();
      std::fprintf(stderr, "cam_engine: %zu/%zu images (%.0f%%), %s img/s, ETA %s\n", done, total_, share,
                   rate_text(rate).c_str(), eta);
    }
  }

  // The report's "this run": images, time and speed of this run.
  std::string this_run() const {
    const double elapsed = seconds_since(start_);
    return std::to_string(ok_ + failed_) + " images in " + std::to_string(elapsed).substr(0, 6) + " s (" +
           rate_text(elapsed > 0 ? (ok_ + failed_) / elapsed : 0) + " img/s)" +
           (skipped_ ? ", " + std::to_string(skipped_) + " done before (--resume)" : "");
  }

  void summary(bool interrupted) {
    const double elapsed = seconds_since(start_);
    const size_t n = ok_ + failed_;
    const cam::PipelineStats& t = pipeline_.stats();
    const double per_image = n ? 1e3 / static_cast<double>(n) : 0;
    if (n == 0 && skipped_)
      std::fprintf(stderr,
                   "cam_engine: nothing left to do: all %zu images were done before%s; outputs in %s\n",
                   skipped_,
                   failed_before_ ? (" (" + std::to_string(failed_before_) + " of them failed)").c_str() : "",
                   o_.out.c_str());
    else
      std::fprintf(
          stderr,
          "cam_engine: %s%zu image%s (%zu ok, %zu failed, %zu skipped as done%s) in %.2f s, %.1f img/s; "
          "engine %.2f s; per image %.3f core-ms decode, %.3f encode + write; outputs in %s\n",
          interrupted ? "interrupted after " : "", n, n == 1 ? "" : "s", ok_, failed_, skipped_,
          failed_before_ ? (", " + std::to_string(failed_before_) + " of them failed before").c_str() : "",
          elapsed, elapsed > 0 ? n / elapsed : 0.0, t.engine_s, t.decode_cpu_s * per_image,
          t.encode_cpu_s * per_image, o_.out.c_str());
    if (judged_)
      std::fprintf(stderr, "cam_engine: top-1 accuracy %.2f%% (%zu/%zu images with a known true class)\n",
                   100.0 * right_ / judged_, right_, judged_);
    for (const std::string& line : localization_.describe("top-1 maps against the object mask"))
      std::fprintf(stderr, "cam_engine: %s\n", line.c_str());
    for (const std::string& line : faithfulness_.describe())
      std::fprintf(stderr, "cam_engine: faithfulness of the top-1 maps, %s\n", line.c_str());
  }

  const cam::CliOptions& o_;
  cam::Engine& engine_;
  cam::MapOptions maps_;
  cam::MaskSource masks_;
  cam::ImageFiles files_;
  cam::LocalizationPerMethod localization_;  // this run's top-1 scores per method, for the summary
  cam::FaithfulnessTally faithfulness_;      // this run's top-1 metrics per method
  cam::Pipeline pipeline_;
  int64_t max_pixels_ = 0;  // --max-pixels, lowered to what the memory budget allows per image
  bool progress_tty_ = false;
  int jsonl_ = -1;        // predictions.jsonl, written with checked write() calls
  off_t jsonl_size_ = 0;  // its length after the last whole batch
  size_t total_ = 0, ok_ = 0, failed_ = 0, skipped_ = 0;
  size_t failed_before_ = 0;       // failure records kept by --resume
  size_t judged_ = 0, right_ = 0;  // images of this run with a known true class, and those predicted right
  Clock::time_point start_, last_line_;
};

// The engine's options from the command line's.
cam::EngineOptions engine_options(const cam::CliOptions& o) {
  cam::EngineOptions eo;
  eo.backend = o.backend, eo.precision = o.precision, eo.threads = o.threads;
  eo.verbose = o.verbose, eo.quiet = o.quiet;
  eo.cuda.device = o.device, eo.cuda.conv_fusion = o.conv_fusion;
  eo.tuning_file = o.tuning_file;
  eo.input_width = o.input_w, eo.input_height = o.input_h, eo.resize = o.resize;
  eo.resize_shorter = o.resize_shorter;
  eo.jpeg_idct = o.jpeg_idct;
  return eo;
}

// The maps' options from the command line's, the class names resolved against the model; a class named twice
// gets one map.
cam::MapOptions map_options(const cam::CliOptions& o, const cam::Engine& engine) {
  const int classes = engine.model().num_classes;
  cam::MapOptions mo;
  mo.topk = std::min(o.topk, classes);
  mo.predictions = o.predictions;
  if (o.topk > classes && !o.quiet)
    std::fprintf(stderr, "cam_engine: --topk %d is more than the model's %d classes; making %d maps\n",
                 o.topk, classes, classes);
  for (const std::string& c : o.classes) {
    const int k = engine.class_index(c);
    if (std::find(mo.classes.begin(), mo.classes.end(), k) == mo.classes.end())
      mo.classes.push_back(k);
    else if (!o.quiet)  // one map and one file per class, however it was named
      std::fprintf(stderr, "cam_engine: --class %s is class %d (%s), already asked for; one map\n", c.c_str(),
                   k, engine.label(k).c_str());
  }
  mo.image_weight = o.alpha;
  mo.methods = o.methods, mo.scorecam_channels = o.scorecam_channels;
  mo.metrics = o.metrics, mo.metric_steps = o.metric_steps, mo.perturbed_batch = o.batch;
  mo.colormap = cam::colormap_index(o.colormap);
  return mo;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc > 1 && std::string(argv[1]) == "merge") return cam::merge_main(argc - 1, argv + 1);
  cam::CliOptions o;
  try {
    o = cam::parse_cli(argc, argv);
  } catch (const cam::Error& e) {
    std::fprintf(stderr, "cam_engine: %s\n", e.what());
    return 2;
  }
  if (o.help) return std::fputs(cam::cli_help(), stdout) < 0 ? 2 : 0;
  if (!o.info.empty()) {
    try {
      return cam::print_info(o);
    } catch (const cam::Error& e) {
      std::fprintf(stderr, "cam_engine: %s\n", e.what());
      return 2;
    }
  }
  if (o.version) {
#ifdef CAM_WITH_CUDA
    std::printf("cam_engine 0.1.0 (backends: cpu, cuda)\n");
#else
    std::printf("cam_engine 0.1.0 (backends: cpu)\n");
#endif
    return 0;
  }
  std::error_code ec;
  const bool new_folder = !fs::exists(o.out, ec);
  try {
    fs::create_directories(o.out, ec);
    if (!fs::is_directory(o.out) || access(o.out.c_str(), W_OK) != 0)
      throw cam::Error(o.out + ": cannot create or write the output folder");
    cam::lock_output_folder(o.out);
    cam::Engine engine(o.weights, engine_options(o));
    const cam::MapOptions mo = map_options(o, engine);
    std::vector<std::string> notes;
    std::vector<cam::InputItem> items =
        cam::collect_inputs(o.inputs, o.labels_from_folders, std::cin, &notes);
    for (const std::string& note : notes) std::fprintf(stderr, "cam_engine: %s\n", note.c_str());
    if (items.empty()) throw cam::Error("no images found in the inputs given");
    const size_t inputs = items.size();
    if (o.shards) items = cam::shard_of(items, o.shard, o.shards);
    cam::warn_unknown_truth(items, engine);
    cam::check_run_record(o, mo, engine, inputs, items.size());
    if (o.verbose)
      std::fprintf(
          stderr, "cam_engine: %s on %s (%s%s), %zu images\n", engine.model().describe().c_str(),
          engine.backend_name().c_str(), cam::name_of(o.precision),
          engine.backend_name() == "cpu" ? std::string(", ").append(cam::cpu_isa_name()).c_str() : "",
          items.size());
    Runner runner(o, engine, mo);
    std::signal(SIGINT, on_signal);
    std::signal(SIGTERM, on_signal);
    std::signal(SIGXFSZ,
                SIG_IGN);  // a file size limit then fails the write (EFBIG) instead of killing the run
    return runner.run(items);
  } catch (const cam::Error& e) {
    std::fprintf(stderr, "cam_engine: %s\n", e.what());
    cam::remove_unused_output_folder(o.out, new_folder);
    return 2;
  }
}
