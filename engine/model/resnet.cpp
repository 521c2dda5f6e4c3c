// Builds the ResNet description from torchvision/timm tensor names, checking every shape against the channels
// that flow into it, and folds BN into the convolutions.
#include "engine/model/resnet.h"

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>
#include <set>

#include "engine/base/error.h"
#include "engine/io/safetensors.h"
#include "engine/model/options.h"
#include "kernels/pool_math.h"

namespace cam {
namespace {

class Loader {
 public:
  explicit Loader(const SafeTensors& file) : file_(file) {
    const auto& meta = file.metadata();
    if (meta.count("bn_eps")) bn_eps_ = parse_number("bn_eps", meta.at("bn_eps"));
    if (meta.count("stride_in_1x1")) {
      const std::string& v = meta.at("stride_in_1x1");
      if (v != "true" && v != "false")
        fail("metadata stride_in_1x1 must be \"true\" or \"false\", found \"" + v + "\"");
      stride_in_1x1_ = v == "true";
    }
    if (meta.count("replace_stride_with_dilation")) {
      const nlohmann::json flags =
          nlohmann::json::parse(meta.at("replace_stride_with_dilation"), nullptr, false);
      if (!flags.is_array() || flags.size() != 3 ||
          !std::all_of(flags.begin(), flags.end(), [](const nlohmann::json& f) { return f.is_boolean(); }))
        fail(
            "metadata replace_stride_with_dilation must be a JSON array of 3 booleans (layer2..layer4), "
            "found " +
            meta.at("replace_stride_with_dilation"));
      for (int s = 0; s < 3; ++s) dilate_[s] = flags[s].get<bool>();
    }
  }

  ResNet build() {
    ResNet net;
    read_stem(net);
    read_stages(net);
    read_head(net);
    check_all_used();
    read_metadata(net);
    return net;
  }

 private:
  // torchvision's 7x7/2 conv1 + bn1, or timm's deep stem (resnet*c/d/e/s): conv1.0 3x3/2 + conv1.1,
  // conv1.3 + conv1.4, conv1.6 + bn1 (the Sequential's ReLUs at 2 and 5).
  void read_stem(ResNet& net) {
    if (!file_.has("conv1.0.weight")) {
      net.stem.push_back(conv("conv1", "bn1", 3, 7, 2));
      return;
    }
    net.stem.push_back(conv("conv1.0", "conv1.1", 3, 3, 2));
    net.stem.push_back(conv("conv1.3", "conv1.4", net.stem[0].out_channels, 3, 1));
    net.stem.push_back(conv("conv1.6", "bn1", net.stem[1].out_channels, 3, 1));
  }

  // layer1, layer2, ... as long as their tensors are there; net.feature_channels from the last.
  void read_stages(ResNet& net) {
    net.dilated = {dilate_[0], dilate_[1], dilate_[2]};
    int channels = net.stem.back().out_channels;
    // torchvision's replace_stride_with_dilation: a flagged stage (layer2..4) keeps its stride-1 input size
    // and dilates its 3x3 convs instead, the first block by the dilation before the stage, the others by the
    // dilation after it (doubled).
    int dilation = 1;
    for (int s = 1; file_.has(layer(s, 0) + ".conv1.weight"); ++s) {
      const bool dilated = s >= 2 && s <= 4 && dilate_[s - 2];
      const int previous = dilation, stride = s > 1 && !dilated ? 2 : 1;
      if (dilated) dilation *= 2;
      std::vector<Block> blocks;
      for (int i = 0; file_.has(layer(s, i) + ".conv1.weight"); ++i) {
        bool bottleneck = file_.has(layer(s, i) + ".conv3.weight");
        if (s == 1 && i == 0) net.bottleneck = bottleneck;
        if (bottleneck != net.bottleneck)
          fail("tensor '" + layer(s, i) + ".conv3.weight': " + (bottleneck ? "unexpected" : "missing") +
               " (blocks mix bottleneck and basic types)");
        if (dilated && !bottleneck)
          fail("metadata replace_stride_with_dilation: dilation needs bottleneck blocks (as in torchvision)");
        if (dilated && i == 0 && avg_down_layout(layer(s, i)))
          fail("tensor '" + layer(s, i) +
               ".downsample.1.weight': an average-pool shortcut in a dilated stage (timm's AvgPool2dSame) is "
               "not supported");
        blocks.push_back(
            block(s, i, channels, i == 0 ? stride : 1, i == 0 ? previous : dilation, bottleneck));
        channels = blocks.back().last().out_channels;
      }
      net.stages.push_back(std::move(blocks));
    }
    if (net.stages.empty()) fail("missing tensor 'layer1.0.conv1.weight' (no residual stages found)");
    net.feature_channels = channels;
  }

