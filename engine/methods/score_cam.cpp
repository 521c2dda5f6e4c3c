// Score-CAM on the host (engine/methods/score_cam.h): the channels it uses, one masked input, and the channel
// weights from the class logits of all masked inputs.
#include "engine/methods/score_cam.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "kernels/cam_methods_math.h"

namespace cam {

namespace {

// The channels Score-CAM uses for one image: all, or the `keep` of highest variance over the pixels
// (ties to the lower index), in channel order.
std::vector<int> score_cam_channels(const float* features, int hw, int c, int keep) {
  std::vector<int> all(c);
  std::iota(all.begin(), all.end(), 0);
  if (keep <= 0 || keep >= c) return all;
  std::vector<double> variance(c);
  for (int k = 0; k < c; ++k) {
    double sum = 0, squares = 0;
    for (int p = 0; p < hw; ++p) {
      const double a = features[static_cast<size_t>(p) * c + k];
      sum += a, squares += a * a;
    }
    variance[k] = squares / hw - (sum / hw) * (sum / hw);
  }
  std::stable_sort(all.begin(), all.end(), [&](int a, int b) { return variance[a] > variance[b]; });
  all.resize(keep);
  std::sort(all.begin(), all.end());
  return all;
}

}  // namespace

void score_cam_input(const float* input, int h, int w, const float* features, int fh, int fw, int c, int k,
                     float* out) {
  thread_local std::vector<float> up;  // one per thread, not one per masked input
  up.resize(static_cast<size_t>(h) * w);
  float lo = INFINITY, hi = -INFINITY;
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      const float v = score_cam_upsampled(features + k, fh, fw, c, h, w, y, x);
      up[static_cast<size_t>(y) * w + x] = v, lo = std::min(lo, v), hi = std::max(hi, v);
    }
  for (size_t p = 0; p < up.size(); ++p) {
    const float mask = score_cam_mask(up[p], lo, hi);
    for (int ch = 0; ch < 3; ++ch) out[p * 3 + ch] = input[p * 3 + ch] * mask;
  }
}

// Score-CAM channel weights (image, class) -> (C), zero outside the image's chosen channels: the softmax
// over those channels of the class logit of each masked input.
std::vector<std::vector<float>> score_cam_weights(Backend& backend, const ResNet& net, const float* input,
                                                  const ForwardResult& fwd, int n,
                                                  const std::vector<std::vector<int>>& mapped,
                                                  const MapOptions& options) {
  const int fh = fwd.feature_h, fw = fwd.feature_w, c = net.feature_channels, hw = fh * fw;
  const int h = net.preprocess.height, w = net.preprocess.width;
  std::vector<std::vector<int>> channels(n);
  std::vector<std::pair<int, int>> jobs;  // (image, channel)
  for (int i = 0; i < n; ++i) {
    channels[i] =
        score_cam_channels(&fwd.features[static_cast<size_t>(i) * hw * c], hw, c, options.scorecam_channels);
    for (int k : channels[i]) jobs.emplace_back(i, k);
  }
  ScoreCamJobs s;
  s.inputs = input, s.features = fwd.features.data();
  s.n = n, s.h = h, s.w = w, s.fh = fh, s.fw = fw, s.c = c, s.classes = net.num_classes;
  s.jobs = std::move(jobs);
  s.batch = options.perturbed_batch;
  // scores[j][m]: the logit of the image's m-th mapped class on masked input j.
  std::vector<std::vector<float>> scores(s.jobs.size());
  backend.score_cam_logits(s, [&](int j, const float* logits) {
    for (int cls : mapped[s.jobs[j].first]) scores[j].push_back(logits[cls]);
  });
  std::vector<std::vector<float>> weights;
  size_t first_job = 0;
  for (int i = 0; i < n; ++i) {
    const size_t used = channels[i].size();
    for (size_t m = 0; m < mapped[i].size(); ++m) {
      std::vector<float> wk(c, 0.0f);
      double top = -INFINITY, sum = 0;
      for (size_t s = 0; s < used; ++s) top = std::max(top, static_cast<double>(scores[first_job + s][m]));
      for (size_t s = 0; s < used; ++s) sum += std::exp(scores[first_job + s][m] - top);
      for (size_t s = 0; s < used; ++s)
        wk[channels[i][s]] = static_cast<float>(std::exp(scores[first_job + s][m] - top) / sum);
      weights.push_back(std::move(wk));
    }
    first_job += used;
  }
  return weights;
}

}  // namespace cam
