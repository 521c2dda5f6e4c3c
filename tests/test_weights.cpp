// The ResNet loader: architecture read from the shapes, BN folding, the three conv forms, and every way a
// weights file can be wrong, each checked by its message (file, tensor, expected vs found).
#include <doctest/doctest.h>

#include <array>
#include <cmath>
#include <cstring>
#include <map>
#include <random>
#include <nlohmann/json.hpp>

#include "engine/base/error.h"
#include "engine/engine.h"
#include "engine/io/safetensors.h"
#include "engine/model/resnet.h"
#include "tests/test_util.h"

namespace {

struct RawTensor {
  std::string dtype;
  std::vector<int64_t> shape;
  std::vector<uint8_t> bytes;
};

struct RawFile {
  std::map<std::string, RawTensor> tensors;
  std::map<std::string, std::string> metadata;
};

RawFile unpack(const std::string& path) {
  cam::SafeTensors file(path);
  RawFile raw;
  raw.metadata = file.metadata();
  for (const auto& kv : file.tensors())
    raw.tensors[kv.first] = {kv.second.dtype_name, kv.second.shape,
                             std::vector<uint8_t>(kv.second.data, kv.second.data + kv.second.nbytes)};
  return raw;
}

std::string pack(const RawFile& raw, const std::string& name) {
  nlohmann::json header = nlohmann::json::object();
  std::vector<uint8_t> data;
  for (const auto& kv : raw.tensors) {
    header[kv.first] = {{"dtype", kv.second.dtype},
                        {"shape", kv.second.shape},
                        {"data_offsets", {data.size(), data.size() + kv.second.bytes.size()}}};
    data.insert(data.end(), kv.second.bytes.begin(), kv.second.bytes.end());
  }
  if (!raw.metadata.empty()) header["__metadata__"] = raw.metadata;
  static std::string dir = camtest::temp_dir();
  std::string path = dir + "/" + name + ".safetensors";
  camtest::write_raw_safetensors(path, header.dump(), data);
  return path;
}

RawTensor f32(const std::vector<int64_t>& shape, const std::vector<float>& values) {
  RawTensor t{"F32", shape, std::vector<uint8_t>(values.size() * 4)};
  std::memcpy(t.bytes.data(), values.data(), t.bytes.size());
  return t;
}

std::vector<float> floats(const RawTensor& t) {
  std::vector<float> v(t.bytes.size() / 4);
  std::memcpy(v.data(), t.bytes.data(), t.bytes.size());
  return v;
}

const RawFile kR18 = unpack(camtest::data_path("golden_r18w8.safetensors"));

std::string load_error(const RawFile& raw, const std::string& name) {
  std::string path = pack(raw, name);
  try {
    cam::ResNet::load(path);
    return "";
  } catch (const cam::Error& e) {
    return e.what();
  }
}

}  // namespace

TEST_CASE("architecture is read from the tensors") {
  cam::ResNet r50 = cam::ResNet::load(camtest::data_path("golden_r50w16.safetensors"));
  CHECK(r50.depth() == 50);
  CHECK(r50.bottleneck);
  CHECK(r50.stages.size() == 4);
  CHECK(r50.stages[2].size() == 6);
  CHECK(r50.feature_channels == 512);
  CHECK(r50.num_classes == 11);
  CHECK(r50.labels[3] == "fruit_03");
  CHECK(r50.preprocess.height == 100);
  CHECK(r50.feature_size(100) == 4);
  CHECK(r50.feature_size(224) == 7);
  CHECK(r50.stages[1][0].conv2.stride == 2);  // v1.5: stride in the 3x3
  CHECK(r50.stages[1][0].conv1.stride == 1);
  CHECK(r50.describe() == "ResNet-50 (bottleneck blocks 3,4,6,3, 512 features, 11 classes, input 100x100)");
  cam::ResNet r18 = cam::ResNet::load(camtest::data_path("golden_r18w8.safetensors"));
  CHECK(r18.depth() == 18);
  CHECK(!r18.bottleneck);
  CHECK(r18.feature_channels == 64);
  CHECK(r18.preprocess.height == 64);
  CHECK(r18.preprocess.width == 48);
  CHECK(r18.feature_size(48) == 2);
  CHECK(r18.stages[1][0].has_downsample);
  CHECK(!r18.stages[0][0].has_downsample);
}

