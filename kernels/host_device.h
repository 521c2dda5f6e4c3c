// CAM_HD marks element math shared by the CUDA kernels and the CPU backend: __host__ __device__ under nvcc,
// plain inline in host-only translation units. Every *_math.h includes this and nothing from engine/.
// mul_rn and add_rn round each product and sum on its own on both sides (the device would otherwise fuse
// them into multiply-adds; the host compiles with -ffp-contract=off), where host and device must agree to
// the bit.
#pragma once

#if defined(__CUDACC__)
#define CAM_HD __host__ __device__ __forceinline__
#else
#define CAM_HD inline
#endif

CAM_HD float mul_rn(float a, float b) {
#ifdef __CUDA_ARCH__
  return __fmul_rn(a, b);
#else
  return a * b;
#endif
}

CAM_HD float add_rn(float a, float b) {
#ifdef __CUDA_ARCH__
  return __fadd_rn(a, b);
#else
  return a + b;
#endif
}
