// bn_act kernel: each thread moves one 16-byte vector (4 fp32 or 8 fp16/bf16 values) of x, residual and y, so
// the pass runs at memory speed; channels are a multiple of the vector width in every ResNet (checked, with a
// scalar kernel for other widths). Element math: bn_act_math.h, shared with the CPU backend.
#include "kernels/bn_act.cuh"
#include "kernels/bn_act_math.h"

namespace cam {
namespace {

template <typename T>
struct alignas(16) Vec {
  static constexpr int kCount = 16 / sizeof(T);
  T v[kCount];
};

template <typename T>
__global__ void bn_act_vector_kernel(const Vec<T>* x, const float* shift, const Vec<T>* residual, bool relu,
                                     int64_t vectors, int channels, Vec<T>* y) {
  constexpr int kCount = Vec<T>::kCount;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < vectors;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    Vec<T> in = x[i], res, out;
    if (residual) res = residual[i];
    int c0 = static_cast<int>((i * kCount) % channels);
#pragma unroll
    for (int k = 0; k < kCount; ++k) {
      float r = residual ? load_f32(res.v[k]) : 0.0f;
      out.v[k] = store_as<T>(bn_act(load_f32(in.v[k]), shift[c0 + k], r, relu));
    }
    y[i] = out;
  }
}

template <typename T>
__global__ void bn_act_scalar_kernel(const T* x, const float* shift, const T* residual, bool relu,
                                     int64_t count, int channels, T* y) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < count;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    int c = static_cast<int>(i % channels);
    y[i] = store_as<T>(bn_act(load_f32(x[i]), shift[c], residual ? load_f32(residual[i]) : 0.0f, relu));
  }
}

template <typename T>
void launch_typed(const void* x, const float* shift, const void* residual, bool relu, int64_t pixels,
                  int channels, void* y, cudaStream_t stream) {
  const int threads = 256;
  const int64_t count = pixels * channels;
  constexpr int kCount = Vec<T>::kCount;
  bool aligned = (reinterpret_cast<uintptr_t>(x) | reinterpret_cast<uintptr_t>(y) |
                  reinterpret_cast<uintptr_t>(residual)) %
                     16 ==
                 0;
  if (channels % kCount == 0 && aligned) {
    bn_act_vector_kernel<T><<<blocks_for(count / kCount, threads), threads, 0, stream>>>(
        static_cast<const Vec<T>*>(x), shift, static_cast<const Vec<T>*>(residual), relu, count / kCount,
        channels, static_cast<Vec<T>*>(y));
  } else {
    bn_act_scalar_kernel<T><<<blocks_for(count, threads), threads, 0, stream>>>(
        static_cast<const T*>(x), shift, static_cast<const T*>(residual), relu, count, channels,
        static_cast<T*>(y));
  }
  CUDA_CHECK_LAUNCH();
}

}  // namespace

void launch_bn_act(Storage storage, const void* x, const float* shift, const void* residual, bool relu,
                   int64_t pixels, int channels, void* y, cudaStream_t stream) {
  with_storage_type(storage, [&](auto zero) {
    launch_typed<decltype(zero)>(x, shift, residual, relu, pixels, channels, y, stream);
  });
}

}  // namespace cam
