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

// precision: fp32 (exact, no TF32), tf32, fp16, bf16. use_graphs: replay the forward + CAM as a CUDA Graph
// (eager launches otherwise; tests compare the two). Throws cam::Error for impossible settings or
// out-of-memory at planning.
std::unique_ptr<Backend> make_cuda_backend(const ResNet& net, const std::string& precision, int device,
                                           bool verbose, bool use_graphs = true);

}  // namespace cam
