// Check macros for cuDNN and cuBLAS calls (CUDA_CHECK lives in kernels/common.cuh): quote the statement, file
// and line, then abort. Only for GPU failures; user errors are cam::Error.
#pragma once
#include <cublas_v2.h>
#include <cudnn.h>

#include <cstdio>
#include <cstdlib>

#define CUDNN_CHECK(call)                                                                                \
  do {                                                                                                   \
    cudnnStatus_t cam_status_ = (call);                                                                  \
    if (cam_status_ != CUDNN_STATUS_SUCCESS) {                                                           \
      std::fprintf(stderr, "cuDNN error '%s' in %s at %s:%d\n", cudnnGetErrorString(cam_status_), #call, \
                   __FILE__, __LINE__);                                                                  \
      std::abort();                                                                                      \
    }                                                                                                    \
  } while (0)

#define CUBLAS_CHECK(call)                                                                           \
  do {                                                                                               \
    cublasStatus_t cam_status_ = (call);                                                             \
    if (cam_status_ != CUBLAS_STATUS_SUCCESS) {                                                      \
      std::fprintf(stderr, "cuBLAS error %d in %s at %s:%d\n", static_cast<int>(cam_status_), #call, \
                   __FILE__, __LINE__);                                                              \
      std::abort();                                                                                  \
    }                                                                                                \
  } while (0)
