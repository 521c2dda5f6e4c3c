// Element math of preprocessing: image resize and per-channel normalisation.
// Resize, one of:
// - PIL's Image.resize(size, BILINEAR) and (size, BICUBIC) (Resample.c), the resizes of torchvision's and
//   timm's PIL pipelines, reproduced to the bit: a separable filter (triangle, support 1; or Keys' cubic with
//   a = -0.5, support 2, whose negative lobes can overshoot) with half-pixel centres, widened by the scale
//   factor when shrinking (antialias); windows and weights in double, normalised, then turned into 22-bit
//   fixed-point coefficients; each pass accumulates integers from 2^21 (rounding), shifts and clamps to
//   uint8; the passes in Pillow 13's order (pil_passes) or, for the pil12 modes, the horizontal one first.
// - PIL's Image.resize(size, NEAREST) (Geometry.c, ImagingScaleAffine), Keras load_img's default: output
//   sample i takes source index (int) p_i with p_0 = step / 2 and p_i = p_(i-1) + step in double (repeated
//   addition, as PIL does), step = source size / output size; expressed as a window of one sample with the
//   coefficient 2^22, so the same two passes copy it exactly.
// - OpenCV's cv2.resize(..., INTER_LINEAR) on uint8 (resize.cpp, as cv2 4.6 and 5.0 compute it on x86): two
//   taps per axis at half-pixel centres, positions in float from a double scale, 11-bit coefficients each
//   rounded half to even (cvRound); horizontally the taps at the borders are clamped with the weight on the
//   edge sample, vertically only the rows are clamped (the weights stay). The horizontal sums stay integers;
//   the vertical blend is the vector code's: ((h0 >> 4) * b0 >> 16) + ((h1 >> 4) * b1 >> 16), plus 2, >> 2.
//   An exact halving on both axes is cv2's INTER_AREA shortcut: (a + b + c + d + 2) >> 2.
// - OpenCV's cv2.resize(..., INTER_AREA) on uint8: when neither axis grows, each output pixel is the mean
//   of its cell [d * scale, (d + 1) * scale) of source pixels, partial samples weighted by their overlap
//   (computeResizeAreaTab, weights in float from double), summed in float in cv2's order (along the row, then
//   the rows each times its weight) and rounded half to even; whole-number scales on both axes take cv2's
//   integer shortcut (the sum times 1/area in float, rounded; exact halving: + 2, >> 2). When an axis grows,
//   cv2 uses the INTER_LINEAR machinery with its own positions: s = floor(d * scale), fraction
//   f = (d + 1) - (s + 1) / scale, 0 when negative, else its fractional part.
// No fused multiply-adds anywhere (the host compiles with -ffp-contract=off, the device uses __fmul_rn and
// __fadd_rn where the order matters), so host and device round alike.
// Normalisation: x = (v * scale - mean) / std.
#pragma once
#include "kernels/host_device.h"
#include "kernels/resize_mode.h"

