// Preprocessing on the device: uint8 RGB images of any sizes (packed one after another) -> the network input
// (N, H, W, Cp) NHWC in the storage type, Cp >= 3 with zero padding (8 for tensor-core friendly stem convs).
// Resize by `mode`, exactly as the CPU backend does (preprocess_math.h): PIL's modes separable (horizontal
// pass into `rows`, then vertical) with uint8 rounding after each pass, cv2's INTER_LINEAR and INTER_AREA in
// one pass (rows unused); then x = (v * scale - mean[c]) / std[c] in RGB or BGR order.
#pragma once
#include "common.cuh"
#include "preprocess_math.h"

namespace cam {

struct PackedImage {
  int64_t offset;       // first byte of the image in the packed uint8 buffer
  int64_t rows_offset;  // first byte of its (height, out_w, 3) horizontal-pass rows in the scratch buffer
  int width;
  int height;
};

struct Normalization {
  float scale;
  float mean[3];
  float stddev[3];
  int bgr;
};

// packed: device array of n. rows: scratch of sum(height * out_w * 3) bytes.
void launch_preprocess(Storage storage, const uint8_t* images, const PackedImage* packed, int n,
                       int max_height, int out_h, int out_w, int channels, ResizeMode mode,
                       Normalization norm, uint8_t* rows, void* out, cudaStream_t stream);

// Already-normalised fp32 input (pixels, 3) -> (pixels, channels) storage type with zero padding.
void launch_pack_input(Storage storage, const float* x, int64_t pixels, int channels, void* out,
                       cudaStream_t stream);

}  // namespace cam
