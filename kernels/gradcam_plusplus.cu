// gradcam_plusplus_weights kernel: 256 threads per (image, slot) stride over the channels.
#include "kernels/cam_methods_math.h"
#include "kernels/gradcam_plusplus.cuh"

namespace cam {
namespace {

constexpr int kThreads = 256;

__global__ void gradcam_plusplus_weights_kernel(const float* pooled, int hw, const float* fc_weight,
                                                const float* map_weights, int channels, const int* topk,
                                                int k, const int* requested, int r, float* out) {
  const int slots = k + r, image = blockIdx.x / slots, slot = blockIdx.x % slots;
  const int cls = slot < k ? topk[image * k + slot] : requested[slot - k];
  const float* gradient = map_weights ? map_weights + static_cast<int64_t>(blockIdx.x) * channels
                                      : fc_weight + static_cast<int64_t>(cls) * channels;
  const float* mean = pooled + static_cast<int64_t>(image) * channels;
  float* weight = out + static_cast<int64_t>(blockIdx.x) * channels;
  for (int c = threadIdx.x; c < channels; c += kThreads)
    weight[c] = gradcam_plusplus_channel_weight(gradient[c], mul_rn(mean[c], static_cast<float>(hw)), hw);
}

}  // namespace

void launch_gradcam_plusplus_weights(const float* pooled, int hw, const float* fc_weight,
                                     const float* map_weights, int n, int channels, const int* topk, int k,
                                     const int* requested, int r, float* out, cudaStream_t stream) {
  if (n * (k + r) == 0) return;
  gradcam_plusplus_weights_kernel<<<n*(k + r), kThreads, 0, stream>>>(pooled, hw, fc_weight, map_weights,
                                                                      channels, topk, k, requested, r, out);
  CUDA_CHECK_LAUNCH();
}

}  // namespace cam
