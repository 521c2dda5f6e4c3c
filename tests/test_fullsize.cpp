// A full-size torchvision ResNet-50 (131 classes, random weights and BN statistics, 224x224) generated on the fly
// by tools/make_golden.py --full when /usr/bin/python3 has torch and OpenCV; skipped with the reason otherwise.
#include <doctest/doctest.h>

#include <cstdio>

#include "cpu_backend.h"
#include "golden_check.h"
#include "resnet.h"
#include "test_util.h"

TEST_CASE("full-size ResNet-50 against PyTorch") {
  const char* python = "/usr/bin/python3";
  if (camtest::run_command(std::string(python) + " -c 'import torch, cv2, numpy' 2>/dev/null") != 0) {
    MESSAGE("SKIPPED: " << python << " lacks torch/cv2/numpy (apt-get install python3-torch python3-opencv)");
    return;
  }
  std::string dir = camtest::temp_dir();
  REQUIRE(camtest::run_command(std::string(python) + " " + CAM_SOURCE_DIR + "/tools/make_golden.py --full " + dir) == 0);
  std::string weights = dir + "/full_r50.safetensors", expected = dir + "/full_r50_expected.safetensors";
  cam::ResNet net = cam::ResNet::load(weights);
  CHECK(net.depth() == 50);
  CHECK(net.num_classes == 131);
  CHECK(net.feature_channels == 2048);
  cam::CpuBackend backend(net, 0);
  camtest::check_forward(backend, expected, {});
  camtest::check_engine(weights, expected, "cpu", "fp32", {});
  camtest::run_command("rm -rf " + dir);
}
