// score_cam_inputs kernel: 256 threads per job stride over the input's pixels; the min and max go through
// shared memory (one tree reduction), then every thread writes the masked pixels it sampled.
#include <cmath>

#include "kernels/cam_methods_math.h"
#include "kernels/score_cam.cuh"

namespace cam {
namespace {

constexpr int kThreads = 256;

__global__ void score_cam_inputs_kernel(const float* inputs, int h, int w, const float* features, int fh,
                                        int fw, int c, const int* jobs, float* out) {
  __shared__ float lows[kThreads], highs[kThreads];
  const int image = jobs[2 * blockIdx.x], k = jobs[2 * blockIdx.x + 1];
  const float* channel = features + static_cast<int64_t>(image) * fh * fw * c + k;
  const int pixels = h * w;
  float lo = INFINITY, hi = -INFINITY;
  for (int p = threadIdx.x; p < pixels; p += blockDim.x) {
    const float v = score_cam_upsampled(channel, fh, fw, c, h, w, p / w, p % w);
    lo = fminf(lo, v), hi = fmaxf(hi, v);
  }
  lows[threadIdx.x] = lo, highs[threadIdx.x] = hi;
  __syncthreads();
  for (int half = kThreads / 2; half > 0; half /= 2) {
    if (threadIdx.x < half) {
      lows[threadIdx.x] = fminf(lows[threadIdx.x], lows[threadIdx.x + half]);
      highs[threadIdx.x] = fmaxf(highs[threadIdx.x], highs[threadIdx.x + half]);
    }
    __syncthreads();
  }
  lo = lows[0], hi = highs[0];
  const float* input = inputs + static_cast<int64_t>(image) * pixels * 3;
  float* masked = out + static_cast<int64_t>(blockIdx.x) * pixels * 3;
  for (int p = threadIdx.x; p < pixels; p += blockDim.x) {
    const float mask = score_cam_mask(score_cam_upsampled(channel, fh, fw, c, h, w, p / w, p % w), lo, hi);
    for (int ch = 0; ch < 3; ++ch) masked[p * 3 + ch] = mul_rn(input[p * 3 + ch], mask);
  }
}

}  // namespace

void launch_score_cam_inputs(const float* inputs, int h, int w, const float* features, int fh, int fw, int c,
                             const int* jobs, int m, float* out, cudaStream_t stream) {
  if (m == 0) return;
  score_cam_inputs_kernel<<<m, kThreads, 0, stream>>>(inputs, h, w, features, fh, fw, c, jobs, out);
  CUDA_CHECK_LAUNCH();
}

}  // namespace cam
