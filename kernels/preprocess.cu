// Preprocess kernels: one thread per output sample of each pass; the filter window is recomputed per thread
// from preprocess_math.h (a few double FLOPs, as PIL computes them, so the pixels are PIL's) instead of being
// stored, so any scale factor works without tables. cv2's and TensorFlow's modes are one pass (2x2 taps, a
// cell or a span per pixel).
#include "kernels/preprocess.cuh"
#include "kernels/preprocess_math.h"
#include "kernels/tf_resize_math.h"

namespace cam {
namespace {

// PIL's first pass, into each image's (passes.rows, passes.cols) intermediate: horizontal, or vertical when
// Pillow 13 runs that first. Threads cover the largest intermediate of the batch.
__global__ void resize_first_pass_kernel(const uint8_t* images, const PackedImage* packed, int n,
                                         int first_rows, int first_cols, int out_h, int out_w,
                                         ResizeMode mode, uint8_t* rows) {
  const int64_t total = static_cast<int64_t>(n) * first_rows * first_cols;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < total;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    int c = static_cast<int>(i % first_cols), r = static_cast<int>((i / first_cols) % first_rows),
        b = static_cast<int>(i / (static_cast<int64_t>(first_cols) * first_rows));
    PackedImage s = packed[b];
    const PilPasses passes = pil_passes(s.height, s.width, s.box, out_h, out_w, mode);
    if (r >= passes.rows || c >= passes.cols) continue;
    // Along the pass's axis: the window of output index (r or c) and the stride between its source samples.
    const ResizeWindow win = passes.vertical_first
                                 ? resize_window(r + s.box.top, s.height, s.box.height, mode)
                                 : resize_window(c + s.box.left, s.width, s.box.width, mode);
    const int64_t stride = passes.vertical_first ? static_cast<int64_t>(s.width) * 3 : 3;
    const uint8_t* src =
        images + s.offset +
        (passes.vertical_first ? static_cast<int64_t>(c) * 3 : static_cast<int64_t>(r) * s.width * 3);
    int acc[3] = {kResizeAccumulatorStart, kResizeAccumulatorStart, kResizeAccumulatorStart};
    for (int k = 0; k < win.count; ++k) {
      const int wk = resize_coefficient(win, k);
      for (int ch = 0; ch < 3; ++ch) acc[ch] += wk * src[(win.first + k) * stride + ch];
    }
    uint8_t* dst = rows + s.rows_offset + (static_cast<int64_t>(r) * passes.cols + c) * 3;
    for (int ch = 0; ch < 3; ++ch) dst[ch] = resize_to_u8(acc[ch]);
  }
}

// PIL's second pass from the intermediate, then normalisation into the network input.
template <typename T>
__global__ void resize_second_pass_normalize_kernel(const uint8_t* rows, const PackedImage* packed, int n,
                                                    int out_h, int out_w, int channels, ResizeMode mode,
                                                    Normalization norm, T* out) {
  const int64_t total = static_cast<int64_t>(n) * out_h * out_w;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < total;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    int x = static_cast<int>(i % out_w), y = static_cast<int>((i / out_w) % out_h),
        b = static_cast<int>(i / (static_cast<int64_t>(out_w) * out_h));
    PackedImage s = packed[b];
    const PilPasses passes = pil_passes(s.height, s.width, s.box, out_h, out_w, mode);
    const ResizeWindow win = passes.vertical_first
                                 ? resize_window(x + s.box.left, s.width, s.box.width, mode)
                                 : resize_window(y + s.box.top, s.height, s.box.height, mode);
    const int64_t stride = passes.vertical_first ? 3 : static_cast<int64_t>(passes.cols) * 3;
    const uint8_t* src =
        rows + s.rows_offset +
        (passes.vertical_first ? static_cast<int64_t>(y) * passes.cols * 3 : static_cast<int64_t>(x) * 3);
    int acc[3] = {kResizeAccumulatorStart, kResizeAccumulatorStart, kResizeAccumulatorStart};
    for (int k = 0; k < win.count; ++k) {
      const int wk = resize_coefficient(win, k);
      for (int c = 0; c < 3; ++c) acc[c] += wk * src[(win.first + k) * stride + c];
    }
    T* dst = out + i * channels;
#pragma unroll
    for (int c = 0; c < 3; ++c) {
      uint8_t v = resize_to_u8(norm.bgr ? acc[2 - c] : acc[c]);  // constant indices keep acc in registers
      dst[c] = store_as<T>(normalize_pixel(v, norm.scale, norm.mean[c], norm.stddev[c]));
    }
    for (int c = 3; c < channels; ++c) dst[c] = store_as<T>(0.0f);
  }
}

