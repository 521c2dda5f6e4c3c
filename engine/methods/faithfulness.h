// Faithfulness of maps (an engine internal, run by engine/methods/method_maps.cpp when MapOptions::metrics
// asks), as torchcam 0.5's metrics define them with the softmax probability of the map's class as the score:
//   deletion and insertion (DeletionInsertionMetric, after RISE): the input pixels ranked by the map, highest
//     first (ties to the lower index); in `metric_steps` intervals of ceil(H*W / steps) pixels the highest
//     ranked are set to the baseline (zero, the normalised mean colour) or, for insertion, restored from the
//     input over an all-baseline start; the area under the probability curve (trapezoids over the fraction
//     of pixels changed) is the score;
//   Average Drop and Increase in Confidence (ClassificationMetric, Chattopadhyay et al.): the probability p'
//     on the input multiplied by the map against p on the input: relu(p - p') / (p + 1e-7), and p' > p.
// Every perturbed input runs through the backend's forward, MapOptions::perturbed_batch at a time.
#pragma once
#include <vector>

#include "engine/model/backend.h"
#include "engine/model/options.h"
#include "engine/model/resnet.h"

namespace cam {

// One perturbed input of the faithfulness metrics (job of p, into out (h, w, 3)); what the device's perturb
// kernel computes, bit for bit.
void perturbed_input(const PerturbedJobs& p, const PerturbedJob& job, float* out);

// Fills ClassMap::metrics of every map of `results`; input: the batch's network input (N, H, W, 3).
void measure_faithfulness(Backend& backend, const ResNet& net, const float* input,
                          std::vector<ImageResult>& results, const MapOptions& options);

}  // namespace cam
