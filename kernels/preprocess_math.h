// Element math of preprocessing: image resize and per-channel normalisation.
// Resize is PIL's Image.resize(size, BILINEAR) (Resample.c), the resize of torchvision's PIL pipelines,
// reproduced to the bit: separable triangle filter with half-pixel centres, widened by the scale factor when
// shrinking (antialias); windows and weights in double, normalised, then turned into 22-bit fixed-point
// coefficients; each pass accumulates integers from 2^21 (rounding), shifts and clamps to uint8; the
// horizontal pass first. Normalisation: x = (v * scale - mean) / std.
#pragma once
#include "host_device.h"

namespace cam {

constexpr int kResizePrecisionBits = 22;  // PIL's PRECISION_BITS (32 - 8 - 2)

// The source window of one output sample along one axis, with the normalising factor of its weights.
struct ResizeWindow {
  int first;           // first source index
  int count;           // number of source samples
  double center;       // source-space centre of the output sample
  double inv_support;  // 1 / filter scale (1 when enlarging)
  double inv_norm;     // 1 / sum of the raw weights (0 when they sum to 0)
};

CAM_HD double triangle_filter(double t) {
  t = t < 0.0 ? -t : t;
  return t < 1.0 ? 1.0 - t : 0.0;
}

CAM_HD double resize_raw_weight(const ResizeWindow& win, int k) {
  return triangle_filter((static_cast<double>(win.first + k) - win.center + 0.5) * win.inv_support);
}

CAM_HD ResizeWindow resize_window(int dst, int src_size, int dst_size) {
  const double scale = static_cast<double>(src_size) / static_cast<double>(dst_size);
  const double filter_scale = scale > 1.0 ? scale : 1.0;
  const double support = filter_scale;  // the triangle's support (1) times the filter scale
  ResizeWindow win;
  win.center = (static_cast<double>(dst) + 0.5) * scale;
  int lo = static_cast<int>(win.center - support + 0.5);
  int hi = static_cast<int>(win.center + support + 0.5);
  lo = lo < 0 ? 0 : lo;
  hi = hi > src_size ? src_size : hi;
  win.first = lo;
  win.count = hi - lo;
  win.inv_support = 1.0 / filter_scale;
  double sum = 0.0;
  for (int k = 0; k < win.count; ++k) sum += resize_raw_weight(win, k);
  win.inv_norm = sum != 0.0 ? 1.0 / sum : 0.0;
  return win;
}

// The k-th weight of the window as PIL's fixed-point coefficient (rounded half away from zero).
CAM_HD int resize_coefficient(const ResizeWindow& win, int k) {
  const double w = resize_raw_weight(win, k) * win.inv_norm * static_cast<double>(1 << kResizePrecisionBits);
  return w < 0.0 ? static_cast<int>(-0.5 + w) : static_cast<int>(0.5 + w);
}

// A pass's accumulator starts at half a unit, so that the final shift rounds.
constexpr int kResizeAccumulatorStart = 1 << (kResizePrecisionBits - 1);

CAM_HD unsigned char resize_to_u8(int accumulator) {
  const int v = accumulator >> kResizePrecisionBits;
  return static_cast<unsigned char>(v < 0 ? 0 : (v > 255 ? 255 : v));
}

CAM_HD float normalize_pixel(unsigned char v, float scale, float mean, float stddev) {
  return (static_cast<float>(v) * scale - mean) / stddev;
}

}  // namespace cam
