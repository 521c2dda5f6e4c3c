// The public API: open a weights file, run batches of decoded images, get predictions and class activation
// maps.
//
//   cam::Engine engine("model.safetensors", {});          // backend "auto": CUDA when a device is there
//   std::vector<cam::Image> images = {cam::read_image("apple.jpg")};
//   auto results = engine.run(images, {});                  // top-1 map + overlay per image
//   results[0].top[0], engine.label(results[0].top[0]), results[0].maps[0].map (input_h x input_w in [0, 1])
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "engine/io/image.h"
#include "engine/model/options.h"
#include "engine/model/resnet.h"
#include "engine/model/results.h"
#include "engine/ops/image_ops.h"

namespace cam {

struct EngineOptions {
  BackendKind backend = BackendKind::kAuto;  // auto: CUDA when a device is there
  Precision precision = Precision::kFp32;    // fp32 on both backends; tf32, fp16, bf16 on CUDA
  int threads = 0;                           // CPU threads; 0 = all cores
  CudaOptions cuda;
  // CUDA: the measured choices (Engine::tuning) are read from this file when it exists and written back when
  // a new shape was measured, so later runs repeat the same kernels and outputs. Empty: measure every run.
  std::string tuning_file;
  bool verbose = false;
  bool quiet = false;    // no notice when auto falls back to the CPU
  int input_height = 0;  // network input size; 0 = the weights' preprocess metadata
  int input_width = 0;
  std::optional<ResizeMode> resize;  // how images are resized to the input; unset = the preprocess metadata
  // the shorter side resized to this and the input centre-cropped (Preprocess::resize_shorter); 0 = stretch
  // to the input; unset = the preprocess metadata
  std::optional<int> resize_shorter;
  std::optional<JpegIdct>
      jpeg_idct;  // how callers should decode JPEGs for it; unset = the preprocess metadata
};

// The CUDA device's name and driver, runtime and library versions, for benchmark headers; a sentence saying
// why not where no device can be used or the build has no CUDA backend.
std::string cuda_device_summary(int device);

class Backend;

class Engine {
 public:
  // Throws cam::Error for unreadable or invalid weights and impossible options.
  Engine(const std::string& weights_path, const EngineOptions& options);
  // The same from a safetensors file's bytes already in memory (a model converted in memory); `name` stands
  // for the path in messages.
  Engine(const std::string& name, std::vector<uint8_t> weights, const EngineOptions& options);
  ~Engine();

  const ResNet& model() const { return net_; }
  const std::string& label(int class_index) const { return net_.labels.at(class_index); }
  std::string backend_name() const;
  // Class index for a label or a decimal index; throws cam::Error when neither matches.
  int class_index(const std::string& name_or_index) const;

  std::vector<ImageResult> run(const std::vector<Image>& images, const MapOptions& options);
  std::vector<ImageResult> run(const std::vector<const Image*>& images, const MapOptions& options);
  // Overlapped batches, for pipelines: submit() starts a batch and returns a ticket, collect(ticket) waits
  // for that batch and returns its results (run() is the two in one). On CUDA submit() returns before the
  // device is done, so the next batch's upload and the previous one's download overlap this one's compute;
  // at most Backend::kMaxInFlight (3) batches may wait uncollected, in any order. The images may be freed
  // once submit() returns. Throws cam::Error for invalid options (at submit) or an unknown ticket.
  uint64_t submit(const std::vector<const Image*>& images, const MapOptions& options);
  // Predictions and maps from network inputs already preprocessed: `inputs` (n, H, W, 3) NHWC at the
  // model's input size, normalised as its preprocess says (what a PyTorch model is given). No overlays.
  std::vector<ImageResult> run_inputs(const float* inputs, int n, const MapOptions& options);
  std::vector<ImageResult> collect(uint64_t ticket);
  // Benchmarks: while on, run() times its phases (and, with `layers`, every layer of the forward); see
  // Backend::set_profiling.
  void set_profiling(bool phases, bool layers);
  const std::vector<TimedStep>& last_phases() const;
  const std::vector<TimedStep>& last_layers() const;
  // The choices measured so far (CUDA: conv algorithm and fusion per shape) as JSON; empty on the CPU.
  std::string tuning() const;

 private:
  // A submitted batch: its options, and either the backend's ticket or (maps made from the forward,
  // engine/methods/method_maps.h) the results already made.
  struct Submitted {
    MapOptions options;
    bool on_backend = false;
    uint64_t backend_ticket = 0;
    std::vector<ImageResult> results;
  };
  Engine(ResNet net, const EngineOptions& options);
  void check(const MapOptions& options) const;
  void save_tuning();
  void finish_ranking(std::vector<ImageResult>& results, const MapOptions& options);

  ResNet net_;
  std::unique_ptr<Backend> backend_;
  std::string tuning_file_, saved_tuning_;
  uint64_t next_ticket_ = 0;
  std::map<uint64_t, Submitted> submitted_;
};

}  // namespace cam
