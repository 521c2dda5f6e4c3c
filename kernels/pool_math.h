// The pooling geometry every backend and test shares. The stem's max-pool: ResNet's 3x3 window, stride 2,
// padding 1 (padding never wins). ResNet-D's shortcut pool (timm's avg_down): nn.AvgPool2d(2, 2,
// ceil_mode=True, count_include_pad=False), so an odd last row or column is a window of its own, averaged
// over the pixels it holds. One definition of each, so the schedule, the kernels and the CPU ops agree.
#pragma once
#include "kernels/host_device.h"

namespace cam {

constexpr int kMaxPoolWindow = 3, kMaxPoolStride = 2, kMaxPoolPad = 1;
constexpr int kAvgDownWindow = 2;  // and its stride

// Output rows (or columns) of the max-pool for `in` input rows: (in + 2 * 1 - 3) / 2 + 1.
CAM_HD int max_pool_out_size(int in) {
  return (in + 2 * kMaxPoolPad - kMaxPoolWindow) / kMaxPoolStride + 1;
}

// Output rows (or columns) of the 2x2/2 average pool in ceil mode: ceil(in / 2).
CAM_HD int avg_down_out_size(int in) {
  return (in + 1) / 2;
}

// One output value of the 2x2/2 average pool at (oy, ox) of an NHWC image (h, w, c), channel ch; `at(i)`
// reads element i of the image as float. The sum runs row by row, as PyTorch's, then divides by the count.
template <typename Read>
CAM_HD float avg_down_value(const Read& at, int h, int w, int c, int oy, int ox, int ch) {
  const int k = kAvgDownWindow, y0 = k * oy, x0 = k * ox;
  const int y_end = y0 + k < h ? y0 + k : h, x_end = x0 + k < w ? x0 + k : w;
  float sum = 0.0f;
  for (int y = y0; y < y_end; ++y)
    for (int x = x0; x < x_end; ++x) sum += at((static_cast<long long>(y) * w + x) * c + ch);
  return sum / static_cast<float>((y_end - y0) * (x_end - x0));
}

}  // namespace cam
