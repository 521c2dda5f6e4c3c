// Masked or perturbed network inputs through a backend's forward, a batch at a time
// (engine/methods/masked_forward.h).
#include "engine/methods/masked_forward.h"

#include <omp.h>

#include <algorithm>

namespace cam {

void perturbed_forward(Backend& backend, int h, int w, int classes, int count, int batch,
                       const std::function<void(int index, float* input)>& make,
                       const std::function<void(int index, const float* logits)>& take) {
  const size_t size = static_cast<size_t>(h) * w * 3;
  std::vector<float> inputs(static_cast<size_t>(std::max(0, std::min(batch, count))) * size);
  ForwardResult fwd;
  for (int first = 0; first < count; first += batch) {
    const int m = std::min(batch, count - first);
#pragma omp parallel for schedule(static)
    for (int j = 0; j < m; ++j) make(first + j, &inputs[j * size]);
    backend.forward(inputs.data(), m, h, w, false, fwd);
    for (int j = 0; j < m; ++j) take(first + j, &fwd.logits[static_cast<size_t>(j) * classes]);
  }
}

}  // namespace cam
