// The end-to-end comparison against a PyTorch fixture written by tools/make_golden.py, shared by the committed
// golden tests and the full-size on-the-fly test. Bounds: logits rel. L2 <= 1e-5, identical top-5, per-stage
// activations rel. L2 <= 1e-4, CAM max |diff| <= 1e-4, overlay within 1 level of 255.
#pragma once
#include <string>

#include "backend.h"

namespace camtest {

struct GoldenBounds {
  double logits_rel_l2 = 1e-5;
  double stage_rel_l2 = 1e-4;
  double cam_max_abs = 1e-4;
  int overlay_max_abs = 1;
};

// Checks the raw forward (logits, stages) of `backend` on the fixture's normalised input.
void check_forward(cam::Backend& backend, const std::string& expected_path, const GoldenBounds& bounds);
// Checks maps and overlay through the public Engine API from the fixture's uint8 images.
void check_engine(const std::string& weights_path, const std::string& expected_path, const std::string& backend,
                  const std::string& precision, const GoldenBounds& bounds);

}  // namespace camtest
