// Fused epilogue after a convolution: y = x + shift[c] (+ residual) (then ReLU), NHWC, one pass.
// x, residual, y: (pixels, C) in the storage type; shift: (C) fp32.
#pragma once
#include "kernels/common.cuh"

namespace cam {

void launch_bn_act(Storage storage, const void* x, const float* shift, const void* residual, bool relu,
                   int64_t pixels, int channels, void* y, cudaStream_t stream);

}  // namespace cam
