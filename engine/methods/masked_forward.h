// Masked or perturbed network inputs through a backend's forward, a batch at a time: how the CPU backend runs
// Score-CAM's masked inputs (engine/methods/score_cam.h) and the faithfulness metrics' perturbed ones
// (engine/methods/faithfulness.h). The CUDA backend makes them on the device instead.
#pragma once
#include <functional>

#include "engine/model/backend.h"

namespace cam {

// `count` network inputs (h, w, 3) that make(index, input) writes through the backend's forward, `batch` at a
// time (make runs for one batch's inputs in parallel); take(index, logits (classes)) is called for each, in
// order, so that what a caller keeps is its own choice and memory stays that of one batch.
void perturbed_forward(Backend& backend, int h, int w, int classes, int count, int batch,
                       const std::function<void(int index, float* input)>& make,
                       const std::function<void(int index, const float* logits)>& take);

}  // namespace cam
