// The CUDA backend's entry points, visible to host-only code (no CUDA headers here).
#pragma once
#include <memory>
#include <string>

#include "backend.h"
#include "resnet.h"

namespace cam {

// Empty when device `device` can be used; otherwise why not (no driver, no device, index out of range).
std::string cuda_unavailable_reason(int device);

// Device name, compute capability, driver/runtime/cuDNN/cuBLAS versions, for benchmark headers.
std::string cuda_device_description(int device);

struct CudaOptions {
  std::string precision = "fp32";  // fp32 (exact, no TF32), tf32, fp16, bf16
  int device = 0;
  bool verbose = false;    // prints each plan, algorithm and fusion choice
  bool use_graphs = true;  // replay the forward + CAM as a CUDA Graph (eager launches otherwise)
  // Images per chunk of a pipelined batch (copies of one chunk overlap the compute of another); 0: the whole
  // batch at once (faster on an H200 at 64 and 256 images, see cuda_run.cu).
  int pipeline_chunk = 0;
  // Per conv shape: cuDNN's fused conv + bias + residual + ReLU (cudnnConvolutionBiasActivationForward) or
  // the conv followed by our bn_act kernel. auto: the faster of the two, measured at planning (bn_act on
  // ties); off: always bn_act; on: fused wherever cuDNN runs it (for tests); graph: each conv and its
  // epilogue as one cuDNN graph-API graph, engine chosen by heuristics and timing (cuda_graph_conv.cuh), auto
  // for the shapes it cannot build. Not yet measured on a GPU.
  std::string conv_fusion = "auto";
};

// Throws cam::Error for impossible settings or out-of-memory at planning.
std::unique_ptr<Backend> make_cuda_backend(const ResNet& net, const CudaOptions& options);

}  // namespace cam
