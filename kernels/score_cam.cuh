// Score-CAM's masked network inputs on the device, the same numbers as the CPU's score_cam_input
// (engine/methods/method_maps.h; element math in cam_methods_math.h): for job j = (image i, channel k),
// channel k of image i's last-block features upsampled to the input with align_corners=True and min-max'ed
// with pytorch-grad-cam's 1e-8, times image i's normalised input.
//   inputs (n, h, w, 3) fp32 NHWC, features (n, fh, fw, C) fp32 NHWC, jobs (m, 2) int (image, channel),
//   out (m, h, w, 3) fp32 NHWC.
// One block per job: a first pass takes the min and max of the upsampled channel (a block reduction), a
// second writes the masked input, sampling again (four taps) instead of keeping an (h, w) buffer. Made so
// that Score-CAM's thousands of masked inputs per image never cross the PCIe bus.
#pragma once
#include "kernels/common.cuh"

namespace cam {

void launch_score_cam_inputs(const float* inputs, int h, int w, const float* features, int fh, int fw, int c,
                             const int* jobs, int m, float* out, cudaStream_t stream);

}  // namespace cam
