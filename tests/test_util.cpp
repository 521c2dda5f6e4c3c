#include "tests/test_util.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <stdexcept>

#include "engine/io/safetensors.h"

namespace camtest {

namespace {
std::string from_env(const char* name, const char* fallback) {
  const char* v = std::getenv(name);
  return v && *v ? v : fallback;
}

// Folders made by temp_dir(), removed when the test program exits (kept when CAM_KEEP_TEST_DIRS is set, for
// looking at what a failing test wrote).
struct TempDirs {
  std::vector<std::string> paths;
  ~TempDirs() {
    if (std::getenv("CAM_KEEP_TEST_DIRS")) return;
    for (const std::string& path : paths) {
      std::error_code ignored;
      std::filesystem::remove_all(path, ignored);
    }
  }
};
TempDirs& made_temp_dirs() {
  static TempDirs dirs;
  return dirs;
}
}  // namespace

std::string data_path(const std::string& name) {
  return from_env("CAM_TEST_DATA", CAM_TEST_DATA) + "/" + name;
}
std::string source_dir() {
  return from_env("CAM_SOURCE_DIR", CAM_SOURCE_DIR);
}
std::string engine_bin() {
  return from_env("CAM_ENGINE_BIN", CAM_ENGINE_BIN);
}

std::string temp_dir() {
  const char* base = std::getenv("TMPDIR");
  std::string pattern = std::string(base && *base ? base : "/tmp") + "/cam_test_XXXXXX";
  std::vector<char> buf(pattern.begin(), pattern.end());
  buf.push_back('\0');
  if (!mkdtemp(buf.data())) throw std::runtime_error("mkdtemp failed");
  made_temp_dirs().paths.push_back(buf.data());
  return buf.data();
}

double rel_l2(const std::vector<float>& got, const std::vector<float>& want) {
  if (got.size() != want.size()) return INFINITY;
  double num = 0, den = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    num += (static_cast<double>(got[i]) - want[i]) * (static_cast<double>(got[i]) - want[i]);
    den += static_cast<double>(want[i]) * want[i];
  }
  return std::sqrt(num / (den > 0 ? den : 1));
}

double max_abs_diff(const std::vector<float>& got, const std::vector<float>& want) {
  if (got.size() != want.size()) return INFINITY;
  double m = 0;
  for (size_t i = 0; i < got.size(); ++i) m = std::fmax(m, std::fabs(static_cast<double>(got[i]) - want[i]));
  return m;
}

