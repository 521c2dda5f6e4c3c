// Grad-CAM++ channel weights on the device, by the CPU's formula (gradcam_plusplus_channel_weight in
// cam_methods_math.h): for image i and slot j (class topk[i, j] for j < k, else requested[j - k]),
//   out[i, j, c] = gradcam_plusplus_channel_weight(g, S, hw), g = map_weights[i, j, c] when given (an MLP
//   head's gradient, kernels/head.cuh) else fc[class, c]; S = pooled[i, c] * hw, the channel's activation
//   sum; pooled (N, C) fp32, out (N, k + r, C) fp32, which launch_cam then takes as its map_weights.
// One block per (image, slot), threads over the channels: the weights are a closed form, so no activation
// leaves the device (pytorch-grad-cam runs a backward pass and copies them to the host).
#pragma once
#include "kernels/common.cuh"

namespace cam {

void launch_gradcam_plusplus_weights(const float* pooled, int hw, const float* fc_weight,
                                     const float* map_weights, int n, int channels, const int* topk, int k,
                                     const int* requested, int r, float* out, cudaStream_t stream);

}  // namespace cam
