// Per-image head of the network on the device: logits += bias (the FC GEMM writes W x only), softmax into
// probs, and the indices of the k most probable classes (ties: lower index first), all without a host round
// trip so the CAM kernel can read its classes directly. logits, probs: (N, classes) fp32; topk: (N, k) int.
#pragma once
#include "kernels/common.cuh"

namespace cam {

void launch_softmax_topk(float* logits, const float* bias, int n, int classes, int k, float* probs, int* topk,
                         cudaStream_t stream);

}  // namespace cam