TEST_CASE("BN folding: weight * gamma / sqrt(var + eps), shift = beta - mean * scale (+ bias * scale)") {
  RawFile raw = kR18;
  std::vector<float> w = floats(raw.tensors["conv1.weight"]);  // (8, 3, 7, 7) OIHW
  std::vector<float> g = floats(raw.tensors["bn1.weight"]), b = floats(raw.tensors["bn1.bias"]);
  std::vector<float> mean = floats(raw.tensors["bn1.running_mean"]),
                     var = floats(raw.tensors["bn1.running_var"]);
  std::vector<float> bias = {0.5f, -1, 2, 0, 0.25f, 3, -0.5f, 1};
  raw.tensors["conv1.bias"] = f32({8}, bias);  // the Keras form: conv bias + BN
  raw.metadata["bn_eps"] = "0.001";
  cam::ResNet net = cam::ResNet::load(pack(raw, "bias_bn"));
  for (int o = 0; o < 8; ++o) {
    double s = g[o] / std::sqrt(static_cast<double>(var[o]) + 0.001);
    CHECK(net.stem[0].shift[o] == doctest::Approx((bias[o] - mean[o]) * s + b[o]).epsilon(1e-6));
    // OIHW (o, i=2, ky=3, kx=5) -> OHWI (o, 3, 5, 2)
    CHECK(net.stem[0].weight[((o * 7 + 3) * 7 + 5) * 3 + 2] ==
          doctest::Approx(w[((o * 3 + 2) * 7 + 3) * 7 + 5] * s).epsilon(1e-6));
  }
  // the folded-ONNX form: conv bias, no BN
  for (const char* p : {".weight", ".bias", ".running_mean", ".running_var", ".num_batches_tracked"})
    raw.tensors.erase(std::string("bn1") + p);
  cam::ResNet folded = cam::ResNet::load(pack(raw, "bias_only"));
  CHECK(folded.stem[0].shift == bias);
  CHECK(folded.stem[0].weight[((1 * 7 + 3) * 7 + 5) * 3 + 2] == w[((1 * 3 + 2) * 7 + 3) * 7 + 5]);
}

TEST_CASE("stride_in_1x1 metadata moves the stride to the first 1x1 conv (Keras v1)") {
  RawFile raw = unpack(camtest::data_path("golden_r50w16.safetensors"));
  raw.metadata["stride_in_1x1"] = "true";
  cam::ResNet net = cam::ResNet::load(pack(raw, "v1"));
  CHECK(net.stages[1][0].conv1.stride == 2);
  CHECK(net.stages[1][0].conv2.stride == 1);
  raw.metadata["stride_in_1x1"] = "yes";
  CHECK(load_error(raw, "v1bad").find("stride_in_1x1 must be \"true\" or \"false\", found \"yes\"") !=
        std::string::npos);
}

TEST_CASE("replace_stride_with_dilation metadata dilates layer4 instead of striding it (torchvision)") {
  RawFile raw = unpack(camtest::data_path("golden_r50w16.safetensors"));
  CHECK(cam::ResNet::load(pack(raw, "plain")).feature_size(100) == 4);  // 100 -> 50 -> 25 -> 13 -> 7 -> 4
  raw.metadata["replace_stride_with_dilation"] = "[false, false, true]";
  cam::ResNet net = cam::ResNet::load(pack(raw, "dilated"));
  CHECK(net.dilated == std::array<bool, 3>{false, false, true});
  CHECK(net.feature_size(100) == 7);
  const cam::Block &first = net.stages[3][0], &second = net.stages[3][1];
  CHECK(first.conv2.stride == 1);
  CHECK(first.conv2.dilation == 1);  // the dilation before the stage
  CHECK(first.downsample.stride == 1);
  CHECK(second.conv2.dilation == 2);
  CHECK(second.conv2.pad == 2);
  CHECK(net.stages[2][0].conv2.stride == 2);
  CHECK(net.describe().find("layer4 dilated") != std::string::npos);
  raw.metadata["replace_stride_with_dilation"] = "[true, true]";
  CHECK(load_error(raw, "dilation_bad")
            .find("replace_stride_with_dilation must be a JSON array of 3 booleans") != std::string::npos);
  RawFile basic = kR18;
  basic.metadata["replace_stride_with_dilation"] = "[false, false, true]";
  CHECK(load_error(basic, "dilation_basic").find("dilation needs bottleneck blocks") != std::string::npos);
}

