// Pooling: max-pool 3x3 stride 2 pad 1, NHWC in the storage type, (N, H, W, C) -> (N, (H-1)/2+1, (W-1)/2+1,
// C); ResNet-D's shortcut average pool 2x2 stride 2 in ceil mode, padding not counted, (N, H, W, C) ->
// (N, (H+1)/2, (W+1)/2, C), fp32 sums (kernels/pool_math.h); global average pool (N, HW, C) storage -> (N, C)
// fp32 with fp32 accumulation (input of the fp32 FC).
#pragma once
#include "kernels/common.cuh"

namespace cam {

void launch_max_pool(Storage storage, const void* x, int n, int h, int w, int c, void* y,
                     cudaStream_t stream);
void launch_avg_down_pool(Storage storage, const void* x, int n, int h, int w, int c, void* y,
                          cudaStream_t stream);
void launch_global_avg_pool(Storage storage, const void* x, int n, int hw, int c, float* y,
                            cudaStream_t stream);

}  // namespace cam
