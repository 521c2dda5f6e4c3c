// Internals of the CUDA backend shared by its two translation units: cuda_backend.cu (weights, planning, the
// forward) and cuda_run.cu (one batch: upload, graph launch, overlay, download, results). Not a public
// header.
#pragma once
#include <cudnn.h>

#include <functional>
#include <map>
#include <memory>
#include <tuple>
#include <unordered_map>

#include "backend.h"
#include "common.cuh"
#include "cuda_backend.h"
#include "cuda_checks.h"
#include "cuda_graph_conv.cuh"
#include "cuda_laps.cuh"
#include "head.cuh"
#include "resnet.h"

namespace cam {
namespace cuda_detail {

constexpr int kStemChannels = 8;  // the stem's 3 input channels padded with zeros for tensor cores
constexpr size_t kFindWorkspaceBytes = size_t(1) << 30;

inline size_t align256(size_t x) {
  return (x + 255) & ~size_t(255);
}

// A grow-only device or pinned host allocation; grows only between batches, never inside the forward.
struct GrowBuffer {
  bool pinned = false;
  void* ptr = nullptr;
  size_t bytes = 0;

  void ensure(size_t need) {
    if (need <= bytes) return;
    release();
    CUDA_CHECK(pinned ? cudaMallocHost(&ptr, need) : cudaMalloc(&ptr, need));
    bytes = need;
  }
  void release() {
    if (!ptr) return;
    cudaError_t e = pinned ? cudaFreeHost(ptr) : cudaFree(ptr);
    if (e != cudaSuccess)
      std::fprintf(stderr, "cam_engine: freeing a buffer failed: %s\n", cudaGetErrorString(e));
    ptr = nullptr;
    bytes = 0;
  }
  ~GrowBuffer() { release(); }
  template <typename T>
  T* at(size_t offset) const {
    return reinterpret_cast<T*>(static_cast<char*>(ptr) + offset);
  }
};

// Per-chunk ordering events of a pipelined batch (cuda_run.cu): uploaded, computed, downloaded. Created once
// and reused; timing disabled.
class ChunkEvents {
 public:
  void ensure(int count) {
    while (static_cast<int>(events_.size()) < count) {
      cudaEvent_t e;
      CUDA_CHECK(cudaEventCreateWithFlags(&e, cudaEventDisableTiming));
      events_.push_back(e);
    }
  }
  cudaEvent_t uploaded(int chunk) const { return events_[3 * chunk]; }
  cudaEvent_t computed(int chunk) const { return events_[3 * chunk + 1]; }
  cudaEvent_t downloaded(int chunk) const { return events_[3 * chunk + 2]; }
  ~ChunkEvents() {
    for (cudaEvent_t e : events_)
      if (cudaEventDestroy(e) != cudaSuccess)
        std::fprintf(stderr, "cam_engine: destroying a CUDA event failed\n");
  }

 private:
  std::vector<cudaEvent_t> events_;
};

// What a conv's algorithm and timing depend on: (batch, Cin', H, W, Cout, kernel, stride).
using ConvShape = std::tuple<int, int, int, int, int, int, int>;
// A conv with its epilogue, what the fusion choices depend on: (shape, residual added, ReLU).
using ConvKey = std::tuple<ConvShape, bool, bool>;

struct ConvPlan {
  ConvShape shape;
  cudnnTensorDescriptor_t x = nullptr, y = nullptr, bias = nullptr;  // bias: (1, Cout, 1, 1), fused path
  cudnnFilterDescriptor_t filter = nullptr;
  cudnnConvolutionDescriptor_t conv = nullptr;
  cudnnConvolutionFwdAlgo_t algo = CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_PRECOMP_GEMM;
  size_t workspace = 0;
  int out_h = 0, out_w = 0;
  bool residual = false, relu = false;  // the epilogue: y = act(conv(x) + shift [+ residual])
  // cudnnConvolutionBiasActivationForward instead of conv + bn_act; identity activation needs
  // IMPLICIT_PRECOMP_GEMM
  bool fused = false;
  cudnnConvolutionFwdAlgo_t fused_algo = CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_PRECOMP_GEMM;
  size_t fused_workspace = 0;
  const GraphConv* graph = nullptr;  // --conv-fusion graph: conv and epilogue as one cuDNN graph

