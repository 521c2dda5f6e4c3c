// CPU ops over the shared element math. Loops are plain and parallel over the outermost independent axis.
#include "engine/ops/cpu_ops.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "kernels/bn_act_math.h"
#include "kernels/cam_math.h"
#include "kernels/colormap_table.h"
#include "kernels/overlay_math.h"
#include "kernels/pool_math.h"
#include "kernels/preprocess_math.h"
#include "kernels/tf_resize_math.h"

namespace cam {

void bn_act_cpu(const float* x, const float* shift, const float* residual, bool relu, int64_t pixels,
                int channels, float* y) {
#pragma omp parallel for schedule(static)
  for (int64_t p = 0; p < pixels; ++p) {
    const int64_t row = p * channels;
    for (int c = 0; c < channels; ++c)
      y[row + c] = bn_act(x[row + c], shift[c], residual ? residual[row + c] : 0.0f, relu);
  }
}

void max_pool_cpu(const float* x, int n, int h, int w, int c, float* y) {
  const int oh = max_pool_out_size(h), ow = max_pool_out_size(w);
#pragma omp parallel for collapse(2) schedule(static)
  for (int b = 0; b < n; ++b)
    for (int oy = 0; oy < oh; ++oy)
      for (int ox = 0; ox < ow; ++ox) {
        float* out = y + ((static_cast<int64_t>(b) * oh + oy) * ow + ox) * c;
        for (int ch = 0; ch < c; ++ch) out[ch] = -std::numeric_limits<float>::infinity();
        for (int ky = 2 * oy - 1; ky <= 2 * oy + 1; ++ky)
          for (int kx = 2 * ox - 1; kx <= 2 * ox + 1; ++kx) {
            if (ky < 0 || ky >= h || kx < 0 || kx >= w) continue;
            const float* in = x + ((static_cast<int64_t>(b) * h + ky) * w + kx) * c;
            for (int ch = 0; ch < c; ++ch) out[ch] = std::max(out[ch], in[ch]);
          }
      }
}

void avg_down_pool_cpu(const float* x, int n, int h, int w, int c, float* y) {
  const int oh = avg_down_out_size(h), ow = avg_down_out_size(w);
#pragma omp parallel for collapse(2) schedule(static)
  for (int b = 0; b < n; ++b)
    for (int oy = 0; oy < oh; ++oy) {
      const float* image = x + static_cast<int64_t>(b) * h * w * c;
      auto at = [&](long long i) { return image[i]; };
      for (int ox = 0; ox < ow; ++ox) {
        float* out = y + ((static_cast<int64_t>(b) * oh + oy) * ow + ox) * c;
        for (int ch = 0; ch < c; ++ch) out[ch] = avg_down_value(at, h, w, c, oy, ox, ch);
      }
    }
}

void global_avg_pool_cpu(const float* x, int n, int hw, int c, float* y) {
#pragma omp parallel for schedule(static)
  for (int b = 0; b < n; ++b) {
    float* out = y + static_cast<int64_t>(b) * c;
    std::fill(out, out + c, 0.0f);
    for (int p = 0; p < hw; ++p) {
      const float* in = x + (static_cast<int64_t>(b) * hw + p) * c;
      for (int ch = 0; ch < c; ++ch) out[ch] += in[ch];
    }
    for (int ch = 0; ch < c; ++ch) out[ch] /= static_cast<float>(hw);
  }
}

void linear_cpu(const float* x, int n, int in, const float* w, const float* b, int out, float* y) {
#pragma omp parallel for collapse(2) schedule(static)
  for (int r = 0; r < n; ++r)
    for (int o = 0; o < out; ++o) {
      // Eight running sums (vectorisable, a fixed order for every batch size), added pairwise at the end.
      const float* xr = x + static_cast<int64_t>(r) * in;
      const float* wo = w + static_cast<int64_t>(o) * in;
      float acc[8] = {};
      int i = 0;
      for (; i + 8 <= in; i += 8)
        for (int j = 0; j < 8; ++j) acc[j] += xr[i + j] * wo[i + j];
      for (; i < in; ++i) acc[i % 8] += xr[i] * wo[i];
      float sum = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
      y[static_cast<int64_t>(r) * out + o] = sum + (b ? b[o] : 0.0f);
    }
}

void softmax_cpu(const float* logits, int n, int classes, float* probs) {
  for (int r = 0; r < n; ++r) {
    const float* l = logits + static_cast<int64_t>(r) * classes;
    float* p = probs + static_cast<int64_t>(r) * classes;
    float mx = *std::max_element(l, l + classes);
    float sum = 0.0f;
    for (int k = 0; k < classes; ++k) sum += (p[k] = std::exp(l[k] - mx));
    for (int k = 0; k < classes; ++k) p[k] /= sum;
  }
}

std::vector<int> topk_cpu(const float* values, int count, int k) {
  std::vector<int> order(count);
  for (int i = 0; i < count; ++i) order[i] = i;
  k = std::min(k, count);
  std::partial_sort(order.begin(), order.begin() + k, order.end(),
                    [&](int a, int b) { return values[a] > values[b] || (values[a] == values[b] && a < b); });
  order.resize(k);
  return order;
}

void head_cam_weights_cpu(const std::vector<const float*>& weights, const std::vector<int>& ins,
                          const std::vector<int>& outs, const std::vector<const float*>& activations,
                          const float* fc_row, float* out) {
  std::vector<float> g(fc_row, fc_row + outs.back()), next;
  for (size_t l = weights.size(); l-- > 0;) {
    next.assign(ins[l], 0.0f);
    for (int o = 0; o < outs[l]; ++o) {
      const float go = activations[l][o] > 0.0f ? g[o] : 0.0f;
      if (go == 0.0f) continue;
      for (int i = 0; i < ins[l]; ++i) next[i] += weights[l][static_cast<size_t>(o) * ins[l] + i] * go;
    }
    g.swap(next);
  }
  std::copy(g.begin(), g.end(), out);
}

void resize_map_cpu(const float* in, int ih, int iw, float* out, int oh, int ow) {
  for (int y = 0; y < oh; ++y) {
    LinearTap ty = linear_tap(y, ih, oh);
    for (int x = 0; x < ow; ++x)
      out[static_cast<int64_t>(y) * ow + x] = bilinear_sample(in, iw, ty, linear_tap(x, iw, ow));
  }
}

namespace {

void minmax_normalize_map(float* m, int64_t count) {
  float lo = *std::min_element(m, m + count), hi = *std::max_element(m, m + count);
  for (int64_t i = 0; i < count; ++i) m[i] = minmax_normalize(m[i], lo, hi);
}

}  // namespace

void class_map_cpu(const float* features, int h, int w, int c, const float* weights, int out_h, int out_w,
                   float* lowres, float* out) {
  for (int p = 0; p < h * w; ++p) {
    float acc = 0.0f;
    const float* a = features + static_cast<int64_t>(p) * c;
    for (int k = 0; k < c; ++k) acc += weights[k] * a[k];
    lowres[p] = acc;
  }
  finish_map_cpu(lowres, h, w, out_h, out_w, out);
}

void finish_map_cpu(float* lowres, int h, int w, int out_h, int out_w, float* out) {
  for (int p = 0; p < h * w; ++p) lowres[p] = relu(lowres[p]);
  minmax_normalize_map(lowres, h * w);
  resize_map_cpu(lowres, h, w, out, out_h, out_w);
  minmax_normalize_map(out, static_cast<int64_t>(out_h) * out_w);
}

void overlay_cpu(const float* map, int mh, int mw, const uint8_t* rgb, int h, int w, const MapRegion& region,
                 float image_weight, int colormap, uint8_t* out) {
  const int rw = region.width, rh = region.height;
  const int64_t pixels = static_cast<int64_t>(rh) * rw;
  std::vector<float> mask(pixels), blended(pixels * 3);
  resize_map_cpu(map, mh, mw, mask.data(), rh, rw);
  for (int y = 0; y < rh; ++y)
    for (int x = 0; x < rw; ++x) {
      const int64_t p = static_cast<int64_t>(y) * rw + x;
      overlay_blend(mask[p], rgb + ((static_cast<int64_t>(region.y0) + y) * w + region.x0 + x) * 3,
                    kColormaps[colormap], image_weight, &blended[p * 3]);
    }
  const float mx = *std::max_element(blended.begin(), blended.end());
  if (rw != w || rh != h) std::copy(rgb, rgb + static_cast<int64_t>(h) * w * 3, out);  // outside: the photo
  for (int y = 0; y < rh; ++y)
    for (int i = 0; i < rw * 3; ++i)
      out[((static_cast<int64_t>(region.y0) + y) * w + region.x0) * 3 + i] =
          overlay_quantize(blended[static_cast<int64_t>(y) * rw * 3 + i], mx);
}

namespace {

// One axis of a resize: the source window and fixed-point coefficients of output indices [first_out,
// first_out + count) of a resize to full_out, computed once (resize_window and resize_coefficient are per
// sample, as the GPU kernel uses them).
struct ResizeAxis {
  std::vector<int> first, count;  // (count)
  std::vector<int> coefficients;  // (count, width) padded with zeros
  int width = 0;                  // the widest window

