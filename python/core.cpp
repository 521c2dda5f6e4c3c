// The Python module cam_engine._core: the engine for Python over the same C++ as the CLI (engine/, and cli/'s
// records, localisation and object masks). python/cam_engine/__init__.py is the public face and checks the
// arguments' types; this file turns NumPy arrays and option dicts into the engine's types, runs the engine
// with the GIL released, returns NumPy arrays, and raises cam::Error as the package's exception classes.
#include "python/core.h"

#include <nanobind/ndarray.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/unique_ptr.h>
#include <nanobind/stl/vector.h>

#include <algorithm>

#include "cli/cli_records.h"
#include "engine/cpu/backend.h"
#include "engine/io/atomic_file.h"
#include "engine/io/image_io.h"
#include "kernels/colormap_table.h"

namespace cam::python {

namespace {

template <typename T>
nb::object numpy_array(std::vector<T>&& data, std::initializer_list<size_t> shape) {
  auto* owned = new std::vector<T>(std::move(data));
  nb::capsule owner(owned, [](void* p) noexcept { delete static_cast<std::vector<T>*>(p); });
  return nb::cast(nb::ndarray<nb::numpy, T>(owned->data(), shape, owner));
}

using ImageArray = nb::ndarray<const uint8_t, nb::ndim<3>, nb::c_contig, nb::device::cpu>;
using InputArray = nb::ndarray<const float, nb::ndim<4>, nb::c_contig, nb::device::cpu>;

Image image_of(const ImageArray& a) {
  Image image;
  image.height = static_cast<int>(a.shape(0)), image.width = static_cast<int>(a.shape(1));
  image.rgb.assign(a.data(), a.data() + a.size());
  return image;
}

template <typename T>
T option(const nb::dict& d, const char* key) {
  return nb::cast<T>(d[key]);
}

std::unique_ptr<EngineHandle> make_engine(const nb::bytes& weights, bool is_content, const std::string& name,
                                          const nb::dict& o) {
  EngineOptions eo;
  try {
    eo.backend = parse_backend(option<std::string>(o, "backend"));
    eo.precision = parse_precision(option<std::string>(o, "precision"));
    eo.threads = option<int>(o, "threads");
    eo.cuda.device = option<int>(o, "device");
    eo.quiet = option<bool>(o, "quiet");
    eo.tuning_file = option<std::string>(o, "tuning_file");
    if (!o["input_size"].is_none()) {
      const auto size = option<std::vector<int>>(o, "input_size");
      eo.input_width = size.at(0), eo.input_height = size.at(1);
      if (std::min(eo.input_width, eo.input_height) < 8 || std::max(eo.input_width, eo.input_height) > 4096)
        throw Error("input_size must be within 8..4096 on each side");
    }
    if (!o["resize"].is_none()) eo.resize = parse_resize_mode(option<std::string>(o, "resize"));
    if (!o["resize_shorter"].is_none()) eo.resize_shorter = option<int>(o, "resize_shorter");
    if (!o["jpeg_idct"].is_none()) eo.jpeg_idct = parse_jpeg_idct(option<std::string>(o, "jpeg_idct"));
  } catch (const Error& e) {
    throw OptionError(e.what());
  }
  const uint8_t* data = reinterpret_cast<const uint8_t*>(weights.c_str());
  std::vector<uint8_t> content;
  std::string path;
  if (is_content)
    content.assign(data, data + weights.size());
  else
    path.assign(weights.c_str(), weights.size());
  nb::gil_scoped_release release;
  if (is_content)
    return std::make_unique<EngineHandle>(std::make_unique<Engine>(name, std::move(content), eo));
  return std::make_unique<EngineHandle>(std::make_unique<Engine>(path, eo));
}

std::string info_json(EngineHandle& handle) {
  std::unique_lock<std::mutex> lock;
  const Engine& engine = handle.acquire(lock);
  const ResNet& net = engine.model();
  const Preprocess& p = net.preprocess;
  nlohmann::json info = {{"architecture", net.describe()},
                         {"depth", net.depth()},
                         {"classes", net.num_classes},
                         {"labels", net.labels},
                         {"input_size", {p.width, p.height}},
                         {"map_size", {net.feature_size(p.width), net.feature_size(p.height)}},
                         {"resize", name_of(p.resize)},
                         {"resize_shorter", p.resize_shorter},
                         {"jpeg_idct", name_of(p.jpeg_idct)},
                         {"channel_order", p.bgr ? "BGR" : "RGB"},
                         {"scale", p.scale},
                         {"mean", p.mean},
                         {"std", p.stddev},
                         {"source", net.source},
                         {"backend", engine.backend_name()},
                         {"cpu_isa", cpu_isa_name()}};
  return info.dump();
}

// The images of items [first, first + count): paths (bytes, into `paths`; "" for arrays) decoded by the
// engine's pipeline (ImageError naming the file), arrays copied. Decoding runs without the GIL, an image per
// thread.
std::vector<Image> images_of(const nb::list& items, size_t first, size_t count, const RunOptions& o,
                             std::vector<std::string>& paths) {
  std::vector<Image> images(count);
  paths.assign(count, "");
  for (size_t j = 0; j < count; ++j) {
    nb::handle item = items[first + j];
    if (nb::isinstance<nb::bytes>(item))
      paths[j] = std::string(nb::cast<nb::bytes>(item).c_str(), nb::cast<nb::bytes>(item).size());
    else
      images[j] = image_of(nb::cast<ImageArray>(item));
  }
  std::vector<std::string> errors(count);
  {
    nb::gil_scoped_release release;
#pragma omp parallel for schedule(dynamic)
    for (size_t j = 0; j < count; ++j) {
      if (paths[j].empty()) continue;
      try {
        images[j] = read_image(paths[j], o.decode);
      } catch (const Error& e) {
        errors[j] = e.what();
      }
    }
  }
  for (const std::string& e : errors)
    if (!e.empty()) throw ImageError(e);
  return images;
}

nb::dict run(EngineHandle& handle, const nb::list& items, const nb::dict& options) {
  std::unique_lock<std::mutex> lock;
  Engine& engine = handle.acquire(lock);
  const RunOptions o = parse_run_options(engine, options);
  const size_t n = nb::len(items);
  Outputs out(engine, o, n, o.maps.overlays);
  for (size_t first = 0; first < n; first += static_cast<size_t>(o.batch)) {
    const size_t count = std::min(n - first, static_cast<size_t>(o.batch));
    std::vector<std::string> paths;
    std::vector<Image> images = images_of(items, first, count, o, paths);
    std::vector<ImageResult> results;
    std::vector<nlohmann::json> records(count);
    {
      nb::gil_scoped_release release;
      try {
        results = engine.run(images, o.maps);
      } catch (const Error& e) {
        throw OptionError(e.what());
      }
      for (size_t j = 0; j < count; ++j) {
        records[j] = paths[j].empty() ? nlohmann::json::object() : path_record(paths[j]);
        records[j].update(result_record(engine, o.maps, images[j], results[j], o.masks, paths[j], paths[j],
                                        o.pointing_tolerance));
      }
    }
    for (size_t j = 0; j < count; ++j) out.add(first + j, results[j], records[j]);
  }
  return out.to_python();
}

nb::dict run_inputs(EngineHandle& handle, const InputArray& inputs, const nb::dict& options) {
  std::unique_lock<std::mutex> lock;
  Engine& engine = handle.acquire(lock);
  RunOptions o = parse_run_options(engine, options);
  o.maps.overlays = false;
  const Preprocess& p = engine.model().preprocess;
  if (inputs.shape(1) != static_cast<size_t>(p.height) || inputs.shape(2) != static_cast<size_t>(p.width) ||
      inputs.shape(3) != 3)
    throw OptionError("inputs of shape (N, " + std::to_string(inputs.shape(1)) + ", " +
                      std::to_string(inputs.shape(2)) + ", " + std::to_string(inputs.shape(3)) +
                      ") NHWC for an engine of input " + std::to_string(p.width) + "x" +
                      std::to_string(p.height) + " (W x H): expected (N, " + std::to_string(p.height) + ", " +
                      std::to_string(p.width) + ", 3)");
  const size_t n = inputs.shape(0), per_image = static_cast<size_t>(p.height) * p.width * 3;
  Outputs out(engine, o, n, false);
  for (size_t first = 0; first < n; first += static_cast<size_t>(o.batch)) {
    const size_t count = std::min(n - first, static_cast<size_t>(o.batch));
    std::vector<ImageResult> results;
    {
      nb::gil_scoped_release release;
      try {
        results = engine.run_inputs(inputs.data() + first * per_image, static_cast<int>(count), o.maps);
      } catch (const Error& e) {
        throw OptionError(e.what());
      }
    }
    Image size_only;
    size_only.width = p.width, size_only.height = p.height;
    for (size_t j = 0; j < count; ++j)
      out.add(first + j, results[j],
              result_record(engine, o.maps, size_only, results[j], MaskSource(), "", "", 0));
  }
  return out.to_python();
}

int class_index(EngineHandle& handle, const std::string& name) {
  std::unique_lock<std::mutex> lock;
  const Engine& engine = handle.acquire(lock);
  try {
    return engine.class_index(name);
  } catch (const Error& e) {
    throw OptionError(e.what());
  }
}

nb::object colormap_table(const std::string& name) {
  const int index = colormap_index(name);
  std::vector<uint8_t> table(kColormaps[index], kColormaps[index] + 256 * 3);
  return numpy_array(std::move(table), {256, 3});
}

}  // namespace

Engine& EngineHandle::acquire(std::unique_lock<std::mutex>& lock) {
  if (streaming)
    throw Error(
        "the engine is busy: a map() over it is still open (finish or close it, or use a second Engine)");
  {
    nb::gil_scoped_release release;
    lock = std::unique_lock<std::mutex>(busy);
  }
  if (!engine_) throw Error("the engine is closed");
  return *engine_;
}

void EngineHandle::close() {
  if (streaming) throw Error("the engine cannot be closed while a map() over it is open");
  nb::gil_scoped_release release;
  std::lock_guard<std::mutex> lock(busy);
  engine_.reset();
}

RunOptions parse_run_options(const Engine& engine, const nb::dict& d) {
  RunOptions o;
  try {
    const int classes = engine.model().num_classes;
    o.maps.topk = std::min(option<int>(d, "topk"), classes);
    o.maps.predictions = option<int>(d, "predictions");
    for (const std::string& c : option<std::vector<std::string>>(d, "classes")) {
      const int k = engine.class_index(c);
      if (!std::count(o.maps.classes.begin(), o.maps.classes.end(), k)) o.maps.classes.push_back(k);
    }
    o.maps.methods.clear();
    for (const std::string& m : option<std::vector<std::string>>(d, "methods"))
      o.maps.methods.push_back(parse_cam_method(m));
    o.maps.overlays = option<bool>(d, "overlays");
    o.maps.image_weight = option<float>(d, "image_weight");
    o.maps.colormap = colormap_index(option<std::string>(d, "colormap"));
    o.maps.scorecam_channels = option<int>(d, "scorecam_channels");
    o.maps.metrics = option<bool>(d, "metrics");
    o.maps.metric_steps = option<int>(d, "metric_steps");
    o.batch = option<int>(d, "batch");
    if (o.batch < 1 || o.batch > 4096) throw Error("batch must be within 1..4096");
    o.maps.perturbed_batch = o.batch;
    const std::string mask = option<std::string>(d, "object_mask");
    if (!mask.empty()) o.masks = MaskSource(mask);
    o.pointing_tolerance = option<double>(d, "pointing_tolerance");
    if (!(o.pointing_tolerance >= 0)) throw Error("pointing_tolerance must be >= 0");
    o.decode.max_pixels = option<int64_t>(d, "max_pixels");
    if (o.decode.max_pixels < 1) throw Error("max_pixels must be >= 1");
    o.decode.exif = option<bool>(d, "ignore_exif") ? ExifOrientation::kIgnore : ExifOrientation::kApply;
    o.decode.idct = engine.model().preprocess.jpeg_idct;
  } catch (const Error& e) {
    throw OptionError(e.what());
  }
  return o;
}

Outputs::Outputs(const Engine& engine, const RunOptions& o, size_t n, bool overlays)
    : n_(n),
      classes_(engine.model().num_classes),
      ranked_(std::min(classes_, std::max(o.maps.topk, o.maps.predictions))),
      maps_(static_cast<int>((o.maps.topk + o.maps.classes.size()) * o.maps.methods.size())),
      h_(engine.model().preprocess.height),
      w_(engine.model().preprocess.width),
      overlays_(overlays),
      logits_(n * classes_),
      probs_(n * classes_),
      map_data_(n * maps_ * h_ * w_),
      top_(n * ranked_),
      map_classes_(n * maps_),
      peaks_(n * maps_ * 2, -1),
      boxes_(n * maps_ * 4, -1),
      records_(n),
      overlay_images_(overlays ? n : 0) {}

void Outputs::add(size_t i, ImageResult& r, const nlohmann::json& record) {
  std::copy(r.logits.begin(), r.logits.end(), logits_.begin() + i * classes_);
  std::copy(r.probabilities.begin(), r.probabilities.end(), probs_.begin() + i * classes_);
  std::copy(r.top.begin(), r.top.end(), top_.begin() + i * ranked_);
  const size_t plane = static_cast<size_t>(h_) * w_;
  for (int j = 0; j < maps_; ++j) {
    const size_t at = i * maps_ + j;
    std::copy(r.maps[j].map.begin(), r.maps[j].map.end(), map_data_.begin() + at * plane);
    map_classes_[at] = r.maps[j].class_index;
    const nlohmann::json& entry = record["maps"][j];
    if (entry["peak"].is_null()) continue;
    for (int c = 0; c < 2; ++c) peaks_[at * 2 + c] = entry["peak"][c];
    for (int c = 0; c < 4; ++c) boxes_[at * 4 + c] = entry["box"][c];
  }
  if (overlays_)
    for (ClassMap& m : r.maps) overlay_images_[i].push_back(std::move(m.overlay));
  records_[i] = record.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

nb::dict Outputs::to_python() {
  nb::dict d;
  const size_t n = n_, c = classes_, m = maps_;
  d["logits"] = numpy_array(std::move(logits_), {n, c});
  d["probs"] = numpy_array(std::move(probs_), {n, c});
  d["top"] = numpy_array(std::move(top_), {n, static_cast<size_t>(ranked_)});
  d["maps"] = numpy_array(std::move(map_data_), {n, m, static_cast<size_t>(h_), static_cast<size_t>(w_)});
  d["map_classes"] = numpy_array(std::move(map_classes_), {n, m});
  d["peaks"] = numpy_array(std::move(peaks_), {n, m, 2});
  d["boxes"] = numpy_array(std::move(boxes_), {n, m, 4});
  d["records"] = nb::cast(records_);
  if (overlays_) {
    nb::list all;
    for (std::vector<Image>& per_image : overlay_images_) {
      nb::list images;
      for (Image& image : per_image) {
        const size_t h = image.height, w = image.width;
        images.append(numpy_array(std::move(image.rgb), {h, w, 3}));
      }
      all.append(images);
    }
    d["overlays"] = all;
  }
  return d;
}

}  // namespace cam::python

NB_MODULE(_core, m) {
  namespace py = cam::python;
  namespace nb = nanobind;
  nb::exception<cam::Error> error(m, "Error");
  nb::exception<cam::WeightsError>(m, "WeightsError", error);
  nb::exception<py::ImageError>(m, "ImageError", error);
  nb::exception<py::OptionError>(m, "OptionError", error);
  nb::class_<py::EngineHandle>(m, "EngineHandle")
      .def("close", &py::EngineHandle::close)
      .def_prop_ro("closed", &py::EngineHandle::closed);
  m.def("make_engine", &py::make_engine);
  m.def("info_json", &py::info_json);
  m.def("run", &py::run);
  m.def("run_inputs", &py::run_inputs);
  m.def("class_index", &py::class_index);
  m.def("colormap_table", &py::colormap_table);
  m.def("cuda_device_summary", &cam::cuda_device_summary);
  py::bind_stream(m);
}
