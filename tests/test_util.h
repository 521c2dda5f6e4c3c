// Helpers shared by the test suites: fixture paths, error measures, crafted files, temporary folders.
#pragma once
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "engine/io/image.h"
#include "engine/model/resnet.h"

namespace camtest {

// Paths default to this checkout's; the environment (CAM_TEST_DATA, CAM_SOURCE_DIR, CAM_ENGINE_BIN) overrides
// them so a build can run from another folder (bench/gpu_suite.sh).
std::string data_path(const std::string& name);  // tests/data/<name>
std::string source_dir();
std::string engine_bin();
std::string temp_dir();  // a fresh folder under the system temp dir, removed at exit

double rel_l2(const std::vector<float>& got, const std::vector<float>& want);
double max_abs_diff(const std::vector<float>& got, const std::vector<float>& want);

// Writes a safetensors file from a header JSON text and raw data bytes, exactly as given (for crafted bad
// files).
void write_raw_safetensors(const std::string& path, const std::string& header,
                           const std::vector<uint8_t>& data);
void write_bytes(const std::string& path, const std::vector<uint8_t>& bytes);
std::vector<uint8_t> read_bytes(const std::string& path);

std::vector<float> random_floats(size_t n, std::mt19937& rng, float lo = -1.0f, float hi = 1.0f);
cam::Image random_image(int width, int height, std::mt19937& rng);

// The kinds of random net the forward tests run: basic, bottleneck, bottleneck with the last stage dilated
// instead of strided as torchvision's replace_stride_with_dilation does (its first block's 3x3 conv
// undilated, the second's dilated by 2), and ResNeXt-D: 4-group 3x3s twice as wide, timm's deep stem and
// average-pool shortcuts. Three stages of two blocks, `width` stem channels; BN already folded (random
// weights and shifts).
enum NetKind { kBasic, kBottleneck, kDilated, kResNeXtD };
constexpr int kNetKinds[] = {kBasic, kBottleneck, kDilated, kResNeXtD};
cam::ResNet random_resnet(int kind, int width, int classes, std::mt19937& rng);

// Fixture images stored as U8 (N, H, W, 3) in an expected-values file.
std::vector<cam::Image> fixture_images(const std::string& expected_path);

// The object of a photo on white, computed plainly (for cli/object_mask.h): the background grows by
// whole-image sweeps from the border through pixels with every channel >= threshold until nothing changes;
// returns (height, width), 1 = object.
std::vector<uint8_t> reference_object_mask(const cam::Image& image, int threshold);

// Runs a shell command; returns its exit status.
int run_command(const std::string& command);

// Runs `shell_prefix` + cam_engine + `args` through the shell with stdin empty and stdout dropped; stderr is
// kept in dir/stderr.txt and returned.
struct CliRun {
  int status;
  std::string err;
};
CliRun run_cli(const std::string& args, const std::string& dir, const std::string& shell_prefix = "");

}  // namespace camtest
