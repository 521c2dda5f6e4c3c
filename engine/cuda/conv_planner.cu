// ConvPlanner: descriptors, algorithm and fusion choice per conv step, the shared workspace, and running one
// planned conv. See engine/cuda/conv_planner.cuh.
#include <algorithm>

#include "engine/cuda/conv_planner.cuh"
#include "kernels/bn_act.cuh"

namespace cam {
namespace cuda_detail {

ConvPlanner::ConvPlanner(cudnnHandle_t cudnn, cudaStream_t stream, Storage storage, Precision precision,
                         ConvFusion fusion, bool verbose, std::string tuned_for)
    : cudnn_(cudnn),
      stream_(stream),
      storage_(storage),
      data_type_(storage == Storage::kF16    ? CUDNN_DATA_HALF
                 : storage == Storage::kBF16 ? CUDNN_DATA_BFLOAT16
                                             : CUDNN_DATA_FLOAT),
      math_(precision == Precision::kFp32 ? CUDNN_FMA_MATH : CUDNN_TENSOR_OP_MATH),
      fusion_(fusion),
      verbose_(verbose),
      tuned_for_(std::move(tuned_for)) {
  CUDNN_CHECK(cudnnSetActivationDescriptor(relu_.get(), CUDNN_ACTIVATION_RELU, CUDNN_NOT_PROPAGATE_NAN, 0.0));
  CUDNN_CHECK(
      cudnnSetActivationDescriptor(identity_.get(), CUDNN_ACTIVATION_IDENTITY, CUDNN_NOT_PROPAGATE_NAN, 0.0));
}

void ConvPlanner::describe(ConvPlan& cp, const Step& step, int n, const DeviceConv& d) const {
  const ConvLayer& c = *step.conv;
  cp.shape = std::make_tuple(n, d.in_channels, step.in_h, step.in_w, c.out_channels, c.kernel, c.stride,
                             c.dilation, c.groups);
  cp.out_h = step.out_h, cp.out_w = step.out_w;
  cp.residual = step.residual != Step::kNone, cp.relu = step.relu;
  CUDNN_CHECK(
      cudnnSetTensor4dDescriptor(cp.bias.get(), CUDNN_TENSOR_NHWC, data_type_, 1, c.out_channels, 1, 1));
  CUDNN_CHECK(cudnnSetTensor4dDescriptor(cp.x.get(), CUDNN_TENSOR_NHWC, data_type_, n, d.in_channels,
                                         step.in_h, step.in_w));
  CUDNN_CHECK(cudnnSetTensor4dDescriptor(cp.y.get(), CUDNN_TENSOR_NHWC, data_type_, n, c.out_channels,
                                         cp.out_h, cp.out_w));
  CUDNN_CHECK(cudnnSetFilter4dDescriptor(cp.filter.get(), data_type_, CUDNN_TENSOR_NHWC, c.out_channels,
                                         d.in_channels / c.groups, c.kernel, c.kernel));
  CUDNN_CHECK(cudnnSetConvolution2dDescriptor(cp.conv.get(), c.pad, c.pad, c.stride, c.stride, c.dilation,
                                              c.dilation, CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT));
  CUDNN_CHECK(cudnnSetConvolutionGroupCount(cp.conv.get(), c.groups));
  CUDNN_CHECK(cudnnSetConvolutionMathType(cp.conv.get(), math_));
}

// The fastest deterministic algorithm for the conv's shape (cached across plans), measured with
// cudnnFindConvolutionForwardAlgorithmEx on the plan's own buffers, and the algorithm of the fused path.
void ConvPlanner::choose_algorithm(ConvPlan& cp, const ConvLayer& layer, const DeviceConv& d,
                                   void* const scratch[3]) {
  auto cached = algo_cache_.find(cp.shape);
  if (cached == algo_cache_.end()) {
    workspace_.ensure(kFindWorkspaceBytes);
    cudnnConvolutionFwdAlgoPerf_t perf[CUDNN_CONVOLUTION_FWD_ALGO_COUNT];
    int returned = 0;
    CUDNN_CHECK(cudnnFindConvolutionForwardAlgorithmEx(
        cudnn_, cp.x.get(), scratch[0], cp.filter.get(), d.weight, cp.conv.get(), cp.y.get(), scratch[1],
        CUDNN_CONVOLUTION_FWD_ALGO_COUNT, &returned, perf, workspace_.ptr, workspace_.bytes));
    int pick = -1;
    for (int i = 0; i < returned && pick < 0; ++i)
      if (perf[i].status == CUDNN_STATUS_SUCCESS && perf[i].determinism == CUDNN_DETERMINISTIC) pick = i;
    if (pick < 0) throw Error("cuDNN found no deterministic algorithm for " + layer.name);
    cached = algo_cache_.emplace(cp.shape, std::make_pair(perf[pick].algo, perf[pick].memory)).first;
    if (verbose_)
      std::fprintf(stderr, "cam_engine: %s algo %d, %.3f ms, workspace %zu\n", layer.name.c_str(),
                   perf[pick].algo, perf[pick].time, perf[pick].memory);
  }
  cp.algo = cached->second.first;
  cp.workspace = cached->second.second;
  cp.fused_algo = cp.relu ? cp.algo : CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_PRECOMP_GEMM;
  cp.fused_workspace = cp.workspace;
  if (cp.fused_algo != cp.algo &&
      cudnnGetConvolutionForwardWorkspaceSize(cudnn_, cp.x.get(), cp.filter.get(), cp.conv.get(), cp.y.get(),
                                              cp.fused_algo, &cp.fused_workspace) != CUDNN_STATUS_SUCCESS)
    cp.fused_workspace = 0,
    cp.fused_algo = cp.algo;  // the fused path is then tried with the conv's algorithm
}

bool ConvPlanner::plan(int n, const Schedule& schedule, const ConvWeights& weights, void* const scratch[3],
                       ConvPlans& plans) {
  planned_ = true;
  const void* old_workspace = workspace_.ptr;
  size_t needed = workspace_.bytes;  // never below what earlier plans need
  for (const Step& step : schedule.steps) {
    if (step.kind != Step::Kind::kConv) continue;
    const DeviceConv& d = weights.at(step.conv);
    ConvPlan cp;
    describe(cp, step, n, d);
    choose_algorithm(cp, *step.conv, d, scratch);
    needed = std::max({needed, cp.workspace, fusion_ == ConvFusion::kOff ? size_t(0) : cp.fused_workspace});
    plans.insert_or_assign(step.conv, std::move(cp));
  }
  if (fusion_ == ConvFusion::kGraph) plan_graph_convs(plans, weights, scratch, needed);
  // Exactly what the plans need: larger when this plan needs more, smaller after measuring in a large one.
  if (needed != workspace_.bytes) {
    workspace_.release();
    if (needed) workspace_.allocate_for_batch(needed, "convolution workspace", n);
  }
  if (fusion_ != ConvFusion::kOff)
    choose_fusion(plans, weights, scratch);  // in graph mode: the convs without one
  return workspace_.ptr != old_workspace;
}

float ConvPlanner::time_ms(const std::function<void()>& launch) {
  constexpr int kReps = 5;
  CudaEvent start, stop;
  launch();  // warm-up
  CUDA_CHECK(cudaEventRecord(start.get(), stream_));
  for (int i = 0; i < kReps; ++i) launch();
  CUDA_CHECK(cudaEventRecord(stop.get(), stream_));
  CUDA_CHECK(cudaEventSynchronize(stop.get()));
  float ms = 0;
  CUDA_CHECK(cudaEventElapsedTime(&ms, start.get(), stop.get()));
  return ms / kReps;
}

// For each conv (shape and epilogue, cached; in graph mode those without a graph): whether cuDNN runs the
// fused call at all, and, in auto and graph mode, whether it beats conv + bn_act on the plan's own buffers.
// The unfused path wins ties and is kept when cuDNN refuses.
void ConvPlanner::choose_fusion(ConvPlans& plans, const ConvWeights& weights, void* const scratch[3]) {
  for (auto& entry : plans) {
    const ConvLayer& layer = *entry.first;
    ConvPlan& cp = entry.second;
    if (cp.graph) continue;
    const ConvKey key = cp.key();
    auto cached = fusion_cache_.find(key);
    if (cached == fusion_cache_.end()) {
      const DeviceConv& d = weights.at(&layer);
      const void* residual = cp.residual ? scratch[2] : nullptr;
      cudnnStatus_t status = fused_conv(cp, d, scratch[0], scratch[1], residual);
      CUDA_CHECK(cudaStreamSynchronize(stream_));
      bool fused = status == CUDNN_STATUS_SUCCESS;
      float fused_ms = 0, plain_ms = 0;
      if (fused && fusion_ != ConvFusion::kOn) {
        auto launch = [&] { run(cp, d, scratch[0], scratch[1], residual); };
        cp.fused = true;
        fused_ms = time_ms(launch);
        cp.fused = false;
        plain_ms = time_ms(launch);
        fused = fused_ms < plain_ms;
      }
      if (verbose_)
        std::fprintf(stderr, "cam_engine: %s: %s (fused %.3f ms, conv + bn_act %.3f ms%s)\n",
                     layer.name.c_str(), fused ? "fused" : "conv + bn_act", fused_ms, plain_ms,
                     status == CUDNN_STATUS_SUCCESS ? "" : ", cuDNN refused the fused call");
      cached = fusion_cache_.emplace(key, fused).first;
    }
    cp.fused = cached->second;
  }
}

// cuDNN's y = act(conv(x) + bias [+ residual]); identity activation for projection shortcuts. Returns cuDNN's
// status so planning can find out whether it runs this configuration at all.
cudnnStatus_t ConvPlanner::fused_conv(const ConvPlan& cp, const DeviceConv& d, const void* x, void* y,
                                      const void* residual) {
  const float one = 1.0f, zero = 0.0f;
  return cudnnConvolutionBiasActivationForward(
      cudnn_, &one, cp.x.get(), x, cp.filter.get(), d.weight, cp.conv.get(), cp.fused_algo, workspace_.ptr,
      cp.fused_workspace, residual ? &one : &zero, cp.y.get(), residual ? residual : y, cp.bias.get(),
      d.shift_stored, cp.relu ? relu_.get() : identity_.get(), cp.y.get(), y);
}

// cuDNN's fused call, the cuDNN graph, or the conv into y and the bn_act epilogue in place on y.
void ConvPlanner::run(const ConvPlan& cp, const DeviceConv& d, const void* x, void* y, const void* residual) {
  if (cp.graph) {
    cp.graph->run(cudnn_, {x, d.weight, d.shift, residual, y, workspace_.ptr});
  } else if (cp.fused) {
    CUDNN_CHECK(fused_conv(cp, d, x, y, residual));
  } else {
    const float one = 1.0f, zero = 0.0f;
    CUDNN_CHECK(cudnnConvolutionForward(cudnn_, &one, cp.x.get(), x, cp.filter.get(), d.weight, cp.conv.get(),
                                        cp.algo, workspace_.ptr, cp.workspace, &zero, cp.y.get(), y));
    launch_bn_act(storage_, y, d.shift, residual, cp.relu, cp.out_pixels(), std::get<4>(cp.shape), y,
                  stream_);
  }
}

}  // namespace cuda_detail
}  // namespace cam
