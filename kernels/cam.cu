// CAM and overlay kernels. The CAM block computes each low-resolution pixel's dot product with one warp
// (lanes stride the channels, coalesced in NHWC), keeps the map in shared memory, and produces the upsampled
// map in two sweeps (min/max, then write) that recompute the cheap bilinear taps rather than storing an
// intermediate. Overlay: a 2-D grid (pixel tiles x (image, slot)); the blend maximum is an atomicMax on the
// float's bits, valid because every blended value is >= 0.
#include "kernels/cam.cuh"
#include "kernels/cam_math.h"
#include "kernels/colormap_table.h"
#include "kernels/overlay_math.h"

namespace cam {
namespace {

constexpr int kCamThreads = 256;
__constant__ unsigned char c_colormaps[kColormapCount][256 * 3];

template <typename T>
__global__ void cam_kernel(const T* features, int h, int w, int channels, const float* fc_weight,
                           const float* map_weights, const float* projections, const int* topk, int k,
                           const int* requested, int r, int out_h, int out_w, float* maps) {
  extern __shared__ float lowres[];  // (h * w)
  __shared__ float scratch[32];
  const int slots = k + r, image = blockIdx.x / slots, slot = blockIdx.x % slots;
  if (projections) {
    const float* projection = projections + static_cast<int64_t>(image) * h * w;
    for (int p = threadIdx.x; p < h * w; p += blockDim.x) lowres[p] = relu(projection[p]);
  } else {
    const int cls = slot < k ? topk[image * k + slot] : requested[slot - k];
    const float* weight = map_weights ? map_weights + static_cast<int64_t>(blockIdx.x) * channels
                                      : fc_weight + static_cast<int64_t>(cls) * channels;
    const T* a = features + static_cast<int64_t>(image) * h * w * channels;
    const int lane = threadIdx.x % 32, warp = threadIdx.x / 32, warps = blockDim.x / 32;
    for (int p = warp; p < h * w; p += warps) {
      float acc = 0.0f;
      for (int c = lane; c < channels; c += 32)
        acc += weight[c] * load_f32(a[static_cast<int64_t>(p) * channels + c]);
      acc = warp_sum(acc);
      if (lane == 0) lowres[p] = relu(acc);
    }
  }
  __syncthreads();
  float lo = 3.402823466e38f, hi = -3.402823466e38f;
  for (int p = threadIdx.x; p < h * w; p += blockDim.x) lo = fminf(lo, lowres[p]), hi = fmaxf(hi, lowres[p]);
  lo = block_reduce<Reduce::kMin>(lo, scratch);
  hi = block_reduce<Reduce::kMax>(hi, scratch);
  for (int p = threadIdx.x; p < h * w; p += blockDim.x) lowres[p] = minmax_normalize(lowres[p], lo, hi);
  __syncthreads();
  const int pixels = out_h * out_w;
  float up_lo = 3.402823466e38f, up_hi = -3.402823466e38f;
  for (int p = threadIdx.x; p < pixels; p += blockDim.x) {
    float v = bilinear_sample(lowres, w, linear_tap(p / out_w, h, out_h), linear_tap(p % out_w, w, out_w));
    up_lo = fminf(up_lo, v), up_hi = fmaxf(up_hi, v);
  }
  up_lo = block_reduce<Reduce::kMin>(up_lo, scratch);
  up_hi = block_reduce<Reduce::kMax>(up_hi, scratch);
  float* out = maps + static_cast<int64_t>(blockIdx.x) * pixels;
  for (int p = threadIdx.x; p < pixels; p += blockDim.x) {
    float v = bilinear_sample(lowres, w, linear_tap(p / out_w, h, out_h), linear_tap(p % out_w, w, out_w));
    out[p] = minmax_normalize(v, up_lo, up_hi);
  }
}

// Whether output pixel p of image s lies in its map region, and its blend there: the map resized to the
// region, then overlay_blend.
__device__ bool in_region(const PackedOverlay& s, int p) {
  const int x = p % s.width - s.region.x0, y = p / s.width - s.region.y0;
  return x >= 0 && y >= 0 && x < s.region.width && y < s.region.height;
}

__device__ void blend_at(const float* map, int map_h, int map_w, const uint8_t* images,
                         const PackedOverlay& s, int p, float image_weight, int colormap, float* rgb) {
  const MapRegion& r = s.region;
  float mask = bilinear_sample(map, map_w, linear_tap(p / s.width - r.y0, map_h, r.height),
                               linear_tap(p % s.width - r.x0, map_w, r.width));
  overlay_blend(mask, images + s.image_offset + static_cast<int64_t>(p) * 3, c_colormaps[colormap],
                image_weight, rgb);
}

__global__ void overlay_max_kernel(const float* maps, int slots, int map_h, int map_w, const uint8_t* images,
                                   const PackedOverlay* desc, float image_weight, int colormap,
                                   float* blend_max) {
  __shared__ float scratch[32];
  const int image = blockIdx.y / slots;
  const PackedOverlay s = desc[image];
  const float* map = maps + static_cast<int64_t>(blockIdx.y) * map_h * map_w;
  float mx = 0.0f;
  for (int p = blockIdx.x * blockDim.x + threadIdx.x; p < s.width * s.height; p += gridDim.x * blockDim.x) {
    if (!in_region(s, p)) continue;
    float rgb[3];
    blend_at(map, map_h, map_w, images, s, p, image_weight, colormap, rgb);
    mx = fmaxf(mx, fmaxf(rgb[0], fmaxf(rgb[1], rgb[2])));
  }
  mx = block_reduce<Reduce::kMax>(mx, scratch);
  if (threadIdx.x == 0)
    atomicMax(reinterpret_cast<unsigned int*>(blend_max + blockIdx.y), __float_as_uint(mx));
}

__global__ void overlay_write_kernel(const float* maps, int slots, int map_h, int map_w,
                                     const uint8_t* images, const PackedOverlay* desc, float image_weight,
                                     int colormap, const float* blend_max, uint8_t* overlays) {
  const int image = blockIdx.y / slots, slot = blockIdx.y % slots;
  const PackedOverlay s = desc[image];
  const float* map = maps + static_cast<int64_t>(blockIdx.y) * map_h * map_w;
  const float mx = blend_max[blockIdx.y];
  uint8_t* out = overlays + s.output_offset + static_cast<int64_t>(slot) * s.width * s.height * 3;
  for (int p = blockIdx.x * blockDim.x + threadIdx.x; p < s.width * s.height; p += gridDim.x * blockDim.x) {
    const uint8_t* photo = images + s.image_offset + static_cast<int64_t>(p) * 3;
    if (!in_region(s, p)) {
      for (int c = 0; c < 3; ++c) out[static_cast<int64_t>(p) * 3 + c] = photo[c];
      continue;
    }
    float rgb[3];
    blend_at(map, map_h, map_w, images, s, p, image_weight, colormap, rgb);
    for (int c = 0; c < 3; ++c) out[static_cast<int64_t>(p) * 3 + c] = overlay_quantize(rgb[c], mx);
  }
}

template <typename T>
void launch_cam_typed(const void* features, int n, int h, int w, int channels, const float* fc_weight,
                      const float* map_weights, const float* projections, const int* topk, int k,
                      const int* requested, int r, int out_h, int out_w, float* maps, cudaStream_t stream) {
  cam_kernel<T><<<n*(k + r), kCamThreads, h * w * sizeof(float), stream>>>(
      static_cast<const T*>(features), h, w, channels, fc_weight, map_weights, projections, topk, k,
      requested, r, out_h, out_w, maps);
  CUDA_CHECK_LAUNCH();
}

}  // namespace

void launch_cam(Storage storage, const void* features, int n, int h, int w, int channels,
                const float* fc_weight, const float* map_weights, const float* projections, const int* topk,
                int k, const int* requested, int r, int out_h, int out_w, float* maps, cudaStream_t stream) {
  if (n * (k + r) == 0) return;
  with_storage_type(storage, [&](auto zero) {
    launch_cam_typed<decltype(zero)>(features, n, h, w, channels, fc_weight, map_weights, projections, topk,
                                     k, requested, r, out_h, out_w, maps, stream);
  });
}

void upload_colormaps() {
  CUDA_CHECK(cudaMemcpyToSymbol(c_colormaps, kColormaps, sizeof(kColormaps)));
}

void launch_overlay(const float* maps, int n, int slots, int map_h, int map_w, const uint8_t* images,
                    const PackedOverlay* packed, int max_pixels, float image_weight, int colormap,
                    float* blend_max, uint8_t* overlays, cudaStream_t stream) {
  if (n * slots == 0) return;
  const int threads = 256;
  dim3 grid(static_cast<unsigned>((max_pixels + threads * 4 - 1) / (threads * 4)),
            static_cast<unsigned>(n * slots));
  CUDA_CHECK(cudaMemsetAsync(blend_max, 0, sizeof(float) * n * slots, stream));
  overlay_max_kernel<<<grid, threads, 0, stream>>>(maps, slots, map_h, map_w, images, packed, image_weight,
                                                   colormap, blend_max);
  CUDA_CHECK_LAUNCH();
  overlay_write_kernel<<<grid, threads, 0, stream>>>(maps, slots, map_h, map_w, images, packed, image_weight,
                                                     colormap, blend_max, overlays);
  CUDA_CHECK_LAUNCH();
}

}  // namespace cam
