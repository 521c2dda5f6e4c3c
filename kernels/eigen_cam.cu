// eigen_cam kernels: channel means (a thread per channel), Gram matrices and their squares (one tiled
// rows-times-rows product in double: every matrix here is symmetric, so M M = M M^T), and per image a block
// that sets the start, rescales after each squaring, and runs the power iteration (a warp per row of the
// matrix-vector product, block reductions for the norm and the change). Each image's progress (zero map,
// squaring, powering) lives in `state`, so the host loop launches the same kernels for every image.
#include <cmath>

#include "kernels/eigen_cam.cuh"
#include "kernels/eigen_cam_math.h"

namespace cam {
namespace {

constexpr int kTile = 16;
constexpr int kThreads = 256;
constexpr int kWarps = kThreads / 32;
enum ImageState : int { kZeroMap = 0, kSquaring = 1, kPowering = 2 };

// The scratch of n images, carved in eigen_scratch_bytes' order.
struct EigenScratch {
  double* means;    // (n, C)
  double* gram;     // (n, hw, hw)
  double* m;        // (n, hw, hw) the squared start (maps that square)
  double* square;   // (n, hw, hw)
  double* vectors;  // (n, 2, hw) u, v
  double* trace;    // (n)
  int* state;       // (n) ImageState
  size_t bytes;
};

size_t aligned(size_t bytes) {
  return (bytes + 255) / 256 * 256;
}

EigenScratch carve(void* base, int n, int hw, int c) {
  const size_t matrix = static_cast<size_t>(n) * hw * hw * sizeof(double);
  const size_t squares = eigen_squares(hw) ? matrix : 0;
  char* at = static_cast<char*>(base);
  size_t offset = 0;
  auto take = [&](size_t bytes) {
    char* p = at ? at + offset : nullptr;
    offset += aligned(bytes);
    return p;
  };
  EigenScratch s;
  s.means = reinterpret_cast<double*>(take(static_cast<size_t>(n) * c * sizeof(double)));
  s.gram = reinterpret_cast<double*>(take(matrix));
  s.m = reinterpret_cast<double*>(take(squares));
  s.square = reinterpret_cast<double*>(take(squares));
  s.vectors = reinterpret_cast<double*>(take(static_cast<size_t>(n) * 2 * hw * sizeof(double)));
  s.trace = reinterpret_cast<double*>(take(static_cast<size_t>(n) * sizeof(double)));
  s.state = reinterpret_cast<int*>(take(static_cast<size_t>(n) * sizeof(int)));
  s.bytes = offset;
  return s;
}

__device__ double diagonal_sum(const double* matrix, int hw, double* scratch) {
  double s = 0;
  for (int p = threadIdx.x; p < hw; p += kThreads) s += matrix[static_cast<int64_t>(p) * hw + p];
  return block_reduce<Reduce::kSum>(s, scratch);
}

// A feature (in the storage type) or a matrix entry as double.
__device__ __forceinline__ double to_double(double v) {
  return v;
}
template <typename T>
__device__ __forceinline__ double to_double(T v) {
  return load_f32(v);
}

template <typename T>
__global__ void means_kernel(const T* features, int hw, int c, double* means) {
  const int image = blockIdx.y, k = blockIdx.x * blockDim.x + threadIdx.x;
  if (k >= c) return;
  const T* x = features + static_cast<int64_t>(image) * hw * c + k;
  double s = 0;
  for (int p = 0; p < hw; ++p) s += to_double(x[static_cast<int64_t>(p) * c]);
  means[static_cast<int64_t>(image) * c + k] = s / hw;
}

// out_i = (X_i - mean_i)(X_i - mean_i)^T for rows X_i (hw, cols) of image i (means null: no centring); only
// images in state `only` when state is given. Block (kTile, kTile) per output tile, grid (tiles, tiles, n).
template <typename T>
__global__ void row_products_kernel(const T* rows, const double* means, int hw, int cols, const int* state,
                                    int only, double* out) {
  __shared__ double a[kTile][kTile + 1], b[kTile][kTile + 1];
  const int image = blockIdx.z, ty = threadIdx.y, tx = threadIdx.x;
  if (state && state[image] != only) return;
  const int p0 = blockIdx.y * kTile, q0 = blockIdx.x * kTile;
  const T* x = rows + static_cast<int64_t>(image) * hw * cols;
  const double* mean = means ? means + static_cast<int64_t>(image) * cols : nullptr;
  double s = 0;
  for (int k0 = 0; k0 < cols; k0 += kTile) {
    const int k = k0 + tx;
    const double centre = mean && k < cols ? mean[k] : 0.0;
    a[ty][tx] =
        p0 + ty < hw && k < cols ? to_double(x[static_cast<int64_t>(p0 + ty) * cols + k]) - centre : 0.0;
    b[ty][tx] =
        q0 + ty < hw && k < cols ? to_double(x[static_cast<int64_t>(q0 + ty) * cols + k]) - centre : 0.0;
    __syncthreads();
    for (int kk = 0; kk < kTile; ++kk) s += a[ty][kk] * b[tx][kk];
    __syncthreads();
  }
  if (p0 + ty < hw && q0 + tx < hw) out[(static_cast<int64_t>(image) * hw + p0 + ty) * hw + q0 + tx] = s;
}

// Per image: the trace; a zero map when it is not positive, else m = gram / trace for maps that square.
__global__ void start_kernel(EigenScratch s, int hw) {
  __shared__ double scratch[32];
  const int image = blockIdx.x;
  const size_t size = static_cast<size_t>(hw) * hw;
  const double* gram = s.gram + image * size;
  const double trace = diagonal_sum(gram, hw, scratch);
  const bool squares = eigen_squares(hw);
  if (threadIdx.x == 0) {
    s.trace[image] = trace;
    s.state[image] = !(trace > 0) ? kZeroMap : squares ? kSquaring : kPowering;
  }
  if (!(trace > 0) || !squares) return;
  double* m = s.m + image * size;
  for (size_t e = threadIdx.x; e < size; e += kThreads) m[e] = gram[e] / trace;
}

// After a squaring: m = square / trace(square), or the squaring stops when that trace is not positive; it
// also stops after this one when m is rank one (eigen_squares_again).
__global__ void rescale_kernel(EigenScratch s, int hw) {
  __shared__ double scratch[32];
  const int image = blockIdx.x;
  if (s.state[image] != kSquaring) return;
  const size_t size = static_cast<size_t>(hw) * hw;
  const double* square = s.square + image * size;
  const double diagonal = diagonal_sum(square, hw, scratch);
  if (!(diagonal > 0)) {
    if (threadIdx.x == 0) s.state[image] = kPowering;
    return;
  }
  double* m = s.m + image * size;
  for (size_t e = threadIdx.x; e < size; e += kThreads) m[e] = square[e] / diagonal;
  if (threadIdx.x == 0 && !eigen_squares_again(diagonal)) s.state[image] = kPowering;
}

// Per image: the start column, the power iteration on gram and the sign-corrected projection.
__global__ void power_kernel(EigenScratch s, int hw, float* out) {
  __shared__ double best_norms[kThreads], scratch[32];
  __shared__ int best_columns[kThreads];
  const int image = blockIdx.x, lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  float* map = out + static_cast<int64_t>(image) * hw;
  const size_t size = static_cast<size_t>(hw) * hw;
  const double* gram = s.gram + image * size;
  if (s.state[image] == kZeroMap) {
    for (int p = threadIdx.x; p < hw; p += kThreads) map[p] = 0.0f;
    return;
  }
  const bool squared = eigen_squares(hw);
  const double* m = squared ? s.m + image * size : gram;
  const double divisor = squared ? 1.0 : s.trace[image];
  // The column of largest norm, ties to the lower index.
  double best_norm = -1;
  int best = 0;
  for (int q = threadIdx.x; q < hw; q += kThreads) {
    double norm = 0;
    for (int p = 0; p < hw; ++p) {
      const double e = m[static_cast<int64_t>(p) * hw + q] / divisor;
      norm += e * e;
    }
    if (norm > best_norm) best_norm = norm, best = q;
  }
  best_norms[threadIdx.x] = best_norm, best_columns[threadIdx.x] = best;
  __syncthreads();
  for (int half = kThreads / 2; half > 0; half /= 2) {
    if (threadIdx.x < half) {
      const double other = best_norms[threadIdx.x + half];
      const int other_column = best_columns[threadIdx.x + half];
      if (other > best_norms[threadIdx.x] ||
          (other == best_norms[threadIdx.x] && other_column < best_columns[threadIdx.x]))
        best_norms[threadIdx.x] = other, best_columns[threadIdx.x] = other_column;
    }
    __syncthreads();
  }
  best_norm = best_norms[0], best = best_columns[0];
  double* u = s.vectors + static_cast<int64_t>(image) * 2 * hw;
  double* v = u + hw;
  for (int p = threadIdx.x; p < hw; p += kThreads)
    u[p] = m[static_cast<int64_t>(p) * hw + best] / divisor / sqrt(best_norm);
  __syncthreads();
  double lambda = 0;
  for (int iteration = 0; iteration < kEigenMaxIterations; ++iteration) {
    for (int p = warp; p < hw; p += kWarps) {
      double dot = 0;
      for (int q = lane; q < hw; q += 32) dot += gram[static_cast<int64_t>(p) * hw + q] * u[q];
      dot = warp_sum(dot);
      if (lane == 0) v[p] = dot;
    }
    __syncthreads();
    double squares = 0;
    for (int p = threadIdx.x; p < hw; p += kThreads) squares += v[p] * v[p];
    const double norm = sqrt(block_reduce<Reduce::kSum>(squares, scratch));
    if (!(norm > 0)) {
      for (int p = threadIdx.x; p < hw; p += kThreads) map[p] = 0.0f;
      return;
    }
    double change = 0;
    for (int p = threadIdx.x; p < hw; p += kThreads) {
      const double next = v[p] / norm;
      change = fmax(change, fabs(next - u[p]));
      u[p] = next;
    }
    change = block_reduce<Reduce::kMax>(change, scratch);  // its barriers also publish the new u
    lambda = norm;
    if (change < kEigenTolerance) break;
  }
  double lo = 1.0, hi = -1.0;  // beyond a unit vector's entries
  for (int p = threadIdx.x; p < hw; p += kThreads) lo = fmin(lo, u[p]), hi = fmax(hi, u[p]);
  lo = block_reduce<Reduce::kMin>(lo, scratch), hi = block_reduce<Reduce::kMax>(hi, scratch);
  const double scale = eigen_sign(lo, hi) * sqrt(lambda);
  for (int p = threadIdx.x; p < hw; p += kThreads) map[p] = static_cast<float>(scale * u[p]);
}

}  // namespace

size_t eigen_scratch_bytes(int n, int hw, int c) {
  return carve(nullptr, n, hw, c).bytes;
}

void launch_eigen_projections(Storage storage, const void* features, int n, int hw, int c, void* scratch,
                              float* out, cudaStream_t stream) {
  constexpr int kMaxGridImages = 65535;  // grid.y and grid.z below: larger batches go in chunks
  if (hw == 0) return;
  for (int first = 0; first < n; first += kMaxGridImages) {
    const int m = n - first < kMaxGridImages ? n - first : kMaxGridImages;
    const EigenScratch s = carve(scratch, m, hw, c);  // each chunk reuses the start of the scratch
    const int tiles = (hw + kTile - 1) / kTile;
    const dim3 tile_block(kTile, kTile), tile_grid(tiles, tiles, m);
    with_storage_type(storage, [&](auto zero) {
      using T = decltype(zero);
      const T* x = static_cast<const T*>(features) + static_cast<int64_t>(first) * hw * c;
      means_kernel<T><<<dim3((c + kThreads - 1) / kThreads, m), kThreads, 0, stream>>>(x, hw, c, s.means);
      CUDA_CHECK_LAUNCH();
      row_products_kernel<T><<<tile_grid, tile_block, 0, stream>>>(x, s.means, hw, c, nullptr, 0, s.gram);
      CUDA_CHECK_LAUNCH();
    });
    start_kernel<<<m, kThreads, 0, stream>>>(s, hw);
    CUDA_CHECK_LAUNCH();
    for (int round = 0; round < kEigenSquaringRounds && eigen_squares(hw); ++round) {
      row_products_kernel<double>
          <<<tile_grid, tile_block, 0, stream>>>(s.m, nullptr, hw, hw, s.state, kSquaring, s.square);
      CUDA_CHECK_LAUNCH();
      rescale_kernel<<<m, kThreads, 0, stream>>>(s, hw);
      CUDA_CHECK_LAUNCH();
    }
    power_kernel<<<m, kThreads, 0, stream>>>(s, hw, out + static_cast<int64_t>(first) * hw);
    CUDA_CHECK_LAUNCH();
  }
}

}  // namespace cam
