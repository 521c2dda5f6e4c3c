// Element math of the map methods beyond CAM, as pytorch-grad-cam 1.5 computes them (grad_cam_plusplus.py,
// score_cam.py), for one channel or one pixel at a time so that a backend loops over them as it likes:
//   Grad-CAM++: w_k = sum_ij relu(g) * g^2 / (2 g^2 + S_k g^3 + 1e-6), with g = dY_c/dA_k(i, j) the same at
//     every pixel for a pooled head (G_k / (h*w), G the gradient at the pooled features) and S_k = sum_ij
//     A_k;
//   Score-CAM masks: each channel A_k upsampled to the input with UpsamplingBilinear2d (align_corners=True),
//     then (u - min) / (max - min + 1e-8); the network input is multiplied by it (score_cam_upsampled and
//     score_cam_mask: the CPU's score_cam_input and the device's score_cam kernel both build masked inputs
//     with them, bit for bit alike).
#pragma once
#include "kernels/cam_math.h"
#include "kernels/host_device.h"

namespace cam {

constexpr float kGradCamPlusPlusEps = 1e-6f;
constexpr float kScoreCamEps = 1e-8f;

// Grad-CAM++ weight of one channel at one pixel: gradient g of the class score with respect to the
// activation there, activation_sum = S_k. Zero where g <= 0 (pytorch-grad-cam's relu(g) and its aij = 0
// where g == 0).
CAM_HD float gradcam_plusplus_weight(float g, float activation_sum) {
  const float g2 = g * g, g3 = g2 * g;
  const float aij = g2 / (2.0f * g2 + activation_sum * g3 + kGradCamPlusPlusEps);
  return g > 0.0f ? g * aij : 0.0f;
}

// Grad-CAM++'s weight of channel k for a map, as the CAM weighted sum takes it (the sum over the hw pixels of
// the per-pixel weight): `gradient` is dY_c/d(pooled feature k) (the fc row, or an MLP head's closed form),
// so g = gradient / hw at every pixel.
CAM_HD float gradcam_plusplus_channel_weight(float gradient, float activation_sum, int hw) {
  return static_cast<float>(hw) * gradcam_plusplus_weight(gradient / static_cast<float>(hw), activation_sum);
}

// One axis of PyTorch's bilinear interpolation with align_corners=True: source = dst * (src - 1) / (dst -
// 1) in fp32, the lower tap its floor, the upper one the next sample (the same at the last).
CAM_HD LinearTap align_corners_tap(int dst, int src_size, int dst_size) {
  const float scale =
      dst_size > 1 ? static_cast<float>(src_size - 1) / static_cast<float>(dst_size - 1) : 0.0f;
  const float src = scale * static_cast<float>(dst);
  int i0 = static_cast<int>(src);
  if (i0 > src_size - 1) i0 = src_size - 1;
  LinearTap t;
  t.i0 = i0;
  t.i1 = i0 < src_size - 1 ? i0 + 1 : i0;
  t.w1 = src - static_cast<float>(i0);
  return t;
}

// Sample of one channel of an NHWC feature map (h, w, C) at the taps, in PyTorch's order of operations,
// each product and sum rounded on its own so that the device's masks equal the host's bit for bit.
CAM_HD float align_corners_sample(const float* channel, int w, int c, LinearTap ty, LinearTap tx) {
  const float h1 = ty.w1, h0 = 1.0f - h1, w1 = tx.w1, w0 = 1.0f - w1;
  const float top =
      add_rn(mul_rn(w0, channel[(ty.i0 * w + tx.i0) * c]), mul_rn(w1, channel[(ty.i0 * w + tx.i1) * c]));
  const float bottom =
      add_rn(mul_rn(w0, channel[(ty.i1 * w + tx.i0) * c]), mul_rn(w1, channel[(ty.i1 * w + tx.i1) * c]));
  return add_rn(mul_rn(h0, top), mul_rn(h1, bottom));
}

// A Score-CAM mask value from an upsampled activation and the channel's upsampled min and max.
CAM_HD float score_cam_mask(float upsampled, float lo, float hi) {
  return (upsampled - lo) / (hi - lo + kScoreCamEps);
}

// The faithfulness metrics' perturbed inputs (engine/methods/faithfulness.h), pixel by pixel: the baseline is
// all zeros; a deletion keeps the pixels ranked at or after `count` in the map's order, an insertion those
// before it; a masked input is the image times the map. What multiplies a pixel of rank `rank` and map value
// `map_value`:
enum PerturbationKind : int {
  kPerturbBaseline = 0,
  kPerturbDeletion = 1,
  kPerturbInsertion = 2,
  kPerturbMasked = 3
};

CAM_HD float perturbation_keep(int kind, int rank, int count, float map_value) {
  const bool ranked = rank < count;
  return kind == kPerturbMasked      ? map_value
         : kind == kPerturbDeletion  ? (ranked ? 0.0f : 1.0f)
         : kind == kPerturbInsertion ? (ranked ? 1.0f : 0.0f)
                                     : 0.0f;
}

// One channel value of a perturbed input: the baseline is exactly zero, the others the pixel times its keep.
CAM_HD float perturbed_value(int kind, float pixel, float keep) {
  return kind == kPerturbBaseline ? 0.0f : mul_rn(pixel, keep);
}

// The upsampled activation at input pixel (y, x) of channel `channel` (pointing at channel k of a (fh, fw, C)
// NHWC map) for an (h, w) input.
CAM_HD float score_cam_upsampled(const float* channel, int fh, int fw, int c, int h, int w, int y, int x) {
  return align_corners_sample(channel, fw, c, align_corners_tap(y, fh, h), align_corners_tap(x, fw, w));
}

}  // namespace cam
