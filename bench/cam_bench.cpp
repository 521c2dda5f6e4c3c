// cam_bench: throughput and latency of the engine per (batch, input size) on the CPU or CUDA backend.
//
// Rows, each timed over --reps repetitions after --warmup runs (median and p90 per batch):
//   cam       decoded uint8 images in -> preprocess, forward, top-k, CAM + upsample -> maps on the host
//   +overlay  the same with the colormap blend at the original size, overlays on the host
//   e2e       (--e2e) the CLI's pipeline (engine/pipeline.h) over JPEG files: decode on the I/O threads ->
//             engine with overlays -> PNG overlay files written (to a temporary folder) on the I/O threads;
//             the time per batch is the run's wall time over its batches, with a line of core-ms per image
//   METHOD    (--methods gradcam++,scorecam,...) that method's top-k maps, no overlays
//   metrics   (--metrics) CAM's maps and their insertion/deletion AUC (--metric-steps) and Average Drop
// Images: random ones at the input size (their JPEGs, quality 90, for e2e), or with --photos LIST the photos
// of a list file or folder (as cam_engine reads them) at their own size, cycled through batch after batch.
// The clock is the host's steady clock around Engine::run, which returns only when everything is on the host,
// so GPU rows include the uint8 upload and the download. --split then times the phases of a batch (upload,
// preprocess, forward, cam, overlay, download; CUDA events on the GPU, eager launches), and --layers each
// layer of the forward, as separate lines. GFLOP/s counts the convolutions and FC of the forward only; the
// %peak column compares it with the device's dense peak for the precision (known GPUs, a CPU estimate, or
// --peak-gflops). A row whose p90 is over 1.5x its median is marked UNSTEADY, and a CPU run started while
// other work keeps busy more cores than it leaves free warns in its header: such figures are not comparable.
//
//   cam_bench --weights r50.safetensors --backend cpu --batch 1,16 --size 224,100 [--split] [--layers]
//   [--e2e] [--photos LIST]
#include <omp.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <dnnl.hpp>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>
#include <thread>

#include "cli/inputs.h"
#include "engine/base/error.h"
#include "engine/cpu/backend.h"
#include "engine/engine.h"
#include "engine/io/image_io.h"
#include "engine/pipeline.h"

