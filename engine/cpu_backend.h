// CPU backend: oneDNN convolutions (NHWC fp32) with the BN shift as bias and residual + ReLU as post-ops, or,
// with fuse_epilogue = false, plain convolutions followed by the shared bn_act math. The rest is cpu_ops.
#pragma once
#include <map>
#include <memory>
#include <tuple>
#include <vector>

#include "backend.h"
#include "resnet.h"

namespace cam {

class CpuBackend : public Backend {
 public:
  // threads <= 0: all cores.
  CpuBackend(const ResNet& net, int threads, bool fuse_epilogue = true);
  ~CpuBackend() override;

  std::string name() const override { return "cpu"; }
  void run(const BatchRequest& request, std::vector<ImageResult>& results) override;
  void forward(const float* input, int n, int h, int w, bool keep_stages, ForwardResult& out) override;

 private:
  struct Plan;
  struct ConvPrimitive;
  Plan& plan_for(int n, int h, int w);
  ConvPrimitive plan_conv(const Step& step, int n) const;
  void run_conv(const Step& step, const ConvPrimitive& s, int n, const float* x, float* y,
                const float* residual, float* free_buffer);

  const ResNet& net_;
  bool fuse_epilogue_;
  struct Dnnl;
  std::unique_ptr<Dnnl> dnnl_;
  std::map<std::tuple<int, int, int>, std::unique_ptr<Plan>> plans_;
  std::vector<float>
      buffers_[Schedule::kBuffers];  // activation arena, each of the largest plan's largest activation
};

}  // namespace cam
