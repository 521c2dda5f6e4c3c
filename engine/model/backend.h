// The operations every backend (CPU, CUDA) implements (an engine internal: users call Engine,
// engine/engine.h). A backend owns its copy of the network and runs whole batches; tests reach the single ops
// through engine/ops/cpu_ops.h and the kernels' launchers.
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "engine/io/image.h"
#include "engine/model/results.h"

namespace cam {

struct BatchRequest {
  std::vector<const Image*> images;  // any sizes; resized to the network input by the backend
  int topk = 1;                      // maps for the k most probable classes
  std::vector<int> classes;          // and maps for these classes, on every image
  bool overlays = true;              // overlays at the original size
  float image_weight = 0.5f;         // weight of the image in the overlay blend
  int colormap = 0;                  // index into kColormapNames (0 = jet)
  // Per method in this order, a map per class (ClassMap::method says which): cam, gradcam, gradcam++ and
  // eigencam (Score-CAM's masked forwards run through run_methods, engine/methods/method_maps.h).
  std::vector<CamMethod> methods{CamMethod::kCam};
};

// Score-CAM's masked forwards (engine/methods/score_cam.h): job j = (image, channel) is the image's network
// input times the channel's upsampled, min-max'ed activation (cam_methods_math.h).
struct ScoreCamJobs {
  const float* inputs = nullptr;    // (n, h, w, 3) normalised network inputs
  const float* features = nullptr;  // (n, fh, fw, c) the last block's output for them
  int n = 0, h = 0, w = 0, fh = 0, fw = 0, c = 0, classes = 0;
  std::vector<std::pair<int, int>> jobs;  // (image, channel)
  int batch = 32;                         // masked inputs per forward
};

// The faithfulness metrics' perturbed forwards (engine/methods/faithfulness.h): job j perturbs image `image`
// by map `map` (kind: PerturbationKind of cam_methods_math.h; count: the pixels deleted or inserted).
struct PerturbedJob {
  int kind = 0, image = 0, map = 0, count = 0;
};
struct PerturbedJobs {
  const float* inputs = nullptr;  // (n, h, w, 3) normalised network inputs
  const float* maps = nullptr;    // (maps, h, w) the maps, at the input size
  const int* ranks = nullptr;     // (maps, h, w) each pixel's place in its map's order, highest first
  int n = 0, h = 0, w = 0, maps_count = 0, classes = 0;
  std::vector<PerturbedJob> jobs;
  int batch = 32;  // perturbed inputs per forward
};

// The raw forward for tests: input (N, H, W, 3) already normalised.
struct ForwardResult {
  int feature_h = 0, feature_w = 0;
  std::vector<float> features;             // (N, h, w, C) last block output
  std::vector<float> logits;               // (N, classes)
  std::vector<std::vector<float>> hidden;  // MLP head activations after ReLU, each (N, out)
  std::vector<std::vector<float>>
      stages;  // when asked: stem (after max-pool), then each stage's output, NHWC
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual std::string name() const = 0;
  virtual void run(const BatchRequest& request, std::vector<ImageResult>& results) = 0;
  // Overlapped batches: submit() starts a batch and returns its ticket, collect() waits for that batch and
  // gives its results; batches may be collected in any order. The images may be freed once submit()
  // returns. This default runs the batch inside submit(); CUDA queues the batch's upload, compute and
  // download behind the batches in flight and returns at once, so that one batch's copies overlap
  // another's compute (at most kMaxInFlight batches; run() between them is fine).
  static constexpr int kMaxInFlight = 3;
  virtual uint64_t submit(const BatchRequest& request);
  virtual void collect(uint64_t ticket, std::vector<ImageResult>& results);
  virtual void forward(const float* input, int n, int h, int w, bool keep_stages, ForwardResult& out) = 0;
  // take(job, logits (classes)) for every Score-CAM masked input, in job order, one forward's jobs at a time
  // (so memory stays one batch of logits). The CPU builds the inputs on the host and runs forward() `batch`
  // at a time (engine/methods/masked_forward.h); CUDA builds them on the device from one upload of the inputs
  // and features, so that only the logits cross the bus.
  using TakeLogits = std::function<void(int job, const float* logits)>;
  virtual void score_cam_logits(const ScoreCamJobs& s, const TakeLogits& take) = 0;
  // The same for the perturbed inputs of the faithfulness metrics.
  virtual void perturbed_logits(const PerturbedJobs& p, const TakeLogits& take) = 0;
  // Eigen-CAM's projections of n images' last-block features (n, hw, c) into out (n, hw): the CPU runs
  // eigen_projection (engine/methods/eigen_cam.h) an image per thread; CUDA runs kernels/eigen_cam on all of
  // them at once.
  virtual void eigen_projections(const float* features, int n, int hw, int c, float* out) = 0;

  // While on, run() times its phases (and, with `layers`, every layer of the forward) into last_times(). The
  // CPU uses a steady clock; CUDA records events around eager launches (no graph), so a profiled batch is a
  // little slower than a graph replay and its total is reported apart from the plain timings.
  void set_profiling(bool phases, bool layers) {
    profile_phases_ = phases || layers, profile_layers_ = layers;
  }
  const std::vector<TimedStep>& last_phases() const { return phases_; }
  const std::vector<TimedStep>& last_layers() const { return layers_; }

  // Choices made by measurement (CUDA: conv algorithm and fusion per shape) as a JSON text, and their reuse:
  // a backend given another's tuning runs the same kernels for those shapes, so its outputs repeat bit for
  // bit. Empty for backends that measure nothing. set_tuning throws cam::Error for a malformed record or one
  // made for another device, cuDNN or precision.
  virtual std::string tuning() const { return ""; }
  virtual void set_tuning(const std::string& json) { (void)json; }

 protected:
  bool profile_phases_ = false, profile_layers_ = false;
  std::vector<TimedStep> phases_, layers_;

 private:
  uint64_t next_ticket_ = 0;
  std::map<uint64_t, std::vector<ImageResult>> finished_;  // the default submit's results until collected
};

// The classes to map for one image, one map each: the top-k classes, then every requested class in the order
// asked (also when it is among the top-k), so map j means the same thing on every image.
std::vector<int> classes_to_map(const std::vector<int>& top, const std::vector<int>& requested);

// Throws cam::Error unless `methods` is a list a backend's run() makes by itself (not empty, no Score-CAM).
void check_backend_methods(const std::vector<CamMethod>& methods);

}  // namespace cam