  ConvKey key() const { return std::make_tuple(shape, residual, relu); }
};

struct DeviceConv {
  void* weight = nullptr;        // (Cout, K, K, Cin') OHWI in the storage type
  float* shift = nullptr;        // (Cout) fp32, for bn_act
  void* shift_stored = nullptr;  // (Cout) in the storage type, the bias of cuDNN's fused call
  int in_channels = 0;           // Cin', padded for the stem
};

class CudaBackend : public Backend {
 public:
  CudaBackend(const ResNet& net, const CudaOptions& options);
  ~CudaBackend() override;
  std::string name() const override { return "cuda"; }
  void run(const BatchRequest& request, std::vector<ImageResult>& results) override;
  void forward(const float* input, int n, int h, int w, bool keep_stages, ForwardResult& out) override;
  std::string tuning() const override;  // cuda_tuning.cu
  void set_tuning(const std::string& json) override;

 private:
  struct Plan {
    int n = 0, h = 0, w = 0, k = 0, r = 0, feature_h = 0, feature_w = 0;
    std::unordered_map<const ConvLayer*, ConvPlan> convs;
    GrowBuffer arena;
    void* input = nullptr;             // (N, H, W, 8) storage
    float* test_input = nullptr;       // (N, H, W, 3) fp32, for forward()
    void* buffers[5] = {};             // activations (largest layer) in the storage type
    void* features = nullptr;          // which buffer holds the last block's output
    float* pooled = nullptr;           // (N, C)
    float* logits = nullptr;           // (N, classes)
    float* probs = nullptr;            // (N, classes)
    int* topk = nullptr;               // (N, k)
    int* requested = nullptr;          // (r)
    float* maps = nullptr;             // (N, k + r, H, W)
    std::vector<float*> hidden;        // MLP head activations, each (N, out)
    float* slot_weights = nullptr;     // MLP heads: Grad-CAM channel weights (N, k + r, C)
    HeadLayer* head_layers = nullptr;  // device copy of the head's layers for head_cam_weights
    cudaGraphExec_t graph = nullptr;
  };
  using StageHook = std::function<void(const void* data, int h, int w, int channels)>;

  void capture_graph(Plan& p);
  // slot: which of the two plans of a size a pipelined batch alternates between (0 otherwise).
  Plan& plan_for(int n, int h, int w, int k, int r, int slot = 0);
  void plan_convs(Plan& p);
  void choose_fusion(Plan& p);
  void plan_graph_convs(Plan& p, size_t& needed);  // cuda_graph_conv.cu
  cudnnStatus_t fused_conv(const ConvPlan& cp, const DeviceConv& d, const void* x, void* y,
                           const void* residual);
  float time_ms(const std::function<void()>& launch);
  void encode(Plan& p, const StageHook& stage_hook);
  void conv(Plan& p, const ConvLayer& layer, const void* x, void* y, const void* residual);
  void* alloc_planned(GrowBuffer& buffer, size_t bytes, const char* what, int n);
  std::vector<float> download_floats(const void* data, size_t count);

  const ResNet& net_;
  Storage storage_ = Storage::kF32;
  cudnnDataType_t data_type_ = CUDNN_DATA_FLOAT;
  cudnnMathType_t math_ = CUDNN_FMA_MATH;
  bool verbose_, use_graphs_;
  int pipeline_chunk_;
  std::string conv_fusion_;
  std::string tuned_for_;  // device, cuDNN version and precision: what a tuning record must match
  cudnnActivationDescriptor_t relu_ = nullptr, identity_ = nullptr;
  cudaStream_t stream_ = nullptr;       // compute, and everything when a batch is not pipelined
  cudaStream_t copy_stream_ = nullptr;  // uploads and downloads of pipelined batches
  ChunkEvents events_;
  cudnnHandle_t cudnn_ = nullptr;
  cublasHandle_t cublas_ = nullptr;
  GrowBuffer weights_arena_, workspace_, cublas_workspace_, upload_{true}, device_upload_, rows_, overlays_,
      blend_max_, download_{true};
  std::unordered_map<const ConvLayer*, DeviceConv> weights_;
  std::vector<std::pair<float*, float*>> hidden_;  // MLP head layers: weight (out, in), bias (out), fp32
  float* fc_weight_ = nullptr;                     // (classes, head_dim) fp32
  float* fc_bias_ = nullptr;                       // (classes)
  std::map<ConvShape, std::pair<cudnnConvolutionFwdAlgo_t, size_t>> algo_cache_;  // algorithm, workspace
  std::map<ConvKey, bool> fusion_cache_;                                          // fused or not
  // --conv-fusion graph, per conv and epilogue: the built graph (null where cuDNN builds none), and the
  // heuristics config numbers read from a tuning record
  std::map<ConvKey, std::unique_ptr<GraphConv>> graph_convs_;
  std::map<ConvKey, int> graph_config_;
  std::map<std::tuple<int, int, int, int, int, int>, std::unique_ptr<Plan>> plans_;
  EventLaps laps_;  // profiling (Backend::set_profiling); idle otherwise
};

}  // namespace cuda_detail
}  // namespace cam