namespace {

using Clock = std::chrono::steady_clock;

struct Options {
  std::string weights, json_path, photos;
  cam::BackendKind backend = cam::BackendKind::kCpu;
  cam::Precision precision = cam::Precision::kFp32;
  cam::ConvFusion conv_fusion = cam::ConvFusion::kAuto;
  std::vector<int> batches = {1, 16}, sizes = {224, 100};
  int reps = 10, warmup = 2, threads = 0, topk = 1;
  int io_threads = 0;                                              // e2e: 0 is the CLI's default
  bool split = false, layers = false, e2e = false, eager = false;  // eager: CUDA without graphs
  std::vector<cam::CamMethod> methods;  // --methods: a row of maps per method (no overlays)
  int scorecam_channels = 0;
  int perturbed_batch = 0;  // --perturbed-batch: masked/perturbed inputs per forward (0: the batch)
  bool metrics = false;     // --metrics: a row of CAM maps with their faithfulness metrics
  int metric_steps = 20;
  double peak_gflops = 0;
};

std::vector<int> int_list(const std::string& s) {
  std::vector<int> v;
  std::stringstream ss(s);
  for (std::string item; std::getline(ss, item, ',');) v.push_back(std::stoi(item));
  return v;
}

std::string cpuinfo_field(const std::string& key) {
  std::ifstream in("/proc/cpuinfo");
  for (std::string line; std::getline(in, line);)
    if (line.rfind(key, 0) == 0) return line.substr(line.find(':') + 2);
  return "";
}

// Dense peak estimate of `threads` cores at the clock /proc/cpuinfo reports: 64 FLOP/cycle with AVX-512
// (two 512-bit FMA pipes), 32 with AVX2 + FMA (two 256-bit pipes). Zen 4 runs AVX-512 on 256-bit pipes (half
// that) and turbo clocks exceed the reported one: pass --peak-gflops for a number you trust.
// bf16: AVX512-BF16's dot product does twice the FLOPs of an fp32 FMA per instruction; AMX-BF16, 1024 FLOP
// per cycle per core (a 16x16x32 tile product per 16 cycles).
double cpu_peak_gflops(int threads, cam::Precision precision) {
  const std::string flags = " " + cpuinfo_field("flags") + " ";
  auto has = [&](const char* flag) { return flags.find(std::string(" ") + flag + " ") != std::string::npos; };
  double per_cycle = has("avx512f") ? 64 : has("avx2") && has("fma") ? 32 : 0;
  if (precision == cam::Precision::kBf16) per_cycle = has("amx_bf16") ? 1024 : has("avx512_bf16") ? 128 : 0;
  return threads * std::atof(cpuinfo_field("cpu MHz").c_str()) / 1e3 * per_cycle;
}

// Dense tensor/CUDA-core peaks from the vendors' data sheets, in GFLOP/s; 0 when the card is not listed.
double gpu_peak_gflops(const std::string& description, cam::Precision precision) {
  struct Card {
    const char* name;
    const char* not_name;
    double fp32, tf32, half;
  };
  static const Card cards[] = {{"H200", "", 66900, 494700, 989400},
                               {"H100", "PCIe", 66900, 494700, 989400},  // SXM5
                               {"H100 PCIe", "", 51200, 378000, 756000},
                               {"A100", "", 19500, 156000, 312000}};
  for (const Card& c : cards)
    if (description.find(c.name) != std::string::npos &&
        (!*c.not_name || description.find(c.not_name) == std::string::npos))
      return precision == cam::Precision::kFp32   ? c.fp32
             : precision == cam::Precision::kTf32 ? c.tf32
                                                  : c.half;
  return 0;
}

constexpr double kUnsteadyRatio = 1.5;  // p90 / median above this: the row is marked UNSTEADY

// The cores other work keeps busy, measured over half a second while this process idles (/proc/stat: busy
// and stolen time of all CPUs): above the cores this run leaves free, other processes compete for the cores
// and every row is slower by an unknown amount: the warning, or empty. (The load average would count the
// previous benchmark of a back-to-back series as competition for a minute after it ended.)
std::string load_warning(int threads) {
  auto sample = [](double& busy, double& total) {
    std::ifstream stat("/proc/stat");
    std::string cpu;
    double user, nice, system, idle, iowait, irq, softirq, steal;
    if (!(stat >> cpu >> user >> nice >> system >> idle >> iowait >> irq >> softirq >> steal) || cpu != "cpu")
      return false;
    busy = user + nice + system + irq + softirq + steal;
    total = busy + idle + iowait;
    return true;
  };
  double busy0, total0, busy1, total1;
  if (!sample(busy0, total0)) return "";
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  if (!sample(busy1, total1) || total1 <= total0) return "";
  const long cores = sysconf(_SC_NPROCESSORS_ONLN);
  const double busy_cores = cores * (busy1 - busy0) / (total1 - total0);
  if (busy_cores <= static_cast<double>(cores - threads) + 0.5) return "";
  char text[256];
  std::snprintf(
      text, sizeof text,
      "other work kept %.1f of %ld cores busy (or stolen by the hypervisor) with %d benchmark threads: these "
      "figures are not comparable with others; rerun on an idle machine",
      busy_cores, cores, threads);
  return text;
}

double percentile(std::vector<double> v, double q) {
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(q * (v.size() - 1) + 0.5))];
}

double ms_since(Clock::time_point t) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t).count();
}

