// Element math of the class activation map, as pytorch-grad-cam computes it (docs/conventions.md, steps 1-5):
//   m = ReLU(sum_k W[c,k] * A[i,j,k]);  m = (m - min) / (max - min + 1e-7);  bilinear upsample;  min-max
//   again.
// The bilinear rule is OpenCV INTER_LINEAR = PyTorch interpolate(bilinear, align_corners=False, no
// antialias): source coordinate (dst + 0.5) * src/dst - 0.5, clamped at the borders, two taps per axis.
#pragma once
#include "kernels/host_device.h"

namespace cam {

constexpr float kCamEps = 1e-7f;

// One axis of a bilinear resize: out[dst] = (1 - w1) * in[i0] + w1 * in[i1].
struct LinearTap {
  int i0;
  int i1;
  float w1;
};

CAM_HD LinearTap linear_tap(int dst, int src_size, int dst_size) {
  float src =
      (static_cast<float>(dst) + 0.5f) * (static_cast<float>(src_size) / static_cast<float>(dst_size)) - 0.5f;
  if (src < 0.0f) src = 0.0f;
  int i0 = static_cast<int>(src);
  if (i0 > src_size - 1) i0 = src_size - 1;
  int i1 = i0 + 1 < src_size ? i0 + 1 : src_size - 1;
  LinearTap t;
  t.i0 = i0;
  t.i1 = i1;
  t.w1 = src - static_cast<float>(i0);
  return t;
}

// Bilinear sample of a (h, w) row-major map at the taps of one output pixel.
CAM_HD float bilinear_sample(const float* map, int w, LinearTap ty, LinearTap tx) {
  float top = map[ty.i0 * w + tx.i0] * (1.0f - tx.w1) + map[ty.i0 * w + tx.i1] * tx.w1;
  float bottom = map[ty.i1 * w + tx.i0] * (1.0f - tx.w1) + map[ty.i1 * w + tx.i1] * tx.w1;
  return top * (1.0f - ty.w1) + bottom * ty.w1;
}

CAM_HD float relu(float v) {
  return v > 0.0f ? v : 0.0f;
}

// pytorch-grad-cam's scale_cam_image: subtract the min, divide by (1e-7 + max of the result).
CAM_HD float minmax_normalize(float v, float lo, float hi) {
  return (v - lo) / (kCamEps + (hi - lo));
}

}  // namespace cam
