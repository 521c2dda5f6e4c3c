// Eigen-CAM's projection on the host (engine/methods/eigen_cam.h), in double through the Gram matrix: the
// algorithm of kernels/eigen_cam_math.h, which the device's kernels/eigen_cam runs too.
#include "engine/methods/eigen_cam.h"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "kernels/eigen_cam_math.h"

namespace cam {

namespace {

// out (n, n) = R R^T for rows R (n, cols), each entry once for both halves: four rows p at a time against
// each row q >= p, so that row q is read once per four, with SIMD sums.
void rows_times_rows(const double* rows, int n, int cols, double* out) {
  for (int p = 0; p < n; p += 4) {
    const int count = std::min(4, n - p);
    const double* r0 = rows + static_cast<size_t>(p) * cols;
    const double *r1 = count > 1 ? r0 + cols : r0, *r2 = count > 2 ? r0 + 2 * cols : r0,
                 *r3 = count > 3 ? r0 + 3 * cols : r0;
    for (int q = p; q < n; ++q) {
      const double* rq = rows + static_cast<size_t>(q) * cols;
      double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
#pragma omp simd reduction(+ : s0, s1, s2, s3)
      for (int k = 0; k < cols; ++k)
        s0 += r0[k] * rq[k], s1 += r1[k] * rq[k], s2 += r2[k] * rq[k], s3 += r3[k] * rq[k];
      const double sums[4] = {s0, s1, s2, s3};
      for (int i = 0; i < count; ++i)
        out[static_cast<size_t>(p + i) * n + q] = out[static_cast<size_t>(q) * n + p + i] = sums[i];
    }
  }
}

}  // namespace

void eigen_projection(const float* features, int hw, int c, float* out) {
  std::vector<double> mean(c, 0.0), x(static_cast<size_t>(hw) * c), gram(static_cast<size_t>(hw) * hw);
  for (int p = 0; p < hw; ++p)
    for (int k = 0; k < c; ++k) mean[k] += features[static_cast<size_t>(p) * c + k];
  for (int k = 0; k < c; ++k) mean[k] /= hw;
  for (int p = 0; p < hw; ++p)
    for (int k = 0; k < c; ++k)
      x[static_cast<size_t>(p) * c + k] = features[static_cast<size_t>(p) * c + k] - mean[k];
  rows_times_rows(x.data(), hw, c, gram.data());
  double trace = 0;
  for (int p = 0; p < hw; ++p) trace += gram[static_cast<size_t>(p) * hw + p];
  std::fill(out, out + hw, 0.0f);
  if (!(trace > 0)) return;
  // The algorithm of eigen_cam_math.h: repeated squaring of gram / trace, the largest column as the start,
  // power iteration on gram. Maps too large to square take their start from gram / trace itself, computed
  // where it is read (as the device does), so that they hold one hw x hw matrix, not three.
  const bool squares = eigen_squares(hw);
  std::vector<double> m(squares ? gram.size() : 0), square(m.size()), u(hw), v(hw);
  for (size_t e = 0; e < m.size(); ++e) m[e] = gram[e] / trace;
  const std::vector<double>& start = squares ? m : gram;
  const double divisor = squares ? 1.0 : trace;
  for (int round = 0; round < kEigenSquaringRounds && squares; ++round) {
    rows_times_rows(m.data(), hw, hw, square.data());  // m is symmetric: m m = m m^T
    double diagonal = 0;
    for (int p = 0; p < hw; ++p) diagonal += square[static_cast<size_t>(p) * hw + p];
    if (!(diagonal > 0)) break;
    for (size_t e = 0; e < m.size(); ++e) m[e] = square[e] / diagonal;
    if (!eigen_squares_again(diagonal)) break;
  }
  int best = 0;
  double best_norm = -1;
  for (int q = 0; q < hw; ++q) {
    double s = 0;
    for (int p = 0; p < hw; ++p) {
      const double e = start[static_cast<size_t>(p) * hw + q] / divisor;
      s += e * e;
    }
    if (s > best_norm) best_norm = s, best = q;
  }
  for (int p = 0; p < hw; ++p)
    u[p] = start[static_cast<size_t>(p) * hw + best] / divisor / std::sqrt(best_norm);
  double lambda = 0;
  for (int iteration = 0; iteration < kEigenMaxIterations; ++iteration) {
    double norm = 0;
    for (int p = 0; p < hw; ++p) {
      const double* row = &gram[static_cast<size_t>(p) * hw];
      double s = 0;
#pragma omp simd reduction(+ : s)
      for (int q = 0; q < hw; ++q) s += row[q] * u[q];
      v[p] = s, norm += s * s;
    }
    norm = std::sqrt(norm);
    if (!(norm > 0)) return;
    double change = 0;
    for (int p = 0; p < hw; ++p) v[p] /= norm, change = std::max(change, std::fabs(v[p] - u[p]));
    u.swap(v);
    lambda = norm;
    if (change < kEigenTolerance) break;
  }
  const double scale = std::sqrt(lambda);
  const auto [lo, hi] = std::minmax_element(u.begin(), u.end());
  const double sign = eigen_sign(*lo, *hi);
  for (int p = 0; p < hw; ++p) out[p] = static_cast<float>(sign * scale * u[p]);
}

}  // namespace cam