  ResizeAxis(int in_size, int full_out, int first_out, int out_count, ResizeMode mode)
      : first(out_count), count(out_count) {
    std::vector<ResizeWindow> windows(out_count);
    for (int o = 0; o < out_count; ++o) {
      windows[o] = resize_window(first_out + o, in_size, full_out, mode);
      first[o] = windows[o].first, count[o] = windows[o].count;
      width = std::max(width, count[o]);
    }
    coefficients.assign(static_cast<size_t>(out_count) * width, 0);
    for (int o = 0; o < out_count; ++o)
      for (int k = 0; k < count[o]; ++k)
        coefficients[static_cast<size_t>(o) * width + k] = resize_coefficient(windows[o], k);
  }
};

// cv2's INTER_LINEAR and INTER_AREA (preprocess_math.h): cell averages per pixel when INTER_AREA shrinks (or
// INTER_LINEAR halves); otherwise, per output row, the horizontal sums of its two source rows, blended.
void resize_cv(const uint8_t* in, int ih, int iw, const ResizeBox& box, uint8_t* out, int oh, int ow,
               ResizeMode mode) {
  const int64_t row = static_cast<int64_t>(ow) * 3;
  const bool area = mode == ResizeMode::kCvArea;
  if (cv_area_shrinks(ih, iw, box.height, box.width) &&
      (area || cv_linear_is_halving(ih, iw, box.height, box.width))) {
    for (int y = 0; y < oh; ++y)
      for (int x = 0; x < ow; ++x)
        cv_area_pixel(in, ih, iw, box.height, box.width, x + box.left, y + box.top, out + y * row + x * 3);
    return;
  }
  std::vector<CvLinearTap> across(ow);
  for (int x = 0; x < ow; ++x) across[x] = cv_linear_tap(x + box.left, iw, box.width, true, area);
  std::vector<int> sums[2] = {std::vector<int>(static_cast<size_t>(row)),
                              std::vector<int>(static_cast<size_t>(row))};
  for (int y = 0; y < oh; ++y) {
    const CvLinearTap down = cv_linear_tap(y + box.top, ih, box.height, false, area);
    for (int k = 0; k < 2; ++k) {
      const uint8_t* src = in + static_cast<int64_t>(k ? down.second : down.first) * iw * 3;
      for (int x = 0; x < ow; ++x)
        for (int c = 0; c < 3; ++c)
          sums[k][x * 3 + c] =
              src[across[x].first * 3 + c] * across[x].w0 + src[across[x].second * 3 + c] * across[x].w1;
    }
    for (int64_t v = 0; v < row; ++v)
      out[y * row + v] = cv_linear_blend(sums[0][v], sums[1][v], down.w0, down.w1);
  }
}

// PIL's horizontal pass: (h, in_w) -> (h, axis's count) with uint8 rounding.
void resize_horizontal(const uint8_t* in, int h, int in_w, const ResizeAxis& across, int out_w,
                       uint8_t* out) {
  for (int y = 0; y < h; ++y) {
    const uint8_t* src = in + static_cast<int64_t>(y) * in_w * 3;
    uint8_t* dst = out + static_cast<int64_t>(y) * out_w * 3;
    for (int x = 0; x < out_w; ++x) {
      const int* k = &across.coefficients[static_cast<size_t>(x) * across.width];
      const uint8_t* p = src + static_cast<int64_t>(across.first[x]) * 3;
      int r = kResizeAccumulatorStart, g = r, b = r;
      for (int j = 0; j < across.count[x]; ++j)
        r += k[j] * p[j * 3], g += k[j] * p[j * 3 + 1], b += k[j] * p[j * 3 + 2];
      dst[x * 3] = resize_to_u8(r), dst[x * 3 + 1] = resize_to_u8(g), dst[x * 3 + 2] = resize_to_u8(b);
    }
  }
}

// PIL's vertical pass: (in_h, w) -> (axis's count, w) with uint8 rounding.
void resize_vertical(const uint8_t* in, int w, const ResizeAxis& down, int out_h, uint8_t* out) {
  const int64_t row = static_cast<int64_t>(w) * 3;
  std::vector<int> acc(static_cast<size_t>(row));
  for (int y = 0; y < out_h; ++y) {
    const int* k = &down.coefficients[static_cast<size_t>(y) * down.width];
    std::fill(acc.begin(), acc.end(), kResizeAccumulatorStart);
    for (int j = 0; j < down.count[y]; ++j) {
      const uint8_t* src = in + (down.first[y] + j) * row;
      for (int64_t v = 0; v < row; ++v) acc[v] += k[j] * src[v];
    }
    uint8_t* dst = out + y * row;
    for (int64_t v = 0; v < row; ++v) dst[v] = resize_to_u8(acc[v]);
  }
}

}  // namespace

void resize_tf_cpu(const uint8_t* in, int ih, int iw, const ResizeBox& box, float* out, int oh, int ow,
                   ResizeMode mode) {
  const bool antialias = mode == ResizeMode::kTfBilinearAntialias;
  std::vector<TfBilinearTap> across(ow);
  std::vector<TfSpan> spans(ow);
  for (int x = 0; x < ow; ++x)
    antialias ? void(spans[x] = tf_antialias_span(x + box.left, iw, box.width))
              : void(across[x] = tf_bilinear_tap(x + box.left, iw, box.width));
  for (int y = 0; y < oh; ++y) {
    const TfBilinearTap down = antialias ? TfBilinearTap{} : tf_bilinear_tap(y + box.top, ih, box.height);
    const TfSpan down_span = antialias ? tf_antialias_span(y + box.top, ih, box.height) : TfSpan{};
    for (int x = 0; x < ow; ++x) {
      float* dst = out + (static_cast<int64_t>(y) * ow + x) * 3;
      if (antialias) {
        tf_antialias_pixel(in, iw, spans[x], down_span, dst);
      } else {
        for (int c = 0; c < 3; ++c) dst[c] = tf_bilinear_value(in, iw, across[x], down, c);
      }
    }
  }
}

void resize_image_cpu(const uint8_t* in, int ih, int iw, const ResizeBox& box, uint8_t* out, int oh, int ow,
                      ResizeMode mode) {
  if (mode == ResizeMode::kCvLinear || mode == ResizeMode::kCvArea)
    return resize_cv(in, ih, iw, box, out, oh, ow, mode);
  if (is_tf_resize(mode)) {
    std::vector<float> values(static_cast<size_t>(oh) * ow * 3);
    resize_tf_cpu(in, ih, iw, box, values.data(), oh, ow, mode);
    for (size_t i = 0; i < values.size(); ++i)
      out[i] = static_cast<uint8_t>(std::clamp(std::nearbyint(values[i]), 0.0f, 255.0f));
    return;
  }
  const ResizeAxis across(iw, box.width, box.left, ow, mode), down(ih, box.height, box.top, oh, mode);
  const PilPasses passes = pil_passes(ih, iw, box, oh, ow, mode);
  std::vector<uint8_t> rows(static_cast<size_t>(passes.rows) * passes.cols * 3);  // the first pass's image
  if (passes.vertical_first) {
    resize_vertical(in, iw, down, oh, rows.data());
    resize_horizontal(rows.data(), oh, iw, across, ow, out);
  } else {
    resize_horizontal(in, ih, iw, across, ow, rows.data());
    resize_vertical(rows.data(), ow, down, oh, out);
  }
}

void resize_image_cpu(const uint8_t* in, int ih, int iw, uint8_t* out, int oh, int ow, ResizeMode mode) {
  resize_image_cpu(in, ih, iw, resize_box(ih, iw, oh, ow, 0), out, oh, ow, mode);
}

namespace {

// rgb may be out itself (TensorFlow's floats normalised in place): each pixel is read whole before it is
// written.
template <typename Pixel>  // uint8_t, or float for TensorFlow's resize
void normalize_pixels(const Pixel* rgb, int64_t pixels, const Preprocess& pre, float* out) {
  for (int64_t p = 0; p < pixels; ++p) {
    const float v[3] = {static_cast<float>(rgb[p * 3]), static_cast<float>(rgb[p * 3 + 1]),
                        static_cast<float>(rgb[p * 3 + 2])};
    for (int c = 0; c < 3; ++c)
      out[p * 3 + c] = normalize_pixel(v[pre.bgr ? 2 - c : c], pre.scale, pre.mean[c], pre.stddev[c]);
  }
}

}  // namespace

void preprocess_image_cpu(const Image& img, const Preprocess& pre, float* out) {
  const int h = pre.height, w = pre.width;
  const int64_t pixels = static_cast<int64_t>(h) * w;
  const ResizeBox box = resize_box(img.height, img.width, h, w, pre.resize_shorter);
  if (img.height == box.height && img.width == box.width && box.top == 0 && box.left == 0)
    return normalize_pixels(img.rgb.data(), pixels, pre, out);  // already the input: no resize, no crop
  if (is_tf_resize(pre.resize)) {  // the floats as TensorFlow leaves them, normalised in place
    resize_tf_cpu(img.rgb.data(), img.height, img.width, box, out, h, w, pre.resize);
    return normalize_pixels(out, pixels, pre, out);
  }
  thread_local std::vector<uint8_t>
      resized;  // one per thread, as before the per-image function: no allocation per image
  resized.resize(static_cast<size_t>(pixels) * 3);
  resize_image_cpu(img.rgb.data(), img.height, img.width, box, resized.data(), h, w, pre.resize);
  normalize_pixels(resized.data(), pixels, pre, out);
}

void preprocess_images_cpu(const std::vector<const Image*>& images, const Preprocess& pre, float* out) {
  const int64_t input_values = static_cast<int64_t>(pre.height) * pre.width * 3;
#pragma omp parallel for schedule(dynamic)
  for (int i = 0; i < static_cast<int>(images.size()); ++i)
    preprocess_image_cpu(*images[i], pre, out + i * input_values);
}

ImageResult ranked_result(const float* logits, int classes, int topk) {
  ImageResult r;
  r.logits.assign(logits, logits + classes);
  r.probabilities.resize(classes);
  softmax_cpu(logits, 1, classes, r.probabilities.data());
  r.top = topk_cpu(logits, classes, topk);
  return r;
}

}  // namespace cam
