// Engine.map: a list of any length through the CLI's pipeline (engine/pipeline.h: decode threads, the engine
// one batch at a time, record threads), run on a thread of its own that hands finished batches to Python
// through a queue of at most two. Memory is the pipeline's five batches plus those two, whatever the list's
// length; a Python consumer that stops pulling stops the pipeline at the next batch. The inputs are the CLI's
// (folders, list files, images: cli/inputs.h, with its output names and ground truth), image paths as a list
// file's lines, or items as collect_inputs gives them (path, output name, truth: a share of a list split by
// Ray keeps the names the whole list gave); an image that cannot be read is a record with its error, and the
// run goes on.
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include <condition_variable>
#include <deque>
#include <filesystem>
#include <sstream>
#include <thread>

#include "cli/cli_options.h"
#include "cli/cli_records.h"
#include "cli/cli_setup.h"
#include "cli/image_files.h"
#include "cli/inputs.h"
#include "cli/outputs.h"
#include "cli/report.h"
#include "engine/pipeline.h"
#include "python/core.h"

namespace cam::python {

namespace fs = std::filesystem;

namespace {

constexpr size_t kQueuedBatches = 2;

// The CLI's --out, --format, --out-size, --raw and --panel from Engine.map's keywords (every key present).
FileOptions file_options(const nb::dict& d) {
  FileOptions f;
  f.out = nb::cast<std::string>(d["out"]);
  f.format = nb::cast<std::string>(d["format"]);
  f.out_size = nb::cast<std::string>(d["out_size"]);
  f.raw = nb::cast<bool>(d["raw"]);
  f.panel = f.truth_maps = nb::cast<bool>(d["panel"]);
  return f;
}

std::string bytes_of(nb::handle h) {
  nb::bytes b = nb::cast<nb::bytes>(h);
  return std::string(b.c_str(), b.size());
}

nb::bytes to_bytes(const std::string& s) {
  return nb::bytes(s.data(), s.size());
}

// The CLI's items for `args` (folders, list files, images; no stdin) and what it would warn about, without
// the GIL; an argument that cannot be read is an ImageError.
std::vector<InputItem> collected(const std::vector<std::string>& args, bool labels_from_folders,
                                 std::vector<std::string>& notes) {
  try {
    nb::gil_scoped_release release;
    std::istringstream no_stdin;
    return collect_inputs(args, labels_from_folders, no_stdin, &notes);
  } catch (const Error& e) {
    throw ImageError(e.what());
  }
}

// cam_engine.inputs(): collected() as (path, output name, truth) byte tuples, and the notes.
nb::tuple inputs_of(const nb::list& args, bool labels_from_folders) {
  std::vector<std::string> paths;
  for (nb::handle arg : args) paths.push_back(bytes_of(arg));
  std::vector<std::string> notes;
  const std::vector<InputItem> items = collected(paths, labels_from_folders, notes);
  nb::list out;
  for (const InputItem& item : items)
    out.append(nb::make_tuple(to_bytes(item.path), to_bytes(item.output), to_bytes(item.truth)));
  return nb::make_tuple(out, nb::cast(notes));
}

class Stream {
 public:
  Stream(EngineHandle& handle, const nb::list& inputs, bool as_arguments, bool labels_from_folders,
         const nb::dict& options, const nb::dict& files, int io_threads)
      : handle_(handle), io_threads_(io_threads > 0 ? io_threads : default_io_threads()) {
    std::vector<std::string> paths;
    for (nb::handle input : inputs) {
      if (nb::isinstance<nb::tuple>(input)) {
        nb::tuple t = nb::borrow<nb::tuple>(input);
        if (t.size() != 3) throw OptionError("an input item is (path, name, truth)");
        items_.push_back({bytes_of(t[0]), bytes_of(t[2]), bytes_of(t[1]), ""});
      } else {
        paths.push_back(bytes_of(input));
      }
    }
    if (!items_.empty() && !paths.empty())
      throw OptionError("inputs: either paths or the items of cam_engine.inputs(), not both");
    {
      std::unique_lock<std::mutex> lock;
      engine_ = &handle.acquire(lock);
      options_ = parse_run_options(*engine_, options);
      if (files.size() != 0) {  // out=... given
        FileOptions f = file_options(files);
        f.pointing_tolerance = options_.pointing_tolerance;
        try {
          files_ = std::make_unique<ImageFiles>(*engine_, options_.maps, options_.masks, f);
        } catch (const Error& e) {
          throw OptionError(e.what());
        }
      }
      if (as_arguments)
        items_ = collected(paths, labels_from_folders, notes_);
      else if (!paths.empty())
        items_ = image_items(paths, labels_from_folders);  // names only: nothing is read here
      handle.streaming = true;
    }
    thread_ = std::thread([this] { run(); });
  }
  ~Stream() { close(); }

