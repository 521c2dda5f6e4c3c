// GraphConv (engine/cuda/graph_conv.cuh): one conv + bias [+ residual] [+ ReLU] as a cuDNN backend graph, the
// engine picked by heuristics and timing; and ConvPlanner::plan_graph_convs, which builds one per conv shape
// of a plan.
#include <chrono>
#include <memory>
#include <vector>

#include "engine/cuda/conv_planner.cuh"
#include "engine/cuda/graph_conv.cuh"

namespace cam {
namespace cuda_detail {

// An owned backend descriptor. Attribute and finalize failures are kept, not fatal: a graph or engine that
// cuDNN cannot build is an expected outcome while choosing, reported through GraphConv::why().
class BackendDescriptor {
 public:
  explicit BackendDescriptor(cudnnBackendDescriptorType_t type) {
    status_ = cudnnBackendCreateDescriptor(type, &d_);
  }
  BackendDescriptor(const BackendDescriptor&) = delete;
  BackendDescriptor& operator=(const BackendDescriptor&) = delete;
  ~BackendDescriptor() {
    if (d_ && cudnnBackendDestroyDescriptor(d_) != CUDNN_STATUS_SUCCESS)
      std::fprintf(stderr, "cam_engine: destroying a cuDNN descriptor failed\n");
  }
  BackendDescriptor& set(cudnnBackendAttributeName_t name, cudnnBackendAttributeType_t type, int64_t count,
                         const void* value) {
    if (status_ == CUDNN_STATUS_SUCCESS) status_ = cudnnBackendSetAttribute(d_, name, type, count, value);
    return *this;
  }
  cudnnStatus_t finalize() {
    if (status_ == CUDNN_STATUS_SUCCESS) status_ = cudnnBackendFinalize(d_);
    return status_;
  }
  cudnnBackendDescriptor_t& get() { return d_; }
  cudnnBackendDescriptor_t release() {
    cudnnBackendDescriptor_t d = d_;
    d_ = nullptr;
    return d;
  }

