// cam_bench: throughput and latency of the engine (preprocess + forward + top-k + CAM + upsample, and with
// the overlay), per (batch, input size), on the CPU or CUDA backend. Inputs are uint8 images already decoded
// at the input size, so decode/encode are excluded (the CLI's summary reports those). Timing: warm-up runs,
// then repetitions timed with a steady clock around Engine::run, which returns only when results are on the
// host.
//
//   cam_bench --weights r50.safetensors --backend cpu --batch 1,16 --size 224,100 [--json out.json]
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <dnnl.hpp>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>

#include "engine.h"
#include "error.h"
#ifdef CAM_WITH_CUDA
#include "cuda_backend.h"
#endif

namespace {

std::vector<int> int_list(const std::string& s) {
  std::vector<int> v;
  std::stringstream ss(s);
  for (std::string item; std::getline(ss, item, ',');) v.push_back(std::stoi(item));
  return v;
}

std::string cpu_model() {
  std::ifstream in("/proc/cpuinfo");
  for (std::string line; std::getline(in, line);)
    if (line.rfind("model name", 0) == 0) return line.substr(line.find(':') + 2);
  return "unknown CPU";
}

double percentile(std::vector<double> v, double q) {
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(q * (v.size() - 1) + 0.5))];
}

}  // namespace

int main(int argc, char** argv) {
  std::string weights, backend = "cpu", precision = "fp32", json_path;
  std::vector<int> batches = {1, 16}, sizes = {224, 100};
  int reps = 10, warmup = 2, threads = 0, topk = 1;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) throw std::runtime_error(a + " needs a value");
      return argv[++i];
    };
    if (a == "--weights")
      weights = value();
    else if (a == "--backend")
      backend = value();
    else if (a == "--precision")
      precision = value();
    else if (a == "--batch")
      batches = int_list(value());
    else if (a == "--size")
      sizes = int_list(value());
    else if (a == "--reps")
      reps = std::stoi(value());
    else if (a == "--warmup")
      warmup = std::stoi(value());
    else if (a == "--threads")
      threads = std::stoi(value());
    else if (a == "--topk")
      topk = std::stoi(value());
    else if (a == "--json")
      json_path = value();
    else {
      std::fprintf(stderr,
                   "usage: cam_bench --weights FILE [--backend cpu|cuda] [--precision P] [--batch 1,16] "
                   "[--size 224,100] [--reps N] [--warmup N] [--threads N] [--topk K] [--json FILE]\n");
      return 2;
    }
  }
  if (weights.empty()) {
    std::fprintf(stderr, "cam_bench: --weights is required\n");
    return 2;
  }
  if (threads > 0) omp_set_num_threads(threads);
  const dnnl_version_t* dv = dnnl_version();
  nlohmann::json header = {{"cpu", cpu_model()},
                           {"threads", omp_get_max_threads()},
                           {"onednn", std::to_string(dv->major) + "." + std::to_string(dv->minor) + "." +
                                          std::to_string(dv->patch)},
                           {"backend", backend},
                           {"precision", precision},
                           {"weights", weights}};
#ifdef CAM_WITH_CUDA
  if (backend == "cuda") header["gpu"] = cam::cuda_device_description(0);
#endif
  std::printf("# %s\n", header.dump().c_str());
  std::printf("%-5s %-5s %5s %5s %-8s %10s %10s %10s %9s\n", "back", "prec", "batch", "size", "what",
              "median_ms", "p90_ms", "img/s", "GFLOP/s");
  nlohmann::json rows = nlohmann::json::array();
  std::mt19937 rng(1);
  try {
    for (int size : sizes) {
      cam::EngineOptions eo;
      eo.backend = backend, eo.precision = precision, eo.threads = threads, eo.input_height = size,
      eo.input_width = size;
      cam::Engine engine(weights, eo);
      const double flops_per_image = 2.0 * engine.model().macs(size, size);
      for (int batch : batches) {
        std::vector<cam::Image> images(batch);
        std::uniform_int_distribution<int> px(0, 255);
        for (cam::Image& im : images) {
          im.width = im.height = size;
          im.rgb.resize(static_cast<size_t>(size) * size * 3);
          for (auto& p : im.rgb) p = static_cast<uint8_t>(px(rng));
        }
        for (bool overlay : {false, true}) {
          cam::MapOptions mo;
          mo.topk = topk;
          mo.overlays = overlay;
          for (int w = 0; w < warmup; ++w) engine.run(images, mo);
          std::vector<double> ms;
          for (int r = 0; r < reps; ++r) {
            auto t = std::chrono::steady_clock::now();
            engine.run(images, mo);
            ms.push_back(
                std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t).count());
          }
          const double median = percentile(ms, 0.5), p90 = percentile(ms, 0.9);
          const double ips = batch / (median / 1e3), gflops = flops_per_image * ips / 1e9;
          const char* what = overlay ? "+overlay" : "cam";
          std::printf("%-5s %-5s %5d %5d %-8s %10.2f %10.2f %10.1f %9.1f\n", backend.c_str(),
                      precision.c_str(), batch, size, what, median, p90, ips, gflops);
          std::fflush(stdout);
          rows.push_back({{"backend", backend},
                          {"precision", precision},
                          {"batch", batch},
                          {"size", size},
                          {"what", what},
                          {"median_ms", median},
                          {"p90_ms", p90},
                          {"images_per_s", ips},
                          {"gflops", gflops},
                          {"reps", reps}});
        }
      }
    }
  } catch (const cam::Error& e) {
    std::fprintf(stderr, "cam_bench: %s\n", e.what());
    return 2;
  }
  if (!json_path.empty())
    std::ofstream(json_path) << nlohmann::json({{"header", header}, {"rows", rows}}).dump(1) << "\n";
  return 0;
}