  // The MLP layers head.0, head.1, ... (if any) and the fc.
  void read_head(ResNet& net) {
    int channels = net.feature_channels;
    for (int i = 0; file_.has("head." + std::to_string(i) + ".weight"); ++i) {
      Dense d;
      d.name = "head." + std::to_string(i);
      const TensorView& w = take(d.name + ".weight");
      expect_shape(w, {-1, channels},
                   i ? "columns must equal the previous head layer's outputs"
                     : "columns must equal the last stage's channels");
      d.in = channels;
      d.out = static_cast<int>(w.shape[0]);
      d.weight = file_.to_float(w);
      d.bias.assign(d.out, 0.0f);
      if (file_.has(d.name + ".bias")) {
        const TensorView& b = take(d.name + ".bias");
        expect_shape(b, {d.out}, "one bias per output");
        d.bias = file_.to_float(b);
      }
      channels = d.out;
      net.hidden.push_back(std::move(d));
    }
    const TensorView& fc = take("fc.weight");
    expect_shape(fc, {-1, channels},
                 net.hidden.empty() ? "columns must equal the last stage's channels"
                                    : "columns must equal the last head layer's outputs");
    net.num_classes = static_cast<int>(fc.shape[0]);
    net.fc_weight = file_.to_float(fc);
    net.fc_bias.assign(net.num_classes, 0.0f);
    if (file_.has("fc.bias")) {
      const TensorView& b = take("fc.bias");
      expect_shape(b, {net.num_classes}, "one bias per class");
      net.fc_bias = file_.to_float(b);
    }
  }

  // Every tensor of the file is part of the network (BN's num_batches_tracked aside).
  void check_all_used() const {
    for (const auto& kv : file_.tensors()) {
      const std::string& name = kv.first;
      bool ignored = name.size() >= 19 && name.compare(name.size() - 19, 19, "num_batches_tracked") == 0;
      if (!used_.count(name) && !ignored)
        fail("unexpected tensor '" + name +
             "' (hint: only plain torchvision/timm ResNets are read; convert with tools/convert.py)");
    }
  }

  [[noreturn]] void fail(const std::string& what) const { throw Error(file_.path() + ": " + what); }

  double parse_number(const std::string& key, const std::string& v) const {
    try {
      size_t used = 0;
      double d = std::stod(v, &used);
      if (used == v.size() && std::isfinite(d) && d >= 0) return d;
    } catch (const std::exception&) {
    }
    fail("metadata " + key + " must be a non-negative number, found \"" + v + "\"");
  }

  static std::string layer(int stage, int block) {
    return "layer" + std::to_string(stage) + "." + std::to_string(block);
  }

  const TensorView& take(const std::string& name) {
    used_.insert(name);
    return file_.get(name);
  }

  // expected: -1 matches any size.
  void expect_shape(const TensorView& t, const std::vector<int64_t>& expected, const std::string& why) const {
    bool ok = t.shape.size() == expected.size();
    for (size_t i = 0; ok && i < expected.size(); ++i) ok = expected[i] < 0 || expected[i] == t.shape[i];
    if (!ok) {
      fail("tensor '" + t.name + "': shape " + shape_string(t.shape) + ", expected " +
           shape_string(expected) + " (" + why + ")");
    }
  }

