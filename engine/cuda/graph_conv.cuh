// One conv with its epilogue as a single cuDNN graph (the v9 "graph API", cudnnBackend*):
//   y = act(conv(x, w) + bias [+ residual])      act: ReLU or identity
// x, residual and y NHWC (N, H, W, C) in the storage type; w OHWI (Cout, K, K, Cin/groups) in the storage
// type; bias (Cout) fp32; fp32 accumulation and epilogue math. The legacy API
// (cudnnFindConvolutionForwardAlgorithmEx) offers one tensor-core algorithm per shape on Hopper; the graph
// API lets cuDNN's heuristics list every engine that runs the whole graph (including runtime-compiled fused
// epilogues), of which the first few are timed on the plan's own buffers and the fastest kept. Engines that
// are not deterministic are skipped, and for strict fp32 so are those that use tensor cores (TF32). Used by
// ConvPlanner for --conv-fusion graph.
#pragma once
#include <cudnn.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace cam {
namespace cuda_detail {

struct GraphConvShape {
  int n = 0, in_channels = 0, h = 0, w = 0, out_channels = 0, kernel = 1, stride = 1, pad = 0, dilation = 1;
  int groups = 1;  // the filter has in_channels / groups channels; cuDNN takes the group count from that
  int out_h = 0, out_w = 0;
  bool residual = false, relu = false;
  cudnnDataType_t data_type = CUDNN_DATA_FLOAT;
  bool allow_tensor_cores = true;  // false: strict fp32
};

struct GraphConvArgs {
  const void* x = nullptr;         // (N, H, W, Cin)
  const void* weight = nullptr;    // (Cout, K, K, Cin / groups)
  const float* bias = nullptr;     // (Cout)
  const void* residual = nullptr;  // (N, OH, OW, Cout), when the shape has one
  void* y = nullptr;               // (N, OH, OW, Cout)
  void* workspace = nullptr;
};

class BackendDescriptor;

class GraphConv {
 public:
  GraphConv();
  GraphConv(const GraphConv&) = delete;
  GraphConv& operator=(const GraphConv&) = delete;
  ~GraphConv();

  // Describes the graph and lists the heuristics' engine configs. With a null handle it needs no GPU: cuDNN
  // then accepts or refuses every descriptor (attributes, their types and counts) but lists no configs and
  // does not check that the shapes agree; CI runs it this way over every ResNet conv. False, with the reason
  // in why(), when cuDNN refuses a descriptor.
  bool describe(const GraphConvShape& shape, cudnnHandle_t handle);
  // Describes the graph and picks an engine: the heuristics' config number `config` when it is >= 0 (from a
  // tuning record), otherwise the fastest of the first kMaxTimed usable ones, timed with `time_ms` on `args`
  // (whose workspace holds `workspace_bytes`). False, with the reason in why(), when cuDNN runs none.
  bool build(cudnnHandle_t handle, const GraphConvShape& shape, const GraphConvArgs& args,
             size_t workspace_bytes, const std::function<float(const std::function<void()>&)>& time_ms,
             int config = -1);
  // Enqueues the conv on the handle's stream (capturable in a CUDA Graph).
  void run(cudnnHandle_t handle, const GraphConvArgs& args) const;

  size_t workspace() const { return workspace_; }
  int config() const { return config_; }  // the chosen heuristics config number
  const std::string& why() const { return why_; }

  // Engines compiled at run time make each candidate plan cost a compilation: a few candidates bound
  // planning.
  static constexpr int kMaxTimed = 4;

 private:
  // A new piece of the graph, owned by parts_ until the plan goes.
  BackendDescriptor& part(cudnnBackendDescriptorType_t type);
  // A tensor of logical dims (n, c, h, w) in NHWC; a failure lands in `status` unless one is there already.
  BackendDescriptor& tensor(int64_t uid, cudnnDataType_t type, int64_t n, int64_t c, int64_t h, int64_t w,
                            bool is_virtual, cudnnStatus_t& status);
  // Bias, residual and ReLU after the conv (conv_out) as pointwise ops appended to ops, the last writing y.
  cudnnStatus_t describe_epilogue(const GraphConvShape& s, BackendDescriptor& conv_out,
                                  BackendDescriptor& bias, BackendDescriptor& y,
                                  std::vector<cudnnBackendDescriptor_t>& ops);
  bool list_configs(const std::vector<cudnnBackendDescriptor_t>& ops, cudnnHandle_t handle);
  bool failed(const char* what, cudnnStatus_t status);  // why_ = what and status; false

  cudnnBackendDescriptor_t plan_ = nullptr;
  std::vector<std::unique_ptr<BackendDescriptor>>
      parts_;                                      // the graph, tensors and configs the plan came from
  std::vector<cudnnBackendDescriptor_t> configs_;  // the heuristics' engine configs, best first
  size_t workspace_ = 0;
  int config_ = -1;
  bool residual_ = false;
  std::string why_;
};

}  // namespace cuda_detail
}  // namespace cam
