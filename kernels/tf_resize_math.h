// Element math of TensorFlow's tf.image.resize(images, size, "bilinear") on uint8 images, whose output is
// float32 (no rounding to uint8: the engine normalises these floats directly). Two modes:
// - antialias=False (the default, what Keras' image_dataset_from_directory runs): the ResizeBilinear op with
//   half-pixel centres. Per axis, in float: scale = in / out, p = (d + 0.5) * scale - 0.5, lower =
//   max(floor(p), 0), upper = min(ceil(p), in - 1), lerp = p - floor(p); per pixel top = tl + (tr - tl) * xl,
//   bottom = bl + (br - bl) * xl, out = top + (bottom - top) * yl.
// - antialias=True: the ScaleAndTranslate op with the triangle kernel, widened by 1 / scale when shrinking.
//   Per axis, in float: scale = out / in, inv = 1 / scale (divided in double, as the op does), kernel scale
//   k = max(inv, 1), sample s = (d + 0.5) * inv, the span [ceil(s - k - 0.5), floor(s + k - 0.5)] clamped to
//   the image, weights triangle(|j + 0.5 - s| / k) each times 1 / their float sum. Rows first: (out_h, in_w)
//   float sums from 0 in span order of v * w; then columns: out = 0, out += w * row value, in span order.
// All in float without fused multiply-adds (mul_rn / add_rn), so host and device give TensorFlow's floats.
#pragma once
#include "kernels/host_device.h"
#include "kernels/resize_mode.h"

namespace cam {

CAM_HD bool is_tf_resize(ResizeMode mode) {
  return mode == ResizeMode::kTfBilinear || mode == ResizeMode::kTfBilinearAntialias;
}

CAM_HD float floor_float(float v) {
  const float t = static_cast<float>(static_cast<long long>(v));
  return t > v ? t - 1.0f : t;
}

// ResizeBilinear's cached interpolation of output index d along an axis.
struct TfBilinearTap {
  int lower, upper;  // source indices
  float lerp;        // the weight of upper
};

CAM_HD TfBilinearTap tf_bilinear_tap(int d, int in_size, int out_size) {
  const float scale = static_cast<float>(in_size) / static_cast<float>(out_size);
  const float p = add_rn(mul_rn(static_cast<float>(d) + 0.5f, scale), -0.5f);
  const float lo = floor_float(p);
  const float hi = lo == p ? lo : lo + 1.0f;  // ceil
  TfBilinearTap t;
  t.lower = lo < 0.0f ? 0 : static_cast<int>(lo);
  t.upper = static_cast<int>(hi) < in_size - 1 ? static_cast<int>(hi) : in_size - 1;
  t.upper = t.upper < 0 ? 0 : t.upper;
  t.lerp = add_rn(p, -lo);
  return t;
}

CAM_HD float tf_lerp(float a, float b, float t) {
  return add_rn(a, mul_rn(add_rn(b, -a), t));
}

// One output pixel's channel c of ResizeBilinear; src is (h, w, 3) uint8.
CAM_HD float tf_bilinear_value(const unsigned char* src, int w, const TfBilinearTap& across,
                               const TfBilinearTap& down, int c) {
  const unsigned char* top = src + static_cast<long long>(down.lower) * w * 3;
  const unsigned char* bottom = src + static_cast<long long>(down.upper) * w * 3;
  const float t = tf_lerp(top[across.lower * 3 + c], top[across.upper * 3 + c], across.lerp);
  const float b = tf_lerp(bottom[across.lower * 3 + c], bottom[across.upper * 3 + c], across.lerp);
  return tf_lerp(t, b, down.lerp);
}

// ScaleAndTranslate's span of output index d along an axis: first source index, count, and what the weights
// need (count 0: the sample falls outside the image and the output is 0).
struct TfSpan {
  int first, count;
  float sample;            // source-space position of the output sample
  float inv_kernel_scale;  // 1 / max(1 / scale, 1)
  float inv_total;         // 1 / the sum of the raw weights (0 when it is too small, as the op leaves them)
};

CAM_HD float tf_triangle(float x) {
  x = x < 0.0f ? -x : x;
  return x < 1.0f ? 1.0f - x : 0.0f;
}

CAM_HD float tf_span_raw_weight(const TfSpan& s, int k) {
  const float pos = add_rn(add_rn(static_cast<float>(s.first + k), 0.5f), -s.sample);
  return tf_triangle(mul_rn(pos < 0.0f ? -pos : pos, s.inv_kernel_scale));
}

CAM_HD TfSpan tf_antialias_span(int d, int in_size, int out_size) {
  const float scale = static_cast<float>(out_size) / static_cast<float>(in_size);
  const float inv_scale = static_cast<float>(1.0 / static_cast<double>(scale));
  const float kernel_scale = inv_scale > 1.0f ? inv_scale : 1.0f;
  TfSpan s;
  s.inv_kernel_scale = 1.0f / kernel_scale;
  s.sample = mul_rn(static_cast<float>(d) + 0.5f, inv_scale);
  s.first = 0, s.count = 0, s.inv_total = 0.0f;
  if (s.sample < 0.0f || s.sample > static_cast<float>(in_size)) return s;
  const float lo = add_rn(add_rn(s.sample, -kernel_scale), -0.5f),
              hi = add_rn(add_rn(s.sample, kernel_scale), -0.5f);
  const float lo_floor = floor_float(lo);
  long long start = static_cast<long long>(lo_floor == lo ? lo : lo_floor + 1.0f);  // ceil
  long long end = static_cast<long long>(floor_float(hi));
  start = start < 0 ? 0 : (start > in_size - 1 ? in_size - 1 : start);
  end = (end < 0 ? 0 : (end > in_size - 1 ? in_size - 1 : end)) + 1;
  s.first = static_cast<int>(start), s.count = static_cast<int>(end - start);
  float total = 0.0f;
  for (int k = 0; k < s.count; ++k) total = add_rn(total, tf_span_raw_weight(s, k));
  s.inv_total = (total < 0.0f ? -total : total) >= 1000.0f * 1.17549435e-38f ? 1.0f / total : 0.0f;
  return s;
}

CAM_HD float tf_span_weight(const TfSpan& s, int k) {
  return mul_rn(tf_span_raw_weight(s, k), s.inv_total);
}

// One output pixel's three channels of ScaleAndTranslate (rows pass, then columns); src is (h, w, 3) uint8.
CAM_HD void tf_antialias_pixel(const unsigned char* src, int w, const TfSpan& across, const TfSpan& down,
                               float* out) {
  out[0] = out[1] = out[2] = 0.0f;
  for (int i = 0; i < across.count; ++i) {
    float column[3] = {0.0f, 0.0f, 0.0f};
    for (int j = 0; j < down.count; ++j) {
      const unsigned char* p = src + (static_cast<long long>(down.first + j) * w + across.first + i) * 3;
      const float wy = tf_span_weight(down, j);
      for (int c = 0; c < 3; ++c) column[c] = add_rn(column[c], mul_rn(static_cast<float>(p[c]), wy));
    }
    const float wx = tf_span_weight(across, i);
    for (int c = 0; c < 3; ++c) out[c] = add_rn(out[c], mul_rn(wx, column[c]));
  }
}

}  // namespace cam
