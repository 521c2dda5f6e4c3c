// Score-CAM on the host: the channels it uses (all, or those of highest variance), one masked input (the
// oracle of kernels/score_cam), and each (image, class)'s channel weights from the logits of the masked
// inputs, which run through Backend::score_cam_logits.
#pragma once
#include <vector>

#include "engine/model/backend.h"
#include "engine/model/options.h"
#include "engine/model/resnet.h"

namespace cam {

// One Score-CAM masked input: the network input (h, w, 3) times the upsampled, min-max'ed channel k of
// features (fh, fw, C), into out (h, w, 3); what the device's score_cam kernel computes, bit for bit.
void score_cam_input(const float* input, int h, int w, const float* features, int fh, int fw, int c, int k,
                     float* out);

// Score-CAM channel weights, one (C) vector per image and mapped class in order, zero outside the image's
// chosen channels: the softmax over those channels of the class logit of each masked input. input: the
// batch's network inputs (n, h, w, 3); fwd: their forward; mapped: each image's mapped classes.
std::vector<std::vector<float>> score_cam_weights(Backend& backend, const ResNet& net, const float* input,
                                                  const ForwardResult& fwd, int n,
                                                  const std::vector<std::vector<int>>& mapped,
                                                  const MapOptions& options);

}  // namespace cam
