// What the engine returns per image (predictions and class activation maps) and, for benchmarks, per timed
// step of a batch. Part of the public API (engine/engine.h).
#pragma once
#include <string>
#include <vector>

#include "engine/io/image.h"
#include "engine/model/options.h"

namespace cam {

// Faithfulness of one map (engine/methods/faithfulness.h), when MapOptions::metrics asked for it.
struct MapMetrics {
  bool measured = false;
  double insertion = 0;     // RISE insertion AUC of the class probability, in [0, 1] (higher is better)
  double deletion = 0;      // RISE deletion AUC (lower is better)
  double average_drop = 0;  // max(0, p - p_masked) / p on the image multiplied by the map (Chattopadhyay)
  bool increase = false;    // p_masked > p: counts towards the Increase in Confidence
  float masked_probability = 0;  // p_masked
};

struct ClassMap {
  int class_index = -1;
  CamMethod method = CamMethod::kCam;
  float probability = 0.0f;
  std::vector<float> map;  // (input_h, input_w) in [0, 1]
  Image overlay;           // at the original image size; empty unless asked
  MapMetrics metrics;
};

struct ImageResult {
  std::vector<float> logits;         // (classes)
  std::vector<float> probabilities;  // (classes), softmax of logits
  std::vector<int> top;              // the most probable classes, by logit (ties: lower index), best first
  // Per method of MapOptions::methods, in that order: one map per top-k class in `top` order, then one per
  // requested class.
  std::vector<ClassMap> maps;
};

// One timed step of a batch, for benchmarks: a phase of run() or a layer of the forward.
struct TimedStep {
  std::string
      name;  // "upload", "preprocess", "forward", "cam", "overlay", "download"; or "layer2.0.conv2", "fc"
  double ms = 0;
  double flops = 0;  // layers: multiply-adds x 2 of the whole batch; 0 for phases
};

}  // namespace cam