 private:
  cudnnBackendDescriptor_t d_ = nullptr;
  cudnnStatus_t status_ = CUDNN_STATUS_SUCCESS;
};

namespace {

// Unique ids of the graph's tensors; the first five are bound to memory in the variant pack.
enum : int64_t { kX = 1, kWeight, kBias, kResidual, kY, kConvOut, kBiasOut, kAddOut };

// The variant pack (memory of the non-virtual tensors and the workspace) and the launch.
cudnnStatus_t execute(cudnnHandle_t handle, cudnnBackendDescriptor_t plan, bool residual,
                      const GraphConvArgs& a) {
  int64_t uids[5] = {kX, kWeight, kBias, kY, kResidual};
  void* pointers[5] = {const_cast<void*>(a.x), const_cast<void*>(a.weight), const_cast<float*>(a.bias), a.y,
                       const_cast<void*>(a.residual)};
  const int64_t count = residual ? 5 : 4;
  void* workspace = a.workspace;
  BackendDescriptor pack(CUDNN_BACKEND_VARIANT_PACK_DESCRIPTOR);
  pack.set(CUDNN_ATTR_VARIANT_PACK_UNIQUE_IDS, CUDNN_TYPE_INT64, count, uids)
      .set(CUDNN_ATTR_VARIANT_PACK_DATA_POINTERS, CUDNN_TYPE_VOID_PTR, count, pointers)
      .set(CUDNN_ATTR_VARIANT_PACK_WORKSPACE, CUDNN_TYPE_VOID_PTR, 1, &workspace);
  cudnnStatus_t status = pack.finalize();
  return status == CUDNN_STATUS_SUCCESS ? cudnnBackendExecute(handle, plan, pack.get()) : status;
}

}  // namespace

GraphConv::GraphConv() = default;

GraphConv::~GraphConv() {
  if (plan_ && cudnnBackendDestroyDescriptor(plan_) != CUDNN_STATUS_SUCCESS)
    std::fprintf(stderr, "cam_engine: destroying a cuDNN plan failed\n");
  while (!parts_.empty()) parts_.pop_back();  // the graph's pieces, in reverse order of making
}

void GraphConv::run(cudnnHandle_t handle, const GraphConvArgs& args) const {
  CUDNN_CHECK(execute(handle, plan_, residual_, args));
}

// The handle attributes are marked deprecated in cuDNN 9 (a device-properties descriptor can stand in for
// them); with a GPU at hand they are the direct way, and without one (handle null) they are left out.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"

BackendDescriptor& GraphConv::part(cudnnBackendDescriptorType_t type) {
  parts_.push_back(std::make_unique<BackendDescriptor>(type));
  return *parts_.back();
}

bool GraphConv::failed(const char* what, cudnnStatus_t status) {
  why_ = std::string(what) + ": " + cudnnGetErrorString(status);
  return false;
}

// NHWC strides for logical (n, c, h, w) dims; the OHWI filter is the same layout with (Cout, Cin, K, K).
BackendDescriptor& GraphConv::tensor(int64_t uid, cudnnDataType_t type, int64_t n, int64_t c, int64_t h,
                                     int64_t w, bool is_virtual, cudnnStatus_t& status) {
  int64_t dims[4] = {n, c, h, w}, strides[4] = {h * w * c, 1, w * c, c}, alignment = 16;
  BackendDescriptor& t = part(CUDNN_BACKEND_TENSOR_DESCRIPTOR);
  t.set(CUDNN_ATTR_TENSOR_DATA_TYPE, CUDNN_TYPE_DATA_TYPE, 1, &type)
      .set(CUDNN_ATTR_TENSOR_DIMENSIONS, CUDNN_TYPE_INT64, 4, dims)
      .set(CUDNN_ATTR_TENSOR_STRIDES, CUDNN_TYPE_INT64, 4, strides)
      .set(CUDNN_ATTR_TENSOR_UNIQUE_ID, CUDNN_TYPE_INT64, 1, &uid)
      .set(CUDNN_ATTR_TENSOR_BYTE_ALIGNMENT, CUDNN_TYPE_INT64, 1, &alignment)
      .set(CUDNN_ATTR_TENSOR_IS_VIRTUAL, CUDNN_TYPE_BOOLEAN, 1, &is_virtual);
  if (status == CUDNN_STATUS_SUCCESS) status = t.finalize();
  return t;
}

bool GraphConv::describe(const GraphConvShape& s, cudnnHandle_t handle) {
  residual_ = s.residual;
  cudnnStatus_t status = CUDNN_STATUS_SUCCESS;
  const cudnnDataType_t f32 = CUDNN_DATA_FLOAT;
  BackendDescriptor& x = tensor(kX, s.data_type, s.n, s.in_channels, s.h, s.w, false, status);
  BackendDescriptor& w = tensor(kWeight, s.data_type, s.out_channels, s.in_channels / s.groups, s.kernel,
                                s.kernel, false, status);
  BackendDescriptor& bias = tensor(kBias, f32, 1, s.out_channels, 1, 1, false, status);
  BackendDescriptor& y = tensor(kY, s.data_type, s.n, s.out_channels, s.out_h, s.out_w, false, status);
  BackendDescriptor& conv_out = tensor(kConvOut, f32, s.n, s.out_channels, s.out_h, s.out_w, true, status);
  if (status != CUDNN_STATUS_SUCCESS) return failed("tensor descriptors", status);

  BackendDescriptor& conv = part(CUDNN_BACKEND_CONVOLUTION_DESCRIPTOR);
  const cudnnConvolutionMode_t mode = CUDNN_CROSS_CORRELATION;
  const int64_t spatial = 2, pad[2] = {s.pad, s.pad}, stride[2] = {s.stride, s.stride},
                dilation[2] = {s.dilation, s.dilation};
  conv.set(CUDNN_ATTR_CONVOLUTION_COMP_TYPE, CUDNN_TYPE_DATA_TYPE, 1, &f32)
      .set(CUDNN_ATTR_CONVOLUTION_CONV_MODE, CUDNN_TYPE_CONVOLUTION_MODE, 1, &mode)
      .set(CUDNN_ATTR_CONVOLUTION_SPATIAL_DIMS, CUDNN_TYPE_INT64, 1, &spatial)
      .set(CUDNN_ATTR_CONVOLUTION_DILATIONS, CUDNN_TYPE_INT64, 2, dilation)
      .set(CUDNN_ATTR_CONVOLUTION_FILTER_STRIDES, CUDNN_TYPE_INT64, 2, stride)
      .set(CUDNN_ATTR_CONVOLUTION_PRE_PADDINGS, CUDNN_TYPE_INT64, 2, pad)
      .set(CUDNN_ATTR_CONVOLUTION_POST_PADDINGS, CUDNN_TYPE_INT64, 2, pad);
  if ((status = conv.finalize()) != CUDNN_STATUS_SUCCESS) return failed("convolution descriptor", status);

  std::vector<cudnnBackendDescriptor_t> ops;
  const float one = 1.0f, zero = 0.0f;
  BackendDescriptor& conv_op = part(CUDNN_BACKEND_OPERATION_CONVOLUTION_FORWARD_DESCRIPTOR);
  conv_op.set(CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_X, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &x.get())
      .set(CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_W, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &w.get())
      .set(CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_Y, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &conv_out.get())
      .set(CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_CONV_DESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &conv.get())
      .set(CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_ALPHA, CUDNN_TYPE_FLOAT, 1, &one)
      .set(CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_BETA, CUDNN_TYPE_FLOAT, 1, &zero);
  if ((status = conv_op.finalize()) != CUDNN_STATUS_SUCCESS) return failed("convolution operation", status);
  ops.push_back(conv_op.get());
  if ((status = describe_epilogue(s, conv_out, bias, y, ops)) != CUDNN_STATUS_SUCCESS)
    return failed("epilogue operations", status);
  return list_configs(ops, handle);
}

// The epilogue: each pointwise op writes a virtual fp32 tensor, the last one y.
cudnnStatus_t GraphConv::describe_epilogue(const GraphConvShape& s, BackendDescriptor& conv_out,
                                           BackendDescriptor& bias, BackendDescriptor& y,
                                           std::vector<cudnnBackendDescriptor_t>& ops) {
  cudnnStatus_t status = CUDNN_STATUS_SUCCESS;
  const cudnnDataType_t f32 = CUDNN_DATA_FLOAT;
  auto pointwise = [&](cudnnPointwiseMode_t pw_mode, BackendDescriptor& in, BackendDescriptor* second,
                       BackendDescriptor& out) {
    BackendDescriptor& pw = part(CUDNN_BACKEND_POINTWISE_DESCRIPTOR);
    pw.set(CUDNN_ATTR_POINTWISE_MODE, CUDNN_TYPE_POINTWISE_MODE, 1, &pw_mode)
        .set(CUDNN_ATTR_POINTWISE_MATH_PREC, CUDNN_TYPE_DATA_TYPE, 1, &f32);
    if (status == CUDNN_STATUS_SUCCESS) status = pw.finalize();
    BackendDescriptor& op = part(CUDNN_BACKEND_OPERATION_POINTWISE_DESCRIPTOR);
    op.set(CUDNN_ATTR_OPERATION_POINTWISE_PW_DESCRIPTOR, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &pw.get())
        .set(CUDNN_ATTR_OPERATION_POINTWISE_XDESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &in.get());
    if (second)
      op.set(CUDNN_ATTR_OPERATION_POINTWISE_BDESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &second->get());
    op.set(CUDNN_ATTR_OPERATION_POINTWISE_YDESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &out.get());
    if (status == CUDNN_STATUS_SUCCESS) status = op.finalize();
    ops.push_back(op.get());
  };
  auto step_out = [&](bool last, int64_t uid) -> BackendDescriptor& {
    return last ? y : tensor(uid, f32, s.n, s.out_channels, s.out_h, s.out_w, true, status);
  };
  BackendDescriptor* current = &conv_out;
  BackendDescriptor& biased = step_out(!s.residual && !s.relu, kBiasOut);
  pointwise(CUDNN_POINTWISE_ADD, *current, &bias, biased);
  current = &biased;
  if (s.residual) {
    BackendDescriptor& residual =
        tensor(kResidual, s.data_type, s.n, s.out_channels, s.out_h, s.out_w, false, status);
    BackendDescriptor& added = step_out(!s.relu, kAddOut);
    pointwise(CUDNN_POINTWISE_ADD, *current, &residual, added);
    current = &added;
  }
  if (s.relu) pointwise(CUDNN_POINTWISE_RELU_FWD, *current, nullptr, y);
  return status;
}

// The operation graph of `ops` and the heuristics' engine configs for it, best first, into configs_.
bool GraphConv::list_configs(const std::vector<cudnnBackendDescriptor_t>& ops, cudnnHandle_t handle) {
  cudnnStatus_t status = CUDNN_STATUS_SUCCESS;
  BackendDescriptor& graph = part(CUDNN_BACKEND_OPERATIONGRAPH_DESCRIPTOR);
  graph.set(CUDNN_ATTR_OPERATIONGRAPH_OPS, CUDNN_TYPE_BACKEND_DESCRIPTOR, static_cast<int64_t>(ops.size()),
            ops.data());
  if (handle) graph.set(CUDNN_ATTR_OPERATIONGRAPH_HANDLE, CUDNN_TYPE_HANDLE, 1, &handle);
  if ((status = graph.finalize()) != CUDNN_STATUS_SUCCESS) return failed("operation graph", status);

  BackendDescriptor& heuristics = part(CUDNN_BACKEND_ENGINEHEUR_DESCRIPTOR);
  const cudnnBackendHeurMode_t heur_mode = CUDNN_HEUR_MODE_A;
  heuristics.set(CUDNN_ATTR_ENGINEHEUR_OPERATION_GRAPH, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &graph.get())
      .set(CUDNN_ATTR_ENGINEHEUR_MODE, CUDNN_TYPE_HEUR_MODE, 1, &heur_mode);
  if ((status = heuristics.finalize()) != CUDNN_STATUS_SUCCESS) return failed("engine heuristics", status);
  int64_t listed = 0;
  status = cudnnBackendGetAttribute(heuristics.get(), CUDNN_ATTR_ENGINEHEUR_RESULTS,
                                    CUDNN_TYPE_BACKEND_DESCRIPTOR, 0, &listed, nullptr);
  if (status != CUDNN_STATUS_SUCCESS) return failed("engine heuristics results", status);
  configs_.clear();
  for (int64_t i = 0; i < listed; ++i) configs_.push_back(part(CUDNN_BACKEND_ENGINECFG_DESCRIPTOR).get());
  status = cudnnBackendGetAttribute(heuristics.get(), CUDNN_ATTR_ENGINEHEUR_RESULTS,
                                    CUDNN_TYPE_BACKEND_DESCRIPTOR, listed, &listed, configs_.data());
  if (status != CUDNN_STATUS_SUCCESS) return failed("engine heuristics results", status);
  configs_.resize(static_cast<size_t>(listed));
  return true;
}

bool GraphConv::build(cudnnHandle_t handle, const GraphConvShape& s, const GraphConvArgs& args,
                      size_t workspace_bytes,
                      const std::function<float(const std::function<void()>&)>& time_ms, int config) {
  if (!describe(s, handle)) return false;
  const int64_t listed = static_cast<int64_t>(configs_.size());

  // Usable configs in the heuristics' order: allowed numerics, a plan that finalizes, a workspace that fits,
  // and a first run that succeeds; timed unless the tuning record named one.
  float best_ms = 0;
  int timed = 0;
  for (int64_t i = 0; i < listed && timed < kMaxTimed; ++i) {
    if (config >= 0 && i != config) continue;
    BackendDescriptor engine(CUDNN_BACKEND_ENGINE_DESCRIPTOR);
    int64_t got = 0;
    if (cudnnBackendGetAttribute(configs_[i], CUDNN_ATTR_ENGINECFG_ENGINE, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1,
                                 &got, &engine.get()) != CUDNN_STATUS_SUCCESS)
      continue;
    cudnnBackendNumericalNote_t notes[CUDNN_NUMERICAL_NOTE_TYPE_COUNT];
    int64_t note_count = 0;
    if (cudnnBackendGetAttribute(engine.get(), CUDNN_ATTR_ENGINE_NUMERICAL_NOTE, CUDNN_TYPE_NUMERICAL_NOTE,
                                 CUDNN_NUMERICAL_NOTE_TYPE_COUNT, &note_count, notes) != CUDNN_STATUS_SUCCESS)
      continue;
    bool allowed = true;
    for (int64_t k = 0; k < note_count; ++k)
      allowed = allowed && notes[k] != CUDNN_NUMERICAL_NOTE_NONDETERMINISTIC &&
                notes[k] != CUDNN_NUMERICAL_NOTE_REDUCED_PRECISION_REDUCTION &&
                (s.allow_tensor_cores || (notes[k] != CUDNN_NUMERICAL_NOTE_TENSOR_CORE &&
                                          notes[k] != CUDNN_NUMERICAL_NOTE_DOWN_CONVERT_INPUTS));
    if (!allowed) continue;
    BackendDescriptor plan(CUDNN_BACKEND_EXECUTION_PLAN_DESCRIPTOR);
    plan.set(CUDNN_ATTR_EXECUTION_PLAN_ENGINE_CONFIG, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &configs_[i])
        .set(CUDNN_ATTR_EXECUTION_PLAN_HANDLE, CUDNN_TYPE_HANDLE, 1, &handle);
    int64_t workspace = 0;
    if (plan.finalize() != CUDNN_STATUS_SUCCESS ||
        cudnnBackendGetAttribute(plan.get(), CUDNN_ATTR_EXECUTION_PLAN_WORKSPACE_SIZE, CUDNN_TYPE_INT64, 1,
                                 &got, &workspace) != CUDNN_STATUS_SUCCESS ||
        workspace < 0 || static_cast<size_t>(workspace) > workspace_bytes ||
        execute(handle, plan.get(), s.residual, args) != CUDNN_STATUS_SUCCESS)
      continue;
    ++timed;
    const float ms =
        config >= 0 ? 0.0f : time_ms([&] { CUDNN_CHECK(execute(handle, plan.get(), s.residual, args)); });
    if (!plan_ || ms < best_ms) {
      if (plan_) cudnnBackendDestroyDescriptor(plan_);
      plan_ = plan.release();
      best_ms = ms;
      workspace_ = static_cast<size_t>(workspace);
      config_ = static_cast<int>(i);
    }
  }
  if (!plan_) {
    why_ = std::to_string(listed) +
           " engine configs listed, none deterministic, fp32-accumulating and runnable" +
           (config >= 0 ? " at the recorded number " + std::to_string(config) : std::string());
    return false;
  }
  return true;
}

#pragma GCC diagnostic pop

// For --conv-fusion graph: a GraphConv per conv shape and epilogue of the plan (cached across plans), built
// and timed on the plan's buffers (x in buffer 0, y in 1, residual in 2) with the large search workspace; the
// workspace must then hold the largest chosen one. Shapes cuDNN builds no graph for keep the other paths.
void ConvPlanner::plan_graph_convs(ConvPlans& plans, const ConvWeights& weights, void* const scratch[3],
                                   size_t& needed) {
  for (auto& entry : plans) {
    const ConvLayer& layer = *entry.first;
    ConvPlan& cp = entry.second;
    const ConvKey key = cp.key();
    auto cached = graph_convs_.find(key);
    if (cached == graph_convs_.end()) {
      const DeviceConv& d = weights.at(&layer);
      GraphConvShape s;
      std::tie(s.n, s.in_channels, s.h, s.w, s.out_channels, s.kernel, s.stride, s.dilation, s.groups) =
          cp.shape;
      s.pad = layer.pad, s.out_h = cp.out_h, s.out_w = cp.out_w, s.residual = cp.residual, s.relu = cp.relu;
      s.data_type = data_type_, s.allow_tensor_cores = math_ == CUDNN_TENSOR_OP_MATH;
      workspace_.ensure(kFindWorkspaceBytes);
      GraphConvArgs args;
      args.x = scratch[0], args.weight = d.weight, args.bias = d.shift, args.y = scratch[1];
      args.residual = cp.residual ? scratch[2] : nullptr, args.workspace = workspace_.ptr;
      auto recorded = graph_config_.find(key);
      auto graph = std::make_unique<GraphConv>();
      const auto started = std::chrono::steady_clock::now();
      bool built = graph->build(
          cudnn_, s, args, workspace_.bytes,
          [this](const std::function<void()>& launch) { return time_ms(launch); },
          recorded == graph_config_.end() ? -1 : recorded->second);
      if (verbose_) {
        const double seconds =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
        std::string what = built ? "engine config " + std::to_string(graph->config()) + ", workspace " +
                                       std::to_string(graph->workspace())
                                 : "not built: " + graph->why();
        std::fprintf(stderr, "cam_engine: %s: cuDNN graph %s (planned in %.2f s)\n", layer.name.c_str(),
                     what.c_str(), seconds);
      }
      if (!built) graph.reset();
      cached = graph_convs_.emplace(key, std::move(graph)).first;
    }
    cp.graph = cached->second.get();
    if (cp.graph) needed = std::max(needed, cp.graph->workspace());
  }
}

}  // namespace cuda_detail
}  // namespace cam