const char* kUsage =
    "usage: cam_bench --weights FILE [--backend cpu|cuda] [--precision P] [--batch 1,16] [--size 224,100]\n"
    "                 [--reps N] [--warmup N] [--threads N] [--topk K] [--split] [--layers] [--e2e]\n"
    "                 [--photos LIST] [--io-threads N] [--methods M,M...] [--scorecam-channels N]\n"
    "                 [--metrics] [--metric-steps N] [--perturbed-batch N]\n"
    "                 [--conv-fusion auto|off|on|graph] [--eager] [--peak-gflops G] [--json "
    "FILE]\n"
    "Times the engine (preprocess + forward + top-k CAM + upsample, maps back on the host) per batch and "
    "size;\n"
    "--split per phase, --layers per layer, --e2e the CLI's pipeline from JPEG files to PNG overlay files;\n"
    "--photos: a list file or folder of images to run instead of random ones.\n";

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) throw cam::Error(a + " needs a value");
      return argv[++i];
    };
    if (a == "--weights")
      o.weights = value();
    else if (a == "--backend")
      o.backend = cam::parse_backend(value());
    else if (a == "--precision")
      o.precision = cam::parse_precision(value());
    else if (a == "--batch")
      o.batches = int_list(value());
    else if (a == "--size")
      o.sizes = int_list(value());
    else if (a == "--reps")
      o.reps = std::stoi(value());
    else if (a == "--warmup")
      o.warmup = std::stoi(value());
    else if (a == "--threads")
      o.threads = std::stoi(value());
    else if (a == "--topk")
      o.topk = std::stoi(value());
    else if (a == "--json")
      o.json_path = value();
    else if (a == "--conv-fusion")
      o.conv_fusion = cam::parse_conv_fusion(value());
    else if (a == "--eager")
      o.eager = true;
    else if (a == "--peak-gflops")
      o.peak_gflops = std::stod(value());
    else if (a == "--split")
      o.split = true;
    else if (a == "--layers")
      o.layers = true;
    else if (a == "--e2e")
      o.e2e = true;
    else if (a == "--photos")
      o.photos = value();
    else if (a == "--methods") {
      std::stringstream ss(value());
      for (std::string item; std::getline(ss, item, ',');) o.methods.push_back(cam::parse_cam_method(item));
    } else if (a == "--scorecam-channels")
      o.scorecam_channels = std::stoi(value());
    else if (a == "--perturbed-batch")
      o.perturbed_batch = std::stoi(value());
    else if (a == "--metrics")
      o.metrics = true;
    else if (a == "--metric-steps")
      o.metric_steps = std::stoi(value());
    else if (a == "--io-threads")
      o.io_threads = std::stoi(value());
    else if (a == "--help" || a == "-h")
      std::fputs(kUsage, stdout), std::exit(0);
    else
      throw cam::Error("unknown option " + a + "\n" + kUsage);
  }
  if (o.weights.empty()) throw cam::Error("--weights is required");
  if (o.reps < 1 || o.warmup < 0) throw cam::Error("--reps must be >= 1 and --warmup >= 0");
  return o;
}

// Median over repetitions of each named step (phases or layers keep their order from the first repetition).
std::vector<cam::TimedStep> median_steps(const std::vector<std::vector<cam::TimedStep>>& runs) {
  std::vector<cam::TimedStep> out;
  if (runs.empty()) return out;
  for (size_t s = 0; s < runs[0].size(); ++s) {
    std::vector<double> ms;
    for (const auto& run : runs) ms.push_back(run[s].ms);
    out.push_back({runs[0][s].name, percentile(ms, 0.5), runs[0][s].flops});
  }
  return out;
}

class Bench {
 public:
  Bench(const Options& o, double peak) : o_(o), peak_(peak) {}

  void row(const std::string& what, int batch, int size, double flops_per_image,
           const std::vector<double>& ms) {
    const double median = percentile(ms, 0.5), p90 = percentile(ms, 0.9);
    const double ips = batch / (median / 1e3), gflops = flops_per_image * ips / 1e9;
    std::string peak = peak_ > 0 ? std::to_string(static_cast<int>(100 * gflops / peak_ + 0.5)) + "%" : "-";
    // A p90 far above the median means other work took the cores during some repetitions: the median may
    // still be fair, but the row cannot be trusted beside others.
    const bool unsteady = p90 > kUnsteadyRatio * median;
    unsteady_rows_ += unsteady;
    std::printf("%-5s %-5s %5d %5d %-8s %10.2f %10.2f %10.1f %9.1f %6s%s\n", cam::name_of(o_.backend),
                cam::name_of(o_.precision), batch, size, what.c_str(), median, p90, ips, gflops, peak.c_str(),
                unsteady ? "  UNSTEADY: p90 far above the median" : "");
    std::fflush(stdout);
    rows_.push_back({{"backend", cam::name_of(o_.backend)},
                     {"precision", cam::name_of(o_.precision)},
                     {"batch", batch},
                     {"size", size},
                     {"what", what},
                     {"median_ms", median},
                     {"p90_ms", p90},
                     {"images_per_s", ips},
                     {"gflops", gflops},
                     {"reps", o_.reps},
                     {"unsteady", unsteady}});
    if (peak_ > 0) rows_.back()["peak_fraction"] = gflops / peak_;
  }

