// The faithfulness metrics' perturbed network inputs on the device, the same numbers as the CPU's
// perturbed_input (engine/methods/method_maps.h; element math in cam_methods_math.h): for job j = (kind,
// image, map, count), image `image`'s normalised input with the pixels that map `map` ranks before `count`
// deleted (zeroed) or alone inserted, or multiplied by the map, or the all-zero baseline.
//   inputs (n, h, w, 3) fp32 NHWC, maps (maps, h, w) fp32, ranks (maps, h, w) int, jobs (m, 4) int
//   (kind, image, map, count), out (m, h, w, 3) fp32 NHWC.
// One thread per output pixel: each reads its rank and map value once and writes three channels.
#pragma once
#include "kernels/common.cuh"

namespace cam {

void launch_perturbed_inputs(const float* inputs, int h, int w, const float* maps, const int* ranks,
                             const int* jobs, int m, float* out, cudaStream_t stream);

}  // namespace cam
