// CUDA backend: cuDNN convolutions (NHWC, algorithm chosen by measurement once per shape), the custom bn_act
// / pool / softmax_topk / CAM / overlay kernels, the FC through cuBLAS in fp32. Memory: one weights arena,
// one activation arena per plan (batch, H, W, maps), one conv workspace; the forward + head + CAM of a plan
// is captured once as a CUDA Graph and replayed. One batch through it: cuda_run.cu.
#include <algorithm>
#include <cstring>
#include <functional>
#include <map>
#include <tuple>
#include <unordered_map>

#include "bn_act.cuh"
#include "cam.cuh"
#include "cuda_backend.h"
#include "cuda_backend_impl.cuh"
#include "error.h"
#include "head.cuh"
#include "pool.cuh"
#include "preprocess.cuh"
#include "safetensors.h"
#include "softmax_topk.cuh"

namespace cam {
namespace cuda_detail {

void for_each_conv(const ResNet& net, const std::function<void(const ConvLayer&)>& f) {
  f(net.stem);
  for (const auto& stage : net.stages)
    for (const Block& b : stage) {
      f(b.conv1);
      f(b.conv2);
      if (b.conv3.out_channels) f(b.conv3);
      if (b.has_downsample) f(b.downsample);
    }
}

void convert_to_storage(const float* src, size_t count, Storage s, void* dst) {
  for (size_t i = 0; i < count; ++i) {
    if (s == Storage::kF32) static_cast<float*>(dst)[i] = src[i];
    if (s == Storage::kF16) static_cast<__half*>(dst)[i] = __float2half_rn(src[i]);
    if (s == Storage::kBF16) static_cast<__nv_bfloat16*>(dst)[i] = __float2bfloat16_rn(src[i]);
  }
}

CudaBackend::CudaBackend(const ResNet& net, const CudaOptions& options)
    : net_(net),
      verbose_(options.verbose),
      use_graphs_(options.use_graphs),
      pipeline_chunk_(options.pipeline_chunk),
      conv_fusion_(options.conv_fusion) {
  const std::string& precision = options.precision;
  tuned_for_ = cuda_device_description(options.device) + ", " + precision;
  if (precision == "tf32") math_ = CUDNN_TENSOR_OP_MATH;
  if (precision == "fp16")
    storage_ = Storage::kF16, data_type_ = CUDNN_DATA_HALF, math_ = CUDNN_TENSOR_OP_MATH;
  if (precision == "bf16")
    storage_ = Storage::kBF16, data_type_ = CUDNN_DATA_BFLOAT16, math_ = CUDNN_TENSOR_OP_MATH;
  if (net.num_classes > 4096)
    throw Error("the CUDA backend supports up to 4096 classes (model has " + std::to_string(net.num_classes) +
                ")");
  CUDA_CHECK(cudaSetDevice(options.device));
  CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
  CUDA_CHECK(cudaStreamCreateWithFlags(&copy_stream_, cudaStreamNonBlocking));
  CUDNN_CHECK(cudnnCreate(&cudnn_));
  CUDNN_CHECK(cudnnSetStream(cudnn_, stream_));
  CUBLAS_CHECK(cublasCreate(&cublas_));
  CUBLAS_CHECK(cublasSetStream(cublas_, stream_));
  CUBLAS_CHECK(cublasSetMathMode(cublas_, CUBLAS_PEDANTIC_MATH));
  cublas_workspace_.ensure(size_t(4) << 20);  // set explicitly so graph capture never allocates
  CUBLAS_CHECK(cublasSetWorkspace(cublas_, cublas_workspace_.ptr, cublas_workspace_.bytes));
  upload_colormaps();
  CUDNN_CHECK(cudnnCreateActivationDescriptor(&relu_));
  CUDNN_CHECK(cudnnSetActivationDescriptor(relu_, CUDNN_ACTIVATION_RELU, CUDNN_NOT_PROPAGATE_NAN, 0.0));
  CUDNN_CHECK(cudnnCreateActivationDescriptor(&identity_));
  CUDNN_CHECK(
      cudnnSetActivationDescriptor(identity_, CUDNN_ACTIVATION_IDENTITY, CUDNN_NOT_PROPAGATE_NAN, 0.0));

  // Weights arena: every conv's weights (stem padded to 8 input channels) and shift (fp32, and in the storage
  // type for cuDNN's fused call when that is not fp32), then the FC in fp32.
  const bool shift_copy = storage_ != Storage::kF32;
  size_t total = 0;
  for_each_conv(net, [&](const ConvLayer& c) {
    int cin = &c == &net.stem ? kStemChannels : c.in_channels;
    total +=
        align256(static_cast<size_t>(c.out_channels) * c.kernel * c.kernel * cin * storage_bytes(storage_));
    total += align256(c.out_channels * sizeof(float));
    if (shift_copy) total += align256(c.out_channels * storage_bytes(storage_));
  });
  for (const Dense& d : net.hidden)
    total += align256(d.weight.size() * sizeof(float)) + align256(d.bias.size() * sizeof(float));
  total += align256(net.fc_weight.size() * sizeof(float)) + align256(net.fc_bias.size() * sizeof(float));
  weights_arena_.ensure(total);
  std::vector<char> host(total, 0);
  size_t offset = 0;
  auto place_floats = [&](const std::vector<float>& v) {
    std::memcpy(host.data() + offset, v.data(), v.size() * sizeof(float));
    float* device = weights_arena_.at<float>(offset);
    offset += align256(v.size() * sizeof(float));
    return device;
  };
  for_each_conv(net, [&](const ConvLayer& c) {
    DeviceConv d;
    d.in_channels = &c == &net.stem ? kStemChannels : c.in_channels;
    std::vector<float> padded(static_cast<size_t>(c.out_channels) * c.kernel * c.kernel * d.in_channels,
                              0.0f);
    for (size_t tap = 0; tap < static_cast<size_t>(c.out_channels) * c.kernel * c.kernel; ++tap)
      std::copy_n(&c.weight[tap * c.in_channels], c.in_channels, &padded[tap * d.in_channels]);
    convert_to_storage(padded.data(), padded.size(), storage_, host.data() + offset);
    d.weight = weights_arena_.at<void>(offset);
    offset += align256(padded.size() * storage_bytes(storage_));
    d.shift = place_floats(c.shift);
    d.shift_stored = d.shift;
    if (shift_copy) {
      convert_to_storage(c.shift.data(), c.shift.size(), storage_, host.data() + offset);
      d.shift_stored = weights_arena_.at<void>(offset);
      offset += align256(c.shift.size() * storage_bytes(storage_));
    }
    weights_[&c] = d;
  });
  for (const Dense& d : net.hidden) hidden_.push_back({place_floats(d.weight), place_floats(d.bias)});
  fc_weight_ = place_floats(net.fc_weight);
  fc_bias_ = place_floats(net.fc_bias);
  CUDA_CHECK(cudaMemcpy(weights_arena_.ptr, host.data(), total, cudaMemcpyHostToDevice));
  if (verbose_)
    std::fprintf(stderr, "cam_engine: cuda %s, weights arena %.1f MB\n", precision.c_str(), total / 1e6);
}

CudaBackend::~CudaBackend() {
  for (auto& kv : plans_) {
    if (kv.second->graph) cudaGraphExecDestroy(kv.second->graph);
    for (auto& c : kv.second->convs) {
      cudnnDestroyTensorDescriptor(c.second.x);
      cudnnDestroyTensorDescriptor(c.second.y);
      cudnnDestroyTensorDescriptor(c.second.bias);
      cudnnDestroyFilterDescriptor(c.second.filter);
      cudnnDestroyConvolutionDescriptor(c.second.conv);
    }
  }
  if (relu_) cudnnDestroyActivationDescriptor(relu_);
  if (identity_) cudnnDestroyActivationDescriptor(identity_);
  if (cublas_) cublasDestroy(cublas_);
  if (cudnn_) cudnnDestroy(cudnn_);
  if (stream_) cudaStreamDestroy(stream_);
  if (copy_stream_) cudaStreamDestroy(copy_stream_);
}

void* CudaBackend::alloc_planned(GrowBuffer& buffer, size_t bytes, const char* what, int n) {
  void* ptr = nullptr;
  cudaError_t e = cudaMalloc(&ptr, bytes);
  if (e == cudaErrorMemoryAllocation) {
    cudaGetLastError();
    size_t free_bytes = 0, total_bytes = 0;
    CUDA_CHECK(cudaMemGetInfo(&free_bytes, &total_bytes));
    size_t fits = static_cast<size_t>(static_cast<double>(free_bytes) / (static_cast<double>(bytes) / n));
    throw Error(std::string("out of GPU memory planning a batch of ") + std::to_string(n) + ": the " + what +
                " needs " + std::to_string(bytes) + " bytes, " + std::to_string(free_bytes) +
                " are free; a batch of about " + std::to_string(fits) + " would fit (--batch)");
  }
  CUDA_CHECK(e);
  buffer.release();
  buffer.ptr = ptr;
  buffer.bytes = bytes;
  return ptr;
}

CudaBackend::Plan& CudaBackend::plan_for(int n, int h, int w, int k, int r, int slot) {
  auto key = std::make_tuple(n, h, w, k, r, slot);
  auto found = plans_.find(key);
  if (found != plans_.end()) return *found->second;
  auto plan = std::make_unique<Plan>();
  Plan& p = *plan;
  p.n = n, p.h = h, p.w = w, p.k = k, p.r = r;
  // Largest activation: walk the shapes once.
  size_t largest = 0;
  int fh = net_.stem.out_size(h), fw = net_.stem.out_size(w);
  largest = std::max(largest, static_cast<size_t>(n) * fh * fw * net_.stem.out_channels);
  fh = (fh - 1) / 2 + 1, fw = (fw - 1) / 2 + 1;
  for (const auto& stage : net_.stages)
    for (const Block& b : stage) {
      for (const ConvLayer* c : {&b.conv1, &b.conv2, &b.conv3}) {
        if (!c->out_channels) continue;
        fh = c->out_size(fh), fw = c->out_size(fw);
        largest = std::max(largest, static_cast<size_t>(n) * fh * fw * c->out_channels);
      }
    }
  p.feature_h = fh, p.feature_w = fw;
  const size_t act = align256(largest * storage_bytes(storage_)), pixels = static_cast<size_t>(n) * h * w;
  const size_t classes = net_.num_classes, slots = k + r;
  size_t sizes[] = {align256(pixels * kStemChannels * storage_bytes(storage_)),
                    align256(pixels * 3 * sizeof(float)),
                    5 * act,
                    align256(n * static_cast<size_t>(net_.feature_channels) * sizeof(float)),
                    2 * align256(n * classes * sizeof(float)),
                    align256(n * std::max(k, 1) * sizeof(int)),
                    align256(std::max(r, 1) * sizeof(int)),
                    align256(pixels * std::max<size_t>(slots, 1) * sizeof(float))};
  size_t total = 0, head_bytes = 0;
  for (size_t s : sizes) total += s;
  for (const Dense& d : net_.hidden) head_bytes += align256(static_cast<size_t>(n) * d.out * sizeof(float));
  if (!net_.hidden.empty())
    head_bytes += align256(static_cast<size_t>(n) * std::max<size_t>(slots, 1) * net_.feature_channels *
                           sizeof(float)) +
                  align256(net_.hidden.size() * sizeof(HeadLayer));
  total += head_bytes;
  alloc_planned(p.arena, total, "activation arena", n);
  size_t offset = 0;
  p.input = p.arena.at<void>(offset), offset += sizes[0];
  p.test_input = p.arena.at<float>(offset), offset += sizes[1];
  for (int i = 0; i < 5; ++i) p.buffers[i] = p.arena.at<void>(offset + i * act);
  offset += sizes[2];
  p.pooled = p.arena.at<float>(offset), offset += sizes[3];
  p.logits = p.arena.at<float>(offset), p.probs = p.arena.at<float>(offset + sizes[4] / 2),
  offset += sizes[4];
  p.topk = p.arena.at<int>(offset), offset += sizes[5];
  p.requested = p.arena.at<int>(offset), offset += sizes[6];
  p.maps = p.arena.at<float>(offset);
  offset += sizes[7];
  CUDA_CHECK(cudaMemset(p.arena.ptr, 0, total));
  if (!net_.hidden.empty()) {
    std::vector<HeadLayer> layers;
    for (size_t l = 0; l < net_.hidden.size(); ++l) {
      p.hidden.push_back(p.arena.at<float>(offset));
      offset += align256(static_cast<size_t>(n) * net_.hidden[l].out * sizeof(float));
      layers.push_back({hidden_[l].first, p.hidden.back(), net_.hidden[l].in, net_.hidden[l].out});
    }
    p.slot_weights = p.arena.at<float>(offset);
    offset +=
        align256(static_cast<size_t>(n) * std::max<size_t>(slots, 1) * net_.feature_channels * sizeof(float));
    p.head_layers = p.arena.at<HeadLayer>(offset);
    CUDA_CHECK(
        cudaMemcpy(p.head_layers, layers.data(), layers.size() * sizeof(HeadLayer), cudaMemcpyHostToDevice));
  }
  plan_convs(p);
  if (verbose_)
    std::fprintf(stderr, "cam_engine: plan batch %d %dx%d: activation arena %.1f MB, workspace %.1f MB\n", n,
                 h, w, total / 1e6, workspace_.bytes / 1e6);
  if (use_graphs_) capture_graph(p);
  return *plans_.emplace(key, std::move(plan)).first->second;
}

// The plan's forward + CAM as a CUDA Graph. A graph holds the addresses it was captured with: the plan's own
// arena, the weights and the shared conv workspace.
void CudaBackend::capture_graph(Plan& p) {
  if (p.graph) CUDA_CHECK(cudaGraphExecDestroy(p.graph));
  cudaGraph_t graph;
  CUDA_CHECK(cudaStreamBeginCapture(stream_, cudaStreamCaptureModeThreadLocal));
  encode(p, nullptr);
  CUDA_CHECK(cudaStreamEndCapture(stream_, &graph));
  CUDA_CHECK(cudaGraphInstantiate(&p.graph, graph, 0));
  CUDA_CHECK(cudaGraphDestroy(graph));
}

// Descriptors for every conv of the plan and the fastest deterministic algorithm per shape, measured with
// cudnnFindConvolutionForwardAlgorithmEx on the plan's own buffers (cached across plans), then one workspace
// large enough for both conv paths, then the fusion choice per conv.
void CudaBackend::plan_convs(Plan& p) {
  const void* old_workspace = workspace_.ptr;
  size_t needed = workspace_.bytes;  // never below what earlier plans need
  net_.for_each_conv_at(p.h, p.w, [&](const ConvLayer& c, int ih, int iw, bool residual, bool relu) {
    const DeviceConv& d = weights_.at(&c);
    ConvPlan cp;
    cp.shape = std::make_tuple(p.n, d.in_channels, ih, iw, c.out_channels, c.kernel, c.stride);
    cp.out_h = c.out_size(ih), cp.out_w = c.out_size(iw);
    cp.residual = residual, cp.relu = relu;
    CUDNN_CHECK(cudnnCreateTensorDescriptor(&cp.x));
    CUDNN_CHECK(cudnnCreateTensorDescriptor(&cp.y));
    CUDNN_CHECK(cudnnCreateTensorDescriptor(&cp.bias));
    CUDNN_CHECK(cudnnSetTensor4dDescriptor(cp.bias, CUDNN_TENSOR_NHWC, data_type_, 1, c.out_channels, 1, 1));
    CUDNN_CHECK(cudnnCreateFilterDescriptor(&cp.filter));
    CUDNN_CHECK(cudnnCreateConvolutionDescriptor(&cp.conv));
    CUDNN_CHECK(cudnnSetTensor4dDescriptor(cp.x, CUDNN_TENSOR_NHWC, data_type_, p.n, d.in_channels, ih, iw));
    CUDNN_CHECK(cudnnSetTensor4dDescriptor(cp.y, CUDNN_TENSOR_NHWC, data_type_, p.n, c.out_channels, cp.out_h,
                                           cp.out_w));
    CUDNN_CHECK(cudnnSetFilter4dDescriptor(cp.filter, data_type_, CUDNN_TENSOR_NHWC, c.out_channels,
                                           d.in_channels, c.kernel, c.kernel));
    CUDNN_CHECK(cudnnSetConvolution2dDescriptor(cp.conv, c.pad, c.pad, c.stride, c.stride, 1, 1,
                                                CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT));
    CUDNN_CHECK(cudnnSetConvolutionMathType(cp.conv, math_));
    auto cached = algo_cache_.find(cp.shape);
    if (cached == algo_cache_.end()) {
      workspace_.ensure(kFindWorkspaceBytes);
      cudnnConvolutionFwdAlgoPerf_t perf[CUDNN_CONVOLUTION_FWD_ALGO_COUNT];
      int returned = 0;
      CUDNN_CHECK(cudnnFindConvolutionForwardAlgorithmEx(
          cudnn_, cp.x, p.buffers[0], cp.filter, d.weight, cp.conv, cp.y, p.buffers[1],
          CUDNN_CONVOLUTION_FWD_ALGO_COUNT, &returned, perf, workspace_.ptr, workspace_.bytes));
      int pick = -1;
      for (int i = 0; i < returned && pick < 0; ++i)
        if (perf[i].status == CUDNN_STATUS_SUCCESS && perf[i].determinism == CUDNN_DETERMINISTIC) pick = i;
      if (pick < 0) throw Error("cuDNN found no deterministic algorithm for " + c.name);
      cached = algo_cache_.emplace(cp.shape, std::make_pair(perf[pick].algo, perf[pick].memory)).first;
      if (verbose_)
        std::fprintf(stderr, "cam_engine: %s algo %d, %.3f ms, workspace %zu\n", c.name.c_str(),
                     perf[pick].algo, perf[pick].time, perf[pick].memory);
    }
    cp.algo = cached->second.first;
    cp.workspace = cached->second.second;
    cp.fused_algo = relu ? cp.algo : CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_PRECOMP_GEMM;
    cp.fused_workspace = cp.workspace;
    if (cp.fused_algo != cp.algo &&
        cudnnGetConvolutionForwardWorkspaceSize(cudnn_, cp.x, cp.filter, cp.conv, cp.y, cp.fused_algo,
                                                &cp.fused_workspace) != CUDNN_STATUS_SUCCESS)
      cp.fused_workspace = 0,
      cp.fused_algo = cp.algo;  // the fused path is then tried with the conv's algorithm
    needed = std::max({needed, cp.workspace, conv_fusion_ == "off" ? size_t(0) : cp.fused_workspace});
    p.convs[&c] = cp;
  });
  if (conv_fusion_ == "graph") plan_graph_convs(p, needed);
  // Exactly what the plans need: larger when this plan needs more, smaller after measuring in a large one.
  if (needed != workspace_.bytes) {
    workspace_.release();
    if (needed) alloc_planned(workspace_, needed, "convolution workspace", p.n);
  }
  // The workspace moved (measuring needs a large one for a while): the other plans' graphs still point at the
  // old one, so they are captured again.
  if (workspace_.ptr != old_workspace)
    for (auto& kv : plans_)
      if (kv.second->graph) capture_graph(*kv.second);
  if (conv_fusion_ != "off") choose_fusion(p);  // the convs without a cuDNN graph, in graph mode
}

float CudaBackend::time_ms(const std::function<void()>& launch) {
  constexpr int kReps = 5;
  cudaEvent_t start, stop;
  CUDA_CHECK(cudaEventCreate(&start));
  CUDA_CHECK(cudaEventCreate(&stop));
  launch();  // warm-up
  CUDA_CHECK(cudaEventRecord(start, stream_));
  for (int i = 0; i < kReps; ++i) launch();
  CUDA_CHECK(cudaEventRecord(stop, stream_));
  CUDA_CHECK(cudaEventSynchronize(stop));
  float ms = 0;
  CUDA_CHECK(cudaEventElapsedTime(&ms, start, stop));
  CUDA_CHECK(cudaEventDestroy(start));
  CUDA_CHECK(cudaEventDestroy(stop));
  return ms / kReps;
}

// For each conv (shape and epilogue, cached; in graph mode those without a graph): whether cuDNN runs the
// fused call at all, and, in auto and graph mode, whether it beats conv + bn_act on the plan's own buffers (x
// in buffer 0, y in 1, residual in 2; their contents do not matter for timing). The unfused path wins ties
// and is kept when cuDNN refuses.
void CudaBackend::choose_fusion(Plan& p) {
  for (auto& entry : p.convs) {
    const ConvLayer& layer = *entry.first;
    ConvPlan& cp = entry.second;
    if (cp.graph) continue;
    const ConvKey key = cp.key();
    auto cached = fusion_cache_.find(key);
    if (cached == fusion_cache_.end()) {
      const void* residual = cp.residual ? p.buffers[2] : nullptr;
      cudnnStatus_t status = fused_conv(cp, weights_.at(&layer), p.buffers[0], p.buffers[1], residual);
      CUDA_CHECK(cudaStreamSynchronize(stream_));
      bool fused = status == CUDNN_STATUS_SUCCESS;
      float fused_ms = 0, plain_ms = 0;
      if (fused && conv_fusion_ != "on") {
        auto launch = [&] { conv(p, layer, p.buffers[0], p.buffers[1], residual); };
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
cudnnStatus_t CudaBackend::fused_conv(const ConvPlan& cp, const DeviceConv& d, const void* x, void* y,
                                      const void* residual) {
  const float one = 1.0f, zero = 0.0f;
  return cudnnConvolutionBiasActivationForward(cudnn_, &one, cp.x, x, cp.filter, d.weight, cp.conv,
                                               cp.fused_algo, workspace_.ptr, cp.fused_workspace,
                                               residual ? &one : &zero, cp.y, residual ? residual : y,
                                               cp.bias, d.shift_stored, cp.relu ? relu_ : identity_, cp.y, y);
}

// y = act(conv(x) + shift [+ residual]), the activation as planned (cp.relu), y distinct from x and the
// residual: cuDNN's fused call, or the conv into y and the bn_act epilogue in place on y.
void CudaBackend::conv(Plan& p, const ConvLayer& layer, const void* x, void* y, const void* residual) {
  const ConvPlan& cp = p.convs.at(&layer);
  const DeviceConv& d = weights_.at(&layer);
  if (cp.graph) {
    cp.graph->run(cudnn_, {x, d.weight, d.shift, residual, y, workspace_.ptr});
  } else if (cp.fused) {
    CUDNN_CHECK(fused_conv(cp, d, x, y, residual));
  } else {
    const float one = 1.0f, zero = 0.0f;
    CUDNN_CHECK(cudnnConvolutionForward(cudnn_, &one, cp.x, x, cp.filter, d.weight, cp.conv, cp.algo,
                                        workspace_.ptr, cp.workspace, &zero, cp.y, y));
    launch_bn_act(storage_, y, nullptr, d.shift, residual, cp.relu,
                  static_cast<int64_t>(p.n) * cp.out_h * cp.out_w, layer.out_channels, y, stream_);
  }
  laps_.layer(layer.name, 2.0 * p.n * cp.out_h * cp.out_w * layer.out_channels * layer.in_channels *
                              layer.kernel * layer.kernel);
}

void CudaBackend::encode(Plan& p, const StageHook& stage_hook) {
  void** buf = p.buffers;
  const ConvPlan& stem = p.convs.at(&net_.stem);
  conv(p, net_.stem, p.input, buf[1], nullptr);
  int h = (stem.out_h - 1) / 2 + 1, w = (stem.out_w - 1) / 2 + 1;
  launch_max_pool(storage_, buf[1], p.n, stem.out_h, stem.out_w, net_.stem.out_channels, buf[0], stream_);
  laps_.layer("maxpool", 0);
  if (stage_hook) stage_hook(buf[0], h, w, net_.stem.out_channels);
  // Buffer roles: x the block input, t1/t2 the inner activations, shortcut the projection, next the block
  // output. After a block, next becomes x and the buffers of the consumed input and residual are free again.
  int x = 0, t1 = 1, t2 = 2, shortcut = 3, next = 4;
  for (const auto& stage : net_.stages) {
    for (const Block& b : stage) {
      int residual = x;
      if (b.has_downsample) {
        conv(p, b.downsample, buf[x], buf[shortcut], nullptr);
        residual = shortcut;
      }
      conv(p, b.conv1, buf[x], buf[t1], nullptr);
      const ConvLayer& last = b.last();
      if (b.conv3.out_channels) conv(p, b.conv2, buf[t1], buf[t2], nullptr);
      conv(p, last, buf[b.conv3.out_channels ? t2 : t1], buf[next], buf[residual]);
      h = p.convs.at(&last).out_h, w = p.convs.at(&last).out_w;
      const int input = x;
      x = next;
      next = residual;
      if (residual != input) shortcut = input;
    }
    if (stage_hook) stage_hook(buf[x], h, w, stage.back().last().out_channels);
  }
  p.features = buf[x];
  const int c = net_.feature_channels, classes = net_.num_classes;
  launch_global_avg_pool(storage_, buf[x], p.n, h * w, c, p.pooled, stream_);
  laps_.layer("avgpool", 0);
  // Head: y (N, out) = x (N, in) W^T, as column-major out x N = (in x out)^T (in x N); bias + ReLU by bn_act.
  const float one = 1.0f, zero = 0.0f;
  const float* head_input = p.pooled;
  int max_dim = c;
  for (size_t l = 0; l < net_.hidden.size(); ++l) {
    const Dense& d = net_.hidden[l];
    CUBLAS_CHECK(cublasSgemm(cublas_, CUBLAS_OP_T, CUBLAS_OP_N, d.out, p.n, d.in, &one, hidden_[l].first,
                             d.in, head_input, d.in, &zero, p.hidden[l], d.out));
    launch_bn_act(Storage::kF32, p.hidden[l], nullptr, hidden_[l].second, nullptr, true, p.n, d.out,
                  p.hidden[l], stream_);
    head_input = p.hidden[l];
    max_dim = std::max(max_dim, d.out);
    laps_.layer(d.name, 2.0 * p.n * d.in * d.out);
  }
  const int head_dim = net_.head_dim();
  CUBLAS_CHECK(cublasSgemm(cublas_, CUBLAS_OP_T, CUBLAS_OP_N, classes, p.n, head_dim, &one, fc_weight_,
                           head_dim, head_input, head_dim, &zero, p.logits, classes));
  laps_.layer("fc", 2.0 * p.n * head_dim * classes);
  launch_softmax_topk(p.logits, fc_bias_, p.n, classes, p.k, p.probs, p.topk, stream_);
  laps_.phase("forward");
  launch_head_cam_weights(p.head_layers, static_cast<int>(net_.hidden.size()), max_dim, fc_weight_, p.n,
                          p.topk, p.k, p.requested, p.r, p.slot_weights, stream_);
  launch_cam(storage_, p.features, p.n, h, w, c, fc_weight_, p.slot_weights, p.topk, p.k, p.requested, p.r,
             p.h, p.w, p.maps, stream_);
  laps_.phase("cam");
}

std::vector<float> CudaBackend::download_floats(const void* data, size_t count) {
  std::vector<uint8_t> raw(count * storage_bytes(storage_));
  CUDA_CHECK(cudaMemcpyAsync(raw.data(), data, raw.size(), cudaMemcpyDeviceToHost, stream_));
  CUDA_CHECK(cudaStreamSynchronize(stream_));
  std::vector<float> out(count);
  for (size_t i = 0; i < count; ++i) {
    uint16_t half_bits;
    if (storage_ == Storage::kF32) std::memcpy(&out[i], &raw[i * 4], 4);
    if (storage_ != Storage::kF32) std::memcpy(&half_bits, &raw[i * 2], 2);
    if (storage_ == Storage::kF16) out[i] = half_to_float(half_bits);
    if (storage_ == Storage::kBF16) out[i] = bfloat16_to_float(half_bits);
  }
  return out;
}

void CudaBackend::forward(const float* input, int n, int h, int w, bool keep_stages, ForwardResult& out) {
  Plan& p = plan_for(n, h, w, 1, 0);
  const size_t pixels = static_cast<size_t>(n) * h * w;
  CUDA_CHECK(
      cudaMemcpyAsync(p.test_input, input, pixels * 3 * sizeof(float), cudaMemcpyHostToDevice, stream_));
  launch_pack_input(storage_, p.test_input, static_cast<int64_t>(pixels), kStemChannels, p.input, stream_);
  out.stages.clear();
  StageHook hook = [&](const void* data, int sh, int sw, int channels) {
    out.stages.push_back(download_floats(data, static_cast<size_t>(n) * sh * sw * channels));
  };
  encode(p, keep_stages ? hook : nullptr);
  out.feature_h = p.feature_h, out.feature_w = p.feature_w;
  out.features =
      download_floats(p.features, static_cast<size_t>(n) * p.feature_h * p.feature_w * net_.feature_channels);
  out.hidden.clear();
  for (size_t l = 0; l < net_.hidden.size(); ++l) {
    out.hidden.emplace_back(static_cast<size_t>(n) * net_.hidden[l].out);
    CUDA_CHECK(cudaMemcpyAsync(out.hidden.back().data(), p.hidden[l],
                               out.hidden.back().size() * sizeof(float), cudaMemcpyDeviceToHost, stream_));
  }
  out.logits.resize(static_cast<size_t>(n) * net_.num_classes);
  CUDA_CHECK(cudaMemcpyAsync(out.logits.data(), p.logits, out.logits.size() * sizeof(float),
                             cudaMemcpyDeviceToHost, stream_));
  CUDA_CHECK(cudaStreamSynchronize(stream_));
}

}  // namespace cuda_detail

using cuda_detail::CudaBackend;

std::string cuda_unavailable_reason(int device) {
  int count = 0;
  cudaError_t e = cudaGetDeviceCount(&count);
  if (e != cudaSuccess) {
    cudaGetLastError();
    return std::string("cudaGetDeviceCount: ") + cudaGetErrorString(e);
  }
  if (count == 0) return "no CUDA device";
  if (device < 0 || device >= count)
    return "device index " + std::to_string(device) + " out of range (" + std::to_string(count) + " devices)";
  return "";
}

std::string cuda_device_description(int device) {
  cudaDeviceProp prop;
  CUDA_CHECK(cudaGetDeviceProperties(&prop, device));
  int driver = 0, runtime = 0, cublas = 0;
  CUDA_CHECK(cudaDriverGetVersion(&driver));
  CUDA_CHECK(cudaRuntimeGetVersion(&runtime));
  CUBLAS_CHECK(cublasGetProperty(MAJOR_VERSION, &cublas));
  int cublas_minor = 0;
  CUBLAS_CHECK(cublasGetProperty(MINOR_VERSION, &cublas_minor));
  char buf[512];
  std::snprintf(
      buf, sizeof buf, "%s (sm_%d%d, %.0f GiB), driver %d.%d, CUDA runtime %d.%d, cuDNN %zu, cuBLAS %d.%d",
      prop.name, prop.major, prop.minor, prop.totalGlobalMem / 1073741824.0, driver / 1000,
      (driver % 1000) / 10, runtime / 1000, (runtime % 1000) / 10, cudnnGetVersion(), cublas, cublas_minor);
  return buf;
}

std::unique_ptr<Backend> make_cuda_backend(const ResNet& net, const CudaOptions& options) {
  return std::make_unique<CudaBackend>(net, options);
}

}  // namespace cam
