// The CUDA backend's entry points, visible to host-only code (no CUDA headers here).
#pragma once
#include <memory>
#include <string>

#include "engine/model/backend.h"
#include "engine/model/options.h"
#include "engine/model/resnet.h"

namespace cam {

// Empty when device `device` can be used; otherwise why not (no driver, no device, index out of range).
std::string cuda_unavailable_reason(int device);

// Device name, compute capability, driver/runtime/cuDNN/cuBLAS versions, for benchmark headers.
std::string cuda_device_description(int device);

// Throws cam::Error for impossible settings or out-of-memory at planning.
// verbose: prints each plan, algorithm and fusion choice.
std::unique_ptr<Backend> make_cuda_backend(const ResNet& net, Precision precision, const CudaOptions& options,
                                           bool verbose);

}  // namespace cam
