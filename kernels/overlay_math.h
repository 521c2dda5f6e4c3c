// Element math of the overlay, as pytorch-grad-cam's show_cam_on_image(img, mask, use_rgb=True, JET, w):
//   heat = JET[uint8(255 * mask)] / 255;  out = (1 - w) * heat + w * img / 255;  out /= max(out);  uint8(255
//   * out).
// The division by the image-wide max needs a reduction between the two steps, so the math is two functions.
#pragma once
#include "kernels/host_device.h"

namespace cam {

// Blends one pixel: mask in [0, 1], rgb the image pixel, jet a 256x3 RGB table; writes three floats in [0,
// 1].
CAM_HD void overlay_blend(float mask, const unsigned char* rgb, const unsigned char* jet, float image_weight,
                          float* out) {
  int index = static_cast<int>(255.0f * mask);
  index = index < 0 ? 0 : (index > 255 ? 255 : index);
  for (int c = 0; c < 3; ++c) {
    float heat = static_cast<float>(jet[index * 3 + c]) / 255.0f;
    float img = static_cast<float>(rgb[c]) / 255.0f;
    out[c] = (1.0f - image_weight) * heat + image_weight * img;
  }
}

// Final scaling by the image-wide maximum and truncation to uint8 (NumPy astype semantics).
CAM_HD unsigned char overlay_quantize(float blended, float max_blended) {
  float v = 255.0f * (blended / max_blended);
  v = v < 0.0f ? 0.0f : (v > 255.0f ? 255.0f : v);
  return static_cast<unsigned char>(v);
}

}  // namespace cam
