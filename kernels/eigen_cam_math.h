// Eigen-CAM's first principal component, the parts the CPU's eigen_projection
// (engine/methods/method_maps.cpp) and the device's eigen_cam kernels (kernels/eigen_cam.cu) share, so that
// both run one algorithm:
//   X (hw, C): one image's last-block features, each channel less its mean over the pixels (double);
//   G = X X^T (hw, hw) in double; M = G / trace(G);
//   for maps of at most kEigenSquaringMaxPixels pixels, up to kEigenSquaringRounds times M = M^2 / trace(M^2)
//   (stopping when that trace is not positive, or once it is within kEigenRankOne of 1: with trace(M) = 1,
//   trace(M^2) = sum of the squared eigenvalues reaches 1 only for u u^T, so M is rank one to double
//   precision and more squarings would not move it): M tends to u u^T, so its largest column is a start whose
//   distance from u no small gap between the first two eigenvalues can keep large; power iteration on G from
//   that column, at most kEigenMaxIterations, until no entry moves by kEigenTolerance; the projection X v1 =
//   sqrt(lambda) u, its sign flipped where |min| > |max| (pytorch-grad-cam's
//   get_2d_projection_with_sign_correction).
// A map is all zeros when trace(G) or an iterate's norm is not positive (constant features).
#pragma once
#include "kernels/host_device.h"

namespace cam {

constexpr int kEigenSquaringMaxPixels = 256;  // hw^3 work per round: beyond, the plain power iteration
constexpr int kEigenSquaringRounds = 12;
constexpr int kEigenMaxIterations = 5000;
constexpr double kEigenTolerance = 1e-14;
constexpr double kEigenRankOne = 1e-12;

// After a squaring whose trace was `diagonal` (M = square / diagonal): whether to square again.
CAM_HD bool eigen_squares_again(double diagonal) {
  return diagonal < 1.0 - kEigenRankOne;
}

CAM_HD bool eigen_squares(int hw) {
  return hw <= kEigenSquaringMaxPixels;
}

// The sign of the projection from the unit eigenvector's smallest and largest entries.
CAM_HD double eigen_sign(double lo, double hi) {
  return (lo < 0 ? -lo : lo) > (hi < 0 ? -hi : hi) ? -1.0 : 1.0;
}

}  // namespace cam
