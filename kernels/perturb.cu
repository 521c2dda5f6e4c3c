// perturbed_inputs kernel: a flat grid over (job, pixel).
#include "kernels/cam_methods_math.h"
#include "kernels/perturb.cuh"

namespace cam {
namespace {

__global__ void perturbed_inputs_kernel(const float* inputs, int pixels, const float* maps, const int* ranks,
                                        const int* jobs, int64_t total, float* out) {
  const int64_t index = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (index >= total) return;
  const int64_t j = index / pixels, p = index % pixels;
  const int kind = jobs[4 * j], image = jobs[4 * j + 1], map = jobs[4 * j + 2], count = jobs[4 * j + 3];
  const int64_t at = static_cast<int64_t>(map) * pixels + p;
  const float keep = perturbation_keep(kind, ranks[at], count, maps[at]);
  const float* x = inputs + (static_cast<int64_t>(image) * pixels + p) * 3;
  float* y = out + index * 3;
  for (int ch = 0; ch < 3; ++ch) y[ch] = perturbed_value(kind, x[ch], keep);
}

}  // namespace

void launch_perturbed_inputs(const float* inputs, int h, int w, const float* maps, const int* ranks,
                             const int* jobs, int m, float* out, cudaStream_t stream) {
  const int64_t total = static_cast<int64_t>(m) * h * w;
  if (total == 0) return;
  const int threads = 256;
  perturbed_inputs_kernel<<<blocks_for(total, threads), threads, 0, stream>>>(inputs, h * w, maps, ranks,
                                                                              jobs, total, out);
  CUDA_CHECK_LAUNCH();
}

}  // namespace cam
