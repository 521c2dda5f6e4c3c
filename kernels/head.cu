// head_cam_weights kernel: each step is a transposed matrix-vector product; threads own input indices, so the
// reads of a weight row W[o, :] are coalesced. The ReLU gate (activation > 0) is applied to g before each
// step.
#include "kernels/head.cuh"

namespace cam {
namespace {

__global__ void head_cam_weights_kernel(const HeadLayer* layers, int count, int max_dim,
                                        const float* fc_weight, const int* topk, int k, const int* requested,
                                        int r, float* out) {
  extern __shared__ float buffers[];  // g and next, max_dim each
  float* g = buffers;
  float* next = buffers + max_dim;
  const int slots = k + r, image = blockIdx.x / slots, slot = blockIdx.x % slots;
  const int cls = slot < k ? topk[image * k + slot] : requested[slot - k];
  const HeadLayer last = layers[count - 1];
  for (int o = threadIdx.x; o < last.out; o += blockDim.x)
    g[o] = fc_weight[static_cast<int64_t>(cls) * last.out + o];
  __syncthreads();
  for (int l = count - 1; l >= 0; --l) {
    const HeadLayer layer = layers[l];
    const float* act = layer.activations + static_cast<int64_t>(image) * layer.out;
    for (int o = threadIdx.x; o < layer.out; o += blockDim.x) g[o] = act[o] > 0.0f ? g[o] : 0.0f;
    __syncthreads();
    for (int i = threadIdx.x; i < layer.in; i += blockDim.x) {
      float acc = 0.0f;
      for (int o = 0; o < layer.out; ++o) acc += layer.weight[static_cast<int64_t>(o) * layer.in + i] * g[o];
      next[i] = acc;
    }
    __syncthreads();
    float* t = g;
    g = next;
    next = t;
  }
  const int c = layers[0].in;
  for (int i = threadIdx.x; i < c; i += blockDim.x) out[static_cast<int64_t>(blockIdx.x) * c + i] = g[i];
}

}  // namespace

void launch_head_cam_weights(const HeadLayer* layers, int count, int max_dim, const float* fc_weight, int n,
                             const int* topk, int k, const int* requested, int r, float* out,
                             cudaStream_t stream) {
  if (n * (k + r) == 0 || count == 0) return;
  head_cam_weights_kernel<<<n*(k + r), 256, 2 * max_dim * sizeof(float), stream>>>(
      layers, count, max_dim, fc_weight, topk, k, requested, r, out);
  CUDA_CHECK_LAUNCH();
}

}  // namespace cam
