// The engine's choices as types, parsed once at the edge (CLI, benchmarks, tests): past parse_* no invalid
// value exists. Each enum has one name table (options.cpp), used both to parse and to print.
#pragma once
#include <string>

#include "resize_mode.h"

namespace cam {

enum class BackendKind { kAuto, kCpu, kCuda };
// Storage and math of activations and conv weights: fp32 exact (no TF32), tf32 math on fp32 storage,
// fp16 or bf16 storage with fp32 accumulation. The CPU backend computes in fp32, or bf16 where the CPU has
// bf16 instructions (AVX512-BF16, AMX).
enum class Precision { kFp32, kTf32, kFp16, kBf16 };
// CUDA, per conv shape: cuDNN's fused conv + bias + residual + ReLU or the conv followed by our bn_act
// kernel. auto: the faster of the two, measured at planning (bn_act on ties); off: always bn_act; on: fused
// wherever cuDNN runs it (for tests); graph: each conv and its epilogue as one cuDNN graph-API graph
// (cuda_graph_conv.cuh), auto for the shapes it cannot build. Experimental: not yet measured on a GPU.
enum class ConvFusion { kAuto, kOff, kOn, kGraph };
// How a map is made (cam_methods.h). cam and gradcam give the same map (the fc row, or for an MLP head the
// pooled gradient, weights the channels); gradcam++ is pytorch-grad-cam's GradCAMPlusPlus in closed form;
// scorecam weights each channel by the softmax of the class's scores on the input masked by that channel;
// eigencam projects the centred features on their first principal component (the same map for every class).
enum class CamMethod { kCam, kGradCam, kGradCamPlusPlus, kScoreCam, kEigenCam };

// Each throws cam::Error naming the option, the value and the valid names.
BackendKind parse_backend(const std::string& name);
Precision parse_precision(const std::string& name);
ConvFusion parse_conv_fusion(const std::string& name);
ResizeMode parse_resize_mode(const std::string& name);
CamMethod parse_cam_method(const std::string& name);
const char* name_of(BackendKind kind);
const char* name_of(Precision precision);
const char* name_of(ConvFusion fusion);
const char* name_of(ResizeMode mode);
const char* name_of(CamMethod method);

struct CudaOptions {
  int device = 0;
  ConvFusion conv_fusion = ConvFusion::kAuto;
  bool use_graphs = true;  // replay the forward + CAM as a CUDA Graph (eager launches otherwise)
};

}  // namespace cam
