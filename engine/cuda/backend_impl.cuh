// Internals of the CUDA backend shared by its translation units: engine/cuda/backend.cu (weights, plans, the
// forward) and engine/cuda/run.cu (one batch: pack, upload, launch, download, assemble the results); the
// convs are planned and run by ConvPlanner (engine/cuda/conv_planner.cuh). Not a public header.
#pragma once
#include <functional>
#include <memory>

#include "engine/cuda/backend.h"
#include "engine/cuda/conv_planner.cuh"
#include "engine/cuda/profiler.cuh"
#include "engine/cuda/resources.cuh"
#include "engine/model/backend.h"
#include "engine/model/resnet.h"
#include "kernels/cam.cuh"
#include "kernels/head.cuh"
#include "kernels/preprocess.cuh"

namespace cam {
namespace cuda_detail {

constexpr int kStemChannels = 8;  // the stem's 3 input channels padded with zeros for tensor cores

// Storage of activations and conv weights for a precision (tf32 computes on fp32 storage).
Storage storage_for(Precision precision);

class CudaBackend : public Backend {
 public:
  CudaBackend(const ResNet& net, Precision precision, const CudaOptions& options, bool verbose);
  ~CudaBackend() override;  // waits for the batches in flight: their copies use buffers freed here
  std::string name() const override { return "cuda"; }
  void run(const BatchRequest& request, std::vector<ImageResult>& results) override;
  uint64_t submit(const BatchRequest& request) override;
  void collect(uint64_t ticket, std::vector<ImageResult>& results) override;
  void forward(const float* input, int n, int h, int w, bool keep_stages, ForwardResult& out) override;
  void score_cam_logits(const ScoreCamJobs& s, const TakeLogits& take) override;
  void perturbed_logits(const PerturbedJobs& p, const TakeLogits& take) override;
  void eigen_projections(const float* features, int n, int hw, int c, float* out) override;
  std::string tuning() const override { return planner_.tuning(); }
  void set_tuning(const std::string& json) override { planner_.set_tuning(json); }

 private:
  // Everything one batch shape needs on the device: the activation arena and its regions, the conv plans
  // and the CUDA Graph of the forward + head + CAM.
  struct Plan {
    int n = 0, h = 0, w = 0, k = 0, r = 0;  // images it has room for, input size, maps per method
    std::vector<CamMethod> methods;         // the map groups, in order (BatchRequest::methods)
    Schedule schedule;                      // the forward at (h, w): steps, buffer roles, feature size
    ConvPlans convs;
    GrowBuffer arena;
    void* input = nullptr;                   // (N, H, W, 8) storage
    float* test_input = nullptr;             // (N, H, W, 3) fp32, for forward()
    void* buffers[Schedule::kBuffers] = {};  // activations (largest layer) in the storage type
    void* features = nullptr;                // which buffer holds the last block's output
    float* pooled = nullptr;                 // (N, C)
    float* logits = nullptr;                 // (N, classes)
    float* probs = nullptr;                  // (N, classes)
    int* topk = nullptr;                     // (N, k)
    int* requested = nullptr;                // (r)
    float* maps = nullptr;                   // (methods, N, k + r, H, W)
    std::vector<float*> hidden;              // MLP head activations, each (N, out)
    float* map_weights = nullptr;            // MLP heads: Grad-CAM channel weights (N, k + r, C)
    HeadLayer* head_layers = nullptr;        // device copy of the head's layers for head_cam_weights
    float* plusplus_weights = nullptr;       // Grad-CAM++: channel weights (N, k + r, C)
    void* eigen_scratch = nullptr;           // Eigen-CAM: eigen_scratch_bytes(N, fh * fw, C)
    float* projections = nullptr;            // Eigen-CAM: (N, fh * fw)
    GraphExec graph;
  };
  // Where one batch's inputs and outputs live in the pinned upload and download buffers (engine/cuda/run.cu).
  struct BatchLayout {
    int n = 0, k = 0, r = 0, slots = 0, classes = 0, h = 0, w = 0, max_pixels = 0;
    std::vector<CamMethod> methods;  // a group of `slots` maps (and overlays) per method
    std::vector<PackedImage> images;
    std::vector<PackedOverlay> overlays;
    std::vector<int> requested;  // (r) the requested classes
    size_t tables_at = 0, overlay_table_at = 0, requested_at = 0, upload_bytes = 0;
    size_t map_size = 0, overlay_bytes = 0, probs_at = 0, topk_at = 0, maps_at = 0, overlays_at = 0;
    size_t group_overlay_bytes = 0;  // one method's overlays of the batch
  };
  // One batch between submit() and collect(), with everything its copies touch while other batches compute:
  // its pinned upload and download, the device copy of the upload (read by its preprocess and overlay), its
  // overlays and a copy of the plan's outputs (so the next batch may run on the same plan at once), and the
  // events that order its upload, compute and download.
  struct Flight {
    bool busy = false;
    uint64_t ticket = 0;
    BatchLayout layout;
    GrowBuffer upload{true}, device_upload, rows, overlays, blend_max, outputs, download{true};
    CudaEvent uploaded{cudaEventDisableTiming}, computed{cudaEventDisableTiming},
        downloaded{cudaEventDisableTiming};
  };
  using StageHook = std::function<void(const void* data, int h, int w, int channels)>;

