// Pooling kernels. Max-pool and the shortcut average pool: one thread per output element, channel fastest so
// warps read contiguous memory; the average is pool_math.h's avg_down_value, as on the CPU.
// Global average pool: one thread per (image, channel) summing the HW pixels in order (coalesced across
// channels), which for ResNet's small final maps (4x4..7x7) is as fast as a tree and deterministic.
#include <cfloat>

#include "kernels/pool.cuh"
#include "kernels/pool_math.h"

namespace cam {
namespace {

template <typename T>
__global__ void max_pool_kernel(const T* x, int n, int h, int w, int c, int oh, int ow, T* y) {
  const int64_t total = static_cast<int64_t>(n) * oh * ow * c;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < total;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    int ch = static_cast<int>(i % c);
    int64_t p = i / c;
    int ox = static_cast<int>(p % ow), oy = static_cast<int>((p / ow) % oh),
        b = static_cast<int>(p / (static_cast<int64_t>(ow) * oh));
    float best = -FLT_MAX;
    for (int ky = 2 * oy - 1; ky <= 2 * oy + 1; ++ky)
      for (int kx = 2 * ox - 1; kx <= 2 * ox + 1; ++kx)
        if (ky >= 0 && ky < h && kx >= 0 && kx < w)
          best = fmaxf(best, load_f32(x[((static_cast<int64_t>(b) * h + ky) * w + kx) * c + ch]));
    y[i] = store_as<T>(best);
  }
}

template <typename T>
__global__ void avg_down_pool_kernel(const T* x, int n, int h, int w, int c, int oh, int ow, T* y) {
  const int64_t total = static_cast<int64_t>(n) * oh * ow * c;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < total;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    int ch = static_cast<int>(i % c);
    int64_t p = i / c;
    int ox = static_cast<int>(p % ow), oy = static_cast<int>((p / ow) % oh),
        b = static_cast<int>(p / (static_cast<int64_t>(ow) * oh));
    const T* image = x + static_cast<int64_t>(b) * h * w * c;
    auto at = [image](long long e) { return load_f32(image[e]); };
    y[i] = store_as<T>(avg_down_value(at, h, w, c, oy, ox, ch));
  }
}

template <typename T>
__global__ void global_avg_pool_kernel(const T* x, int n, int hw, int c, float* y) {
  const int64_t total = static_cast<int64_t>(n) * c;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < total;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    int ch = static_cast<int>(i % c);
    int64_t b = i / c;
    float acc = 0.0f;
    for (int p = 0; p < hw; ++p) acc += load_f32(x[(b * hw + p) * c + ch]);
    y[i] = acc / static_cast<float>(hw);
  }
}

}  // namespace

void launch_max_pool(Storage storage, const void* x, int n, int h, int w, int c, void* y,
                     cudaStream_t stream) {
  const int oh = max_pool_out_size(h), ow = max_pool_out_size(w), threads = 256;
  const unsigned blocks = blocks_for(static_cast<int64_t>(n) * oh * ow * c, threads);
  with_storage_type(storage, [&](auto zero) {
    using T = decltype(zero);
    max_pool_kernel<<<blocks, threads, 0, stream>>>(static_cast<const T*>(x), n, h, w, c, oh, ow,
                                                    static_cast<T*>(y));
  });
  CUDA_CHECK_LAUNCH();
}

void launch_avg_down_pool(Storage storage, const void* x, int n, int h, int w, int c, void* y,
                          cudaStream_t stream) {
  const int oh = avg_down_out_size(h), ow = avg_down_out_size(w), threads = 256;
  const unsigned blocks = blocks_for(static_cast<int64_t>(n) * oh * ow * c, threads);
  with_storage_type(storage, [&](auto zero) {
    using T = decltype(zero);
    avg_down_pool_kernel<<<blocks, threads, 0, stream>>>(static_cast<const T*>(x), n, h, w, c, oh, ow,
                                                         static_cast<T*>(y));
  });
  CUDA_CHECK_LAUNCH();
}

void launch_global_avg_pool(Storage storage, const void* x, int n, int hw, int c, float* y,
                            cudaStream_t stream) {
  const int threads = 256;
  const unsigned blocks = blocks_for(static_cast<int64_t>(n) * c, threads);
  with_storage_type(storage, [&](auto zero) {
    using T = decltype(zero);
    global_avg_pool_kernel<<<blocks, threads, 0, stream>>>(static_cast<const T*>(x), n, hw, c, y);
  });
  CUDA_CHECK_LAUNCH();
}

}  // namespace cam
