// The end-to-end comparison against a PyTorch fixture written by tools/make_golden.py, shared by the
// committed golden tests and the full-size on-the-fly test. Bounds: logits rel. L2 <= 1e-5, identical top-5,
// per-stage activations rel. L2 <= 1e-4, CAM max |diff| <= 1e-4. Overlay: a map value within 1e-6 of a JET
// step can fall in the neighbouring table entry (entries differ by up to 4 levels, halved by the blend), so
// at most 3 levels and at most 0.1% of the values may differ.
#pragma once
#include <string>

#include "engine/model/backend.h"

namespace camtest {

struct GoldenBounds {
  double logits_rel_l2 = 1e-5;
  double stage_rel_l2 = 1e-4;
  double cam_max_abs = 1e-4;
  int identical_top = 5;  // leading classes whose order must equal PyTorch's
  int overlay_max_abs = 3;
  double overlay_differing_fraction = 1e-3;
};

// Checks the raw forward (logits, stages) of `backend` on the fixture's normalised input.
void check_forward(cam::Backend& backend, const std::string& expected_path, const GoldenBounds& bounds);
// Checks maps and overlay through the public Engine API from the fixture's uint8 images.
void check_engine(const std::string& weights_path, const std::string& expected_path,
                  const std::string& backend, const std::string& precision, const GoldenBounds& bounds);

}  // namespace camtest