  // Reads conv `name` (OIHW, optional bias) and BN `bn` (optional), folds them into OHWI weight + shift.
  // may_group: the conv may be grouped (ResNeXt's 3x3), its groups read from the weight's input channels.
  ConvLayer conv(const std::string& name, const std::string& bn, int in_channels, int kernel, int stride,
                 int dilation = 1, bool may_group = false) {
    const TensorView& w = take(name + ".weight");
    int groups = 1;
    if (may_group && w.shape.size() == 4 && w.shape[1] > 0 && w.shape[1] < in_channels &&
        in_channels % w.shape[1] == 0 && w.shape[0] % (in_channels / w.shape[1]) == 0)
      groups = static_cast<int>(in_channels / w.shape[1]);
    expect_shape(w, {-1, in_channels / groups, kernel, kernel},
                 "input channels must match the previous layer" +
                     std::string(may_group ? " or divide it into groups" : "") + ", kernel " +
                     std::to_string(kernel) + "x" + std::to_string(kernel));
    ConvLayer c;
    c.name = name;
    c.in_channels = in_channels;
    c.groups = groups;
    c.out_channels = static_cast<int>(w.shape[0]);
    c.kernel = kernel;
    c.stride = stride;
    c.dilation = dilation;
    c.pad = dilation * (kernel / 2);
    const int cout = c.out_channels;
    std::vector<float> oihw = file_.to_float(w);
    std::vector<double> scale(cout, 1.0), shift(cout, 0.0);
    if (file_.has(name + ".bias")) {
      const TensorView& b = take(name + ".bias");
      expect_shape(b, {cout}, "one bias per output channel");
      std::vector<float> bias = file_.to_float(b);
      for (int o = 0; o < cout; ++o) shift[o] = bias[o];
    }
    if (file_.has(bn + ".weight") || file_.has(bn + ".running_mean")) {
      std::vector<float> p[4];
      const char* parts[4] = {".weight", ".bias", ".running_mean", ".running_var"};
      for (int i = 0; i < 4; ++i) {
        const TensorView& t = take(bn + parts[i]);
        expect_shape(t, {cout}, "one value per channel of " + name);
        p[i] = file_.to_float(t);
      }
      for (int o = 0; o < cout; ++o) {
        if (p[3][o] < 0)
          fail("tensor '" + bn + ".running_var': element " + std::to_string(o) + " is negative");
        double s = p[0][o] / std::sqrt(static_cast<double>(p[3][o]) + bn_eps_);
        shift[o] = (shift[o] - p[2][o]) * s + p[1][o];
        scale[o] = s;
      }
    }
    c.weight.resize(oihw.size());
    c.shift.resize(cout);
    const int cin = c.group_channels();
    for (int o = 0; o < cout; ++o) {
      c.shift[o] = static_cast<float>(shift[o]);
      for (int i = 0; i < cin; ++i)
        for (int ky = 0; ky < kernel; ++ky)
          for (int kx = 0; kx < kernel; ++kx)
            c.weight[((static_cast<size_t>(o) * kernel + ky) * kernel + kx) * cin + i] = static_cast<float>(
                oihw[((static_cast<size_t>(o) * cin + i) * kernel + ky) * kernel + kx] * scale[o]);
    }
    return c;
  }

  // timm's avg_down shortcut names (ResNet-D): no downsample.0 conv, a 1x1 conv at downsample.1.
  bool avg_down_layout(const std::string& block) const {
    return !file_.has(block + ".downsample.0.weight") && file_.has(block + ".downsample.1.weight") &&
           file_.get(block + ".downsample.1.weight").shape.size() == 4;
  }

  // dilation: of the block's 3x3 conv (bottleneck blocks only).
  Block block(int s, int i, int in_channels, int stride, int dilation, bool bottleneck) {
    std::string p = layer(s, i);
    Block b;
    if (bottleneck) {
      b.conv1 = conv(p + ".conv1", p + ".bn1", in_channels, 1, stride_in_1x1_ ? stride : 1);
      b.conv2 = conv(p + ".conv2", p + ".bn2", b.conv1.out_channels, 3, stride_in_1x1_ ? 1 : stride, dilation,
                     true);
      b.conv3 = conv(p + ".conv3", p + ".bn3", b.conv2.out_channels, 1, 1);
    } else {
      b.conv1 = conv(p + ".conv1", p + ".bn1", in_channels, 3, stride);
      b.conv2 = conv(p + ".conv2", p + ".bn2", b.conv1.out_channels, 3, 1);
    }
    int out = b.last().out_channels;
    // timm's avg_down (ResNet-D): downsample.0 is the pool (an Identity where the block does not stride),
    // downsample.1 the conv, downsample.2 its BN.
    const bool pooled = avg_down_layout(p);
    b.has_downsample = pooled || file_.has(p + ".downsample.0.weight");
    if (!b.has_downsample && (stride != 1 || out != in_channels))
      fail("missing tensor '" + p +
           ".downsample.0.weight' (the block changes shape: " + std::to_string(in_channels) + " -> " +
           std::to_string(out) + " channels, stride " + std::to_string(stride) + ")");
    if (pooled) {
      b.avg_down = stride != 1;
      b.downsample = conv(p + ".downsample.1", p + ".downsample.2", in_channels, 1, 1);
    } else if (b.has_downsample) {
      b.downsample = conv(p + ".downsample.0", p + ".downsample.1", in_channels, 1, stride);
    }
    if (b.has_downsample) {
      if (b.downsample.out_channels != out)
        fail("tensor '" + b.downsample.name + ".weight': " + std::to_string(b.downsample.out_channels) +
             " output channels, expected " + std::to_string(out) + " (the block's output)");
    }
    return b;
  }

