// CPU backend: oneDNN (2.6 or 3.x) convolutions (grouped for ResNeXt) in NHWC, fp32 or bf16 (bf16 activations
// and weights, fp32 accumulation, the BN shift in fp32; the input converted once, the last block's output
// converted back for the head and the maps), primitives built once per (N, H, W) from the network schedule.
// The plans share one activation arena (the schedule's five buffers, sized for the largest plan) and one copy
// of each layer's reordered weights per layout oneDNN asks for, so a run whose batches vary in size (short
// last batches, the true-class maps of a few images) holds the memory of its largest batch only. Everything
// else comes from cpu_ops.
#include "engine/cpu/backend.h"

#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <dnnl.hpp>
#include <unordered_map>

#include "engine/base/error.h"
#include "engine/methods/eigen_cam.h"
#include "engine/methods/faithfulness.h"
#include "engine/methods/masked_forward.h"
#include "engine/methods/method_maps.h"
#include "engine/methods/score_cam.h"
#include "engine/ops/cpu_ops.h"
#include "kernels/pool_math.h"

namespace cam {

using dnnl::memory;

namespace {

// A dense vector of `count` values of `type` (the shape of a whole tensor as one reorder sees it).
memory::desc flat(size_t count, memory::data_type type) {
  return memory::desc({static_cast<memory::dim>(count)}, type, memory::format_tag::a);
}

}  // namespace

// The oneDNN engine and stream, and each layer's weights reordered into the layouts the primitives chose:
// plans whose primitives choose the same layout share one copy.
struct CpuBackend::Dnnl {
  dnnl::engine engine{dnnl::engine::kind::cpu, 0};
  dnnl::stream stream{engine};
  std::vector<std::pair<const ConvLayer*, memory>> weights;

  // `count` values from x to y through a reorder between fp32 and bf16 (round to nearest even; bf16 to fp32
  // is exact): `plan_reorder` is the plan's, or empty to build one (for the stages kept for tests only).
  void convert(const dnnl::reorder& plan_reorder, const void* x, memory::data_type from, void* y,
               memory::data_type to, size_t count) {
    memory source(flat(count, from), engine, const_cast<void*>(x));
    memory target(flat(count, to), engine, y);
    const dnnl::reorder made = plan_reorder ? dnnl::reorder() : dnnl::reorder(source, target);
    (plan_reorder ? plan_reorder : made).execute(stream, source, target);
    stream.wait();
  }

  memory reordered(const ConvLayer& layer, memory user_weights, const memory::desc& layout) {
    for (const auto& [of, copy] : weights)
      if (of == &layer && copy.get_desc() == layout) return copy;
    memory copy(layout, engine);
    dnnl::reorder(user_weights, copy).execute(stream, user_weights, copy);
    weights.emplace_back(&layer, copy);
    return copy;
  }
};

namespace {

// Every subsample-th pixel of an NHWC tensor (n, h, w, c) into a dense (n, out_h, out_w, c); a pixel is
// pixel_bytes (c values of any type).
void subsample_nhwc(const void* in, int n, int h, int w, size_t pixel_bytes, int step, int out_h, int out_w,
                    void* out) {
  const char* from = static_cast<const char*>(in);
  char* to = static_cast<char*>(out);
  for (int b = 0; b < n; ++b)
    for (int y = 0; y < out_h; ++y)
      for (int x = 0; x < out_w; ++x)
        std::memcpy(to + ((static_cast<int64_t>(b) * out_h + y) * out_w + x) * pixel_bytes,
                    from + ((static_cast<int64_t>(b) * h + y * step) * w + x * step) * pixel_bytes,
                    pixel_bytes);
}

// Profiling laps: each call closes the interval since the previous one and appends it to `into`.
class Laps {
 public:
  void start() { last_ = std::chrono::steady_clock::now(); }
  void lap(std::vector<TimedStep>& into, const std::string& name, double flops = 0) {
    auto now = std::chrono::steady_clock::now();
    into.push_back({name, std::chrono::duration<double, std::milli>(now - last_).count(), flops});
    last_ = now;
  }

