// The CUDA backend's convolutions: for each conv step of a schedule, the cuDNN descriptors, the fastest
// deterministic algorithm (measured with cudnnFind once per shape), the choice between cuDNN's fused
// conv + bias + residual + ReLU and the conv followed by our bn_act kernel (measured once per shape and
// epilogue), optionally a cuDNN graph-API graph per conv (engine/cuda/graph_conv.cuh), and the one workspace
// they share. The choices form the tuning record (engine/cuda/tuning.cu) that lets a later run repeat them
// exactly. Not a public header.
#pragma once
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <tuple>
#include <unordered_map>

#include "engine/cuda/graph_conv.cuh"
#include "engine/cuda/resources.cuh"
#include "engine/model/options.h"
#include "engine/model/resnet.h"

namespace cam {
namespace cuda_detail {

constexpr size_t kFindWorkspaceBytes = size_t(1) << 30;

// What a conv's algorithm and timing depend on: (batch, Cin', H, W, Cout, kernel, stride, dilation, groups).
using ConvShape = std::tuple<int, int, int, int, int, int, int, int, int>;
// A conv with its epilogue, what the fusion choices depend on: (shape, residual added, ReLU).
using ConvKey = std::tuple<ConvShape, bool, bool>;

// One conv layer's weights on the device (in the weights arena).
struct DeviceConv {
  void* weight = nullptr;        // (Cout, K, K, Cin' / groups) OHWI in the storage type
  float* shift = nullptr;        // (Cout) fp32, for bn_act
  void* shift_stored = nullptr;  // (Cout) in the storage type, the bias of cuDNN's fused call
  int in_channels = 0;           // Cin', padded for the stem
};

// One conv step of a plan: y = act(conv(x) + shift [+ residual]).
struct ConvPlan {
  ConvShape shape;
  TensorDescriptor x, y, bias;  // bias: (1, Cout, 1, 1), fused path
  FilterDescriptor filter;
  ConvolutionDescriptor conv;
  cudnnConvolutionFwdAlgo_t algo = CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_PRECOMP_GEMM;
  size_t workspace = 0;
  int out_h = 0, out_w = 0;
  bool residual = false, relu = false;
  // cudnnConvolutionBiasActivationForward instead of conv + bn_act; identity activation needs
  // IMPLICIT_PRECOMP_GEMM
  bool fused = false;
  cudnnConvolutionFwdAlgo_t fused_algo = CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_PRECOMP_GEMM;
  size_t fused_workspace = 0;
  const GraphConv* graph = nullptr;  // --conv-fusion graph: conv and epilogue as one cuDNN graph

  ConvKey key() const { return std::make_tuple(shape, residual, relu); }
  int64_t out_pixels() const { return static_cast<int64_t>(std::get<0>(shape)) * out_h * out_w; }
};

using ConvPlans = std::unordered_map<const ConvLayer*, ConvPlan>;
using ConvWeights = std::unordered_map<const ConvLayer*, DeviceConv>;

class ConvPlanner {
 public:
  // tuned_for: the device, library versions and precision a tuning record must match.
  ConvPlanner(cudnnHandle_t cudnn, cudaStream_t stream, Storage storage, Precision precision,
              ConvFusion fusion, bool verbose, std::string tuned_for);

  // Plans every conv step of `schedule` at batch n into `plans`, measuring what is not cached on `scratch`
  // (three activation buffers of the plan: x, y, residual; their contents do not matter). Returns whether
  // the shared workspace moved: CUDA Graphs captured before then point at freed memory.
  bool plan(int n, const Schedule& schedule, const ConvWeights& weights, void* const scratch[3],
            ConvPlans& plans);
  // y = act(conv(x) + shift [+ residual]) as planned, y distinct from x and the residual.
  void run(const ConvPlan& cp, const DeviceConv& d, const void* x, void* y, const void* residual);

  size_t workspace_bytes() const { return workspace_.bytes; }
  std::string tuning() const;  // engine/cuda/tuning.cu
  // Throws cam::Error for a malformed record, one made for another device or precision, or one given after
  // the first plan.
  void set_tuning(const std::string& json);

 private:
  void describe(ConvPlan& cp, const Step& step, int n, const DeviceConv& d) const;
  void choose_algorithm(ConvPlan& cp, const ConvLayer& layer, const DeviceConv& d, void* const scratch[3]);
  void choose_fusion(ConvPlans& plans, const ConvWeights& weights, void* const scratch[3]);
  void plan_graph_convs(ConvPlans& plans, const ConvWeights& weights, void* const scratch[3],
                        size_t& needed);  // engine/cuda/graph_conv.cu
  cudnnStatus_t fused_conv(const ConvPlan& cp, const DeviceConv& d, const void* x, void* y,
                           const void* residual);
  float time_ms(const std::function<void()>& launch);

  cudnnHandle_t cudnn_;
  cudaStream_t stream_;
  Storage storage_;
  cudnnDataType_t data_type_;
  cudnnMathType_t math_;
  ConvFusion fusion_;
  bool verbose_;
  std::string tuned_for_;
  bool planned_ = false;  // a plan was made: the tuning record can no longer be replaced
  ActivationDescriptor relu_, identity_;
  GrowBuffer workspace_;
  std::map<ConvShape, std::pair<cudnnConvolutionFwdAlgo_t, size_t>> algo_cache_;  // algorithm, workspace
  std::map<ConvKey, bool> fusion_cache_;                                          // fused or not
  // --conv-fusion graph, per conv and epilogue: the built graph (null where cuDNN builds none), and the
  // heuristics config numbers read from a tuning record
  std::map<ConvKey, std::unique_ptr<GraphConv>> graph_convs_;
  std::map<ConvKey, int> graph_config_;
};

}  // namespace cuda_detail
}  // namespace cam
