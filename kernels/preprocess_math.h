// Element math of preprocessing: image resize and per-channel normalisation.
// Resize is separable, bilinear (triangle) filter with half-pixel centres; when shrinking the filter is
// widened by the scale factor (antialias), as PIL and torchvision's antialiased resize do. Each pass rounds
// to uint8, like PIL's 8-bit path that torchvision's ToTensor pipelines use. Normalisation: x = (v * scale -
// mean) / std.
#pragma once
#include "hd.h"

namespace cam {

// The source window of one output sample along one axis, with the normalising factor of its weights.
struct ResizeWindow {
  int first;          // first source index
  int count;          // number of source samples
  float center;       // source-space centre of the output sample
  float inv_support;  // 1 / filter half-width (1 when enlarging)
  float inv_norm;     // 1 / sum of the raw weights
};

CAM_HD float triangle_filter(float t) {
  t = t < 0.0f ? -t : t;
  return t < 1.0f ? 1.0f - t : 0.0f;
}

CAM_HD float resize_raw_weight(const ResizeWindow& win, int k) {
  return triangle_filter((static_cast<float>(win.first + k) - win.center + 0.5f) * win.inv_support);
}

CAM_HD ResizeWindow resize_window(int dst, int src_size, int dst_size) {
  float scale = static_cast<float>(src_size) / static_cast<float>(dst_size);
  float support = scale > 1.0f ? scale : 1.0f;
  ResizeWindow win;
  win.center = (static_cast<float>(dst) + 0.5f) * scale;
  int lo = static_cast<int>(win.center - support + 0.5f);
  int hi = static_cast<int>(win.center + support + 0.5f);
  lo = lo < 0 ? 0 : lo;
  hi = hi > src_size ? src_size : hi;
  win.first = lo;
  win.count = hi - lo;
  win.inv_support = 1.0f / support;
  float sum = 0.0f;
  win.inv_norm = 1.0f;
  for (int k = 0; k < win.count; ++k) sum += resize_raw_weight(win, k);
  win.inv_norm = sum > 0.0f ? 1.0f / sum : 0.0f;
  return win;
}

CAM_HD float resize_weight(const ResizeWindow& win, int k) {
  return resize_raw_weight(win, k) * win.inv_norm;
}

CAM_HD unsigned char round_to_u8(float v) {
  v = v < 0.0f ? 0.0f : (v > 255.0f ? 255.0f : v);
  return static_cast<unsigned char>(v + 0.5f);
}

CAM_HD float normalize_pixel(unsigned char v, float scale, float mean, float stddev) {
  return (static_cast<float>(v) * scale - mean) / stddev;
}

}  // namespace cam
