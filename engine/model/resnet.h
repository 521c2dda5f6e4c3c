// The network description, derived from the tensors of a safetensors file alone: depth, block type, every
// channel count and the class count come from the shapes. BN (and any conv bias) is folded at load into the
// conv weights and one per-channel shift, computed in double and stored fp32.
#pragma once
#include <array>
#include <string>
#include <vector>

#include "engine/io/image.h"
#include "kernels/preprocess_math.h"
#include "kernels/resize_mode.h"

namespace cam {

class SafeTensors;

// How an image becomes the network input: x = (pixel * scale - mean[c]) / std[c], channels in `bgr` order or
// RGB.
struct Preprocess {
  int height = 224;
  int width = 224;
  float scale = 1.0f / 255.0f;
  std::array<float, 3> mean{0.485f, 0.456f, 0.406f};
  std::array<float, 3> stddev{0.229f, 0.224f, 0.225f};
  bool bgr = false;
  ResizeMode resize = ResizeMode::kPilBilinear;  // metadata "resize", as engine/model/options.cpp names them
  // metadata "resize_shorter": 0 stretches the image to (height, width); S > 0 resizes its shorter side to S
  // (the aspect kept) and takes the centre (height, width) crop: torchvision's Resize(S) + CenterCrop, timm's
  // eval transform with S = floor(size / crop_pct). The maps then cover the crop (resize_box, map_region).
  int resize_shorter = 0;
  // metadata "jpeg_idct": "accurate" (PIL's, the default) or "fast" (TensorFlow's decode_jpeg default)
  JpegIdct jpeg_idct = JpegIdct::kAccurate;
};

// Where in a photo of (photo_h, photo_w) the input, and so every map, lies: the whole photo, or the centre
// crop's part of it (map_region of resize_box).
MapRegion input_region(const Preprocess& pre, int photo_h, int photo_w);
// "pil-bicubic", or "pil-bicubic, shorter side to 256, centre crop" (and the JPEG IDCT when fast), for
// messages and --info.
std::string describe_resize(const Preprocess& pre);

struct ConvLayer {
  std::string name;  // torchvision name of the conv, e.g. "layer2.0.conv2"
  int in_channels = 0;
  int out_channels = 0;
  int kernel = 1;
  int stride = 1;
  int pad = 0;
  int dilation = 1;  // taps `dilation` pixels apart (torchvision's replace_stride_with_dilation)
  int groups = 1;    // ResNeXt's grouped 3x3: output o sees input channels of group o / (Cout / groups)
  std::vector<float> weight;  // (Cout, K, K, Cin / groups) OHWI, BN scale folded in
  std::vector<float> shift;   // (Cout) BN shift with the conv bias folded in

  int out_size(int in) const { return (in + 2 * pad - dilation * (kernel - 1) - 1) / stride + 1; }
  int group_channels() const { return in_channels / groups; }  // input channels each output sees
};

// Bottleneck: conv1 1x1 -> conv2 3x3 -> conv3 1x1 (+ shortcut). Basic: conv1 3x3 -> conv2 3x3 (+ shortcut).
struct Block {
  ConvLayer conv1, conv2, conv3;  // conv3 empty (out_channels 0) in basic blocks
  bool has_downsample = false;
  ConvLayer downsample;  // 1x1 projection shortcut when the shape changes
  // ResNet-D (timm's avg_down): the shortcut's stride is a 2x2 average pool (ceil mode, padding not counted)
  // before a stride-1 downsample conv, instead of the conv's own stride.
  bool avg_down = false;

  const ConvLayer& last() const { return conv3.out_channels ? conv3 : conv2; }
};

// A hidden layer of an MLP head: y = ReLU(W x + b) (dropout is the identity at inference).
struct Dense {
  std::string name;  // "head.0"
  int in = 0, out = 0;
  std::vector<float> weight;  // (out, in)
  std::vector<float> bias;    // (out)
};

// One step of the forward at a given input size: a conv with its epilogue, y = act(conv(x) + shift
// [+ residual]), the stem's max-pool, or a ResNet-D shortcut's 2x2 average pool. Activations live in
// Schedule::kBuffers buffers of the largest activation; a step names them by index, kNetworkInput being the
// (normalised) input image.
struct Step {
  enum class Kind { kConv, kMaxPool, kAvgPool };
  static constexpr int kNone = -1, kNetworkInput = -2;
  Kind kind = Kind::kConv;
  const ConvLayer* conv = nullptr;  // kConv only
  int in_h = 0, in_w = 0, out_h = 0, out_w = 0;
  int in_channels = 0, out_channels = 0;
  int input = 0, output = 0;
  int residual = kNone;  // buffer added before the activation (the block's shortcut); dead after the step
  int free = kNone;      // a buffer that holds nothing live during this step (scratch for a backend)
  bool relu = true;
  bool shortcut = false;      // the block's projection shortcut (1x1, no activation)
  bool stage_output = false;  // output holds the stem's output (after the pool) or a stage's last block
  // Multiply-accumulates of this step for one image (0 for the pool).
  double macs() const;
};

struct Schedule {
  static constexpr int kBuffers = 5;
  std::vector<Step> steps;
  size_t largest = 0;  // elements of the largest activation of one image
  int features = 0;    // buffer holding the last block's output
  int feature_h = 0, feature_w = 0;
};

struct ResNet {
  // The stem before the 3x3/2 max-pool, each conv with BN and ReLU: torchvision's one 7x7/2, or the deep stem
  // of timm's resnet*d (conv1.0, conv1.3, conv1.6: three 3x3, the first strided).
  std::vector<ConvLayer> stem;
  std::vector<std::vector<Block>> stages;  // layer1..layerN
  bool bottleneck = true;
  // torchvision's replace_stride_with_dilation (metadata of that name): layer2..layer4 dilated instead of
  // strided, so the maps are 2x (one flag), 4x or 8x finer at the same input size.
  std::array<bool, 3> dilated{};
  int feature_channels = 0;  // channels of the last block's output (2048 for ResNet-50)
  int num_classes = 0;
  std::vector<Dense> hidden;        // MLP head between the pooling and fc; empty for the classic CAM head
  std::vector<float> fc_weight;     // (classes, head_dim())
  std::vector<float> fc_bias;       // (classes)
  std::vector<std::string> labels;  // (classes)
  Preprocess preprocess;
  std::string source;  // free-text provenance from the metadata

  // Reads and validates; throws cam::Error naming the file, the tensor and expected vs found.
  static ResNet load(const std::string& path);
  static ResNet from(const SafeTensors& file);

  int depth() const;  // 18, 34, 50, ... (conv + fc layers)
  int head_dim() const { return hidden.empty() ? feature_channels : hidden.back().out; }
  std::string describe() const;
  // Spatial size of the final feature map for an input of `size` pixels along one axis.
  int feature_size(int size) const;
  // Multiply-accumulates of one image's forward (convolutions + head) at input (h, w).
  double macs(int h, int w) const;
  // Every conv layer, in forward order (a block's projection shortcut after its last conv).
  std::vector<const ConvLayer*> convs() const;
  // The forward at input (h, w) as one flat list of steps; every backend runs it as written.
  Schedule schedule(int h, int w) const;
};

}  // namespace cam