  size_t size() const { return items_.size(); }
  const std::vector<std::string>& notes() const { return notes_; }

  // The next batch: {"records": [JSON text per item, in input order], and for the items without "error" in
  // that order, Outputs' arrays}; None after the last.
  nb::object next() {
    Batch batch;
    {
      nb::gil_scoped_release release;
      std::unique_lock<std::mutex> lock(mutex_);
      changed_.wait(lock, [&] { return !queue_.empty() || finished_; });
      if (queue_.empty()) {
        if (!error_.empty()) throw Error(error_);
        return nb::none();
      }
      batch = std::move(queue_.front());
      queue_.pop_front();
      changed_.notify_all();
    }
    size_t ok = 0;
    for (const nlohmann::json& r : batch.records) ok += !r.contains("error");
    Outputs out(*engine_, options_, ok, false);
    std::vector<std::string> texts;
    size_t row = 0;
    for (size_t j = 0; j < batch.records.size(); ++j) {
      if (!batch.records[j].contains("error")) out.add(row++, batch.results[j], batch.records[j]);
      texts.push_back(json_line(batch.records[j]));
    }
    nb::dict d = out.to_python();
    d["records"] = nb::cast(texts);
    return d;
  }

  void close() {
    if (!thread_.joinable()) return;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stop_ = true;
      changed_.notify_all();
    }
    {
      nb::gil_scoped_release release;
      thread_.join();
    }
    handle_.streaming = false;
  }

 private:
  struct Batch {
    std::vector<nlohmann::json> records;  // every item of the batch, in input order
    std::vector<ImageResult> results;     // per record; empty for a failed one
  };

  // The pipeline thread: the CLI's hooks without files, each batch's records and results queued for next().
  void run() {
    std::unique_lock<std::mutex> engine_lock(handle_.busy);
    std::map<size_t, ImageResult> results;  // the collected batch's, until delivered
    size_t delivered = 0;
    PipelineHooks hooks;
    hooks.decode = [&](size_t i) { return read_image(items_[i].path, options_.decode); };
    hooks.submit = [&](const std::vector<size_t>&, const std::vector<const Image*>& images) {
      return engine_->submit(images, options_.maps);
    };
    hooks.collect = [&](uint64_t ticket, const std::vector<size_t>& batch,
                        const std::vector<const Image*>& images) {
      std::vector<ImageResult> collected = engine_->collect(ticket);
      if (files_) {
        std::vector<const InputItem*> batch_items;
        for (size_t i : batch) batch_items.push_back(&items_[i]);
        files_->add_truth_maps(batch_items, images, collected);
      }
      for (size_t j = 0; j < batch.size(); ++j) results[batch[j]] = collected[j];
      return collected;
    };
    hooks.encode = [&](size_t i, const Image& image, const ImageResult& result) {
      const InputItem& item = items_[i];
      if (files_) return files_->write(item, image, result);
      return item_record(*engine_, options_.maps, item, image, result, options_.masks,
                         options_.pointing_tolerance);
    };
    hooks.failed = [&](size_t i, const std::string& error) { return error_record(items_[i], error); };
    hooks.deliver = [&](std::vector<Record>& records) {
      Batch batch;
      for (Record& r : records) {
        auto it = results.find(delivered++);
        batch.results.push_back(it == results.end() ? ImageResult() : std::move(it->second));
        if (it != results.end()) results.erase(it);
        batch.records.push_back(std::move(r));
      }
      std::unique_lock<std::mutex> lock(mutex_);
      changed_.wait(lock, [&] { return queue_.size() < kQueuedBatches || stop_; });
      if (!stop_) queue_.push_back(std::move(batch));
      changed_.notify_all();
    };
    hooks.stop = [&] {
      std::lock_guard<std::mutex> lock(mutex_);
      return stop_ || (files_ && files_->output_full());
    };
    std::string error;
    try {
      Pipeline(options_.batch, io_threads_).run(items_.size(), hooks);
    } catch (const std::exception& e) {
      error = e.what();
    }
    if (error.empty() && files_ && files_->output_full())
      error = "the output is full: the records after the last one given have no files";
    std::lock_guard<std::mutex> lock(mutex_);
    error_ = error;
    finished_ = true;
    changed_.notify_all();
  }

