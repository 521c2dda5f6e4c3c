// The engine's choices as types, parsed once at the edge (CLI, benchmarks, tests): past parse_* no invalid
// value exists. Each enum has one name table (engine/model/options.cpp), used both to parse and to print.
#pragma once
#include <string>
#include <vector>

#include "engine/io/image.h"
#include "kernels/resize_mode.h"

namespace cam {

enum class BackendKind { kAuto, kCpu, kCuda };
// Storage and math of activations and conv weights: fp32 exact (no TF32), tf32 math on fp32 storage,
// fp16 or bf16 storage with fp32 accumulation. The CPU backend computes in fp32, or bf16 where the CPU has
// bf16 instructions (AVX512-BF16, AMX).
enum class Precision { kFp32, kTf32, kFp16, kBf16 };
// CUDA, per conv shape: cuDNN's fused conv + bias + residual + ReLU or the conv followed by our bn_act
// kernel. auto: the faster of the two, measured at planning (bn_act on ties); off: always bn_act; on: fused
// wherever cuDNN runs it (for tests); graph: each conv and its epilogue as one cuDNN graph-API graph
// (engine/cuda/graph_conv.cuh), auto for the shapes it cannot build. Experimental: not yet measured on a GPU.
enum class ConvFusion { kAuto, kOff, kOn, kGraph };
// How a map is made (engine/methods/method_maps.h). cam and gradcam give the same map (the fc row, or for an
// MLP head the pooled gradient, weights the channels); gradcam++ is pytorch-grad-cam's GradCAMPlusPlus in
// closed form; scorecam weights each channel by the softmax of the class's scores on the input masked by that
// channel; eigencam projects the centred features on their first principal component (the same map for every
// class).
enum class CamMethod { kCam, kGradCam, kGradCamPlusPlus, kScoreCam, kEigenCam };

// Each throws cam::Error naming the option, the value and the valid names.
BackendKind parse_backend(const std::string& name);
Precision parse_precision(const std::string& name);
ConvFusion parse_conv_fusion(const std::string& name);
ResizeMode parse_resize_mode(const std::string& name);
CamMethod parse_cam_method(const std::string& name);
JpegIdct parse_jpeg_idct(const std::string& name);
const char* name_of(BackendKind kind);
const char* name_of(Precision precision);
const char* name_of(ConvFusion fusion);
const char* name_of(ResizeMode mode);
const char* name_of(CamMethod method);
const char* name_of(JpegIdct idct);

struct CudaOptions {
  int device = 0;
  ConvFusion conv_fusion = ConvFusion::kAuto;
  bool use_graphs = true;  // replay the forward + CAM as a CUDA Graph (eager launches otherwise)
};

// What one call maps and draws (Engine::run, submit, run_inputs).
struct MapOptions {
  int topk = 1;               // maps for the k most probable classes
  int predictions = 5;        // ImageResult::top lists max(predictions, topk) classes (at most all of them)
  std::vector<int> classes;   // and for these class indices
  bool overlays = true;       // overlay images at the original size
  float image_weight = 0.5f;  // the image's weight in the overlay blend
  int colormap = 0;           // colormap_index("jet")
  // The maps of each method, in this order (ImageResult::maps); engine/methods/method_maps.h says how each is
  // made.
  std::vector<CamMethod> methods{CamMethod::kCam};
  int scorecam_channels =
      0;                  // Score-CAM over the channels of highest variance only (Faster Score-CAM); 0: all
  bool metrics = false;   // faithfulness of every map (ClassMap::metrics, engine/methods/faithfulness.h)
  int metric_steps = 20;  // insertion/deletion curves: intervals (ceil(H*W / steps) pixels each)
  int perturbed_batch = 32;  // masked or perturbed inputs per forward (Score-CAM, metrics)
};

}  // namespace cam
