// Shared by the GPU test files: the skip with its printed reason, and device buffers with a guard region.
#pragma once
#include <doctest/doctest.h>

#include <cstring>
#include <string>
#include <vector>

#include "engine/cuda/backend.h"
#include "kernels/common.cuh"

namespace camtest {

constexpr size_t kGuardBytes = 256;
constexpr uint8_t kGuardByte = 0xA5;

// True (after printing why) where no CUDA device can be used: the test case then returns.
inline bool no_gpu() {
  std::string why = cam::cuda_unavailable_reason(0);
  if (!why.empty()) MESSAGE("SKIPPED (no GPU): " << why);
  return !why.empty();
}

// Device allocation of `bytes` followed by a guard region filled with kGuardByte.
struct Guarded {
  void* ptr = nullptr;
  size_t bytes;
  explicit Guarded(size_t n) : bytes(n) {
    CUDA_CHECK(cudaMalloc(&ptr, n + kGuardBytes));
    CUDA_CHECK(cudaMemset(ptr, 0, n));
    CUDA_CHECK(cudaMemset(static_cast<char*>(ptr) + n, kGuardByte, kGuardBytes));
  }
  ~Guarded() { cudaFree(ptr); }
  template <typename T>
  T* as() const {
    return static_cast<T*>(ptr);
  }
  void upload(const void* src) { CUDA_CHECK(cudaMemcpy(ptr, src, bytes, cudaMemcpyHostToDevice)); }
  std::vector<uint8_t> download() const {
    std::vector<uint8_t> out(bytes + kGuardBytes);
    CUDA_CHECK(cudaDeviceSynchronize());
    CUDA_CHECK(cudaMemcpy(out.data(), ptr, out.size(), cudaMemcpyDeviceToHost));
    for (size_t i = bytes; i < out.size(); ++i)
      if (out[i] != kGuardByte) FAIL("guard region overwritten at byte " << i - bytes << " past the end");
    out.resize(bytes);
    return out;
  }
  std::vector<float> floats() const {
    std::vector<uint8_t> raw = download();
    std::vector<float> f(raw.size() / 4);
    std::memcpy(f.data(), raw.data(), raw.size());
    return f;
  }
};

}  // namespace camtest
