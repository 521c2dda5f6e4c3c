// CPU backend: oneDNN convolutions (NHWC, fp32 or bf16 activations and weights with fp32 accumulation) with
// the BN shift as bias and residual + ReLU as post-ops, or, with fuse_epilogue = false (fp32), plain
// convolutions followed by the shared bn_act math. The head and the maps run in fp32 (cpu_ops) from the last
// block's output.
#pragma once
#include <map>
#include <memory>
#include <tuple>
#include <vector>

#include "engine/model/backend.h"
#include "engine/model/options.h"
#include "engine/model/resnet.h"

namespace cam {

// The best instructions oneDNN uses on this CPU: "avx512_core_amx", "avx512_core_bf16", "avx2", ...
const char* cpu_isa_name();
// Whether oneDNN has bf16 instructions here (AVX512-BF16 or AMX), and if not why bf16 is refused.
std::string cpu_bf16_unavailable_reason();

class CpuBackend : public Backend {
 public:
  // threads <= 0: all cores. precision: fp32, or bf16 where the CPU has bf16 instructions (AVX512-BF16, AMX);
  // throws Error otherwise.
  CpuBackend(const ResNet& net, int threads, Precision precision = Precision::kFp32,
             bool fuse_epilogue = true);
  ~CpuBackend() override;

  std::string name() const override { return "cpu"; }
  void run(const BatchRequest& request, std::vector<ImageResult>& results) override;
  void forward(const float* input, int n, int h, int w, bool keep_stages, ForwardResult& out) override;
  // On the host through forward(), a batch at a time (engine/methods/masked_forward.h).
  void score_cam_logits(const ScoreCamJobs& s, const TakeLogits& take) override;
  void perturbed_logits(const PerturbedJobs& p, const TakeLogits& take) override;
  // eigen_projection (engine/methods/eigen_cam.h), an image per thread.
  void eigen_projections(const float* features, int n, int hw, int c, float* out) override;

 private:
  struct Plan;
  struct ConvPrimitive;
  Plan& plan_for(int n, int h, int w);
  ConvPrimitive plan_conv(const Step& step, int n) const;
  void run_conv(const Step& step, const ConvPrimitive& s, int n, const void* x, void* y, const void* residual,
                void* free_buffer);

  const ResNet& net_;
  bool fuse_epilogue_;
  bool bf16_;
  size_t activation_bytes_;  // of one value: 4 (fp32) or 2 (bf16)
  struct Dnnl;
  std::unique_ptr<Dnnl> dnnl_;
  std::map<std::tuple<int, int, int>, std::unique_ptr<Plan>> plans_;
  // The activation arena: each of the largest plan's largest activation (fp32, or two bf16 values per float),
  // and with bf16 the network input in bf16.
  std::vector<float> buffers_[Schedule::kBuffers], input_;
};

}  // namespace cam
