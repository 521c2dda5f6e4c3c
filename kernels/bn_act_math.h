// Element math of the fused epilogue that follows every convolution:
//   y = x * scale[c] + shift[c] (+ residual) (then ReLU when asked).
// BN is folded into the conv weights at load, so scale is usually absent (1); the general form stays for
// unfolded layers and for tests. fp32 math whatever the storage type.
#pragma once
#include "hd.h"

namespace cam {

CAM_HD float bn_act(float x, float scale, float shift, float residual, bool relu) {
  float y = x * scale + shift + residual;
  return relu ? (y > 0.0f ? y : 0.0f) : y;
}

}  // namespace cam