namespace cam {

constexpr int kResizePrecisionBits = 22;  // PIL's PRECISION_BITS (32 - 8 - 2)

// The source window of one output sample along one axis, with the normalising factor of its weights.
struct ResizeWindow {
  int first;           // first source index
  int count;           // number of source samples
  double center;       // source-space centre of the output sample
  double inv_support;  // 1 / filter scale (1 when enlarging)
  double inv_norm;     // 1 / sum of the raw weights (0 when they sum to 0)
  bool whole;          // nearest: the one sample taken whole (coefficient 2^22)
  bool bicubic;        // the cubic filter, else the triangle
};

CAM_HD double triangle_filter(double t) {
  t = t < 0.0 ? -t : t;
  return t < 1.0 ? 1.0 - t : 0.0;
}

// PIL's bicubic_filter: Keys' cubic convolution kernel with a = -0.5, in PIL's operation order.
CAM_HD double bicubic_filter(double t) {
  constexpr double a = -0.5;
  t = t < 0.0 ? -t : t;
  if (t < 1.0) return ((a + 2.0) * t - (a + 3.0)) * t * t + 1;
  if (t < 2.0) return (((t - 5) * t + 8) * t - 4) * a;
  return 0.0;
}

CAM_HD bool is_bicubic(ResizeMode mode) {
  return mode == ResizeMode::kPilBicubic || mode == ResizeMode::kPil12Bicubic;
}

CAM_HD double resize_raw_weight(const ResizeWindow& win, int k) {
  const double t = (static_cast<double>(win.first + k) - win.center + 0.5) * win.inv_support;
  return win.bicubic ? bicubic_filter(t) : triangle_filter(t);
}

CAM_HD ResizeWindow resize_window(int dst, int src_size, int dst_size, ResizeMode mode) {
  const double scale = static_cast<double>(src_size) / static_cast<double>(dst_size);
  const double filter_scale = scale > 1.0 ? scale : 1.0;
  ResizeWindow win;
  win.bicubic = is_bicubic(mode);
  const double support = (win.bicubic ? 2.0 : 1.0) * filter_scale;  // the filter's support, widened
  win.whole = mode == ResizeMode::kPilNearest;
  if (win.whole) {
    double position = scale * 0.5;
    for (int i = 0; i < dst; ++i) position += scale;
    win.first = static_cast<int>(position);
    win.count = win.first < src_size ? 1 : 0;  // past the edge PIL leaves the pixel 0
    win.center = position, win.inv_support = 1.0, win.inv_norm = 1.0;
    return win;
  }
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
  if (win.whole) return 1 << kResizePrecisionBits;
  const double w = resize_raw_weight(win, k) * win.inv_norm * static_cast<double>(1 << kResizePrecisionBits);
  return w < 0.0 ? static_cast<int>(-0.5 + w) : static_cast<int>(0.5 + w);
}

CAM_HD double floor_of(double v) {
  const double t = static_cast<double>(static_cast<long long>(v));
  return t > v ? t - 1.0 : t;
}

// Where the network input (out_h, out_w) lies in the resized image: stretched (shorter 0: the image resized
// to the input itself), or torchvision's Resize(shorter) + CenterCrop((out_h, out_w)) as timm's and
// torchvision's eval transforms run it: the shorter side to `shorter`, the longer to int(shorter * long /
// short) (in double, as Python), then the centre window at round((size - out) / 2) (half to even, as Python's
// round). Each input sample is the resized image's sample (y + top, x + left), computed only there.
struct ResizeBox {
  int height, width;  // the resized image
  int top, left;      // the input's first row and column in it
};

CAM_HD int half_rounded_even(int d) {  // round(d / 2.0) for d >= 0
  const int half = d / 2;
  return (d % 2 && half % 2) ? half + 1 : half;
}

CAM_HD ResizeBox resize_box(int in_h, int in_w, int out_h, int out_w, int shorter) {
  ResizeBox b;
  if (shorter <= 0) {
    b.height = out_h, b.width = out_w, b.top = 0, b.left = 0;
    return b;
  }
  const bool tall = in_w <= in_h;
  const int longer =
      static_cast<int>(static_cast<double>(shorter) * (tall ? in_h : in_w) / (tall ? in_w : in_h));
  b.height = tall ? longer : shorter, b.width = tall ? shorter : longer;
  b.top = half_rounded_even(b.height - out_h), b.left = half_rounded_even(b.width - out_w);
  return b;
}

// The part of the original photo (in its pixels) that the input covers, where overlays, peaks and boxes
// place the maps: the whole photo when stretched; with a crop, the crop's edges mapped back and rounded,
// [round(left * in_w / width), round((left + out_w) * in_w / width)) across, the same down.
struct MapRegion {
  int x0, y0, width, height;
};

CAM_HD int scaled_edge(int edge, int in_size, int resized) {
  const int v = static_cast<int>(floor_of(static_cast<double>(edge) * in_size / resized + 0.5));
  return v < 0 ? 0 : (v > in_size ? in_size : v);
}

CAM_HD MapRegion map_region(int in_h, int in_w, const ResizeBox& box, int out_h, int out_w) {
  MapRegion r;
  r.x0 = scaled_edge(box.left, in_w, box.width), r.y0 = scaled_edge(box.top, in_h, box.height);
  r.width = scaled_edge(box.left + out_w, in_w, box.width) - r.x0;
  r.height = scaled_edge(box.top + out_h, in_h, box.height) - r.y0;
  r.width = r.width < 1 ? 1 : r.width, r.height = r.height < 1 ? 1 : r.height;
  return r;
}

// The order of PIL's two filter passes and the size of the image between them. Pillow 13 runs the vertical
// pass first when the height shrinks by more than twice as many pixels as the width (Resample.c); Pillow up
// to 12 (Debian 12's 9.4) always ran the horizontal one first (the pil12 modes), as nearest has no order.
// The order is the full resize's (box); only the input's window of it is computed.
struct PilPasses {
  bool vertical_first;
  int rows, cols;  // the intermediate image: (in_h, out_w), or (out_h, in_w) when vertical first
};

CAM_HD PilPasses pil_passes(int in_h, int in_w, const ResizeBox& box, int out_h, int out_w, ResizeMode mode) {
  const bool vertical = (mode == ResizeMode::kPilBilinear || mode == ResizeMode::kPilBicubic) &&
                        in_h - box.height > 0 && in_h - box.height > 2 * (in_w - box.width);
  PilPasses p;
  p.vertical_first = vertical, p.rows = vertical ? out_h : in_h, p.cols = vertical ? in_w : out_w;
  return p;
}

// A pass's accumulator starts at half a unit, so that the final shift rounds.
constexpr int kResizeAccumulatorStart = 1 << (kResizePrecisionBits - 1);

CAM_HD unsigned char resize_to_u8(int accumulator) {
  const int v = accumulator >> kResizePrecisionBits;
  return static_cast<unsigned char>(v < 0 ? 0 : (v > 255 ? 255 : v));
}

// One output index of cv2's INTER_LINEAR along an axis: the two source indices and their 11-bit weights.
struct CvLinearTap {
  int first, second;  // source indices, clamped to the image
  int w0, w1;         // weights out of 2048
};

CAM_HD int round_half_even(float v) {  // cvRound for v >= 0
  const float t = v + 0.5f;
  int r = static_cast<int>(t);
  if (static_cast<float>(r) == t && (r & 1)) --r;
  return r;
}

// area: INTER_AREA's positions on an axis that grows (see above); otherwise INTER_LINEAR's.
CAM_HD CvLinearTap cv_linear_tap(int dst, int src_size, int dst_size, bool horizontal, bool area) {
  const double inv_scale = static_cast<double>(dst_size) / static_cast<double>(src_size);
  const double scale = 1.0 / inv_scale;
  float f;
  int s;
  if (area) {
    s = static_cast<int>(floor_of(dst * scale));
    f = static_cast<float>((dst + 1) - (s + 1) * inv_scale);
    f = f <= 0.0f ? 0.0f : f - static_cast<float>(floor_of(f));
  } else {
    f = static_cast<float>((dst + 0.5) * scale - 0.5);
    s = static_cast<int>(floor_of(f));
    f -= static_cast<float>(s);
  }
  if (horizontal && (s < 0 || s >= src_size - 1)) f = 0.0f, s = s < 0 ? 0 : src_size - 1;
  CvLinearTap t;
  t.first = s < 0 ? 0 : (s > src_size - 1 ? src_size - 1 : s);
  t.second = s + 1 < 0 ? 0 : (s + 1 > src_size - 1 ? src_size - 1 : s + 1);
  t.w0 = round_half_even((1.0f - f) * 2048.0f);
  t.w1 = round_half_even(f * 2048.0f);
  return t;
}

// The vertical blend of two horizontal sums (each pixel x weight, up to 255 x 2048) into a uint8.
CAM_HD unsigned char cv_linear_blend(int row0, int row1, int w0, int w1) {
  const int v = ((((row0 >> 4) * w0) >> 16) + (((row1 >> 4) * w1) >> 16) + 2) >> 2;
  return static_cast<unsigned char>(v < 0 ? 0 : (v > 255 ? 255 : v));
}

// INTER_AREA's cell of output index d on a shrinking axis: source samples first..last, the first and last
// possibly partial.
struct CvAreaCell {
  double start, end, width;    // [d * scale, d * scale + scale), width min(scale, size - start)
  int whole_first, whole_end;  // the whole samples [whole_first, whole_end)
  bool left, right;            // a partial sample before / at whole_end
};

CAM_HD CvAreaCell cv_area_cell(int d, int src_size, double scale) {
  CvAreaCell c;
  c.start = d * scale, c.end = c.start + scale;
  c.width = scale < src_size - c.start ? scale : src_size - c.start;
  const double floor_start = floor_of(c.start);
  int first = static_cast<int>(floor_start) + (floor_start < c.start ? 1 : 0);  // ceil
  int end = static_cast<int>(floor_of(c.end));
  end = end < src_size - 1 ? end : src_size - 1;
  first = first < end ? first : end;
  c.whole_first = first, c.whole_end = end;
  c.left = first - c.start > 1e-3, c.right = c.end - end > 1e-3;
  return c;
}

// The cell's weight of source sample s, as cv2's table has it (float).
CAM_HD float cv_area_weight(const CvAreaCell& c, int s) {
  if (c.left && s == c.whole_first - 1) return static_cast<float>((c.whole_first - c.start) / c.width);
  if (s >= c.whole_first && s < c.whole_end) return static_cast<float>(1.0 / c.width);
  const double tail = c.end - c.whole_end < 1.0 ? c.end - c.whole_end : 1.0;
  return static_cast<float>((tail < c.width ? tail : c.width) / c.width);  // c.right && s == c.whole_end
}

// Whether INTER_AREA averages cells (neither axis grows), and whether with its integer shortcut.
CAM_HD bool cv_area_shrinks(int src_h, int src_w, int dst_h, int dst_w) {
  return dst_h <= src_h && dst_w <= src_w;
}
// cv2's test: scale = 1 / (dst / src) within DBL_EPSILON of its rounding on both axes; the factor, or 0.
CAM_HD int cv_area_integer_scale(int src_size, int dst_size) {
  const double scale = 1.0 / (static_cast<double>(dst_size) / static_cast<double>(src_size));
  const int k = static_cast<int>(floor_of(scale + 0.5));
  const double off = scale - k;
  return (off < 0 ? -off : off) < 2.220446049250313e-16 ? k : 0;
}

// cv2 resizes an exact halving on both axes with its INTER_AREA shortcut, even for INTER_LINEAR.
CAM_HD bool cv_linear_is_halving(int src_h, int src_w, int dst_h, int dst_w) {
  return cv_area_integer_scale(src_h, dst_h) == 2 && cv_area_integer_scale(src_w, dst_w) == 2;
}

// An INTER_AREA output pixel (3 channels) on shrinking axes; src is (src_h, src_w, 3) uint8.
CAM_HD void cv_area_pixel(const unsigned char* src, int src_h, int src_w, int dst_h, int dst_w, int x, int y,
                          unsigned char* out) {
  const int kx = cv_area_integer_scale(src_w, dst_w), ky = cv_area_integer_scale(src_h, dst_h);
  if (kx && ky) {
    int sum[3] = {0, 0, 0};
    for (int j = 0; j < ky; ++j)
      for (int i = 0; i < kx; ++i)
        for (int c = 0; c < 3; ++c)
          sum[c] += src[((y * ky + j) * static_cast<long long>(src_w) + x * kx + i) * 3 + c];
    for (int c = 0; c < 3; ++c) {
      const int v =
          kx == 2 && ky == 2
              ? (sum[c] + 2) >> 2
              : round_half_even(mul_rn(static_cast<float>(sum[c]), 1.0f / static_cast<float>(kx * ky)));
      out[c] = static_cast<unsigned char>(v > 255 ? 255 : v);
    }
    return;
  }
  const CvAreaCell cx = cv_area_cell(x, src_w, 1.0 / (static_cast<double>(dst_w) / src_w));
  const CvAreaCell cy = cv_area_cell(y, src_h, 1.0 / (static_cast<double>(dst_h) / src_h));
  float sum[3] = {0.0f, 0.0f, 0.0f};
  for (int sy = cy.whole_first - (cy.left ? 1 : 0); sy < cy.whole_end + (cy.right ? 1 : 0); ++sy) {
    float row[3] = {0.0f, 0.0f, 0.0f};
    const unsigned char* line = src + static_cast<long long>(sy) * src_w * 3;
    for (int sx = cx.whole_first - (cx.left ? 1 : 0); sx < cx.whole_end + (cx.right ? 1 : 0); ++sx) {
      const float alpha = cv_area_weight(cx, sx);
      for (int c = 0; c < 3; ++c)
        row[c] = add_rn(row[c], mul_rn(static_cast<float>(line[sx * 3 + c]), alpha));
    }
    const float beta = cv_area_weight(cy, sy);
    for (int c = 0; c < 3; ++c) sum[c] = add_rn(sum[c], mul_rn(beta, row[c]));
  }
  for (int c = 0; c < 3; ++c) {
    const int v = round_half_even(sum[c]);
    out[c] = static_cast<unsigned char>(v > 255 ? 255 : v);
  }
}

CAM_HD float normalize_pixel(float v, float scale, float mean,
                             float stddev) {  // v: uint8 or TensorFlow's float
  return (v * scale - mean) / stddev;
}

}  // namespace cam
