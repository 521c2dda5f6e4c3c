// Shared by every kernel file: the CUDA error check (quotes the statement, file and line, then aborts: a GPU
// failure is not a user error), the storage types and their fp32 conversions, and the launch-size helper.
#pragma once
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>

#define CUDA_CHECK(call)                                                                            \
  do {                                                                                              \
    cudaError_t cam_err_ = (call);                                                                  \
    if (cam_err_ != cudaSuccess) {                                                                  \
      std::fprintf(stderr, "CUDA error '%s' in %s at %s:%d\n", cudaGetErrorString(cam_err_), #call, \
                   __FILE__, __LINE__);                                                             \
      std::abort();                                                                                 \
    }                                                                                               \
  } while (0)

// After every launch: catches bad configurations at once (asynchronous faults surface at the next sync).
#define CUDA_CHECK_LAUNCH() CUDA_CHECK(cudaGetLastError())

namespace cam {

// Storage precision of activations and conv weights; math is always fp32.
enum class Storage { kF32, kF16, kBF16 };

inline size_t storage_bytes(Storage s) {
  return s == Storage::kF32 ? 4 : 2;
}

// The one place a Storage becomes a C++ type: calls f(T()) with T = float, __half or __nv_bfloat16, so a
// launcher writes `with_storage_type(s, [&](auto zero) { using T = decltype(zero); kernel<T><<<...>>>(...);
// });`
template <typename F>
void with_storage_type(Storage s, F&& f) {
  switch (s) {
    case Storage::kF32:
      f(float());
      return;
    case Storage::kF16:
      f(__half());
      return;
    case Storage::kBF16:
      f(__nv_bfloat16());
      return;
  }
}

__host__ __device__ __forceinline__ float load_f32(float v) {
  return v;
}
__host__ __device__ __forceinline__ float load_f32(__half v) {
  return __half2float(v);
}
__host__ __device__ __forceinline__ float load_f32(__nv_bfloat16 v) {
  return __bfloat162float(v);
}

template <typename T>
__host__ __device__ __forceinline__ T store_as(float v);
template <>
__host__ __device__ __forceinline__ float store_as<float>(float v) {
  return v;
}
template <>
__host__ __device__ __forceinline__ __half store_as<__half>(float v) {
  return __float2half_rn(v);
}
template <>
__host__ __device__ __forceinline__ __nv_bfloat16 store_as<__nv_bfloat16>(float v) {
  return __float2bfloat16_rn(v);
}

inline unsigned blocks_for(int64_t work, int threads) {
  int64_t b = (work + threads - 1) / threads;
  return static_cast<unsigned>(b < 1 ? 1 : (b > 65535 * 8 ? 65535 * 8 : b));
}

}  // namespace cam

namespace cam {

// Block-wide reductions for blocks of up to 1024 threads (multiples of 32), in float or double. `scratch`: 32
// values of shared memory. Every thread gets the result.
template <typename T>
__device__ __forceinline__ T warp_sum(T v) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}
template <typename T>
__device__ __forceinline__ T warp_max(T v) {
  for (int o = 16; o > 0; o >>= 1) v = fmax(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}
template <typename T>
__device__ __forceinline__ T warp_min(T v) {
  for (int o = 16; o > 0; o >>= 1) v = fmin(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}

enum class Reduce { kSum, kMax, kMin };

template <Reduce op, typename T>
__device__ __forceinline__ T warp_reduce(T v) {
  return op == Reduce::kSum ? warp_sum(v) : (op == Reduce::kMax ? warp_max(v) : warp_min(v));
}

// The identities are +-FLT_MAX in both types: beyond any value reduced here.
template <Reduce op, typename T>
__device__ T block_reduce(T v, T* scratch) {
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32, warps = (blockDim.x + 31) / 32;
  v = warp_reduce<op>(v);
  __syncthreads();  // scratch may still be read by a previous reduction
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  const T identity =
      op == Reduce::kSum ? T(0) : (op == Reduce::kMax ? T(-3.402823466e38f) : T(3.402823466e38f));
  v = lane < warps ? scratch[lane] : identity;
  return warp_reduce<op>(v);
}

}  // namespace cam
