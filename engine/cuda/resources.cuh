// Owners of the CUDA backend's device resources: every stream, event, graph, cuDNN/cuBLAS handle and
// descriptor and every allocation is held by one of these, created checked (a GPU failure aborts, naming the
// call) and released in its destructor (a failure there is only logged). Not a public header.
#pragma once
#include <cublas_v2.h>
#include <cudnn.h>

#include <cstdio>
#include <string>
#include <utility>
#include <vector>

#include "engine/base/error.h"
#include "engine/cuda/checks.h"
#include "kernels/common.cuh"

namespace cam {
namespace cuda_detail {

inline void log_release_failure(bool failed, const char* what) {
  if (failed) std::fprintf(stderr, "cam_engine: releasing a %s failed\n", what);
}

// A legacy cuDNN object made by Create and released by Destroy: descriptors and the library handle.
template <typename T, cudnnStatus_t (*Create)(T*), cudnnStatus_t (*Destroy)(T)>
class CudnnObject {
 public:
  CudnnObject() { CUDNN_CHECK(Create(&value_)); }
  ~CudnnObject() {
    if (value_) log_release_failure(Destroy(value_) != CUDNN_STATUS_SUCCESS, "cuDNN object");
  }
  CudnnObject(CudnnObject&& other) noexcept : value_(std::exchange(other.value_, nullptr)) {}
  CudnnObject& operator=(CudnnObject&& other) noexcept {
    std::swap(value_, other.value_);
    return *this;
  }
  CudnnObject(const CudnnObject&) = delete;
  CudnnObject& operator=(const CudnnObject&) = delete;
  T get() const { return value_; }

 private:
  T value_ = nullptr;
};

using CudnnHandle = CudnnObject<cudnnHandle_t, cudnnCreate, cudnnDestroy>;
using TensorDescriptor =
    CudnnObject<cudnnTensorDescriptor_t, cudnnCreateTensorDescriptor, cudnnDestroyTensorDescriptor>;
using FilterDescriptor =
    CudnnObject<cudnnFilterDescriptor_t, cudnnCreateFilterDescriptor, cudnnDestroyFilterDescriptor>;
using ConvolutionDescriptor = CudnnObject<cudnnConvolutionDescriptor_t, cudnnCreateConvolutionDescriptor,
                                          cudnnDestroyConvolutionDescriptor>;
using ActivationDescriptor = CudnnObject<cudnnActivationDescriptor_t, cudnnCreateActivationDescriptor,
                                         cudnnDestroyActivationDescriptor>;

class CublasHandle {
 public:
  CublasHandle() { CUBLAS_CHECK(cublasCreate(&handle_)); }
  ~CublasHandle() { log_release_failure(cublasDestroy(handle_) != CUBLAS_STATUS_SUCCESS, "cuBLAS handle"); }
  CublasHandle(const CublasHandle&) = delete;
  CublasHandle& operator=(const CublasHandle&) = delete;
  cublasHandle_t get() const { return handle_; }

 private:
  cublasHandle_t handle_ = nullptr;
};

// A non-blocking stream (no implicit ordering with the legacy default stream).
class CudaStream {
 public:
  CudaStream() { CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking)); }
  ~CudaStream() { log_release_failure(cudaStreamDestroy(stream_) != cudaSuccess, "CUDA stream"); }
  CudaStream(const CudaStream&) = delete;
  CudaStream& operator=(const CudaStream&) = delete;
  cudaStream_t get() const { return stream_; }

 private:
  cudaStream_t stream_ = nullptr;
};

class CudaEvent {
 public:
  explicit CudaEvent(unsigned flags = cudaEventDefault) {
    CUDA_CHECK(cudaEventCreateWithFlags(&event_, flags));
  }
  ~CudaEvent() {
    if (event_) log_release_failure(cudaEventDestroy(event_) != cudaSuccess, "CUDA event");
  }
  CudaEvent(CudaEvent&& other) noexcept : event_(std::exchange(other.event_, nullptr)) {}
  CudaEvent(const CudaEvent&) = delete;
  CudaEvent& operator=(const CudaEvent&) = delete;
  cudaEvent_t get() const { return event_; }

 private:
  cudaEvent_t event_ = nullptr;
};

// An instantiated CUDA Graph, or none.
class GraphExec {
 public:
  GraphExec() = default;
  ~GraphExec() { reset(); }
  GraphExec(const GraphExec&) = delete;
  GraphExec& operator=(const GraphExec&) = delete;
  // Instantiates `graph` in place of the held one.
  void instantiate(cudaGraph_t graph) {
    reset();
    CUDA_CHECK(cudaGraphInstantiate(&exec_, graph, 0));
  }
  void reset() {
    if (exec_) log_release_failure(cudaGraphExecDestroy(exec_) != cudaSuccess, "CUDA graph");
    exec_ = nullptr;
  }
  cudaGraphExec_t get() const { return exec_; }
  explicit operator bool() const { return exec_ != nullptr; }

 private:
  cudaGraphExec_t exec_ = nullptr;
};

// A grow-only device or pinned host allocation; grows only between batches, never inside the forward.
struct GrowBuffer {
  bool pinned = false;
  void* ptr = nullptr;
  size_t bytes = 0;

  GrowBuffer() = default;
  explicit GrowBuffer(bool pinned_host) : pinned(pinned_host) {}
  GrowBuffer(const GrowBuffer&) = delete;
  GrowBuffer& operator=(const GrowBuffer&) = delete;
  ~GrowBuffer() { release(); }

  void ensure(size_t need) {
    if (need <= bytes) return;
    release();
    CUDA_CHECK(pinned ? cudaMallocHost(&ptr, need) : cudaMalloc(&ptr, need));
    bytes = need;
  }
  // Exactly `need` device bytes in place of what is held. Running out of memory is the user's batch size, so
  // it is a cam::Error saying which batch of the n images would fit; other failures abort.
  void allocate_for_batch(size_t need, const char* what, int n) {
    void* fresh = nullptr;
    cudaError_t e = cudaMalloc(&fresh, need);
    if (e == cudaErrorMemoryAllocation) {
      cudaGetLastError();
      size_t free_bytes = 0, total_bytes = 0;
      CUDA_CHECK(cudaMemGetInfo(&free_bytes, &total_bytes));
      const size_t fits =
          static_cast<size_t>(static_cast<double>(free_bytes) / (static_cast<double>(need) / n));
      throw Error(std::string("out of GPU memory planning a batch of ") + std::to_string(n) + ": the " +
                  what + " needs " + std::to_string(need) + " bytes, " + std::to_string(free_bytes) +
                  " are free; a batch of about " + std::to_string(fits) + " would fit (--batch)");
    }
    CUDA_CHECK(e);
    release();
    ptr = fresh;
    bytes = need;
  }
  void release() {
    if (!ptr) return;
    log_release_failure((pinned ? cudaFreeHost(ptr) : cudaFree(ptr)) != cudaSuccess, "buffer");
    ptr = nullptr;
    bytes = 0;
  }
  template <typename T>
  T* at(size_t offset) const {
    return reinterpret_cast<T*>(static_cast<char*>(ptr) + offset);
  }
};

inline size_t align256(size_t x) {
  return (x + 255) & ~size_t(255);
}

}  // namespace cuda_detail
}  // namespace cam
