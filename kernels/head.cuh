// Grad-CAM channel weights through an MLP head (GAP -> (Linear -> ReLU)* -> fc), in closed form on the
// device: for image i and slot j (class from topk (N, k) for j < k, else requested[j - k]): g = fc[class];
// for each hidden layer from the last: g = W^T (g * [activation > 0]); out (N, k + r, C) fp32.
// One block per (image, slot); g lives in shared memory (2 x the widest layer).
#pragma once
#include "kernels/common.cuh"

namespace cam {

struct HeadLayer {
  const float* weight;       // (out, in)
  const float* activations;  // (N, out), after ReLU
  int in;
  int out;
};

// layers: device array of `count` layers, first to last; max_dim: the widest in/out of them.
void launch_head_cam_weights(const HeadLayer* layers, int count, int max_dim, const float* fc_weight, int n,
                             const int* topk, int k, const int* requested, int r, float* out,
                             cudaStream_t stream);

}  // namespace cam