TEST_CASE("missing tensor") {
  RawFile raw = kR18;
  raw.tensors.erase("layer2.1.conv2.weight");
  CHECK(load_error(raw, "missing").find("missing.safetensors: missing tensor 'layer2.1.conv2.weight'") !=
        std::string::npos);
  raw = kR18;
  raw.tensors.erase("layer3.0.bn2.running_var");
  CHECK(load_error(raw, "missing_bn").find("missing tensor 'layer3.0.bn2.running_var'") != std::string::npos);
  raw = kR18;
  for (auto it = raw.tensors.begin(); it != raw.tensors.end();)
    it = it->first.rfind("layer3.0.downsample", 0) == 0 ? raw.tensors.erase(it) : std::next(it);
  CHECK(load_error(raw, "missing_ds")
            .find("missing tensor 'layer3.0.downsample.0.weight' (the block changes shape: 16 -> 32 "
                  "channels, stride 2)") != std::string::npos);
  raw = kR18;
  raw.tensors.erase("fc.weight");
  CHECK(load_error(raw, "missing_fc").find("missing tensor 'fc.weight'") != std::string::npos);
}

TEST_CASE("extra unexpected tensor") {
  RawFile raw = kR18;
  raw.tensors["layer1.0.se.weight"] = f32({2}, {1, 2});
  CHECK(load_error(raw, "extra").find("unexpected tensor 'layer1.0.se.weight'") != std::string::npos);
}

TEST_CASE("wrong shapes name the tensor, found and expected") {
  RawFile raw = kR18;
  raw.tensors["fc.weight"] = f32({5, 32}, std::vector<float>(160, 0.1f));
  CHECK(load_error(raw, "fc_cols")
            .find("tensor 'fc.weight': shape (5, 32), expected (*, 64) (columns must equal the last stage's "
                  "channels)") != std::string::npos);
  raw = kR18;
  raw.tensors["layer1.1.conv1.weight"] = f32({8, 4, 3, 3}, std::vector<float>(288, 0.1f));
  CHECK(load_error(raw, "conv_cin")
            .find("tensor 'layer1.1.conv1.weight': shape (8, 4, 3, 3), expected (*, 8, 3, 3)") !=
        std::string::npos);
  raw = kR18;
  raw.tensors["bn1.running_mean"] = f32({7}, std::vector<float>(7, 0.0f));
  CHECK(load_error(raw, "bn_len").find("tensor 'bn1.running_mean': shape (7,), expected (8,)") !=
        std::string::npos);
  raw = kR18;
  raw.tensors["fc.bias"] = f32({4}, std::vector<float>(4, 0.0f));
  CHECK(load_error(raw, "fc_bias").find("tensor 'fc.bias': shape (4,), expected (5,)") != std::string::npos);
}

TEST_CASE("NaN weight, negative variance, non-weight dtype") {
  RawFile raw = kR18;
  std::vector<float> w = floats(raw.tensors["layer4.1.conv2.weight"]);
  w[17] = NAN;
  raw.tensors["layer4.1.conv2.weight"] = f32(raw.tensors["layer4.1.conv2.weight"].shape, w);
  CHECK(load_error(raw, "nan").find("tensor 'layer4.1.conv2.weight': element 17 is NaN") !=
        std::string::npos);
  raw = kR18;
  std::vector<float> var = floats(raw.tensors["bn1.running_var"]);
  var[2] = -1;
  raw.tensors["bn1.running_var"] = f32({8}, var);
  CHECK(load_error(raw, "negvar").find("tensor 'bn1.running_var': element 2 is negative") !=
        std::string::npos);
  raw = kR18;
  raw.tensors["fc.bias"].dtype = "I32";
  CHECK(load_error(raw, "i32").find("tensor 'fc.bias': dtype I32 is not a weight type") != std::string::npos);
}

