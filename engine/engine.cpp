// Engine: loads the weights, picks the backend, validates per-call options.
#include "engine/engine.h"

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <iterator>

#ifdef __GLIBC__
#include <malloc.h>
#endif

#include "engine/base/error.h"
#include "engine/base/suggest.h"
#include "engine/cpu/backend.h"
#include "engine/io/atomic_file.h"
#include "engine/io/safetensors.h"
#include "engine/methods/method_maps.h"
#include "engine/model/backend.h"
#include "engine/ops/cpu_ops.h"
#include "kernels/colormap_table.h"
#ifdef CAM_WITH_CUDA
#include "engine/cuda/backend.h"
#endif

namespace cam {
namespace {

std::unique_ptr<Backend> make_backend(const ResNet& net, const EngineOptions& o) {
  if (o.backend != BackendKind::kCpu) {
#ifdef CAM_WITH_CUDA
    std::string why = cuda_unavailable_reason(o.cuda.device);
    if (why.empty()) return make_cuda_backend(net, o.precision, o.cuda, o.verbose);
#else
    std::string why = "this build has no CUDA backend (configured with CAM_WITH_CUDA=OFF or no CUDA toolkit)";
#endif
    if (o.backend == BackendKind::kCuda) throw Error("CUDA backend requested but unavailable: " + why);
#ifdef CAM_WITH_CUDA
    // Said only where a GPU driver is loaded (a GPU that cannot be used is news) or when asked: a machine
    // without GPUs running on its CPU is the normal case.
    const bool driver_loaded = std::ifstream("/proc/driver/nvidia/version").good();
    if (!o.quiet && (o.verbose || driver_loaded))
      std::fprintf(stderr, "cam_engine: no usable GPU (%s); running on the CPU\n", why.c_str());
#endif
  }
  return std::make_unique<CpuBackend>(net, o.threads, o.precision);
}

}  // namespace

std::string cuda_device_summary(int device) {
#ifdef CAM_WITH_CUDA
  const std::string why = cuda_unavailable_reason(device);
  return why.empty() ? cuda_device_description(device) : "no usable CUDA device: " + why;
#else
  (void)device;
  return "this build has no CUDA backend";
#endif
}

namespace {

// glibc raises its mmap threshold each time a large block is freed, so the per-batch images and maps
// (hundreds of KiB to tens of MiB) move into the heap arenas of the worker threads, where they fragment: the
// resident size then creeps up with the number of batches (+20 MB from 258 to 2,580 photos) while the live
// heap stays flat. A fixed threshold keeps every block above 256 KiB in its own mapping, given back to the
// system when freed. This is a hint to the allocator, not a requirement: the sanitizers' allocators ignore it
// (their mallopt returns 0), and then memory is only less flat, so its result is not reported.
void keep_large_blocks_mapped() {
#ifdef __GLIBC__
  constexpr int kMmapThreshold = 256 * 1024;
  mallopt(M_MMAP_THRESHOLD, kMmapThreshold);
#endif
}

// The network a load gives, its cam::Error as a WeightsError.
template <typename Load>
ResNet load_weights(const Load& load) {
  try {
    return load();
  } catch (const Error& e) {
    throw WeightsError(e.what());
  }
}

// The network as the options shape it: another input size, another resize or crop.
ResNet with_options(ResNet net, const EngineOptions& options) {
  keep_large_blocks_mapped();
  if (options.input_height || options.input_width) {
    if (options.input_height < 8 || options.input_width < 8 || options.input_height > 4096 ||
        options.input_width > 4096)
      throw Error("input size must be within 8..4096 on each side");
    net.preprocess.height = options.input_height;
    net.preprocess.width = options.input_width;
  }
  if (options.resize) net.preprocess.resize = *options.resize;
  if (options.resize_shorter) net.preprocess.resize_shorter = *options.resize_shorter;
  if (options.jpeg_idct) net.preprocess.jpeg_idct = *options.jpeg_idct;
  const Preprocess& p = net.preprocess;
  if (p.resize_shorter && (p.resize_shorter < std::max(p.height, p.width) || p.resize_shorter > 16384))
    throw Error("resize-shorter " + std::to_string(p.resize_shorter) + " must be within " +
                std::to_string(std::max(p.height, p.width)) + "..16384: the centre crop is the input, " +
                std::to_string(p.width) + "x" + std::to_string(p.height) +
                ", and lies within the resized photo");
  return net;
}

}  // namespace

Engine::Engine(const std::string& weights_path, const EngineOptions& options)
    : Engine(with_options(load_weights([&] { return ResNet::load(weights_path); }), options), options) {}

Engine::Engine(const std::string& name, std::vector<uint8_t> weights, const EngineOptions& options)
    : Engine(with_options(load_weights([&] { return ResNet::from(SafeTensors(name, std::move(weights))); }),
                          options),
             options) {}

Engine::Engine(ResNet net, const EngineOptions& options)
    : net_(std::move(net)), backend_(make_backend(net_, options)), tuning_file_(options.tuning_file) {
  if (tuning_file_.empty()) return;
  std::ifstream in(tuning_file_, std::ios::binary);
  if (!in) return;  // written after the first batch
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  try {
    backend_->set_tuning(text);
  } catch (const Error& e) {
    throw Error(tuning_file_ + ": " + e.what());
  }
  saved_tuning_ = backend_->tuning();
}

void Engine::save_tuning() {
  if (tuning_file_.empty()) return;
  std::string tuning = backend_->tuning();
  if (tuning.empty() || tuning == saved_tuning_) return;
  write_file_atomically(tuning_file_, tuning, nullptr, 0);
  saved_tuning_ = tuning;
}

Engine::~Engine() = default;

std::string Engine::backend_name() const {
  return backend_->name();
}
void Engine::set_profiling(bool phases, bool layers) {
  backend_->set_profiling(phases, layers);
}
const std::vector<TimedStep>& Engine::last_phases() const {
  return backend_->last_phases();
}
const std::vector<TimedStep>& Engine::last_layers() const {
  return backend_->last_layers();
}
std::string Engine::tuning() const {
  return backend_->tuning();
}

namespace {

std::string lowercase(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

}  // namespace

int Engine::class_index(const std::string& name_or_index) const {
  for (int k = 0; k < net_.num_classes; ++k)
    if (net_.labels[k] == name_or_index) return k;
  if (!name_or_index.empty() && name_or_index.find_first_not_of("0123456789") == std::string::npos &&
      name_or_index.size() < 9) {
    int k = std::stoi(name_or_index);
    if (k < net_.num_classes) return k;
  }
  const std::string wanted = lowercase(name_or_index);
  std::vector<int> same_but_case;
  for (int k = 0; k < net_.num_classes; ++k)
    if (lowercase(net_.labels[k]) == wanted) same_but_case.push_back(k);
  if (same_but_case.size() == 1) return same_but_case[0];
  std::vector<std::string> lowered;
  for (const std::string& label : net_.labels) lowered.push_back(lowercase(label));
  std::string hint;
  for (size_t k : nearest_names(wanted, lowered, 3))
    hint += (hint.empty() ? "'" : ", '") + net_.labels[k] + "'";
  throw Error("unknown class '" + name_or_index + "' (not a label of this model nor an index below " +
              std::to_string(net_.num_classes) + "); nearest labels: " + hint +
              " (cam_engine --info MODEL lists them all)");
}

std::vector<ImageResult> Engine::run(const std::vector<Image>& images, const MapOptions& options) {
  std::vector<const Image*> pointers;
  for (const Image& img : images) pointers.push_back(&img);
  return run(pointers, options);
}

std::vector<ImageResult> Engine::run(const std::vector<const Image*>& images, const MapOptions& options) {
  return collect(submit(images, options));
}

std::vector<ImageResult> Engine::run_inputs(const float* inputs, int n, const MapOptions& options) {
  check(options);
  if (options.overlays) throw Error("overlays need images: network inputs have none to blend over");
  std::vector<ImageResult> results;
  if (n > 0) results = run_methods_on_inputs(net_, *backend_, inputs, n, options);
  finish_ranking(results, options);
  return results;
}

void Engine::check(const MapOptions& options) const {
  if (options.topk < 0 || options.topk > net_.num_classes)
    throw Error("topk " + std::to_string(options.topk) + " out of range 0.." +
                std::to_string(net_.num_classes));
  for (int c : options.classes)
    if (c < 0 || c >= net_.num_classes) throw Error("class index " + std::to_string(c) + " out of range");
  if (!(options.image_weight >= 0.0f && options.image_weight <= 1.0f))
    throw Error("image weight must be within [0, 1]");
  if (options.colormap < 0 || options.colormap >= kColormapCount) throw Error("colormap index out of range");
  if (options.methods.empty()) throw Error("no map method given");
  for (size_t m = 0; m < options.methods.size(); ++m)
    if (std::count(options.methods.begin(), options.methods.begin() + m, options.methods[m]))
      throw Error(std::string("method '") + name_of(options.methods[m]) + "' given twice");
  if (options.scorecam_channels < 0 || options.scorecam_channels > net_.feature_channels)
    throw Error("Score-CAM channels " + std::to_string(options.scorecam_channels) + " out of range 0.." +
                std::to_string(net_.feature_channels));
  if (options.metric_steps < 1 || options.metric_steps > net_.preprocess.height * net_.preprocess.width)
    throw Error("metric steps must be within 1..H*W of the input");
  if (options.perturbed_batch < 1 || options.perturbed_batch > 4096)
    throw Error("perturbed batch must be within 1..4096");
}

uint64_t Engine::submit(const std::vector<const Image*>& images, const MapOptions& options) {
  check(options);
  if (submitted_.size() >= static_cast<size_t>(Backend::kMaxInFlight))
    throw Error("submit: " + std::to_string(Backend::kMaxInFlight) + " batches in flight; collect one first");
  Submitted s;
  s.options = options;
  // Every method but Score-CAM runs on the backend's own path (CUDA: on the device, batches overlapped);
  // Score-CAM and the metrics, which need masked forwards, through run_methods
  // (engine/methods/method_maps.h), here and now.
  const bool backend_maps =
      !options.metrics && !std::count(options.methods.begin(), options.methods.end(), CamMethod::kScoreCam);
  if (!images.empty() && !backend_maps) {
    s.results = run_methods(net_, *backend_, images, options);
  } else if (!images.empty()) {
    s.backend_ticket = backend_->submit(batch_request(images, options));
    s.on_backend = true;
  }
  submitted_.emplace(next_ticket_, std::move(s));
  return next_ticket_++;
}

std::vector<ImageResult> Engine::collect(uint64_t ticket) {
  auto it = submitted_.find(ticket);
  if (it == submitted_.end())
    throw Error("collect: no batch was submitted with ticket " + std::to_string(ticket));
  Submitted s = std::move(it->second);
  submitted_.erase(it);
  if (s.on_backend) backend_->collect(s.backend_ticket, s.results);
  finish_ranking(s.results, s.options);
  return std::move(s.results);
}

// The ranking by logit, longer than the mapped top-k when asked; its first k entries are the top-k the maps
// were made for (the same order: logit descending, ties to the lower index).
void Engine::finish_ranking(std::vector<ImageResult>& results, const MapOptions& options) {
  const int ranked = std::min(net_.num_classes, std::max(options.topk, options.predictions));
  for (ImageResult& r : results) r.top = topk_cpu(r.logits.data(), net_.num_classes, ranked);
  save_tuning();
}

}  // namespace cam