  void upload_weights(Precision precision);
  void capture_graph(Plan& p);
  Plan& plan_for(int n, int h, int w, int k, int r, const std::vector<CamMethod>& methods);
  // Waits for every batch in flight (before planning, which allocates, measures and captures, and before
  // the synchronous forward()).
  void drain();
  size_t allocate_arena(Plan& p);
  // The forward, head and CAM of plan p on the compute stream (captured into p.graph, or launched eagerly).
  void enqueue_forward(Plan& p, const StageHook& stage_hook);
  void conv(Plan& p, const ConvLayer& layer, const void* x, void* y, const void* residual);
  // `count` network inputs (h, w) that make(first, m, out) writes on the compute stream (inputs first ..
  // first + m - 1, (m, h, w, 3) fp32 into out), as many per forward as the plan holds (at least `batch`);
  // take(job, logits) after each forward. For Score-CAM and the metrics, whose inputs are made on the device.
  void device_forwards(int count, int batch, int h, int w, int classes,
                       const std::function<void(int first, int m, float* out)>& make, const TakeLogits& take);
  // Host arrays (pointer, bytes) copied into masked_ on the compute stream, each at a 256-byte aligned
  // offset (a null pointer only reserves its bytes); returns the offsets.
  std::vector<size_t> upload_masked(const std::vector<std::pair<const void*, size_t>>& parts);
  std::vector<float> download_floats(const void* data, size_t count);
  // A batch in three parts: the host packing into the flight's pinned upload (submit), the copies and
  // launches queued on the streams (submit), and the results read from the pinned download (collect).
  void pack(const BatchRequest& request, Flight& f);
  void launch(const BatchRequest& request, Plan& p, Flight& f);
  void assemble(const Flight& f, std::vector<ImageResult>& results);

  const ResNet& net_;
  Storage storage_;
  bool verbose_, use_graphs_;
  int device_;              // made current before any resource below is created on it
  CudaStream stream_;       // compute (and, while profiling, the copies too, so that laps time them)
  CudaStream copy_stream_;  // uploads and downloads
  CudnnHandle cudnn_;
  CublasHandle cublas_;
  ConvPlanner planner_;  // after the handles and streams it uses
  GrowBuffer weights_arena_, cublas_workspace_;
  GrowBuffer masked_;  // Score-CAM, the metrics, Eigen-CAM: one call's inputs, features or maps, job table,
                       // scratch
  std::vector<float> masked_logits_;  // one forward's logits, for take
  Flight flights_[kMaxInFlight];
  uint64_t next_ticket_ = 0;
  ConvWeights weights_;
  std::vector<std::pair<float*, float*>> hidden_;  // MLP head layers: weight (out, in), bias (out), fp32
  float* fc_weight_ = nullptr;                     // (classes, head_dim) fp32
  float* fc_bias_ = nullptr;                       // (classes)
  std::vector<std::unique_ptr<Plan>> plans_;       // at most one per (h, w, k, r, methods): plan_for
  EventLaps laps_;                                 // profiling (Backend::set_profiling); idle otherwise
};

}  // namespace cuda_detail
}  // namespace cam