void write_bytes(const std::string& path, const std::vector<uint8_t>& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

std::vector<uint8_t> read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<uint8_t>((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

void write_raw_safetensors(const std::string& path, const std::string& header,
                           const std::vector<uint8_t>& data) {
  std::vector<uint8_t> bytes(8 + header.size() + data.size());
  uint64_t n = header.size();
  for (int i = 0; i < 8; ++i) bytes[i] = static_cast<uint8_t>(n >> (8 * i));
  std::copy(header.begin(), header.end(), bytes.begin() + 8);
  std::copy(data.begin(), data.end(), bytes.begin() + 8 + static_cast<std::ptrdiff_t>(header.size()));
  write_bytes(path, bytes);
}

std::vector<float> random_floats(size_t n, std::mt19937& rng, float lo, float hi) {
  std::uniform_real_distribution<float> d(lo, hi);
  std::vector<float> v(n);
  for (float& x : v) x = d(rng);
  return v;
}

cam::Image random_image(int width, int height, std::mt19937& rng) {
  cam::Image img;
  img.width = width;
  img.height = height;
  img.rgb.resize(static_cast<size_t>(width) * height * 3);
  std::uniform_int_distribution<int> d(0, 255);
  for (auto& p : img.rgb) p = static_cast<uint8_t>(d(rng));
  return img;
}

namespace {

cam::ConvLayer random_conv(std::mt19937& rng, const std::string& name, int cin, int cout, int k, int stride,
                           int dilation = 1, int groups = 1) {
  cam::ConvLayer c;
  c.name = name;
  c.in_channels = cin;
  c.out_channels = cout;
  c.kernel = k;
  c.stride = stride;
  c.dilation = dilation;
  c.groups = groups;
  c.pad = dilation * (k / 2);
  c.weight = random_floats(static_cast<size_t>(cout) * k * k * (cin / groups), rng, -1.0f, 1.0f);
  float s = std::sqrt(2.0f / (k * k * cin / groups)) * 1.7f;
  for (float& v : c.weight) v *= s;
  c.shift = random_floats(cout, rng, -0.2f, 0.2f);
  return c;
}

}  // namespace

cam::ResNet random_resnet(int kind, int width, int classes, std::mt19937& rng) {
  const bool bottleneck = kind != kBasic, dilate_last = kind == kDilated, d = kind == kResNeXtD;
  const int groups = d ? 4 : 1;
  cam::ResNet net;
  net.bottleneck = bottleneck;
  if (d) {
    net.stem = {random_conv(rng, "conv1.0", 3, width / 2, 3, 2),
                random_conv(rng, "conv1.3", width / 2, width / 2, 3, 1),
                random_conv(rng, "conv1.6", width / 2, width, 3, 1)};
  } else {
    net.stem = {random_conv(rng, "conv1", 3, width, 7, 2)};
  }
  int ch = width;
  for (int s = 0; s < 3; ++s) {
    std::vector<cam::Block> blocks;
    const bool dilated = dilate_last && s == 2;
    for (int i = 0; i < 2; ++i) {
      int planes = width << s, out = bottleneck ? planes * 4 : planes,
          stride = (s > 0 && i == 0 && !dilated) ? 2 : 1;
      cam::Block b;
      if (bottleneck) {
        const int inner = planes * (d ? 2 : 1);
        b.conv1 = random_conv(rng, "c1", ch, inner, 1, 1);
        b.conv2 = random_conv(rng, "c2", inner, inner, 3, stride, dilated && i > 0 ? 2 : 1, groups);
        b.conv3 = random_conv(rng, "c3", inner, out, 1, 1);
      } else {
        b.conv1 = random_conv(rng, "c1", ch, planes, 3, stride);
        b.conv2 = random_conv(rng, "c2", planes, planes, 3, 1);
      }
      b.has_downsample = stride != 1 || ch != out;
      b.avg_down = d && stride != 1;
      if (b.has_downsample) b.downsample = random_conv(rng, "ds", ch, out, 1, b.avg_down ? 1 : stride);
      blocks.push_back(b);
      ch = out;
    }
    net.stages.push_back(blocks);
  }
  net.feature_channels = ch;
  net.num_classes = classes;
  net.fc_weight = random_floats(static_cast<size_t>(classes) * ch, rng);
  net.fc_bias = random_floats(classes, rng);
  return net;
}

std::vector<cam::Image> fixture_images(const std::string& expected_path) {
  cam::SafeTensors file(expected_path);
  const cam::TensorView& t = file.get("images");
  std::vector<cam::Image> images(t.shape[0]);
  size_t each = static_cast<size_t>(t.shape[1] * t.shape[2] * 3);
  for (size_t i = 0; i < images.size(); ++i) {
    images[i].height = static_cast<int>(t.shape[1]);
    images[i].width = static_cast<int>(t.shape[2]);
    images[i].rgb.assign(t.data + i * each, t.data + (i + 1) * each);
  }
  return images;
}

int run_command(const std::string& command) {
  int status = std::system(command.c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

CliRun run_cli(const std::string& args, const std::string& dir, const std::string& shell_prefix) {
  std::string err_file = dir + "/stderr.txt";
  int status =
      run_command(shell_prefix + engine_bin() + " " + args + " 2>" + err_file + " >/dev/null </dev/null");
  std::ifstream in(err_file);
  return {status, std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>())};
}

// Background by fixed-point sweeps: a near-white pixel is background when it is on the border or next to one.
std::vector<uint8_t> reference_object_mask(const cam::Image& img, int threshold) {
  const int w = img.width, h = img.height;
  std::vector<uint8_t> background(static_cast<size_t>(w) * h, 0);
  auto white = [&](int x, int y) {
    const uint8_t* p = &img.rgb[(static_cast<size_t>(y) * w + x) * 3];
    return p[0] >= threshold && p[1] >= threshold && p[2] >= threshold;
  };
  for (bool changed = true; changed;) {
    changed = false;
    for (int y = 0; y < h; ++y)
      for (int x = 0; x < w; ++x) {
        if (background[y * w + x] || !white(x, y)) continue;
        bool reach = x == 0 || y == 0 || x == w - 1 || y == h - 1 || background[y * w + x - 1] ||
                     (x + 1 < w && background[y * w + x + 1]) || background[(y - 1) * w + x] ||
                     (y + 1 < h && background[(y + 1) * w + x]);
        if (reach) background[y * w + x] = 1, changed = true;
      }
  }
  for (uint8_t& v : background) v = !v;
  return background;
}

}  // namespace camtest