  // Profiled repetitions: the phase split of a batch and, when asked, the per-layer table.
  void split(cam::Engine& engine, const std::vector<cam::Image>& images, const cam::MapOptions& mo,
             int size) {
    engine.set_profiling(true, o_.layers);
    std::vector<std::vector<cam::TimedStep>> phase_runs, layer_runs;
    for (int r = 0; r < o_.warmup + o_.reps; ++r) {
      engine.run(images, mo);
      if (r < o_.warmup) continue;
      phase_runs.push_back(engine.last_phases());
      layer_runs.push_back(engine.last_layers());
    }
    engine.set_profiling(false, false);
    std::vector<cam::TimedStep> phases = median_steps(phase_runs), layers = median_steps(layer_runs);
    double total = 0;
    for (const cam::TimedStep& s : phases) total += s.ms;
    std::printf("      split, batch %zu, size %d (medians; profiled runs are eager):", images.size(), size);
    nlohmann::json split = {{"batch", images.size()}, {"size", size}, {"phases", nlohmann::json::array()}};
    for (const cam::TimedStep& s : phases) {
      std::printf(" %s %.3f ms (%.0f%%)", s.name.c_str(), s.ms, 100 * s.ms / total);
      split["phases"].push_back({{"name", s.name}, {"ms", s.ms}});
    }
    std::printf("\n");
    if (o_.layers) {
      double forward = 0;
      for (const cam::TimedStep& s : layers) forward += s.ms;
      std::printf("      %-22s %9s %7s %10s\n", "layer", "ms", "share", "GFLOP/s");
      split["layers"] = nlohmann::json::array();
      for (const cam::TimedStep& s : layers) {
        std::printf("      %-22s %9.3f %6.1f%% %10.1f\n", s.name.c_str(), s.ms, 100 * s.ms / forward,
                    s.ms > 0 ? s.flops / (s.ms * 1e6) : 0.0);
        split["layers"].push_back({{"name", s.name}, {"ms", s.ms}, {"gflop", s.flops / 1e9}});
      }
    }
    splits_.push_back(split);
  }

  // The CLI's pipeline over JPEG files (the photos, or the random images written as quality-90 JPEGs, eight
  // batches of them), overlays written as PNG files to a temporary folder; one row of milliseconds per batch
  // (each repetition a whole run over the files), and the I/O cost per image.
  void e2e(cam::Engine& engine, cam::MapOptions mo, const std::vector<cam::Image>& random_images,
           std::vector<std::string> files, int batch, int size, double flops_per_image) {
    char pattern[] = "/tmp/cam_bench_e2e_XXXXXX";
    if (!mkdtemp(pattern)) throw cam::Error("cannot make a temporary folder under /tmp");
    const std::string dir = pattern;
    for (size_t i = 0; i < random_images.size(); ++i) {
      files.push_back(dir + "/in" + std::to_string(i) + ".jpg");
      cam::write_image(files.back(), random_images[i], 90);
    }
    const size_t count = random_images.empty() ? files.size() : files.size() * 8;
    mo.overlays = true;
    cam::PipelineHooks hooks;
    hooks.decode = [&](size_t i) { return cam::read_image(files[i % files.size()]); };
    hooks.submit = [&](const std::vector<size_t>&, const std::vector<const cam::Image*>& images) {
      return engine.submit(images, mo);
    };
    hooks.collect = [&](uint64_t ticket, const std::vector<size_t>&, const std::vector<const cam::Image*>&) {
      return engine.collect(ticket);
    };
    hooks.encode = [&](size_t i, const cam::Image&, const cam::ImageResult& result) {
      for (size_t j = 0; j < result.maps.size(); ++j)
        cam::write_image(dir + "/out" + std::to_string(i) + "_" + std::to_string(j) + ".png",
                         result.maps[j].overlay);
      return cam::Record();
    };
    hooks.failed = [&](size_t, const std::string& error) -> cam::Record { throw cam::Error(error); };
    hooks.deliver = [](std::vector<cam::Record>&) {};
    hooks.stop = [] { return false; };
    std::vector<double> ms, decode_ms, encode_ms;
    int io_threads = 0;
    for (int r = 0; r < o_.warmup + o_.reps; ++r) {
      cam::Pipeline pipeline(batch, o_.io_threads);
      pipeline.run(count, hooks);
      io_threads = pipeline.io_threads();
      if (r < o_.warmup) continue;
      const cam::PipelineStats& t = pipeline.stats();
      ms.push_back(1e3 * t.wall_s / static_cast<double>((count + batch - 1) / batch));
      decode_ms.push_back(1e3 * t.decode_cpu_s / static_cast<double>(count));
      encode_ms.push_back(1e3 * t.encode_cpu_s / static_cast<double>(count));
    }
    std::filesystem::remove_all(dir);
    row("e2e", batch, size, flops_per_image, ms);
    rows_.back()["decode_core_ms"] = percentile(decode_ms, 0.5);
    rows_.back()["encode_write_core_ms"] = percentile(encode_ms, 0.5);
    rows_.back()["io_threads"] = io_threads;
    rows_.back()["images"] = count;
    std::printf(
        "      e2e per image (medians): decode %.3f core-ms, encode + write %.3f core-ms; %d I/O threads, "
        "%zu %s\n",
        percentile(decode_ms, 0.5), percentile(encode_ms, 0.5), io_threads, count,
        random_images.empty() ? "photos" : "random JPEGs (q90)");
  }

