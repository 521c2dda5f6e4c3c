// End-to-end against PyTorch fixtures (tools/make_golden.py): a reduced-width ResNet-50 (mixed F16/BF16/F32
// weights, 100x100 input: 4x4 maps through 13x13 and 7x7), a ResNet-18 at 64x48 (basic blocks, non-square),
// a ResNet-18 with an MLP head (GAP -> 48 -> 24 -> fc), whose CAM weights come from the closed-form
// Grad-CAM, and a reduced-width ResNet-50 with layer3 and layer4 dilated instead of strided (torchvision's
// replace_stride_with_dilation=[False, True, True]: 9x7 maps from a 72x56 input).
#include <doctest/doctest.h>

#include "engine/cpu/backend.h"
#include "engine/model/resnet.h"
#include "tests/golden_check.h"
#include "tests/test_util.h"

namespace {

const char* kFixtures[] = {"golden_r50w16", "golden_r18w8", "golden_r18w8_mlp", "golden_r50w8_dilated"};

}  // namespace

TEST_CASE("CPU forward matches PyTorch: logits, top-5 and every stage, fused and unfused epilogues") {
  for (const char* name : kFixtures) {
    cam::ResNet net = cam::ResNet::load(camtest::data_path(std::string(name) + ".safetensors"));
    for (bool fused : {true, false}) {
      CAPTURE(name);
      CAPTURE(fused);
      cam::CpuBackend backend(net, 0, cam::Precision::kFp32, fused);
      camtest::check_forward(backend, camtest::data_path(std::string(name) + "_expected.safetensors"), {});
    }
  }
}

TEST_CASE("CPU CAMs and overlay match pytorch-grad-cam") {
  for (const char* name : kFixtures) {
    CAPTURE(name);
    camtest::check_engine(camtest::data_path(std::string(name) + ".safetensors"),
                          camtest::data_path(std::string(name) + "_expected.safetensors"), "cpu", "fp32", {});
  }
}