  void read_metadata(ResNet& net) const {
    const auto& meta = file_.metadata();
    if (meta.count("source")) net.source = meta.at("source");
    for (int k = 0; k < net.num_classes; ++k) net.labels.push_back("class_" + std::to_string(k));
    if (meta.count("labels")) {
      nlohmann::json labels = nlohmann::json::parse(meta.at("labels"), nullptr, false);
      if (!labels.is_array()) fail("metadata labels is not a JSON array of strings");
      if (static_cast<int>(labels.size()) != net.num_classes)
        fail("metadata labels has " + std::to_string(labels.size()) + " entries, expected " +
             std::to_string(net.num_classes) + " (rows of fc.weight)");
      for (size_t k = 0; k < labels.size(); ++k) {
        if (!labels[k].is_string()) fail("metadata labels entry " + std::to_string(k) + " is not a string");
        net.labels[k] = labels[k].get<std::string>();
      }
    }
    if (meta.count("preprocess")) net.preprocess = parse_preprocess(meta.at("preprocess"));
  }

  Preprocess parse_preprocess(const std::string& text) const {
    Preprocess p;
    nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
    if (!j.is_object()) fail("metadata preprocess is not a JSON object");
    auto triple = [&](const char* key, std::array<float, 3>& out, bool positive) {
      if (!j.contains(key)) return;
      const nlohmann::json& v = j[key];
      if (!v.is_array() || v.size() != 3)
        fail(std::string("metadata preprocess.") + key + " must be 3 numbers");
      for (int c = 0; c < 3; ++c) {
        if (!v[c].is_number() || (positive && v[c].get<double>() <= 0))
          fail(std::string("metadata preprocess.") + key + " must be 3 " + (positive ? "positive " : "") +
               "numbers");
        out[c] = v[c].get<float>();
      }
    };
    triple("mean", p.mean, false);
    triple("std", p.stddev, true);
    if (j.contains("scale")) {
      if (!j["scale"].is_number() || j["scale"].get<double>() <= 0)
        fail("metadata preprocess.scale must be a positive number");
      p.scale = j["scale"].get<float>();
    }
    if (j.contains("input_size")) {
      const nlohmann::json& v = j["input_size"];
      if (!v.is_array() || v.size() != 2 || !v[0].is_number_unsigned() || !v[1].is_number_unsigned() ||
          v[0].get<int>() < 8 || v[1].get<int>() < 8 || v[0].get<int>() > 4096 || v[1].get<int>() > 4096)
        fail("metadata preprocess.input_size must be [height, width] with each in 8..4096");
      p.height = v[0].get<int>();
      p.width = v[1].get<int>();
    }
    if (j.contains("resize")) {
      if (!j["resize"].is_string()) fail("metadata preprocess.resize must be a string");
      try {
        p.resize = parse_resize_mode(j["resize"].get<std::string>());
      } catch (const Error& e) {
        fail(std::string("metadata preprocess: ") + e.what());
      }
    }
    if (j.contains("resize_shorter")) {
      if (!j["resize_shorter"].is_number_unsigned() || j["resize_shorter"].get<int64_t>() > 16384)
        fail("metadata preprocess.resize_shorter must be 0 (stretch) or a side length up to 16384");
      p.resize_shorter = j["resize_shorter"].get<int>();
    }
    if (j.contains("jpeg_idct")) {
      if (!j["jpeg_idct"].is_string()) fail("metadata preprocess.jpeg_idct must be a string");
      try {
        p.jpeg_idct = parse_jpeg_idct(j["jpeg_idct"].get<std::string>());
      } catch (const Error& e) {
        fail(std::string("metadata preprocess: ") + e.what());
      }
    }
    if (j.contains("channel_order")) {
      std::string order = j["channel_order"].is_string() ? j["channel_order"].get<std::string>() : "";
      if (order != "RGB" && order != "BGR")
        fail("metadata preprocess.channel_order must be \"RGB\" or \"BGR\"");
      p.bgr = order == "BGR";
    }
    return p;
  }