  nlohmann::json json(const nlohmann::json& header) const {
    return {{"header", header}, {"rows", rows_}, {"splits", splits_}};
  }
  int unsteady_rows() const { return unsteady_rows_; }

 private:
  const Options& o_;
  double peak_;
  nlohmann::json rows_ = nlohmann::json::array(), splits_ = nlohmann::json::array();
  int unsteady_rows_ = 0;
};

// The benchmark's header: the machine, the libraries, the options and the peak GFLOP/s the rows are measured
// against (into `peak`, 0 when unknown); warns when the CPU is already busy.
nlohmann::json bench_header(const Options& o, double& peak) {
  const dnnl_version_t* dv = dnnl_version();
  nlohmann::json header = {{"cpu", cpuinfo_field("model name")},
                           {"threads", omp_get_max_threads()},
                           {"onednn", std::to_string(dv->major) + "." + std::to_string(dv->minor) + "." +
                                          std::to_string(dv->patch)},
                           {"backend", cam::name_of(o.backend)},
                           {"precision", cam::name_of(o.precision)},
                           {"conv_fusion", cam::name_of(o.conv_fusion)},
                           {"graphs", !o.eager},
                           {"weights", o.weights},
                           {"images", o.photos.empty() ? "random, at the input size" : o.photos}};
  peak = o.peak_gflops;
  std::string peak_source = "--peak-gflops";
  if (o.backend == cam::BackendKind::kCuda) header["gpu"] = cam::cuda_device_summary(0);
  if (o.backend == cam::BackendKind::kCpu) header["cpu_isa"] = cam::cpu_isa_name();
  if (o.backend == cam::BackendKind::kCuda && peak <= 0)
    peak = gpu_peak_gflops(header["gpu"], o.precision), peak_source = "data sheet, dense";
  if (o.backend == cam::BackendKind::kCpu && peak <= 0)
    peak = cpu_peak_gflops(omp_get_max_threads(), o.precision),
    peak_source =
        "estimate: threads x reported clock x FLOP/cycle of the vector or matrix ISA at this precision";
  if (peak > 0) header["peak_gflops"] = peak, header["peak_source"] = peak_source;
  const std::string busy = o.backend == cam::BackendKind::kCpu ? load_warning(omp_get_max_threads()) : "";
  if (!busy.empty()) {
    header["warning"] = busy;
    std::fprintf(stderr, "cam_bench: WARNING: %s\n", busy.c_str());
  }
  return header;
}

