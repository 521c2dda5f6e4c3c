// CAM_HD marks element math shared by the CUDA kernels and the CPU backend: __host__ __device__ under nvcc,
// plain inline in host-only translation units. Every *_math.h includes this and nothing from engine/.
#pragma once

#if defined(__CUDACC__)
#define CAM_HD __host__ __device__ __forceinline__
#else
#define CAM_HD inline
#endif
