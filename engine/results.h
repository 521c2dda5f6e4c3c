// What the engine returns per image (predictions and class activation maps) and, for benchmarks, per timed
// step of a batch. Part of the public API (engine.h).
#pragma once
#include <string>
#include <vector>

#include "image.h"

namespace cam {

struct ClassMap {
  int class_index = -1;
  float probability = 0.0f;
  std::vector<float> map;  // (input_h, input_w) in [0, 1]
  Image overlay;           // at the original image size; empty unless asked
};

struct ImageResult {
  std::vector<float> logits;         // (classes)
  std::vector<float> probabilities;  // (classes), softmax of logits
  std::vector<int> top;              // the most probable classes, by logit (ties: lower index), best first
  std::vector<ClassMap> maps;        // one per top-k class in `top` order, then one per requested class
};

// One timed step of a batch, for benchmarks: a phase of run() or a layer of the forward.
struct TimedStep {
  std::string
      name;  // "upload", "preprocess", "forward", "cam", "overlay", "download"; or "layer2.0.conv2", "fc"
  double ms = 0;
  double flops = 0;  // layers: multiply-adds x 2 of the whole batch; 0 for phases
};

}  // namespace cam
