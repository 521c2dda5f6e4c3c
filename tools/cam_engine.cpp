// cam_engine: predictions and class activation maps for image lists and folders.
// Pipeline: decode threads (prefetching two batches) -> engine (one batch at a time) -> encode threads, with
// the JSONL written in input order after each batch's files are complete, so memory stays flat on any list
// length.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <deque>
#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>
#include <set>

#include "atomic_file.h"
#include "cli_options.h"
#include "cpu_ops.h"
#include "engine.h"
#include "error.h"
#include "image_io.h"
#include "inputs.h"
#include "outputs.h"
#include "report.h"
#include "thread_pool.h"

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

struct Decoded {
  cam::Image image;
  std::string error;
  double seconds = 0;
};

std::string safe_name(const std::string& label) {
  std::string s;
  for (char c : label)
    s += (std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.') ? c : '_';
  return s;
}

class Runner {
 public:
  Runner(const cam::CliOptions& o, cam::Engine& engine, const cam::MapOptions& maps)
      : o_(o), engine_(engine), maps_(maps) {
    const cam::Preprocess& pre = engine.model().preprocess;
    if (o.out_size == "input") {
      out_w_ = pre.width, out_h_ = pre.height;
    } else if (o.out_size != "original") {
      if (std::sscanf(o.out_size.c_str(), "%dx%d", &out_w_, &out_h_) != 2 || out_w_ < 1 || out_h_ < 1 ||
          out_w_ > 16384 || out_h_ > 16384)
        throw cam::Error("--out-size must be original, input or WxH, got '" + o.out_size + "'");
    }
    maps_.overlays = out_w_ == 0;  // the engine blends at the original size; other sizes are blended here
    io_threads_ = o.io_threads > 0
                      ? o.io_threads
                      : std::max(1, std::min(4, static_cast<int>(std::thread::hardware_concurrency())));
    progress_tty_ = !o.quiet && isatty(STDERR_FILENO);
  }

  // Returns the exit status.
  int run(const std::vector<cam::InputItem>& all) {
    const std::string jsonl_path = (fs::path(o_.out) / "predictions.jsonl").string();
    std::vector<cam::InputItem> items = o_.resume ? resume(all, jsonl_path) : all;
    jsonl_ = open(jsonl_path.c_str(), O_WRONLY | O_CREAT | (o_.resume ? O_APPEND : O_TRUNC), 0644);
    if (jsonl_ < 0) throw cam::Error(jsonl_path + ": cannot open for writing (" + std::strerror(errno) + ")");
    jsonl_size_ = lseek(jsonl_, 0, SEEK_END);
    total_ = items.size();
    start_ = last_line_ = Clock::now();
    cam::ThreadPool io(io_threads_);
    const size_t batches = (items.size() + o_.batch - 1) / o_.batch;
    std::deque<std::vector<std::future<Decoded>>> decoding;
    auto schedule_decode = [&](size_t b) {
      std::vector<std::future<Decoded>> fs;
      for (size_t i = b * o_.batch; i < std::min(items.size(), (b + 1) * o_.batch); ++i)
        fs.push_back(io.submit([this, path = items[i].path] {
          Decoded d;
          Clock::time_point t = Clock::now();
          try {
            d.image = cam::read_image(path, o_.max_pixels);
          } catch (const cam::Error& e) {
            d.error = e.what();
          }
          d.seconds = seconds_since(t);
          return d;
        }));
      decoding.push_back(std::move(fs));
    };
    for (size_t b = 0; b < std::min<size_t>(2, batches); ++b) schedule_decode(b);
    std::vector<std::future<nlohmann::json>> writing;
    size_t b = 0;
    for (; b < batches && !g_interrupted && !output_full_; ++b) {
      std::vector<std::future<Decoded>> futures = std::move(decoding.front());
      decoding.pop_front();
      if (b + 2 < batches) schedule_decode(b + 2);
      std::vector<std::shared_ptr<Decoded>> decoded;
      std::vector<const cam::Image*> images;
      for (auto& f : futures) {
        decoded.push_back(std::make_shared<Decoded>(f.get()));
        decode_seconds_ += decoded.back()->seconds;
        if (decoded.back()->error.empty()) images.push_back(&decoded.back()->image);
      }
      Clock::time_point t = Clock::now();
      auto results = std::make_shared<std::vector<cam::ImageResult>>(engine_.run(images, maps_));
      engine_seconds_ += seconds_since(t);
      std::vector<std::future<nlohmann::json>> next;
      for (size_t i = 0, good = 0; i < decoded.size(); ++i) {
        const cam::InputItem& item = items[b * o_.batch + i];
        if (!decoded[i]->error.empty()) {
          std::promise<nlohmann::json> p;
          p.set_value({{"path", item.path}, {"error", decoded[i]->error}});
          next.push_back(p.get_future());
          continue;
        }
        next.push_back(io.submit([this, item, d = decoded[i], results, g = good++] {
          return encode(item, d->image, (*results)[g]);
        }));
      }
      finish(writing);
      writing = std::move(next);
      show_progress(false);
    }
    finish(writing);
    show_progress(true);
    close(jsonl_);
    if (output_full_) {
      std::fprintf(stderr,
                   "cam_engine: stopped: the output is full; free space, then run again with --resume\n");
      return 2;
    }
    write_summaries(jsonl_path);
    if (!o_.quiet) summary(b < batches);
    if (b < batches) return 130;
    return failed_ ? 1 : 0;
  }

 private:
  // Drops the records of a previous run that are incomplete, keeps the rest, and returns the items still to
  // do.
  std::vector<cam::InputItem> resume(const std::vector<cam::InputItem>& all, const std::string& jsonl_path) {
    std::set<std::string> done;
    std::string kept;
    for (const nlohmann::json& r : cam::read_jsonl(jsonl_path)) {
      if (r.contains("error")) continue;
      bool complete = true;
      for (const std::string& f : record_files(r)) complete = complete && fs::exists(fs::path(o_.out) / f);
      if (!complete) continue;
      done.insert(r["path"].get<std::string>());
      kept += r.dump() + "\n";
    }
    cam::write_text_file(jsonl_path, kept);
    std::vector<cam::InputItem> todo;
    for (const cam::InputItem& item : all)
      if (!done.count(item.path)) todo.push_back(item);
    skipped_ = all.size() - todo.size();
    return todo;
  }

  static std::vector<std::string> record_files(const nlohmann::json& r) {
    std::vector<std::string> files;
    for (const nlohmann::json& m : r["maps"])
      if (m.contains("file")) files.push_back(m["file"]);
    for (const char* key : {"raw", "panel"})
      if (r.contains(key)) files.push_back(r[key]);
    return files;
  }

  // Writes one image's files and returns its JSONL record. When a write fails, the files already written for
  // this image are removed and the record is an error record; a full output also stops the run.
  nlohmann::json encode(const cam::InputItem& item, const cam::Image& image, const cam::ImageResult& result) {
    Clock::time_point t = Clock::now();
    nlohmann::json r = {{"path", item.path}};
    std::vector<std::string> written;
    auto save_image = [&](const std::string& file, const cam::Image& picture) {
      cam::write_image(file, picture);
      written.push_back(file);
    };
    try {
      if (!item.truth.empty()) r["truth"] = item.truth;
      r["width"] = image.width, r["height"] = image.height;
      r["top"] = nlohmann::json::array();
      for (int c : result.top)
        r["top"].push_back(
            {{"class", c}, {"label", engine_.label(c)}, {"probability", result.probabilities[c]}});
      fs::path base = fs::path(o_.out) / item.output;
      std::error_code ec;
      fs::create_directories(base.parent_path(), ec);
      const cam::Preprocess& pre = engine_.model().preprocess;
      cam::Image resized;
      if (out_w_) resized = cam::resize_image(image, out_w_, out_h_);
      std::vector<cam::Image> blended(result.maps.size());
      std::vector<const cam::Image*> overlays;
      std::vector<std::string> captions = {item.truth.empty() ? "input" : "truth: " + item.truth};
      r["maps"] = nlohmann::json::array();
      for (size_t j = 0; j < result.maps.size(); ++j) {
        const cam::ClassMap& m = result.maps[j];
        std::string kind = j < result.top.size() ? "top" + std::to_string(j + 1)
                                                 : "class-" + safe_name(engine_.label(m.class_index));
        const cam::Image* overlay = &m.overlay;
        if (out_w_) {
          blended[j].width = out_w_, blended[j].height = out_h_, blended[j].rgb.resize(resized.rgb.size());
          cam::overlay_cpu(m.map.data(), pre.height, pre.width, resized.rgb.data(), out_h_, out_w_,
                           maps_.image_weight, maps_.colormap, blended[j].rgb.data());
          overlay = &blended[j];
        }
        std::string file = item.output + "." + kind + "." + o_.format;
        save_image((fs::path(o_.out) / file).string(), *overlay);
        cam::Localization loc = cam::localize(m.map.data(), pre.height, pre.width, image.width, image.height);
        r["maps"].push_back({{"class", m.class_index},
                             {"label", engine_.label(m.class_index)},
                             {"probability", m.probability},
                             {"kind", kind},
                             {"peak", {loc.peak_x, loc.peak_y}},
                             {"box", {loc.box_x0, loc.box_y0, loc.box_x1, loc.box_y1}},
                             {"file", file}});
        overlays.push_back(overlay);
        char prob[32];
        std::snprintf(prob, sizeof prob, " %.1f%%", 100.0 * m.probability);
        captions.push_back(engine_.label(m.class_index) + prob);
      }
      if (o_.raw && !result.maps.empty()) {
        std::vector<float> stacked;
        for (const cam::ClassMap& m : result.maps) stacked.insert(stacked.end(), m.map.begin(), m.map.end());
        cam::write_npy(base.string() + ".npy", stacked.data(),
                       {static_cast<int>(result.maps.size()), pre.height, pre.width});
        written.push_back(base.string() + ".npy");
        r["raw"] = item.output + ".npy";
      }
      if (o_.panel) {
        const cam::Image& first = out_w_ ? resized : image;
        int tile = std::max(160, std::min(320, first.height));
        save_image(base.string() + ".panel.png", cam::make_panel(first, overlays, captions, tile));
        r["panel"] = item.output + ".panel.png";
      }
    } catch (const cam::Error& e) {
      if (dynamic_cast<const cam::OutputFullError*>(&e)) output_full_ = true;
      for (const std::string& file : written) std::remove(file.c_str());
      r = {{"path", item.path}, {"error", e.what()}};
    }
    encode_microseconds_ += static_cast<int64_t>(seconds_since(t) * 1e6);
    return r;
  }

  // Appends a batch's records in input order, reporting failures on stderr. The lines go out in one checked
  // write; if it fails, the file is cut back to its last whole line and the run stops.
  void finish(std::vector<std::future<nlohmann::json>>& records) {
    std::string lines;
    for (auto& f : records) {
      nlohmann::json r = f.get();
      if (r.contains("error")) {
        ++failed_;
        if (progress_tty_) std::fprintf(stderr, "\r\033[K");
        std::fprintf(stderr, "cam_engine: %s\n", r["error"].get<std::string>().c_str());
      } else {
        ++ok_;
      }
      lines += r.dump() + "\n";
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
    if (o_.quiet) return;
    const size_t done = ok_ + failed_;
    const double elapsed = seconds_since(start_), rate = elapsed > 0 ? done / elapsed : 0;
    if (progress_tty_) {
      const int width = 30, filled = total_ ? static_cast<int>(width * done / total_) : width;
      const double eta = rate > 0 ? (total_ - done) / rate : 0;
      std::fprintf(stderr, "\r[%s%s] %zu/%zu  %.0f img/s  ETA %d:%02d%s", std::string(filled, '#').c_str(),
                   std::string(width - filled, '.').c_str(), done, total_, rate, static_cast<int>(eta) / 60,
                   static_cast<int>(eta) % 60, final_line ? "\n" : "");
    } else if (final_line || seconds_since(last_line_) >= 5.0) {
      last_line_ = Clock::now();
      std::fprintf(stderr, "cam_engine: %zu/%zu images, %.0f img/s\n", done, total_, rate);
    }
  }

  void write_summaries(const std::string& jsonl_path) {
    if (!o_.csv && !o_.report) return;
    std::vector<nlohmann::json> records = cam::read_jsonl(jsonl_path);
    if (o_.csv)
      cam::write_text_file((fs::path(o_.out) / "predictions.csv").string(),
                           cam::render_predictions_csv(records));
    if (o_.report)
      cam::write_text_file((fs::path(o_.out) / "index.html").string(), cam::render_report_html(records));
  }

  void summary(bool interrupted) {
    const double elapsed = seconds_since(start_);
    std::fprintf(stderr,
                 "cam_engine: %s%zu images (%zu ok, %zu failed, %zu skipped as done) in %.2f s, %.1f img/s; "
                 "decode %.2f s, "
                 "engine %.2f s, encode %.2f s (thread seconds); outputs in %s\n",
                 interrupted ? "interrupted after " : "", ok_ + failed_, ok_, failed_, skipped_, elapsed,
                 elapsed > 0 ? (ok_ + failed_) / elapsed : 0.0, decode_seconds_, engine_seconds_,
                 encode_microseconds_.load() / 1e6, o_.out.c_str());
  }

  const cam::CliOptions& o_;
  cam::Engine& engine_;
  cam::MapOptions maps_;
  int out_w_ = 0, out_h_ = 0, io_threads_ = 1;
  bool progress_tty_ = false;
  int jsonl_ = -1;        // predictions.jsonl, written with checked write() calls
  off_t jsonl_size_ = 0;  // its length after the last whole batch
  size_t total_ = 0, ok_ = 0, failed_ = 0, skipped_ = 0;
  double decode_seconds_ = 0, engine_seconds_ = 0;
  std::atomic<int64_t> encode_microseconds_{0};  // summed over the encode threads
  std::atomic<bool> output_full_{false};
  Clock::time_point start_, last_line_;
};

}  // namespace

int main(int argc, char** argv) {
  cam::CliOptions o;
  try {
    o = cam::parse_cli(argc, argv);
  } catch (const cam::Error& e) {
    std::fprintf(stderr, "cam_engine: %s\n", e.what());
    return 2;
  }
  if (o.help) return std::fputs(cam::cli_help(), stdout) < 0 ? 2 : 0;
  if (o.version) {
#ifdef CAM_WITH_CUDA
    std::printf("cam_engine 0.1.0 (backends: cpu, cuda)\n");
#else
    std::printf("cam_engine 0.1.0 (backends: cpu)\n");
#endif
    return 0;
  }
  try {
    std::error_code ec;
    fs::create_directories(o.out, ec);
    if (!fs::is_directory(o.out) || access(o.out.c_str(), W_OK) != 0)
      throw cam::Error(o.out + ": cannot create or write the output folder");
    cam::EngineOptions eo;
    eo.backend = o.backend, eo.precision = o.precision, eo.threads = o.threads, eo.device = o.device,
    eo.verbose = o.verbose;
    eo.quiet = o.quiet;
    eo.conv_fusion = o.conv_fusion;
    eo.tuning_file = o.tuning_file;
    eo.input_width = o.input_w, eo.input_height = o.input_h;
    cam::Engine engine(o.weights, eo);
    cam::MapOptions mo;
    mo.topk = std::min(o.topk, engine.model().num_classes);
    for (const std::string& c : o.classes) mo.classes.push_back(engine.class_index(c));
    mo.image_weight = o.alpha;
    mo.colormap = cam::colormap_index(o.colormap);
    std::vector<cam::InputItem> items = cam::collect_inputs(o.inputs, o.labels_from_folders, std::cin);
    if (o.verbose)
      std::fprintf(stderr, "cam_engine: %s on %s, %zu images\n", engine.model().describe().c_str(),
                   engine.backend_name().c_str(), items.size());
    Runner runner(o, engine, mo);
    std::signal(SIGINT, on_signal);
    std::signal(SIGTERM, on_signal);
    std::signal(SIGXFSZ,
                SIG_IGN);  // a file size limit then fails the write (EFBIG) instead of killing the run
    return runner.run(items);
  } catch (const cam::Error& e) {
    std::fprintf(stderr, "cam_engine: %s\n", e.what());
    return 2;
  }
}
