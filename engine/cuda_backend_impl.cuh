// Internals of the CUDA backend shared by its translation units: cuda_backend.cu (weights, plans, the
// forward) and cuda_run.cu (one batch: pack, upload, launch, download, assemble the results); the convs are
// planned and run by ConvPlanner (cuda_conv_planner.cuh). Not a public header.
#pragma once
#include <functional>
#include <memory>

#include "backend.h"
#include "cuda_backend.h"
#include "cuda_conv_planner.cuh"
#include "cuda_laps.cuh"
#include "cuda_resources.cuh"
#include "head.cuh"
#include "resnet.h"

namespace cam {
namespace cuda_detail {

constexpr int kStemChannels = 8;  // the stem's 3 input channels padded with zeros for tensor cores

// Storage of activations and conv weights for a precision (tf32 computes on fp32 storage).
Storage storage_for(Precision precision);

class CudaBackend : public Backend {
 public:
  CudaBackend(const ResNet& net, Precision precision, const CudaOptions& options, bool verbose);
  std::string name() const override { return "cuda"; }
  void run(const BatchRequest& request, std::vector<ImageResult>& results) override;
  void forward(const float* input, int n, int h, int w, bool keep_stages, ForwardResult& out) override;
  std::string tuning() const override { return planner_.tuning(); }
  void set_tuning(const std::string& json) override { planner_.set_tuning(json); }

 private:
  // Everything one batch shape needs on the device: the activation arena and its regions, the conv plans
  // and the CUDA Graph of the forward + head + CAM.
  struct Plan {
    int n = 0, h = 0, w = 0, k = 0, r = 0, turn = 0;  // images it has room for, input size, maps, turn
    Schedule schedule;  // the forward at (h, w): steps, buffer roles, feature size
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
    float* maps = nullptr;                   // (N, k + r, H, W)
    std::vector<float*> hidden;              // MLP head activations, each (N, out)
    float* map_weights = nullptr;            // MLP heads: Grad-CAM channel weights (N, k + r, C)
    HeadLayer* head_layers = nullptr;        // device copy of the head's layers for head_cam_weights
    GraphExec graph;
  };
  // Where one batch's inputs and outputs live in the pinned upload and download buffers (cuda_run.cu).
  struct BatchLayout;
  using StageHook = std::function<void(const void* data, int h, int w, int channels)>;

  void upload_weights(Precision precision);
  void capture_graph(Plan& p);
  // turn: which of the two plans of a size a pipelined batch alternates between (0 otherwise).
  Plan& plan_for(int n, int h, int w, int k, int r, int turn = 0);
  size_t allocate_arena(Plan& p);
  // The forward, head and CAM of plan p on the compute stream (captured into p.graph, or launched eagerly).
  void enqueue_forward(Plan& p, const StageHook& stage_hook);
  void conv(Plan& p, const ConvLayer& layer, const void* x, void* y, const void* residual);
  std::vector<float> download_floats(const void* data, size_t count);
  // run() in three parts: the host packing into the pinned upload, the chunks' copies and launches, and the
  // results read from the pinned download.
  BatchLayout pack(const BatchRequest& request);
  void launch(const BatchRequest& request, const BatchLayout& layout, const std::vector<Plan*>& plans,
              int chunk);
  void assemble(const BatchRequest& request, const BatchLayout& layout, std::vector<ImageResult>& results);

  const ResNet& net_;
  Storage storage_;
  bool verbose_, use_graphs_;
  int pipeline_chunk_;
  int device_;              // made current before any resource below is created on it
  CudaStream stream_;       // compute, and everything when a batch is not pipelined
  CudaStream copy_stream_;  // uploads and downloads of pipelined batches
  ChunkEvents events_;
  CudnnHandle cudnn_;
  CublasHandle cublas_;
  ConvPlanner planner_;  // after the handles and streams it uses
  GrowBuffer weights_arena_, cublas_workspace_, upload_{true}, device_upload_, rows_, overlays_, blend_max_,
      download_{true};
  ConvWeights weights_;
  std::vector<std::pair<float*, float*>> hidden_;  // MLP head layers: weight (out, in), bias (out), fp32
  float* fc_weight_ = nullptr;                     // (classes, head_dim) fp32
  float* fc_bias_ = nullptr;                       // (classes)
  std::vector<std::unique_ptr<Plan>> plans_;       // at most one per (h, w, k, r, turn): plan_for
  EventLaps laps_;                                 // profiling (Backend::set_profiling); idle otherwise
};

}  // namespace cuda_detail
}  // namespace cam
