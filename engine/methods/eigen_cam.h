// Eigen-CAM on the host: pytorch-grad-cam's EigenCAM projection (get_2d_projection_with_sign_correction) of
// one image's last-block features; the CPU backend's Backend::eigen_projections, and the oracle of
// kernels/eigen_cam.
#pragma once

namespace cam {

// EigenCAM's projection of one image's features (hw, C) NHWC: out (hw) = Xc v1 with Xc the features less
// each channel's mean and v1 its first right-singular vector, sign-corrected. Computed through the (hw, hw)
// Gram matrix in double by power iteration; all zeros when the features are constant.
void eigen_projection(const float* features, int hw, int c, float* out);

}  // namespace cam