// cv2's INTER_LINEAR and INTER_AREA in one pass: each output pixel reads its 2x2 source samples, or its cell
// when INTER_AREA shrinks (or INTER_LINEAR halves); no rows buffer.
template <typename T>
__global__ void cv_resize_normalize_kernel(const uint8_t* images, const PackedImage* packed, int n, int out_h,
                                           int out_w, int channels, ResizeMode mode, Normalization norm,
                                           T* out) {
  const int64_t total = static_cast<int64_t>(n) * out_h * out_w;
  const bool area = mode == ResizeMode::kCvArea;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < total;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    int x = static_cast<int>(i % out_w), y = static_cast<int>((i / out_w) % out_h),
        b = static_cast<int>(i / (static_cast<int64_t>(out_w) * out_h));
    PackedImage s = packed[b];
    const uint8_t* src = images + s.offset;
    uint8_t v[3];
    const ResizeBox& box = s.box;
    if (cv_area_shrinks(s.height, s.width, box.height, box.width) &&
        (area || cv_linear_is_halving(s.height, s.width, box.height, box.width))) {
      cv_area_pixel(src, s.height, s.width, box.height, box.width, x + box.left, y + box.top, v);
    } else {
      const CvLinearTap across = cv_linear_tap(x + box.left, s.width, box.width, true, area),
                        down = cv_linear_tap(y + box.top, s.height, box.height, false, area);
      const uint8_t* r0 = src + static_cast<int64_t>(down.first) * s.width * 3;
      const uint8_t* r1 = src + static_cast<int64_t>(down.second) * s.width * 3;
      for (int k = 0; k < 3; ++k) {
        const int h0 = r0[across.first * 3 + k] * across.w0 + r0[across.second * 3 + k] * across.w1;
        const int h1 = r1[across.first * 3 + k] * across.w0 + r1[across.second * 3 + k] * across.w1;
        v[k] = cv_linear_blend(h0, h1, down.w0, down.w1);
      }
    }
    T* dst = out + i * channels;
    for (int c = 0; c < 3; ++c)
      dst[c] =
          store_as<T>(normalize_pixel(v[norm.bgr ? 2 - c : c], norm.scale, norm.mean[c], norm.stddev[c]));
    for (int c = 3; c < channels; ++c) dst[c] = store_as<T>(0.0f);
  }
}

// TensorFlow's modes in one pass (tf_resize_math.h): each output pixel reads its 2x2 source samples, or its
// rows-by-columns span; the floats are normalised without rounding to uint8.
template <typename T>
__global__ void tf_resize_normalize_kernel(const uint8_t* images, const PackedImage* packed, int n, int out_h,
                                           int out_w, int channels, ResizeMode mode, Normalization norm,
                                           T* out) {
  const int64_t total = static_cast<int64_t>(n) * out_h * out_w;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < total;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    int x = static_cast<int>(i % out_w), y = static_cast<int>((i / out_w) % out_h),
        b = static_cast<int>(i / (static_cast<int64_t>(out_w) * out_h));
    PackedImage s = packed[b];
    const uint8_t* src = images + s.offset;
    float v[3];
    if (mode == ResizeMode::kTfBilinearAntialias) {
      tf_antialias_pixel(src, s.width, tf_antialias_span(x + s.box.left, s.width, s.box.width),
                         tf_antialias_span(y + s.box.top, s.height, s.box.height), v);
    } else {
      const TfBilinearTap across = tf_bilinear_tap(x + s.box.left, s.width, s.box.width),
                          down = tf_bilinear_tap(y + s.box.top, s.height, s.box.height);
      for (int c = 0; c < 3; ++c) v[c] = tf_bilinear_value(src, s.width, across, down, c);
    }
    T* dst = out + i * channels;
    for (int c = 0; c < 3; ++c)
      dst[c] =
          store_as<T>(normalize_pixel(v[norm.bgr ? 2 - c : c], norm.scale, norm.mean[c], norm.stddev[c]));
    for (int c = 3; c < channels; ++c) dst[c] = store_as<T>(0.0f);
  }
}

template <typename T>
__global__ void pack_input_kernel(const float* x, int64_t pixels, int channels, T* out) {
  for (int64_t p = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; p < pixels;
       p += static_cast<int64_t>(gridDim.x) * blockDim.x)
    for (int c = 0; c < channels; ++c) out[p * channels + c] = store_as<T>(c < 3 ? x[p * 3 + c] : 0.0f);
}

}  // namespace

void launch_preprocess(Storage storage, const uint8_t* images, const PackedImage* packed, int n,
                       int first_rows, int first_cols, int out_h, int out_w, int channels, ResizeMode mode,
                       Normalization norm, uint8_t* rows, void* out, cudaStream_t stream) {
  const int threads = 256;
  const unsigned blocks = blocks_for(static_cast<int64_t>(n) * out_h * out_w, threads);
  if (mode == ResizeMode::kCvLinear || mode == ResizeMode::kCvArea || is_tf_resize(mode)) {
    with_storage_type(storage, [&](auto zero) {
      using T = decltype(zero);
      if (is_tf_resize(mode))
        tf_resize_normalize_kernel<<<blocks, threads, 0, stream>>>(images, packed, n, out_h, out_w, channels,
                                                                   mode, norm, static_cast<T*>(out));
      else
        cv_resize_normalize_kernel<<<blocks, threads, 0, stream>>>(images, packed, n, out_h, out_w, channels,
                                                                   mode, norm, static_cast<T*>(out));
    });
    CUDA_CHECK_LAUNCH();
    return;
  }
  resize_first_pass_kernel<<<blocks_for(static_cast<int64_t>(n) * first_rows * first_cols, threads), threads,
                             0, stream>>>(images, packed, n, first_rows, first_cols, out_h, out_w, mode,
                                          rows);
  CUDA_CHECK_LAUNCH();
  with_storage_type(storage, [&](auto zero) {
    using T = decltype(zero);
    resize_second_pass_normalize_kernel<<<blocks, threads, 0, stream>>>(
        rows, packed, n, out_h, out_w, channels, mode, norm, static_cast<T*>(out));
  });
  CUDA_CHECK_LAUNCH();
}

void launch_pack_input(Storage storage, const float* x, int64_t pixels, int channels, void* out,
                       cudaStream_t stream) {
  const int threads = 256;
  const unsigned blocks = blocks_for(pixels, threads);
  with_storage_type(storage, [&](auto zero) {
    using T = decltype(zero);
    pack_input_kernel<<<blocks, threads, 0, stream>>>(x, pixels, channels, static_cast<T*>(out));
  });
  CUDA_CHECK_LAUNCH();
}

}  // namespace cam