  EngineHandle& handle_;
  Engine* engine_ = nullptr;
  RunOptions options_;
  std::unique_ptr<ImageFiles> files_;  // with out=...: the CLI's files of each image
  std::vector<InputItem> items_;
  std::vector<std::string> notes_;
  int io_threads_ = 1;
  std::thread thread_;
  std::mutex mutex_;  // guards the queue and the flags below
  std::condition_variable changed_;
  std::deque<Batch> queue_;
  bool stop_ = false, finished_ = false;
  std::string error_;
};

// Engine.run_record: OUT/run.json's content (the CLI's run_record) for a run of these options, as JSON text.
std::string run_record_json(EngineHandle& handle, const std::string& weights, const std::string& precision,
                            const nb::dict& options, const nb::dict& files, bool labels_from_folders) {
  std::unique_lock<std::mutex> lock;
  const Engine& engine = handle.acquire(lock);
  const RunOptions run = parse_run_options(engine, options);
  const FileOptions f = file_options(files);
  CliOptions o;
  o.weights = weights;
  o.out = f.out;
  o.topk = run.maps.topk;
  o.predictions = run.maps.predictions;
  o.batch = run.batch;
  o.precision = parse_precision(precision);
  o.colormap = nb::cast<std::string>(options["colormap"]);
  o.alpha = run.maps.image_weight;
  o.format = f.format;
  o.out_size = f.out_size;
  o.raw = f.raw;
  o.panel = f.panel;
  o.object_mask = nb::cast<std::string>(options["object_mask"]);
  o.pointing_tolerance = run.pointing_tolerance;
  o.labels_from_folders = labels_from_folders;
  o.ignore_exif = run.decode.exif == ExifOrientation::kIgnore;
  return run_record(o, run.maps, engine, 0, 0).dump();
}

// cam_engine.write_run_files: OUT/run.json from a run record, then predictions.csv and index.html from
// OUT/predictions.jsonl where asked (the CLI's --csv and --report, by the CLI's code).
void write_run_files(const std::string& out, const std::string& record_json, const std::string& this_run,
                     bool csv, bool report) {
  const nlohmann::json record = nlohmann::json::parse(record_json, nullptr, false);
  if (!record.is_object() || !record.contains("details"))
    throw OptionError("record: not a run record (Engine.run_record gives one)");
  nb::gil_scoped_release release;
  write_text_file((fs::path(out) / "run.json").string(), record.dump(1) + "\n");
  write_run_summaries(out, record["details"], this_run, csv, report);
}

}  // namespace

void bind_stream(nb::module_& m) {
  m.def("collect_inputs", &inputs_of);
  m.def("run_record", &run_record_json);
  m.def("write_run_files", &write_run_files);
  nb::class_<Stream>(m, "Stream")
      .def(nb::init<EngineHandle&, const nb::list&, bool, bool, const nb::dict&, const nb::dict&, int>(),
           nb::keep_alive<1, 2>())
      .def("next", &Stream::next)
      .def("close", &Stream::close)
      .def_prop_ro("size", &Stream::size)
      .def_prop_ro("notes", &Stream::notes);
}

}  // namespace cam::python