  const SafeTensors& file_;
  std::set<std::string> used_;
  double bn_eps_ = 1e-5;
  bool stride_in_1x1_ = false;
  bool dilate_[3] = {false, false, false};  // replace_stride_with_dilation, layer2..layer4
};

}  // namespace

MapRegion input_region(const Preprocess& pre, int photo_h, int photo_w) {
  return map_region(photo_h, photo_w, resize_box(photo_h, photo_w, pre.height, pre.width, pre.resize_shorter),
                    pre.height, pre.width);
}

std::string describe_resize(const Preprocess& pre) {
  std::string text = name_of(pre.resize);
  if (pre.resize_shorter) text += ", shorter side to " + std::to_string(pre.resize_shorter) + ", centre crop";
  if (pre.jpeg_idct == JpegIdct::kFast) text += "; JPEGs decoded with the fast IDCT";
  return text;
}

ResNet ResNet::from(const SafeTensors& file) {
  return Loader(file).build();
}

ResNet ResNet::load(const std::string& path) {
  SafeTensors file(path);
  return from(file);
}

// As the models are named: a deep stem counts as the one conv it replaces (timm's resnet50d is a 50).
int ResNet::depth() const {
  int convs = 1;
  for (const auto& stage : stages) convs += static_cast<int>(stage.size()) * (bottleneck ? 3 : 2);
  return convs + 1 + static_cast<int>(hidden.size());
}

int ResNet::feature_size(int size) const {
  return schedule(size, size).feature_h;
}

double Step::macs() const {
  if (kind != Kind::kConv) return 0;
  return static_cast<double>(out_h) * out_w * out_channels * conv->group_channels() * conv->kernel *
         conv->kernel;
}

double ResNet::macs(int h, int w) const {
  double total = static_cast<double>(num_classes) * head_dim();
  for (const Dense& d : hidden) total += static_cast<double>(d.in) * d.out;
  for (const Step& s : schedule(h, w).steps) total += s.macs();
  return total;
}

std::vector<const ConvLayer*> ResNet::convs() const {
  std::vector<const ConvLayer*> all;
  for (const ConvLayer& c : stem) all.push_back(&c);
  for (const auto& stage : stages)
    for (const Block& b : stage) {
      all.push_back(&b.conv1);
      all.push_back(&b.conv2);
      if (b.conv3.out_channels) all.push_back(&b.conv3);
      if (b.has_downsample) all.push_back(&b.downsample);
    }
  return all;
}

// Buffer roles inside a block: x the block input, t1/t2 the inner activations, shortcut the projection, next
// the block output. After a block, next becomes x and the buffers of the consumed input and residual are free
// again, so five buffers hold any depth.
Schedule ResNet::schedule(int h, int w) const {
  Schedule out;
  int block_input = Step::kNone, pending_residual = Step::kNone;
  auto add = [&](Step s) {
    for (int b = 0; b < Schedule::kBuffers && s.free == Step::kNone; ++b)
      if (b != s.input && b != s.output && b != s.residual && b != block_input && b != pending_residual)
        s.free = b;
    out.largest = std::max(out.largest, static_cast<size_t>(s.out_h) * s.out_w * s.out_channels);
    out.steps.push_back(s);
    return s;
  };
  auto conv_step = [&](const ConvLayer& c, int in_h, int in_w, int input, int output, int residual,
                       bool relu) {
    Step s;
    s.conv = &c;
    s.in_h = in_h, s.in_w = in_w, s.out_h = c.out_size(in_h), s.out_w = c.out_size(in_w);
    s.in_channels = c.in_channels, s.out_channels = c.out_channels;
    s.input = input, s.output = output, s.residual = residual, s.relu = relu;
    return add(s);
  };
  // The stem's convs alternate between buffers 2 and 3, the last writing 1; the pool writes 0.
  int stem_input = Step::kNetworkInput;
  for (size_t i = 0; i < stem.size(); ++i) {
    const int output = i + 1 == stem.size() ? 1 : 2 + static_cast<int>(i % 2);
    const Step s = conv_step(stem[i], h, w, stem_input, output, Step::kNone, true);
    stem_input = output, h = s.out_h, w = s.out_w;
  }
  Step pool;
  pool.kind = Step::Kind::kMaxPool;
  pool.in_h = h, pool.in_w = w;
  pool.out_h = max_pool_out_size(pool.in_h), pool.out_w = max_pool_out_size(pool.in_w);
  pool.in_channels = pool.out_channels = stem.back().out_channels;
  pool.input = 1, pool.output = 0, pool.stage_output = true;
  add(pool);
  h = pool.out_h, w = pool.out_w;
  int x = 0, t1 = 1, t2 = 2, shortcut = 3, next = 4;
  for (const auto& stage : stages) {
    for (const Block& b : stage) {
      block_input = x;
      int residual = x;
      if (b.avg_down) {  // the pool into t1, free until conv1
        Step avg;
        avg.kind = Step::Kind::kAvgPool;
        avg.in_h = h, avg.in_w = w, avg.out_h = avg_down_out_size(h), avg.out_w = avg_down_out_size(w);
        avg.in_channels = avg.out_channels = b.downsample.in_channels;
        avg.input = x, avg.output = t1;
        add(avg);
        conv_step(b.downsample, avg.out_h, avg.out_w, t1, shortcut, Step::kNone, false);
        out.steps.back().shortcut = true;
        residual = shortcut;
      } else if (b.has_downsample) {
        conv_step(b.downsample, h, w, x, shortcut, Step::kNone, false);
        out.steps.back().shortcut = true;
        residual = shortcut;
      }
      pending_residual = residual;
      const Step first = conv_step(b.conv1, h, w, x, t1, Step::kNone, true);
      int inner = t1, inner_h = first.out_h, inner_w = first.out_w;
      if (b.conv3.out_channels) {
        const Step second = conv_step(b.conv2, inner_h, inner_w, t1, t2, Step::kNone, true);
        inner = t2, inner_h = second.out_h, inner_w = second.out_w;
      }
      pending_residual = Step::kNone;
      const Step last = conv_step(b.last(), inner_h, inner_w, inner, next, residual, true);
      h = last.out_h, w = last.out_w;
      x = next;
      next = residual;
      if (residual != block_input) shortcut = block_input;
    }
    out.steps.back().stage_output = true;
  }
  block_input = Step::kNone;
  out.features = x;
  out.feature_h = h, out.feature_w = w;
  return out;
}

std::string ResNet::describe() const {
  const int groups = stages[0][0].conv2.groups;
  std::string s = std::string(groups > 1 ? "ResNeXt-" : "ResNet-") + std::to_string(depth()) + " (" +
                  (bottleneck ? "bottleneck" : "basic") + " blocks ";
  for (size_t i = 0; i < stages.size(); ++i) s += (i ? "," : "") + std::to_string(stages[i].size());
  if (stem.size() > 1) s += ", deep stem";
  bool avg_down = false;
  for (const auto& stage : stages)
    for (const Block& b : stage) avg_down = avg_down || b.avg_down;
  if (avg_down) s += ", average-pool shortcuts";
  if (groups > 1) s += ", " + std::to_string(groups) + " groups";
  for (int i = 0; i < 3; ++i)
    if (dilated[i]) s += ", layer" + std::to_string(i + 2) + " dilated";
  for (const Dense& d : hidden) s += ", hidden " + std::to_string(d.out);
  return s + ", " + std::to_string(feature_channels) + " features, " + std::to_string(num_classes) +
         " classes, input " + std::to_string(preprocess.height) + "x" + std::to_string(preprocess.width) +
         ")";
}

}  // namespace cam
