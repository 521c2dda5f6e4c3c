// Preprocessing on the device: uint8 RGB images of any sizes (packed one after another) -> the network input
// (N, H, W, Cp) NHWC in the storage type, Cp >= 3 with zero padding (8 for tensor-core friendly stem convs).
// Resize by `mode` (only each image's box window of it: a stretch, or a centre crop), exactly as the CPU
// backend does (preprocess_math.h): PIL's modes in two passes with uint8
// rounding after each (the first into `rows`: horizontal, or vertical where Pillow 13 runs that first), cv2's
// INTER_LINEAR and INTER_AREA in one (rows unused), TensorFlow's in one with float output (tf_resize_math.h);
// then x = (v * scale - mean[c]) / std[c] in RGB or BGR order.
#pragma once
#include "kernels/common.cuh"
#include "kernels/preprocess_math.h"

namespace cam {

struct PackedImage {
  int64_t offset;  // first byte of the image in the packed uint8 buffer
  int64_t
      rows_offset;  // first byte of its first-pass image (pil_passes: rows, cols, 3) in the scratch buffer
  int width;
  int height;
  ResizeBox box;  // the input's window of the resized image (resize_box)
};

struct Normalization {
  float scale;
  float mean[3];
  float stddev[3];
  int bgr;
};

// packed: device array of n. rows: scratch of sum(rows * cols * 3) bytes over the images' pil_passes, whose
// largest rows and cols are first_rows and first_cols.
void launch_preprocess(Storage storage, const uint8_t* images, const PackedImage* packed, int n,
                       int first_rows, int first_cols, int out_h, int out_w, int channels, ResizeMode mode,
                       Normalization norm, uint8_t* rows, void* out, cudaStream_t stream);

// Already-normalised fp32 input (pixels, 3) -> (pixels, channels) storage type with zero padding.
void launch_pack_input(Storage storage, const float* x, int64_t pixels, int channels, void* out,
                       cudaStream_t stream);

}  // namespace cam
