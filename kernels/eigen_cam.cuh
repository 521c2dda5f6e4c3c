// Eigen-CAM's projections on the device, by the algorithm the CPU's eigen_projection runs
// (eigen_cam_math.h): for each image the centred features' Gram matrix in double, repeated squaring for a
// start, power iteration, sign correction.
//   features (n, hw, C) NHWC in the storage type -> out (n, hw) fp32: the low-resolution map before ReLU and
//   min-max (launch_cam's projections).
// Made for the GPU because a host does one image at a time in ~20 ms (20x20 maps, 512 channels): the Gram
// matrices and squarings are tiled products over every image at once, the power iteration one block per
// image. Not bit-identical to the CPU (its sums run in another order); within ~1e-6 of the map's range.
#pragma once
#include "kernels/common.cuh"

namespace cam {

// The device scratch launch_eigen_projections uses for n images (Gram matrices, their squares, vectors).
size_t eigen_scratch_bytes(int n, int hw, int c);

// scratch: eigen_scratch_bytes(n, hw, c) bytes, 256-byte aligned.
void launch_eigen_projections(Storage storage, const void* features, int n, int hw, int c, void* scratch,
                              float* out, cudaStream_t stream);

}  // namespace cam
