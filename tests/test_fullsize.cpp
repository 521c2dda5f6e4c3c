// A full-size torchvision ResNet-50 (131 classes, random weights and BN statistics, 224x224) generated on the
// fly by tools/make_golden.py --full when /usr/bin/python3 has torch and OpenCV; skipped with the reason
// otherwise.
#include <doctest/doctest.h>

#include <cstdio>

#include "engine/cpu/backend.h"
#include "engine/model/resnet.h"
#include "tests/golden_check.h"
#include "tests/test_util.h"

namespace {

const char* python = "/usr/bin/python3";

// True (with the reason printed) when the system Python lacks one of `modules` ("torch, cv2").
bool python_lacks(const std::string& modules) {
  if (camtest::run_command(std::string(python) + " -c 'import " + modules + "' 2>/dev/null") == 0)
    return false;
  MESSAGE("SKIPPED: " << python << " lacks " << modules << " (apt-get install python3-torch python3-opencv)");
  return true;
}

}  // namespace

TEST_CASE("full-size ResNet-50 against PyTorch") {
  if (python_lacks("torch, cv2, numpy")) return;
  std::string dir = camtest::temp_dir();
  REQUIRE(camtest::run_command(std::string(python) + " " + camtest::source_dir() +
                               "/tools/make_golden.py --full " + dir) == 0);
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

TEST_CASE(
    "full-size ResNet-50 work: 4.09 GMAC at 224x224, 0.997 GMAC at 100x100 (shared/notes/performance.md)") {
  if (python_lacks("torch, numpy")) return;
  std::string dir = camtest::temp_dir();
  REQUIRE(camtest::run_command(std::string(python) + " " + camtest::source_dir() +
                               "/bench/make_bench_weights.py " + dir + "/r50.safetensors --classes 1000") ==
          0);
  cam::ResNet net = cam::ResNet::load(dir + "/r50.safetensors");
  CHECK(net.macs(224, 224) / 1e9 == doctest::Approx(4.09).epsilon(0.005));
  CHECK(net.macs(100, 100) / 1e9 == doctest::Approx(0.997).epsilon(0.005));
  camtest::run_command("rm -rf " + dir);
}
