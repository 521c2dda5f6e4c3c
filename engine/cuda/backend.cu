// CUDA backend: cuDNN convolutions (NHWC, algorithm chosen by measurement once per shape), the custom bn_act
// / pool / softmax_topk / CAM / overlay kernels, the FC through cuBLAS in fp32. Memory: one weights arena,
// one activation arena per plan (batch, H, W, maps), one conv workspace; the forward + head + CAM of a plan
// is captured once as a CUDA Graph and replayed. One batch through it: engine/cuda/run.cu.
#include <algorithm>
#include <cstring>
#include <functional>

#include "engine/base/error.h"
#include "engine/cuda/backend.h"
#include "engine/cuda/backend_impl.cuh"
#include "engine/io/safetensors.h"
#include "kernels/bn_act.cuh"
#include "kernels/cam.cuh"
#include "kernels/eigen_cam.cuh"
#include "kernels/gradcam_plusplus.cuh"
#include "kernels/head.cuh"
#include "kernels/perturb.cuh"
#include "kernels/pool.cuh"
#include "kernels/preprocess.cuh"
#include "kernels/score_cam.cuh"
#include "kernels/softmax_topk.cuh"

namespace cam {
namespace cuda_detail {

void convert_to_storage(const float* src, size_t count, Storage s, void* dst) {
  with_storage_type(s, [&](auto zero) {
    using T = decltype(zero);
    for (size_t i = 0; i < count; ++i) static_cast<T*>(dst)[i] = store_as<T>(src[i]);
  });
}

Storage storage_for(Precision precision) {
  return precision == Precision::kFp16   ? Storage::kF16
         : precision == Precision::kBf16 ? Storage::kBF16
                                         : Storage::kF32;
}

namespace {

int make_current(int device) {
  CUDA_CHECK(cudaSetDevice(device));
  return device;
}

}  // namespace

CudaBackend::CudaBackend(const ResNet& net, Precision precision, const CudaOptions& options, bool verbose)
    : net_(net),
      storage_(storage_for(precision)),
      verbose_(verbose),
      use_graphs_(options.use_graphs),
      device_(make_current(options.device)),
      planner_(cudnn_.get(), stream_.get(), storage_, precision, options.conv_fusion, verbose,
               cuda_device_description(options.device) + ", " + name_of(precision)) {
  if (net.num_classes > 4096)
    throw Error("the CUDA backend supports up to 4096 classes (model has " + std::to_string(net.num_classes) +
                ")");
  CUDNN_CHECK(cudnnSetStream(cudnn_.get(), stream_.get()));
  CUBLAS_CHECK(cublasSetStream(cublas_.get(), stream_.get()));
  CUBLAS_CHECK(cublasSetMathMode(cublas_.get(), CUBLAS_PEDANTIC_MATH));
  cublas_workspace_.ensure(size_t(4) << 20);  // set explicitly so graph capture never allocates
  CUBLAS_CHECK(cublasSetWorkspace(cublas_.get(), cublas_workspace_.ptr, cublas_workspace_.bytes));
  upload_colormaps();
  upload_weights(precision);
}

CudaBackend::~CudaBackend() {
  for (cudaStream_t s : {stream_.get(), copy_stream_.get()})
    if (cudaStreamSynchronize(s) != cudaSuccess)
      std::fprintf(stderr, "cam_engine: waiting for the batches in flight failed\n");
}

void CudaBackend::upload_weights(Precision precision) {
  const ResNet& net = net_;
  // Weights arena: every conv's weights (stem padded to 8 input channels, grouped ones Cin/groups per tap)
  // and shift (fp32, and in the storage type for cuDNN's fused call when that is not fp32), then the FC in
  // fp32.
  const bool shift_copy = storage_ != Storage::kF32;
  auto filter_channels = [&](const ConvLayer& c) {
    return &c == &net.stem.front() ? kStemChannels : c.group_channels();
  };
  size_t total = 0;
  for (const ConvLayer* layer : net.convs()) {
    const ConvLayer& c = *layer;
    const int cin = filter_channels(c);
    total +=
        align256(static_cast<size_t>(c.out_channels) * c.kernel * c.kernel * cin * storage_bytes(storage_));
    total += align256(c.out_channels * sizeof(float));
    if (shift_copy) total += align256(c.out_channels * storage_bytes(storage_));
  }
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
  for (const ConvLayer* layer : net.convs()) {
    const ConvLayer& c = *layer;
    DeviceConv d;
    d.in_channels = &c == &net.stem.front() ? kStemChannels : c.in_channels;
    const int cin = filter_channels(c);
    std::vector<float> padded(static_cast<size_t>(c.out_channels) * c.kernel * c.kernel * cin, 0.0f);
    for (size_t tap = 0; tap < static_cast<size_t>(c.out_channels) * c.kernel * c.kernel; ++tap)
      std::copy_n(&c.weight[tap * c.group_channels()], c.group_channels(), &padded[tap * cin]);
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
  }
  for (const Dense& d : net.hidden) hidden_.push_back({place_floats(d.weight), place_floats(d.bias)});
  fc_weight_ = place_floats(net.fc_weight);
  fc_bias_ = place_floats(net.fc_bias);
  CUDA_CHECK(cudaMemcpy(weights_arena_.ptr, host.data(), total, cudaMemcpyHostToDevice));
  if (verbose_)
    std::fprintf(stderr, "cam_engine: cuda %s, weights arena %.1f MB\n", name_of(precision), total / 1e6);
}

// A batch runs on the plan of its shape (size, maps) when that has room for it: a short batch (the last of
// a list, one with an image that failed to decode) reuses the full batch's plan, arena, conv choices and
// graph, its unused images computing on stale inputs whose outputs nobody reads. A larger batch gets a new
// plan, which replaces the smaller one, so there is one plan per shape, whatever the batch sizes. Batches
// in flight copy their outputs out of the plan as they finish computing (Flight), so consecutive batches
// share it; a new plan first waits for them all.
CudaBackend::Plan& CudaBackend::plan_for(int n, int h, int w, int k, int r,
                                         const std::vector<CamMethod>& methods) {
  auto same_shape = [&](const Plan& p) {
    return p.h == h && p.w == w && p.k == k && p.r == r && p.methods == methods;
  };
  for (auto& existing : plans_)
    if (same_shape(*existing) && existing->n >= n) return *existing;
  drain();
  plans_.erase(std::remove_if(plans_.begin(), plans_.end(), [&](const auto& p) { return same_shape(*p); }),
               plans_.end());
  auto plan = std::make_unique<Plan>();
  Plan& p = *plan;
  p.n = n, p.h = h, p.w = w, p.k = k, p.r = r, p.methods = methods;
  p.schedule = net_.schedule(h, w);
  const size_t arena_bytes = allocate_arena(p);
  void* const scratch[3] = {p.buffers[0], p.buffers[1], p.buffers[2]};
  // The workspace moved (measuring needs a large one for a while): the other plans' graphs still point at the
  // old one, so they are captured again.
  if (planner_.plan(n, p.schedule, weights_, scratch, p.convs))
    for (auto& other : plans_)
      if (other->graph) capture_graph(*other);
  if (verbose_)
    std::fprintf(stderr, "cam_engine: plan batch %d %dx%d: activation arena %.1f MB, workspace %.1f MB\n", n,
                 h, w, arena_bytes / 1e6, planner_.workspace_bytes() / 1e6);
  if (use_graphs_) capture_graph(p);
  plans_.push_back(std::move(plan));
  return p;
}

void CudaBackend::drain() {
  CUDA_CHECK(cudaStreamSynchronize(stream_.get()));
  CUDA_CHECK(cudaStreamSynchronize(copy_stream_.get()));
}

// One allocation for everything a batch of the plan's shape holds on the device; returns its size.
size_t CudaBackend::allocate_arena(Plan& p) {
  const int n = p.n, h = p.h, w = p.w, k = p.k, r = p.r;
  const size_t largest = static_cast<size_t>(n) * p.schedule.largest;
  const size_t act = align256(largest * storage_bytes(storage_)), pixels = static_cast<size_t>(n) * h * w;
  const size_t classes = net_.num_classes, slots = k + r, groups = p.methods.size();
  const int hw = p.schedule.feature_h * p.schedule.feature_w, c = net_.feature_channels;
  auto uses = [&](CamMethod m) { return std::count(p.methods.begin(), p.methods.end(), m) > 0; };
  size_t sizes[] = {align256(pixels * kStemChannels * storage_bytes(storage_)),
                    align256(pixels * 3 * sizeof(float)),
                    Schedule::kBuffers * act,
                    align256(n * static_cast<size_t>(net_.feature_channels) * sizeof(float)),
                    2 * align256(n * classes * sizeof(float)),
                    align256(n * std::max(k, 1) * sizeof(int)),
                    align256(std::max(r, 1) * sizeof(int)),
                    align256(pixels * std::max<size_t>(slots * groups, 1) * sizeof(float)),
                    uses(CamMethod::kGradCamPlusPlus) ? align256(n * slots * c * sizeof(float)) : 0,
                    uses(CamMethod::kEigenCam) ? align256(eigen_scratch_bytes(n, hw, c)) : 0,
                    uses(CamMethod::kEigenCam) ? align256(static_cast<size_t>(n) * hw * sizeof(float)) : 0};
  size_t total = 0, head_bytes = 0;
  for (size_t s : sizes) total += s;
  for (const Dense& d : net_.hidden) head_bytes += align256(static_cast<size_t>(n) * d.out * sizeof(float));
  if (!net_.hidden.empty())
    head_bytes += align256(static_cast<size_t>(n) * std::max<size_t>(slots, 1) * net_.feature_channels *
                           sizeof(float)) +
                  align256(net_.hidden.size() * sizeof(HeadLayer));
  total += head_bytes;
  p.arena.allocate_for_batch(total, "activation arena", n);
  size_t offset = 0;
  p.input = p.arena.at<void>(offset), offset += sizes[0];
  p.test_input = p.arena.at<float>(offset), offset += sizes[1];
  for (int i = 0; i < Schedule::kBuffers; ++i) p.buffers[i] = p.arena.at<void>(offset + i * act);
  offset += sizes[2];
  p.pooled = p.arena.at<float>(offset), offset += sizes[3];
  p.logits = p.arena.at<float>(offset), p.probs = p.arena.at<float>(offset + sizes[4] / 2),
  offset += sizes[4];
  p.topk = p.arena.at<int>(offset), offset += sizes[5];
  p.requested = p.arena.at<int>(offset), offset += sizes[6];
  p.maps = p.arena.at<float>(offset);
  offset += sizes[7];
  if (sizes[8]) p.plusplus_weights = p.arena.at<float>(offset);
  offset += sizes[8];
  if (sizes[9]) p.eigen_scratch = p.arena.at<void>(offset);
  offset += sizes[9];
  if (sizes[10]) p.projections = p.arena.at<float>(offset);
  offset += sizes[10];
  CUDA_CHECK(cudaMemset(p.arena.ptr, 0, total));
  if (!net_.hidden.empty()) {
    std::vector<HeadLayer> layers;
    for (size_t l = 0; l < net_.hidden.size(); ++l) {
      p.hidden.push_back(p.arena.at<float>(offset));
      offset += align256(static_cast<size_t>(n) * net_.hidden[l].out * sizeof(float));
      layers.push_back({hidden_[l].first, p.hidden.back(), net_.hidden[l].in, net_.hidden[l].out});
    }
    p.map_weights = p.arena.at<float>(offset);
    offset +=
        align256(static_cast<size_t>(n) * std::max<size_t>(slots, 1) * net_.feature_channels * sizeof(float));
    p.head_layers = p.arena.at<HeadLayer>(offset);
    CUDA_CHECK(
        cudaMemcpy(p.head_layers, layers.data(), layers.size() * sizeof(HeadLayer), cudaMemcpyHostToDevice));
  }
  return total;
}

// The plan's forward + CAM as a CUDA Graph. A graph holds the addresses it was captured with: the plan's own
// arena, the weights and the shared conv workspace.
void CudaBackend::capture_graph(Plan& p) {
  cudaGraph_t graph;
  CUDA_CHECK(cudaStreamBeginCapture(stream_.get(), cudaStreamCaptureModeThreadLocal));
  enqueue_forward(p, nullptr);
  CUDA_CHECK(cudaStreamEndCapture(stream_.get(), &graph));
  p.graph.instantiate(graph);
  CUDA_CHECK(cudaGraphDestroy(graph));
}

// One planned conv (ConvPlanner::run), timed as a layer when profiling.
void CudaBackend::conv(Plan& p, const ConvLayer& layer, const void* x, void* y, const void* residual) {
  const ConvPlan& cp = p.convs.at(&layer);
  planner_.run(cp, weights_.at(&layer), x, y, residual);
  laps_.layer(layer.name, 2.0 * p.n * cp.out_h * cp.out_w * layer.out_channels * layer.group_channels() *
                              layer.kernel * layer.kernel);
}

void CudaBackend::enqueue_forward(Plan& p, const StageHook& stage_hook) {
  auto buffer = [&](int index) -> void* {
    return index == Step::kNetworkInput ? p.input : index == Step::kNone ? nullptr : p.buffers[index];
  };
  for (const Step& step : p.schedule.steps) {
    if (step.kind == Step::Kind::kMaxPool) {
      launch_max_pool(storage_, buffer(step.input), p.n, step.in_h, step.in_w, step.in_channels,
                      buffer(step.output), stream_.get());
      laps_.layer("maxpool", 0);
    } else if (step.kind == Step::Kind::kAvgPool) {
      launch_avg_down_pool(storage_, buffer(step.input), p.n, step.in_h, step.in_w, step.in_channels,
                           buffer(step.output), stream_.get());
      laps_.layer("avgpool (shortcut)", 0);
    } else {
      conv(p, *step.conv, buffer(step.input), buffer(step.output), buffer(step.residual));
    }
    if (stage_hook && step.stage_output)
      stage_hook(buffer(step.output), step.out_h, step.out_w, step.out_channels);
  }
  const int h = p.schedule.feature_h, w = p.schedule.feature_w, x = p.schedule.features;
  p.features = p.buffers[x];
  const int c = net_.feature_channels, classes = net_.num_classes;
  launch_global_avg_pool(storage_, p.features, p.n, h * w, c, p.pooled, stream_.get());
  laps_.layer("avgpool", 0);
  // Head: y (N, out) = x (N, in) W^T, as column-major out x N = (in x out)^T (in x N); bias + ReLU by bn_act.
  const float one = 1.0f, zero = 0.0f;
  const float* head_input = p.pooled;
  int max_dim = c;
  for (size_t l = 0; l < net_.hidden.size(); ++l) {
    const Dense& d = net_.hidden[l];
    CUBLAS_CHECK(cublasSgemm(cublas_.get(), CUBLAS_OP_T, CUBLAS_OP_N, d.out, p.n, d.in, &one,
                             hidden_[l].first, d.in, head_input, d.in, &zero, p.hidden[l], d.out));
    launch_bn_act(Storage::kF32, p.hidden[l], hidden_[l].second, nullptr, true, p.n, d.out, p.hidden[l],
                  stream_.get());
    head_input = p.hidden[l];
    max_dim = std::max(max_dim, d.out);
    laps_.layer(d.name, 2.0 * p.n * d.in * d.out);
  }
  const int head_dim = net_.head_dim();
  CUBLAS_CHECK(cublasSgemm(cublas_.get(), CUBLAS_OP_T, CUBLAS_OP_N, classes, p.n, head_dim, &one, fc_weight_,
                           head_dim, head_input, head_dim, &zero, p.logits, classes));
  laps_.layer("fc", 2.0 * p.n * head_dim * classes);
  launch_softmax_topk(p.logits, fc_bias_, p.n, classes, p.k, p.probs, p.topk, stream_.get());
  laps_.phase("forward");
  launch_head_cam_weights(p.head_layers, static_cast<int>(net_.hidden.size()), max_dim, fc_weight_, p.n,
                          p.topk, p.k, p.requested, p.r, p.map_weights, stream_.get());
  // A group of maps per method: CAM and Grad-CAM from the fc rows (or the MLP head's gradients), Grad-CAM++
  // from weights made of those, Eigen-CAM from the features' projections.
  const size_t group = static_cast<size_t>(p.n) * (p.k + p.r) * p.h * p.w;
  for (size_t g = 0; g < p.methods.size() && group; ++g) {
    const float* weights = p.map_weights;  // null for a plain fc head
    const float* projections = nullptr;
    if (p.methods[g] == CamMethod::kGradCamPlusPlus) {
      launch_gradcam_plusplus_weights(p.pooled, h * w, fc_weight_, p.map_weights, p.n, c, p.topk, p.k,
                                      p.requested, p.r, p.plusplus_weights, stream_.get());
      weights = p.plusplus_weights;
    } else if (p.methods[g] == CamMethod::kEigenCam) {
      launch_eigen_projections(storage_, p.features, p.n, h * w, c, p.eigen_scratch, p.projections,
                               stream_.get());
      projections = p.projections;
    }
    launch_cam(storage_, p.features, p.n, h, w, c, fc_weight_, weights, projections, p.topk, p.k, p.requested,
               p.r, p.h, p.w, p.maps + g * group, stream_.get());
  }
  laps_.phase("cam");
}

std::vector<float> CudaBackend::download_floats(const void* data, size_t count) {
  std::vector<uint8_t> raw(count * storage_bytes(storage_));
  CUDA_CHECK(cudaMemcpyAsync(raw.data(), data, raw.size(), cudaMemcpyDeviceToHost, stream_.get()));
  CUDA_CHECK(cudaStreamSynchronize(stream_.get()));
  std::vector<float> out(count);
  with_storage_type(storage_, [&](auto zero) {
    using T = decltype(zero);
    const T* stored = reinterpret_cast<const T*>(raw.data());
    for (size_t i = 0; i < count; ++i) out[i] = load_f32(stored[i]);
  });
  return out;
}

void CudaBackend::forward(const float* input, int n, int h, int w, bool keep_stages, ForwardResult& out) {
  drain();  // the plan below may be the one a batch in flight is still copying its outputs from
  Plan& p = plan_for(n, h, w, 1, 0, {CamMethod::kCam});
  const size_t pixels = static_cast<size_t>(n) * h * w;
  CUDA_CHECK(cudaMemcpyAsync(p.test_input, input, pixels * 3 * sizeof(float), cudaMemcpyHostToDevice,
                             stream_.get()));
  launch_pack_input(storage_, p.test_input, static_cast<int64_t>(pixels), kStemChannels, p.input,
                    stream_.get());
  out.stages.clear();
  StageHook hook = [&](const void* data, int sh, int sw, int channels) {
    out.stages.push_back(download_floats(data, static_cast<size_t>(n) * sh * sw * channels));
  };
  enqueue_forward(p, keep_stages ? hook : nullptr);
  out.feature_h = p.schedule.feature_h, out.feature_w = p.schedule.feature_w;
  out.features = download_floats(p.features, static_cast<size_t>(n) * p.schedule.feature_h *
                                                 p.schedule.feature_w * net_.feature_channels);
  out.hidden.clear();
  for (size_t l = 0; l < net_.hidden.size(); ++l) {
    out.hidden.emplace_back(static_cast<size_t>(n) * net_.hidden[l].out);
    CUDA_CHECK(cudaMemcpyAsync(out.hidden.back().data(), p.hidden[l],
                               out.hidden.back().size() * sizeof(float), cudaMemcpyDeviceToHost,
                               stream_.get()));
  }
  out.logits.resize(static_cast<size_t>(n) * net_.num_classes);
  CUDA_CHECK(cudaMemcpyAsync(out.logits.data(), p.logits, out.logits.size() * sizeof(float),
                             cudaMemcpyDeviceToHost, stream_.get()));
  CUDA_CHECK(cudaStreamSynchronize(stream_.get()));
}

// The plan of `batch` network inputs is the one run() uses for top-1 maps, so the batches in flight finish
// first.
void CudaBackend::device_forwards(int count, int batch, int h, int w, int classes,
                                  const std::function<void(int first, int m, float* out)>& make,
                                  const TakeLogits& take) {
  if (count == 0) return;
  drain();
  Plan& p = plan_for(std::min(batch, count), h, w, 1, 0, {CamMethod::kCam});
  const int per_forward = std::min(p.n, count);  // the plan computes p.n images anyway
  masked_logits_.resize(static_cast<size_t>(per_forward) * classes);
  cudaStream_t stream = stream_.get();
  for (int first = 0; first < count; first += per_forward) {
    const int m = std::min(per_forward, count - first);
    make(first, m, p.test_input);
    launch_pack_input(storage_, p.test_input, static_cast<int64_t>(m) * h * w, kStemChannels, p.input,
                      stream);
    if (p.graph) {
      CUDA_CHECK(cudaGraphLaunch(p.graph.get(), stream));
    } else {
      enqueue_forward(p, nullptr);
    }
    CUDA_CHECK(cudaMemcpyAsync(masked_logits_.data(), p.logits,
                               static_cast<size_t>(m) * classes * sizeof(float), cudaMemcpyDeviceToHost,
                               stream));
    CUDA_CHECK(cudaStreamSynchronize(stream));
    for (int j = 0; j < m; ++j) take(first + j, &masked_logits_[static_cast<size_t>(j) * classes]);
  }
}

std::vector<size_t> CudaBackend::upload_masked(const std::vector<std::pair<const void*, size_t>>& parts) {
  std::vector<size_t> at;
  size_t total = 0;
  for (const auto& part : parts) at.push_back(total), total += align256(part.second);
  masked_.ensure(total);  // only the synchronous calls below use masked_: nothing in flight reads it
  for (size_t i = 0; i < parts.size(); ++i)
    if (parts[i].first && parts[i].second)
      CUDA_CHECK(cudaMemcpyAsync(masked_.at<void>(at[i]), parts[i].first, parts[i].second,
                                 cudaMemcpyHostToDevice, stream_.get()));
  return at;
}

// Score-CAM on the device: the inputs, features and job table go up once; per forward, the score_cam kernel
// writes the masked inputs into the plan's input, the plan's graph runs, and only the logits come back.
void CudaBackend::score_cam_logits(const ScoreCamJobs& s, const TakeLogits& take) {
  std::vector<int> table;
  for (const auto& [image, channel] : s.jobs) table.push_back(image), table.push_back(channel);
  const std::vector<size_t> at =
      upload_masked({{s.inputs, static_cast<size_t>(s.n) * s.h * s.w * 3 * sizeof(float)},
                     {s.features, static_cast<size_t>(s.n) * s.fh * s.fw * s.c * sizeof(float)},
                     {table.data(), table.size() * sizeof(int)}});
  device_forwards(
      static_cast<int>(s.jobs.size()), s.batch, s.h, s.w, s.classes,
      [&](int first, int m, float* out) {
        launch_score_cam_inputs(masked_.at<float>(at[0]), s.h, s.w, masked_.at<float>(at[1]), s.fh, s.fw, s.c,
                                masked_.at<int>(at[2]) + 2 * first, m, out, stream_.get());
      },
      take);
}

// The metrics on the device: the inputs, maps, ranks and job table go up once; the perturb kernel writes each
// forward's perturbed inputs into the plan's input.
void CudaBackend::perturbed_logits(const PerturbedJobs& p, const TakeLogits& take) {
  const size_t pixels = static_cast<size_t>(p.h) * p.w;
  std::vector<int> table;
  for (const PerturbedJob& job : p.jobs) table.insert(table.end(), {job.kind, job.image, job.map, job.count});
  const std::vector<size_t> at = upload_masked({{p.inputs, p.n * pixels * 3 * sizeof(float)},
                                                {p.maps, p.maps_count * pixels * sizeof(float)},
                                                {p.ranks, p.maps_count * pixels * sizeof(int)},
                                                {table.data(), table.size() * sizeof(int)}});
  device_forwards(
      static_cast<int>(p.jobs.size()), p.batch, p.h, p.w, p.classes,
      [&](int first, int m, float* out) {
        launch_perturbed_inputs(masked_.at<float>(at[0]), p.h, p.w, masked_.at<float>(at[1]),
                                masked_.at<int>(at[2]), masked_.at<int>(at[3]) + 4 * first, m, out,
                                stream_.get());
      },
      take);
}

// Eigen-CAM on the device: the features go up, kernels/eigen_cam makes every image's projection at once and
// only the (n, hw) maps come back; the images in chunks whose scratch stays within kEigenScratchBudget.
void CudaBackend::eigen_projections(const float* features, int n, int hw, int c, float* out) {
  constexpr size_t kEigenScratchBudget = size_t(256) << 20;
  if (n == 0) return;
  const size_t per_image = eigen_scratch_bytes(1, hw, c);
  const int chunk = std::max(1, static_cast<int>(std::min<size_t>(n, kEigenScratchBudget / per_image)));
  for (int first = 0; first < n; first += chunk) {
    const int m = std::min(chunk, n - first);
    const size_t out_bytes = static_cast<size_t>(m) * hw * sizeof(float);
    const std::vector<size_t> at =
        upload_masked({{features + static_cast<size_t>(first) * hw * c, out_bytes * c},
                       {nullptr, eigen_scratch_bytes(m, hw, c)},
                       {nullptr, out_bytes}});
    launch_eigen_projections(Storage::kF32, masked_.at<float>(at[0]), m, hw, c, masked_.at<void>(at[1]),
                             masked_.at<float>(at[2]), stream_.get());
    CUDA_CHECK(cudaMemcpyAsync(out + static_cast<size_t>(first) * hw, masked_.at<float>(at[2]), out_bytes,
                               cudaMemcpyDeviceToHost, stream_.get()));
    CUDA_CHECK(cudaStreamSynchronize(stream_.get()));
  }
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

std::unique_ptr<Backend> make_cuda_backend(const ResNet& net, Precision precision, const CudaOptions& options,
                                           bool verbose) {
  return std::make_unique<CudaBackend>(net, precision, options, verbose);
}

}  // namespace cam
