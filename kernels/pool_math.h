// The max-pool geometry every backend and test shares: ResNet's 3x3 window, stride 2, padding 1 (padding
// never wins). One definition of the output size, so the schedule, the kernels and the CPU ops agree.
#pragma once
#include "kernels/host_device.h"

namespace cam {

constexpr int kMaxPoolWindow = 3, kMaxPoolStride = 2, kMaxPoolPad = 1;

// Output rows (or columns) of the max-pool for `in` input rows: (in + 2 * 1 - 3) / 2 + 1.
CAM_HD int max_pool_out_size(int in) {
  return (in + 2 * kMaxPoolPad - kMaxPoolWindow) / kMaxPoolStride + 1;
}

}  // namespace cam