// Every row of one batch size at one input size: cam, +overlay, overlap, each method alone, metrics, and the
// end-to-end and split rows when asked. photos: the --photos images (empty: random ones at the input size).
void bench_batch(Bench& bench, cam::Engine& engine, const Options& o, const std::vector<cam::Image>& photos,
                 const std::vector<std::string>& photo_paths, int batch, int size, std::mt19937& rng) {
  const double flops_per_image = 2.0 * engine.model().macs(size, size);
  // The images of repetition r: the random batch, or the next `batch` photos of the list, cycled.
  std::vector<cam::Image> images(photos.empty() ? batch : 0);
  std::uniform_int_distribution<int> px(0, 255);
  for (cam::Image& im : images) {
    im.width = im.height = size;
    im.rgb.resize(static_cast<size_t>(size) * size * 3);
    for (auto& p : im.rgb) p = static_cast<uint8_t>(px(rng));
  }
  auto batch_at = [&](int r) {
    std::vector<const cam::Image*> v;
    for (int i = 0; i < batch; ++i)
      v.push_back(photos.empty() ? &images[i]
                                 : &photos[(static_cast<size_t>(r) * batch + i) % photos.size()]);
    return v;
  };
  cam::MapOptions mo;
  mo.topk = o.topk;
  // Milliseconds of each timed repetition of `once`, after the warm-up ones.
  auto timed = [&](const std::function<void(int)>& once) {
    std::vector<double> ms;
    for (int r = 0; r < o.warmup + o.reps; ++r) {
      Clock::time_point t = Clock::now();
      once(r);
      if (r >= o.warmup) ms.push_back(ms_since(t));
    }
    return ms;
  };
  for (bool overlay : {false, true}) {
    mo.overlays = overlay;
    bench.row(overlay ? "+overlay" : "cam", batch, size, flops_per_image,
              timed([&](int r) { engine.run(batch_at(r), mo); }));
  }
  // The same with overlays, each repetition submitted before the previous one is collected
  // (Engine::submit/collect, as the CLI's pipeline runs): on CUDA one batch's copies overlap another's
  // compute.
  uint64_t previous = 0;
  bench.row("overlap", batch, size, flops_per_image, timed([&](int r) {
              const uint64_t ticket = engine.submit(batch_at(r), mo);
              if (r > 0) engine.collect(previous);
              previous = ticket;
            }));
  engine.collect(previous);
  cam::MapOptions alone = mo;
  alone.overlays = false, alone.scorecam_channels = o.scorecam_channels,
  alone.perturbed_batch = o.perturbed_batch > 0 ? o.perturbed_batch : batch;
  for (cam::CamMethod method : o.methods) {
    alone.methods = {method};
    bench.row(cam::name_of(method), batch, size, flops_per_image,
              timed([&](int r) { engine.run(batch_at(r), alone); }));
  }
  if (o.metrics) {
    alone.methods = {cam::CamMethod::kCam}, alone.metrics = true, alone.metric_steps = o.metric_steps;
    bench.row("metrics", batch, size, flops_per_image, timed([&](int r) { engine.run(batch_at(r), alone); }));
  }
  if (o.e2e)
    bench.e2e(engine, mo, photos.empty() ? images : std::vector<cam::Image>(), photo_paths, batch, size,
              flops_per_image);
  if (o.split || o.layers) {
    std::vector<cam::Image> first;
    for (const cam::Image* im : batch_at(0)) first.push_back(*im);
    bench.split(engine, first, mo, size);
  }
}

int run(const Options& o) {
  if (o.threads > 0) omp_set_num_threads(o.threads);
  double peak = 0;
  const nlohmann::json header = bench_header(o, peak);
  std::printf("# %s\n", header.dump().c_str());
  std::printf("%-5s %-5s %5s %5s %-8s %10s %10s %10s %9s %6s\n", "back", "prec", "batch", "size", "what",
              "median_ms", "p90_ms", "img/s", "GFLOP/s", "%peak");
  Bench bench(o, peak);
  std::mt19937 rng(1);
  std::vector<std::string> photo_paths;
  std::vector<cam::Image> photos;
  if (!o.photos.empty()) {  // a list file or a folder, read as the CLI reads its inputs
    for (const cam::InputItem& item : cam::collect_inputs({o.photos}, false, std::cin))
      photo_paths.push_back(item.path), photos.push_back(cam::read_image(item.path));
    if (photos.empty()) throw cam::Error(o.photos + ": no images found");
  }
  for (int size : o.sizes) {
    cam::EngineOptions eo;
    eo.backend = o.backend, eo.precision = o.precision, eo.threads = o.threads, eo.input_height = size,
    eo.input_width = size, eo.cuda.conv_fusion = o.conv_fusion, eo.cuda.use_graphs = !o.eager;
    cam::Engine engine(o.weights, eo);
    for (int batch : o.batches) bench_batch(bench, engine, o, photos, photo_paths, batch, size, rng);
  }
  if (!o.json_path.empty()) std::ofstream(o.json_path) << bench.json(header).dump(1) << "\n";
  if (bench.unsteady_rows())
    std::fprintf(
        stderr,
        "cam_bench: WARNING: %d row(s) UNSTEADY (p90 over %.1fx the median): other work took the cores "
        "during some repetitions; rerun those on an idle machine before comparing them\n",
        bench.unsteady_rows(), kUnsteadyRatio);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(parse(argc, argv));
  } catch (const cam::Error& e) {
    std::fprintf(stderr, "cam_bench: %s\n", e.what());
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "cam_bench: bad option value (%s)\n", e.what());
    return 2;
  }
}
