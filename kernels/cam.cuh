// Class activation maps and overlays on the device (math: cam_math.h, overlay_math.h, shared with the CPU).
//
// launch_cam: for image i and slot j (the first k slots are the image's top-k classes from `topk` (N, k), the
// next r are the classes in `requested` (r)): m = ReLU(sum_c W[class, c] * A[p, c]) over the final features A
// (N, h*w, C) in the storage type (or ReLU of a given projection), min-max, bilinear upsample to (out_h,
// out_w), min-max again -> maps (N, k + r, out_h, out_w) fp32. One block per (image, slot): the
// low-resolution map lives in shared memory only.
//
// launch_overlay: for every (image, slot) the map is resized to the image's map region (all of it unless the
// input was a centre crop; outside it the photo is copied) and coloured with
// the chosen colormap of colormap_table.h (constant memory). It is then blended with the image, divided by
// its maximum and truncated to uint8 RGB.
#pragma once
#include "kernels/common.cuh"
#include "kernels/preprocess_math.h"

namespace cam {

// map_weights (N, k + r, C), when not null, replaces the fc rows (MLP heads: kernels/head.cuh; Grad-CAM++:
// kernels/gradcam_plusplus.cuh). projections (N, h * w), when not null, replaces the weighted sum: every slot
// of image i maps projection i (Eigen-CAM: kernels/eigen_cam.cuh; features, weights and classes unread).
void launch_cam(Storage storage, const void* features, int n, int h, int w, int channels,
                const float* fc_weight, const float* map_weights, const float* projections, const int* topk,
                int k, const int* requested, int r, int out_h, int out_w, float* maps, cudaStream_t stream);

struct PackedOverlay {
  int64_t image_offset;   // the original RGB8 image in the packed input buffer
  int64_t output_offset;  // its first overlay; slot j follows at + j * width * height * 3
  int width;
  int height;
  MapRegion region;  // where the map lies (input_region); outside it the overlay is the photo
};

// Copies the colormap tables into constant memory; once per device, before the first launch_overlay.
void upload_colormaps();

// maps: (N, slots, map_h, map_w); packed: device array of N; blend_max: scratch of N * slots floats.
void launch_overlay(const float* maps, int n, int slots, int map_h, int map_w, const uint8_t* images,
                    const PackedOverlay* packed, int max_pixels, float image_weight, int colormap,
                    float* blend_max, uint8_t* overlays, cudaStream_t stream);

}  // namespace cam
