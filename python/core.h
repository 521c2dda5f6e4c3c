// Shared by the Python module's two files (core.cpp: the engine and its calls; stream.cpp: Engine.map): the
// engine as Python holds it, a run's options as the engine types them, and the arrays a run returns.
#pragma once
#include <nanobind/nanobind.h>

#include <atomic>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cli/object_mask.h"
#include "engine/base/error.h"
#include "engine/engine.h"
#include "engine/io/image_io.h"

namespace cam::python {

namespace nb = nanobind;

// The kinds of user error the package tells apart (cam_engine.ImageError, OptionError); bad weights are
// cam::WeightsError, anything else cam::Error (cam_engine.Error, the base of all four).
struct ImageError : Error {
  using Error::Error;
};
struct OptionError : Error {
  using Error::Error;
};

// An engine and the lock its users take: calls from several Python threads run one after the other (the GIL
// is released while they wait), and an open map() holds the engine until it ends or is closed.
class EngineHandle {
 public:
  EngineHandle(std::unique_ptr<Engine> engine) : engine_(std::move(engine)) {}
  // The engine for one call; throws cam::Error when it is closed or an open map() holds it.
  Engine& acquire(std::unique_lock<std::mutex>& lock);
  void close();
  bool closed() const { return engine_ == nullptr; }
  std::atomic<bool> streaming{false};  // a map() is open over this engine
  std::mutex busy;

 private:
  std::unique_ptr<Engine> engine_;
};

// One call's options, typed: what the CLI's options of the same names give.
struct RunOptions {
  MapOptions maps;
  MaskSource masks;
  double pointing_tolerance = 0;
  DecodeOptions decode;  // max_pixels, ignore_exif, and the engine's JPEG IDCT
  int batch = 16;
};
// From the dict the package's Python side builds (every key present); throws OptionError.
RunOptions parse_run_options(const Engine& engine, const nb::dict& options);

// A run's results as NumPy arrays, filled image by image: logits and probs (n, classes); top (n, ranked);
// with maps, maps (n, m, H, W) in [0, 1], map_classes (n, m), peaks (n, m, 2) x, y and boxes (n, m, 4)
// x0, y0, x1, y1 in original pixels (-1 for an empty map); records: each image's JSON record text.
class Outputs {
 public:
  Outputs(const Engine& engine, const RunOptions& options, size_t n, bool overlays);
  // Image i's result and record (result_record's fields, and what the caller added).
  void add(size_t i, ImageResult& result, const nlohmann::json& record);
  nb::dict to_python();

 private:
  size_t n_;
  int classes_, ranked_, maps_, h_, w_;
  bool overlays_;
  std::vector<float> logits_, probs_, map_data_;
  std::vector<int32_t> top_, map_classes_, peaks_, boxes_;
  std::vector<std::string> records_;
  std::vector<std::vector<Image>> overlay_images_;
};

void bind_stream(nb::module_& m);

}  // namespace cam::python