TEST_CASE("metadata: label count, labels type, preprocess values") {
  RawFile raw = kR18;
  raw.metadata["labels"] = R"(["a","b","c"])";
  CHECK(load_error(raw, "labels").find("metadata labels has 3 entries, expected 5 (rows of fc.weight)") !=
        std::string::npos);
  raw.metadata["labels"] = R"({"a":1})";
  CHECK(load_error(raw, "labels_obj").find("metadata labels is not a JSON array of strings") !=
        std::string::npos);
  raw = kR18;
  raw.metadata["preprocess"] = R"({"std":[0.2,0,0.2]})";
  CHECK(load_error(raw, "pre_std").find("metadata preprocess.std must be 3 positive numbers") !=
        std::string::npos);
  raw.metadata["preprocess"] = R"({"input_size":[2,100]})";
  CHECK(load_error(raw, "pre_size").find("preprocess.input_size must be [height, width]") !=
        std::string::npos);
  raw.metadata["preprocess"] = R"({"resize":"bicubic"})";
  CHECK(load_error(raw, "pre_resize")
            .find("metadata preprocess: unknown resize mode 'bicubic' (expected pil-bilinear, pil-nearest, "
                  "cv2-linear, cv2-area, pil12-bilinear, pil-bicubic, pil12-bicubic, tf-bilinear or "
                  "tf-bilinear-antialias)") != std::string::npos);
  raw.metadata["preprocess"] =
      R"({"channel_order":"BGR","mean":[103.939,116.779,123.68],"std":[1,1,1],"scale":1,"resize":"pil-nearest"})";
  cam::ResNet net = cam::ResNet::load(pack(raw, "caffe"));
  CHECK(net.preprocess.resize == cam::ResizeMode::kPilNearest);
  CHECK(net.preprocess.bgr);
  CHECK(net.preprocess.scale == 1.0f);
  CHECK(net.preprocess.mean[0] == doctest::Approx(103.939));
  raw.metadata.erase("preprocess");
  raw.metadata.erase("labels");
  cam::ResNet defaults = cam::ResNet::load(pack(raw, "defaults"));
  CHECK(defaults.preprocess.height == 224);
  CHECK(defaults.preprocess.resize == cam::ResizeMode::kPilBilinear);
  CHECK(defaults.preprocess.mean[1] == doctest::Approx(0.456));
  CHECK(defaults.labels[4] == "class_4");
}

TEST_CASE("mixed block types are refused") {
  RawFile raw = unpack(camtest::data_path("golden_r50w16.safetensors"));
  for (const char* p : {"conv3.weight", "bn3.weight", "bn3.bias", "bn3.running_mean", "bn3.running_var",
                        "bn3.num_batches_tracked"})
    raw.tensors.erase(std::string("layer2.1.") + p);
  CHECK(load_error(raw, "mixed")
            .find("tensor 'layer2.1.conv3.weight': missing (blocks mix bottleneck and basic types)") !=
        std::string::npos);
}

TEST_CASE("top-k follows the logits when the probabilities saturate (fc scaled so they are 1, 0, 0, ...)") {
  RawFile raw = kR18;
  for (const char* name : {"fc.weight", "fc.bias"}) {
    std::vector<float> v = floats(raw.tensors[name]);
    for (float& x : v) x *= 3e4f;
    raw.tensors[name] = f32(raw.tensors[name].shape, v);
  }
  cam::EngineOptions eo;
  eo.backend = cam::BackendKind::kCpu;
  cam::Engine engine(pack(raw, "saturated"), eo);
  std::mt19937 rng(5);
  std::vector<cam::Image> images = {camtest::random_image(64, 48, rng), camtest::random_image(30, 20, rng)};
  cam::MapOptions mo;
  mo.topk = 3;
  for (const cam::ImageResult& r : engine.run(images, mo)) {
    REQUIRE(r.top.size() == 5);
    CHECK(r.probabilities[r.top[1]] == 0.0f);  // saturated: order by probability would be by index
    for (size_t j = 1; j < r.top.size(); ++j) CHECK(r.logits[r.top[j - 1]] > r.logits[r.top[j]]);
    for (size_t j = 0; j < 3; ++j) CHECK(r.maps[j].class_index == r.top[j]);
  }
}