 private:
  std::chrono::steady_clock::time_point last_;
};

// The head from the last block's features in out.features (n, hw, C): average pool, the MLP layers with
// ReLU, the fc -> out.hidden, out.logits. Laps each layer into `layers` when it is not null.
void run_head(const ResNet& net, int n, int hw, std::vector<TimedStep>* layers, Laps& laps,
              ForwardResult& out) {
  const int c = net.feature_channels;
  const float* features = out.features.data();
  std::vector<float> pooled(static_cast<size_t>(n) * c);
  global_avg_pool_cpu(features, n, hw, c, pooled.data());
  if (layers) laps.lap(*layers, "avgpool");
  out.hidden.clear();
  const float* head_input = pooled.data();
  for (const Dense& d : net.hidden) {
    out.hidden.emplace_back(static_cast<size_t>(n) * d.out);
    linear_cpu(head_input, n, d.in, d.weight.data(), d.bias.data(), d.out, out.hidden.back().data());
    for (float& v : out.hidden.back()) v = v > 0.0f ? v : 0.0f;
    head_input = out.hidden.back().data();
    if (layers) laps.lap(*layers, d.name, 2.0 * n * d.in * d.out);
  }
  out.logits.resize(static_cast<size_t>(n) * net.num_classes);
  linear_cpu(head_input, n, net.head_dim(), net.fc_weight.data(), net.fc_bias.data(), net.num_classes,
             out.logits.data());
  if (layers) laps.lap(*layers, "fc", 2.0 * n * net.head_dim() * net.num_classes);
}

}  // namespace

const char* cpu_isa_name() {
  switch (dnnl::get_effective_cpu_isa()) {
    case dnnl::cpu_isa::sse41:
      return "sse41";
    case dnnl::cpu_isa::avx:
      return "avx";
    case dnnl::cpu_isa::avx2:
      return "avx2";
    case dnnl::cpu_isa::avx2_vnni:
      return "avx2_vnni";
    case dnnl::cpu_isa::avx512_core:
      return "avx512_core";
    case dnnl::cpu_isa::avx512_core_vnni:
      return "avx512_core_vnni";
    case dnnl::cpu_isa::avx512_core_bf16:
      return "avx512_core_bf16";
    case dnnl::cpu_isa::avx512_core_amx:
      return "avx512_core_amx";
#if DNNL_VERSION_MAJOR >= 3
    case dnnl::cpu_isa::avx2_vnni_2:
      return "avx2_vnni_2";
    case dnnl::cpu_isa::avx512_core_fp16:
      return "avx512_core_fp16";
    case dnnl::cpu_isa::avx512_core_amx_fp16:
      return "avx512_core_amx_fp16";
#endif
    default:
      return "other";
  }
}

// oneDNN also runs bf16 on plain AVX-512 by emulation, which is slower than fp32 there: refused instead.
// oneDNN 3's newer ISAs have bf16 instructions too (AVX2 with AVX-NE-CONVERT, AVX512-FP16, AMX-FP16).
std::string cpu_bf16_unavailable_reason() {
  const dnnl::cpu_isa isa = dnnl::get_effective_cpu_isa();
  if (isa == dnnl::cpu_isa::avx512_core_bf16 || isa == dnnl::cpu_isa::avx512_core_amx) return "";
#if DNNL_VERSION_MAJOR >= 3
  if (isa == dnnl::cpu_isa::avx2_vnni_2 || isa == dnnl::cpu_isa::avx512_core_fp16 ||
      isa == dnnl::cpu_isa::avx512_core_amx_fp16)
    return "";
#endif
  return std::string("this CPU has no bf16 instructions (oneDNN's best here: ") + cpu_isa_name() +
         "; bf16 needs AVX512-BF16, AMX, or with oneDNN 3 AVX2-VNNI-2 or AVX512-FP16)";
}

struct CpuBackend::ConvPrimitive {
  dnnl::convolution_forward primitive;
  memory weights;  // in the layout the primitive chose
  memory bias;
  memory::desc src, dst;
  int out_h = 0, out_w = 0;
  // A strided 1x1 convolution runs as a subsample into a dense buffer and a stride-1 convolution: the same
  // sums, and oneDNN 2.6's stride-2 1x1 kernels ran at a quarter of the speed of the others (24-39 against
  // 80-140 GFLOP/s, cam_bench --layers, ResNet-50 batch 16 at 100x100: 24% of the time for 3% of the FLOPs).
  int subsample = 1;
};

// bf16 only: a pool step as oneDNN's pooling (fp32 runs the cpu_ops pools, the GPU's oracle).
struct PoolPrimitive {
  dnnl::pooling_forward primitive;
  memory::desc src, dst;
};

struct CpuBackend::Plan {
  Schedule schedule;
  std::vector<ConvPrimitive> convs;  // one per schedule step (unused for the pools)
  std::vector<PoolPrimitive> pools;  // one per schedule step (bf16 pool steps only)
  // bf16 only: the conversions of the network input to bf16 and of the last block's output to fp32, built
  // with the plan so that no forward creates a primitive.
  dnnl::reorder input_to_bf16, features_to_fp32;
};

namespace {

// The stem's 3x3/2 max-pool (pad 1) or ResNet-D's 2x2/2 average pool in ceil mode (a right/bottom pad where
// the size is odd, not counted) as a bf16 oneDNN pooling.
PoolPrimitive plan_pool(const Step& step, int n, const dnnl::engine& engine) {
  PoolPrimitive p;
  p.src = memory::desc({n, step.in_channels, step.in_h, step.in_w}, memory::data_type::bf16,
                       memory::format_tag::nhwc);
  p.dst = memory::desc({n, step.out_channels, step.out_h, step.out_w}, memory::data_type::bf16,
                       memory::format_tag::nhwc);
  const bool max = step.kind == Step::Kind::kMaxPool;
  const int avg = kAvgDownWindow;
  const memory::dims window = max ? memory::dims{kMaxPoolWindow, kMaxPoolWindow} : memory::dims{avg, avg},
                     stride = max ? memory::dims{kMaxPoolStride, kMaxPoolStride} : memory::dims{avg, avg},
                     pad_l = max ? memory::dims{kMaxPoolPad, kMaxPoolPad} : memory::dims{0, 0},
                     pad_r = max ? pad_l : memory::dims{step.in_h % 2, step.in_w % 2};
  const dnnl::algorithm kind =
      max ? dnnl::algorithm::pooling_max : dnnl::algorithm::pooling_avg_exclude_padding;
#if DNNL_VERSION_MAJOR >= 3
  p.primitive = dnnl::pooling_forward(
      dnnl::pooling_forward::primitive_desc(engine, dnnl::prop_kind::forward_inference, kind, p.src, p.dst,
                                            stride, window, memory::dims{0, 0}, pad_l, pad_r));
#else
  dnnl::pooling_forward::desc desc(dnnl::prop_kind::forward_inference, kind, p.src, p.dst, stride, window,
                                   pad_l, pad_r);
  p.primitive = dnnl::pooling_forward(dnnl::pooling_forward::primitive_desc(desc, engine));
#endif
  return p;
}

}  // namespace

CpuBackend::CpuBackend(const ResNet& net, int threads, Precision precision, bool fuse_epilogue)
    : net_(net),
      fuse_epilogue_(fuse_epilogue),
      bf16_(precision == Precision::kBf16),
      activation_bytes_(bf16_ ? 2 : 4),
      dnnl_(new Dnnl) {
  if (precision != Precision::kFp32 && precision != Precision::kBf16)
    throw Error(std::string("the CPU backend computes in fp32 or bf16 (asked for ") + name_of(precision) +
                ")");
  if (bf16_) {
    const std::string why = cpu_bf16_unavailable_reason();
    if (!why.empty()) throw Error("bf16 on the CPU backend: " + why);
    if (!fuse_epilogue) throw Error("bf16 on the CPU backend runs with the fused epilogue only");
  }
  if (threads > 0) omp_set_num_threads(threads);
}

CpuBackend::~CpuBackend() = default;

// The oneDNN primitive of one conv step: the BN shift as bias and, fused, the shortcut as a binary add and
// ReLU as post-ops; the projection shortcut's stride as a subsample (ConvPrimitive::subsample).
CpuBackend::ConvPrimitive CpuBackend::plan_conv(const Step& step, int n) const {
  const ConvLayer& c = *step.conv;
  ConvPrimitive s;
  s.out_h = step.out_h;
  s.out_w = step.out_w;
  s.subsample = step.shortcut && c.kernel == 1 && c.pad == 0 ? c.stride : 1;
  const int src_h = s.subsample > 1 ? s.out_h : step.in_h, src_w = s.subsample > 1 ? s.out_w : step.in_w;
  const memory::data_type type = bf16_ ? memory::data_type::bf16 : memory::data_type::f32;
  s.src = memory::desc({n, c.in_channels, src_h, src_w}, type, memory::format_tag::nhwc);
  s.dst = memory::desc({n, c.out_channels, s.out_h, s.out_w}, type, memory::format_tag::nhwc);
  // Grouped (ResNeXt): oneDNN's weights are (groups, Cout/groups, Cin/groups, K, K), ours the same as gohwi.
  const memory::dims weight_dims =
      c.groups > 1 ? memory::dims{c.groups, c.out_channels / c.groups, c.group_channels(), c.kernel, c.kernel}
                   : memory::dims{c.out_channels, c.in_channels, c.kernel, c.kernel};
  memory::desc any_weights(weight_dims, type, memory::format_tag::any);
  memory::desc bias_md({c.out_channels}, memory::data_type::f32, memory::format_tag::a);
  dnnl::primitive_attr attr;
  if (fuse_epilogue_) {
    dnnl::post_ops ops;
    if (step.residual != Step::kNone) ops.append_sum(1.0f);
#if DNNL_VERSION_MAJOR >= 3
    if (step.relu) ops.append_eltwise(dnnl::algorithm::eltwise_relu, 0.0f, 0.0f);
#else
    if (step.relu) ops.append_eltwise(1.0f, dnnl::algorithm::eltwise_relu, 0.0f, 0.0f);
#endif
    attr.set_post_ops(ops);
  }
  const int stride_used = s.subsample > 1 ? 1 : c.stride;
  // oneDNN counts dilation as the gap between taps: 0 for a plain convolution.
  memory::dims stride{stride_used, stride_used}, gap{c.dilation - 1, c.dilation - 1}, pad{c.pad, c.pad};
  // Unfused, the shift is added by cpu_ops after the convolution: no bias here.
  const memory::desc no_bias;
  const memory::desc& bias_used = fuse_epilogue_ ? bias_md : no_bias;
  const auto forward = dnnl::prop_kind::forward_inference;
  const auto direct = dnnl::algorithm::convolution_direct;
#if DNNL_VERSION_MAJOR >= 3
  dnnl::convolution_forward::primitive_desc pd(dnnl_->engine, forward, direct, s.src, any_weights, bias_used,
                                               s.dst, stride, gap, pad, pad, attr);
#else
  dnnl::convolution_forward::primitive_desc pd(
      dnnl::convolution_forward::desc(forward, direct, s.src, any_weights, bias_used, s.dst, stride, gap, pad,
                                      pad),
      attr, dnnl_->engine);
#endif
  s.primitive = dnnl::convolution_forward(pd);
  memory user_weights({weight_dims, memory::data_type::f32,
                       c.groups > 1 ? memory::format_tag::gohwi : memory::format_tag::ohwi},
                      dnnl_->engine, const_cast<float*>(c.weight.data()));
  s.weights = dnnl_->reordered(c, user_weights, pd.weights_desc());
  s.bias = memory(bias_md, dnnl_->engine, const_cast<float*>(c.shift.data()));
  return s;
}

CpuBackend::Plan& CpuBackend::plan_for(int n, int h, int w) {
  auto key = std::make_tuple(n, h, w);
  auto found = plans_.find(key);
  if (found != plans_.end()) return *found->second;
  auto plan = std::make_unique<Plan>();
  plan->schedule = net_.schedule(h, w);
  for (const Step& step : plan->schedule.steps) {
    const bool conv = step.kind == Step::Kind::kConv;
    plan->convs.push_back(conv ? plan_conv(step, n) : ConvPrimitive());
    plan->pools.push_back(!conv && bf16_ ? plan_pool(step, n, dnnl_->engine) : PoolPrimitive());
  }
  if (bf16_) {
    const size_t inputs = static_cast<size_t>(n) * h * w * 3,
                 features = static_cast<size_t>(n) * plan->schedule.feature_h * plan->schedule.feature_w *
                            net_.feature_channels;
    plan->input_to_bf16 =
        dnnl::reorder(dnnl::reorder::primitive_desc(dnnl_->engine, flat(inputs, memory::data_type::f32),
                                                    dnnl_->engine, flat(inputs, memory::data_type::bf16)));
    plan->features_to_fp32 =
        dnnl::reorder(dnnl::reorder::primitive_desc(dnnl_->engine, flat(features, memory::data_type::bf16),
                                                    dnnl_->engine, flat(features, memory::data_type::f32)));
  }
  dnnl_->stream.wait();
  // In floats: a bf16 arena holds two values per float.
  const size_t floats = (static_cast<size_t>(n) * plan->schedule.largest * activation_bytes_ + 3) / 4;
  if (floats > buffers_[0].size())
    for (auto& buffer : buffers_)
      buffer = std::vector<float>(floats);  // no copy: contents are dead between forwards
  const size_t input_floats = bf16_ ? (static_cast<size_t>(n) * h * w * 3 + 1) / 2 : 0;
  if (input_floats > input_.size()) input_ = std::vector<float>(input_floats);
  return *plans_.emplace(key, std::move(plan)).first->second;
}

// y = act(conv(x) + shift [+ residual]) of one step. Fused: one oneDNN primitive whose sum post-op adds what
// y holds, so with a residual y must be the residual's buffer (the caller accumulates in place); otherwise
// the plain conv into y and the shared bn_act math in place on y. A subsampled input goes to free_buffer.
void CpuBackend::run_conv(const Step& step, const ConvPrimitive& s, int n, const void* x, void* y,
                          const void* residual, void* free_buffer) {
  const ConvLayer& c = *step.conv;
  if (s.subsample > 1) {
    subsample_nhwc(x, n, step.in_h, step.in_w, c.in_channels * activation_bytes_, s.subsample, s.out_h,
                   s.out_w, free_buffer);
    x = free_buffer;
  }
  memory src_mem(s.src, dnnl_->engine, const_cast<void*>(x));
  memory dst_mem(s.dst, dnnl_->engine, y);
  std::unordered_map<int, memory> args{
      {DNNL_ARG_SRC, src_mem}, {DNNL_ARG_WEIGHTS, s.weights}, {DNNL_ARG_DST, dst_mem}};
  if (fuse_epilogue_) args[DNNL_ARG_BIAS] = s.bias;
  s.primitive.execute(dnnl_->stream, args);
  dnnl_->stream.wait();
  if (!fuse_epilogue_)
    bn_act_cpu(static_cast<float*>(y), c.shift.data(), static_cast<const float*>(residual), step.relu,
               static_cast<int64_t>(n) * s.out_h * s.out_w, c.out_channels, static_cast<float*>(y));
}

void CpuBackend::forward(const float* input, int n, int h, int w, bool keep_stages, ForwardResult& out) {
  Plan& plan = plan_for(n, h, w);
  Laps laps;
  layers_.clear();
  laps.start();
  const void* network_input = input;
  if (bf16_) {
    dnnl_->convert(plan.input_to_bf16, input, memory::data_type::f32, input_.data(), memory::data_type::bf16,
                   static_cast<size_t>(n) * h * w * 3);
    network_input = input_.data();
  }
  // Schedule buffer -> plan buffer. A fused residual step accumulates in place into its residual's buffer
  // (oneDNN's sum post-op), which the schedule leaves dead after the step; that buffer then becomes the
  // step's output and the output's buffer takes its place.
  int physical[Schedule::kBuffers];
  for (int b = 0; b < Schedule::kBuffers; ++b) physical[b] = b;
  auto buffer = [&](int index) -> void* {
    return index == Step::kNetworkInput ? const_cast<void*>(network_input)
           : index == Step::kNone       ? nullptr
                                        : buffers_[physical[index]].data();
  };
  out.stages.clear();
  for (size_t i = 0; i < plan.schedule.steps.size(); ++i) {
    const Step& step = plan.schedule.steps[i];
    if (step.kind != Step::Kind::kConv) {
      const bool max = step.kind == Step::Kind::kMaxPool;
      if (bf16_) {
        const PoolPrimitive& pool = plan.pools[i];
        pool.primitive.execute(dnnl_->stream,
                               {{DNNL_ARG_SRC, memory(pool.src, dnnl_->engine, buffer(step.input))},
                                {DNNL_ARG_DST, memory(pool.dst, dnnl_->engine, buffer(step.output))}});
        dnnl_->stream.wait();
      } else {
        const float* x = static_cast<const float*>(buffer(step.input));
        float* y = static_cast<float*>(buffer(step.output));
        (max ? max_pool_cpu : avg_down_pool_cpu)(x, n, step.in_h, step.in_w, step.in_channels, y);
      }
      if (profile_layers_) laps.lap(layers_, max ? "maxpool" : "avgpool (shortcut)");
    } else {
      const bool in_place = fuse_epilogue_ && step.residual != Step::kNone;
      run_conv(step, plan.convs[i], n, buffer(step.input), buffer(in_place ? step.residual : step.output),
               buffer(step.residual), buffer(step.free));
      if (in_place) std::swap(physical[step.output], physical[step.residual]);
      if (profile_layers_) laps.lap(layers_, step.conv->name, 2.0 * n * step.macs());
    }
    if (keep_stages && step.stage_output) {
      const size_t count = static_cast<size_t>(n) * step.out_h * step.out_w * step.out_channels;
      const float* x = static_cast<const float*>(buffer(step.output));
      if (bf16_) {
        out.stages.emplace_back(count);
        dnnl_->convert(dnnl::reorder(), x, memory::data_type::bf16, out.stages.back().data(),
                       memory::data_type::f32, count);
      } else {
        out.stages.emplace_back(x, x + count);
      }
    }
  }
  const Schedule& schedule = plan.schedule;
  const int c = net_.feature_channels, hw = schedule.feature_h * schedule.feature_w;
  out.feature_h = schedule.feature_h;
  out.feature_w = schedule.feature_w;
  const float* features = static_cast<const float*>(buffer(schedule.features));
  if (bf16_) {
    out.features.resize(static_cast<size_t>(n) * hw * c);
    dnnl_->convert(plan.features_to_fp32, features, memory::data_type::bf16, out.features.data(),
                   memory::data_type::f32, out.features.size());
  } else {
    out.features.assign(features, features + static_cast<size_t>(n) * hw * c);
  }
  run_head(net_, n, hw, profile_layers_ ? &layers_ : nullptr, laps, out);
}

// Images are independent outside the forward, so preprocessing, maps and overlays run one image per thread;
// each image's numbers do not depend on the thread count or the batch.
void CpuBackend::run(const BatchRequest& request, std::vector<ImageResult>& results) {
  check_backend_methods(request.methods);
  const Preprocess& pre = net_.preprocess;
  const int n = static_cast<int>(request.images.size()), h = pre.height, w = pre.width,
            classes = net_.num_classes;
  const size_t input_pixels = static_cast<size_t>(h) * w;
  Laps laps;
  phases_.clear();
  laps.start();
  std::vector<float> input(n * input_pixels * 3);
  preprocess_images_cpu(request.images, pre, input.data());
  if (profile_phases_) laps.lap(phases_, "preprocess");
  ForwardResult fwd;
  forward(input.data(), n, h, w, false, fwd);
  if (profile_phases_) laps.lap(phases_, "forward");
  results.assign(n, ImageResult());
#pragma omp parallel for schedule(static)
  for (int i = 0; i < n; ++i)
    results[i] = ranked_result(&fwd.logits[static_cast<size_t>(i) * classes], classes, request.topk);
  method_maps(net_, *this, fwd, request, {}, results);
  if (profile_phases_) laps.lap(phases_, "cam");
  if (!request.overlays) return;
  add_overlays(request, pre, results);
  if (profile_phases_) laps.lap(phases_, "overlay");
}

void CpuBackend::perturbed_logits(const PerturbedJobs& p, const TakeLogits& take) {
  perturbed_forward(
      *this, p.h, p.w, p.classes, static_cast<int>(p.jobs.size()), p.batch,
      [&](int j, float* out) { perturbed_input(p, p.jobs[j], out); }, take);
}

void CpuBackend::eigen_projections(const float* features, int n, int hw, int c, float* out) {
#pragma omp parallel for schedule(dynamic)
  for (int i = 0; i < n; ++i)
    eigen_projection(features + static_cast<size_t>(i) * hw * c, hw, c, out + static_cast<size_t>(i) * hw);
}

void CpuBackend::score_cam_logits(const ScoreCamJobs& s, const TakeLogits& take) {
  const size_t input_size = static_cast<size_t>(s.h) * s.w * 3,
               feature_size = static_cast<size_t>(s.fh) * s.fw * s.c;
  perturbed_forward(
      *this, s.h, s.w, s.classes, static_cast<int>(s.jobs.size()), s.batch,
      [&](int j, float* out) {
        const auto [image, channel] = s.jobs[j];
        score_cam_input(s.inputs + image * input_size, s.h, s.w, s.features + image * feature_size, s.fh,
                        s.fw, s.c, channel, out);
      },
      take);
}

}  // namespace cam
