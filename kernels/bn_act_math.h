// Element math of the fused epilogue that follows every convolution:
//   y = x + shift[c] (+ residual) (then ReLU when asked).
// BN's scale is folded into the conv weights at load (engine/model/resnet.cpp), its shift and any conv bias
// into `shift`. fp32 math whatever the storage type.
#pragma once
#include "kernels/host_device.h"

namespace cam {

CAM_HD float bn_act(float x, float shift, float residual, bool relu) {
  float y = x + shift + residual;
  return relu ? (y > 0.0f ? y : 0.0f) : y;
}

}  // namespace cam
