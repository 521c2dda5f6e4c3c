// The element-wise and small ops of the network and of the CAM on the CPU, NHWC fp32. Each loops over the
// shared *_math.h functions that the CUDA kernels use, so these are both the CPU backend's ops and the oracle
// the GPU kernels are tested against. Convolutions are in engine/cpu/backend.cpp (oneDNN).
#pragma once
#include <cstdint>
#include <vector>

#include "engine/io/image.h"
#include "engine/model/resnet.h"
#include "engine/model/results.h"
#include "kernels/preprocess_math.h"

namespace cam {

// y = x + shift[c] (+ residual) (ReLU); residual may be null. x, y, residual: (pixels,
// C).
void bn_act_cpu(const float* x, const float* shift, const float* residual, bool relu, int64_t pixels,
                int channels, float* y);

// Max-pool 3x3 stride 2 pad 1 (padding never wins). x: (N, H, W, C) -> y: (N, (H-1)/2+1, (W-1)/2+1, C).
void max_pool_cpu(const float* x, int n, int h, int w, int c, float* y);

// ResNet-D's shortcut pool: 2x2 stride 2, ceil mode, padding not counted (kernels/pool_math.h).
// x: (N, H, W, C) -> y: (N, (H+1)/2, (W+1)/2, C).
void avg_down_pool_cpu(const float* x, int n, int h, int w, int c, float* y);

// Global average pool, fp32 accumulation. x: (N, HW, C) -> y: (N, C).
void global_avg_pool_cpu(const float* x, int n, int hw, int c, float* y);

// y = x W^T + b. x: (N, in), w: (out, in), b: (out) -> y: (N, out).
void linear_cpu(const float* x, int n, int in, const float* w, const float* b, int out, float* y);

// Row-wise softmax. logits, probs: (N, classes).
void softmax_cpu(const float* logits, int n, int classes, float* probs);

// Indices of the k largest values, largest first, ties by lower index.
std::vector<int> topk_cpu(const float* values, int count, int k);

// An image's result before its maps: its logits (classes), their softmax and its top-k classes.
ImageResult ranked_result(const float* logits, int classes, int topk);

// Grad-CAM channel weights of one image for class `cls` through an MLP head (up to the positive factor
// 1/(h*w) that the normalisation removes): g = fc[cls]; for each hidden layer from the last, g = W^T (g *
// [activation > 0]). weights: per layer (out, in); activations: per layer this image's (out); out: (in of the
// first layer).
void head_cam_weights_cpu(const std::vector<const float*>& weights, const std::vector<int>& ins,
                          const std::vector<int>& outs, const std::vector<const float*>& activations,
                          const float* fc_row, float* out);

// CAM of one image for one class (docs/conventions.md, steps 1-5): features (h, w, C), weights (C) -> out
// (out_h, out_w) in [0, 1]. lowres: scratch of h*w floats (the map at feature resolution after steps 1-3 on
// return).
void class_map_cpu(const float* features, int h, int w, int c, const float* weights, int out_h, int out_w,
                   float* lowres, float* out);

// Steps 2-5 of the conventions on a map at feature resolution: ReLU and min-max in place on lowres (h, w),
// bilinear resize to (out_h, out_w), min-max again -> out in [0, 1].
void finish_map_cpu(float* lowres, int h, int w, int out_h, int out_w, float* out);

// Bilinear resize of a float map (OpenCV INTER_LINEAR rule). in: (ih, iw) -> out: (oh, ow).
void resize_map_cpu(const float* in, int ih, int iw, float* out, int oh, int ow);

// Overlay of a [0, 1] map (mh, mw) on an RGB8 image (h, w, 3): the map resized to the image's `region`
// (map_region: the whole image unless the input was a crop), coloured with table `colormap` of
// colormap_table.h, blended and scaled by the region's largest blend (show_cam_on_image's rule); the pixels
// outside the region are the photo's; out: (h, w, 3).
void overlay_cpu(const float* map, int mh, int mw, const uint8_t* rgb, int h, int w, const MapRegion& region,
                 float image_weight, int colormap, uint8_t* out);

// Resize of an RGB8 image (preprocess_math.h; TensorFlow's modes: tf_resize_math.h, their floats rounded to
// uint8). in: (ih, iw, 3) -> out: (oh, ow, 3), the window at (box.top, box.left) of the resize to
// (box.height, box.width), bit for bit the same pixels as the whole resize cropped.
void resize_image_cpu(const uint8_t* in, int ih, int iw, const ResizeBox& box, uint8_t* out, int oh, int ow,
                      ResizeMode mode);
// The whole resize: in (ih, iw, 3) -> out (oh, ow, 3).
void resize_image_cpu(const uint8_t* in, int ih, int iw, uint8_t* out, int oh, int ow, ResizeMode mode);

// TensorFlow's resize (a kTf mode) with its float output: in (ih, iw, 3) uint8 -> out (oh, ow, 3) fp32, the
// box's window as above.
void resize_tf_cpu(const uint8_t* in, int ih, int iw, const ResizeBox& box, float* out, int oh, int ow,
                   ResizeMode mode);

// One image's network input: resized to (pre.height, pre.width) as pre.resize says, or its shorter side to
// pre.resize_shorter and centre-cropped (resize_box); not resized when already the input; normalised, x = (v
// * scale - mean[c]) / std[c] in RGB or BGR order -> out (H, W, 3) fp32.
void preprocess_image_cpu(const Image& img, const Preprocess& pre, float* out);

// The network input of a batch: each image resized to (pre.height, pre.width) as pre.resize says and
// normalised -> out (N, H, W, 3) fp32 (preprocess_image_cpu). One image per thread.
void preprocess_images_cpu(const std::vector<const Image*>& images, const Preprocess& pre, float* out);

}  // namespace cam
