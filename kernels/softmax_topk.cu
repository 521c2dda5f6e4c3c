// One block per image. Softmax with two block reductions (max, sum of exp). Top-k by k rounds of block
// arg-max of the logits (not the probabilities, which saturate to equal zeros far below the first) over the
// classes not yet taken, ties to the lower index: k is small (the maps a user asks for), classes at most a
// few thousand.
#include "kernels/softmax_topk.cuh"

namespace cam {
namespace {

constexpr int kThreads = 256;

__global__ void softmax_topk_kernel(float* logits, const float* bias, int classes, int k, float* probs,
                                    int* topk) {
  __shared__ float scratch[32];
  __shared__ float best_value[32];
  __shared__ int best_index[32];
  __shared__ int taken_mask_words[128];  // up to 4096 classes
  float* l = logits + static_cast<int64_t>(blockIdx.x) * classes;
  float* p = probs + static_cast<int64_t>(blockIdx.x) * classes;
  float mx = -3.402823466e38f;
  for (int c = threadIdx.x; c < classes; c += blockDim.x) {
    l[c] += bias[c];
    mx = fmaxf(mx, l[c]);
  }
  mx = block_reduce<Reduce::kMax>(mx, scratch);
  float sum = 0.0f;
  for (int c = threadIdx.x; c < classes; c += blockDim.x) sum += expf(l[c] - mx);
  sum = block_reduce<Reduce::kSum>(sum, scratch);
  for (int c = threadIdx.x; c < classes; c += blockDim.x) p[c] = expf(l[c] - mx) / sum;
  for (int w = threadIdx.x; w < 128; w += blockDim.x) taken_mask_words[w] = 0;
  __syncthreads();
  for (int j = 0; j < k; ++j) {
    float v = -3.402823466e38f;
    int idx = classes;
    for (int c = threadIdx.x; c < classes; c += blockDim.x) {
      bool taken = (taken_mask_words[c / 32] >> (c % 32)) & 1;
      if (!taken && (l[c] > v || (l[c] == v && c < idx))) v = l[c], idx = c;
    }
    for (int o = 16; o > 0; o >>= 1) {
      float ov = __shfl_xor_sync(0xffffffffu, v, o);
      int oi = __shfl_xor_sync(0xffffffffu, idx, o);
      if (ov > v || (ov == v && oi < idx)) v = ov, idx = oi;
    }
    if (threadIdx.x % 32 == 0) best_value[threadIdx.x / 32] = v, best_index[threadIdx.x / 32] = idx;
    __syncthreads();
    if (threadIdx.x == 0) {
      for (int w = 1; w < static_cast<int>(blockDim.x / 32); ++w)
        if (best_value[w] > v || (best_value[w] == v && best_index[w] < idx))
          v = best_value[w], idx = best_index[w];
      topk[static_cast<int64_t>(blockIdx.x) * k + j] = idx;
      taken_mask_words[idx / 32] |= 1 << (idx % 32);
    }
    __syncthreads();
  }
}

}  // namespace

void launch_softmax_topk(float* logits, const float* bias, int n, int classes, int k, float* probs, int* topk,
                         cudaStream_t stream) {
  if (classes > 128 * 32) {
    std::fprintf(stderr, "softmax_topk: %d classes exceed the kernel's 4096\n", classes);
    std::abort();
  }
  softmax_topk_kernel<<<n, kThreads, 0, stream>>>(logits, bias, classes, k, probs, topk);
  CUDA_CHECK_LAUNCH();
}

}  // namespace cam
