// Maps by every CamMethod on the host (cam_methods.h): the methods' channel weights per (image, class),
// Eigen-CAM's projection, Score-CAM's masked inputs through the backend in batches, and the host defaults of
// the Backend calls they use.
#include "cam_methods.h"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <numeric>

#include "cam_methods_math.h"
#include "eigen_cam_math.h"
#include "cpu_ops.h"
#include "faithfulness.h"

namespace cam {

void perturbed_forward(Backend& backend, int h, int w, int classes, int count, int batch,
                       const std::function<void(int index, float* input)>& make,
                       const std::function<void(int index, const float* logits)>& take) {
  const size_t size = static_cast<size_t>(h) * w * 3;
  std::vector<float> inputs(static_cast<size_t>(std::max(0, std::min(batch, count))) * size);
  ForwardResult fwd;
  for (int first = 0; first < count; first += batch) {
    const int m = std::min(batch, count - first);
#pragma omp parallel for schedule(static)
    for (int j = 0; j < m; ++j) make(first + j, &inputs[j * size]);
    backend.forward(inputs.data(), m, h, w, false, fwd);
    for (int j = 0; j < m; ++j) take(first + j, &fwd.logits[static_cast<size_t>(j) * classes]);
  }
}

namespace {

// out (n, n) = R R^T for rows R (n, cols), each entry once for both halves: four rows p at a time against
// each row q >= p, so that row q is read once per four, with SIMD sums.
void rows_times_rows(const double* rows, int n, int cols, double* out) {
  for (int p = 0; p < n; p += 4) {
    const int count = std::min(4, n - p);
    const double* r0 = rows + static_cast<size_t>(p) * cols;
    const double *r1 = count > 1 ? r0 + cols : r0, *r2 = count > 2 ? r0 + 2 * cols : r0,
                 *r3 = count > 3 ? r0 + 3 * cols : r0;
    for (int q = p; q < n; ++q) {
      const double* rq = rows + static_cast<size_t>(q) * cols;
      double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
#pragma omp simd reduction(+ : s0, s1, s2, s3)
      for (int k = 0; k < cols; ++k)
        s0 += r0[k] * rq[k], s1 += r1[k] * rq[k], s2 += r2[k] * rq[k], s3 += r3[k] * rq[k];
      const double sums[4] = {s0, s1, s2, s3};
      for (int i = 0; i < count; ++i)
        out[static_cast<size_t>(p + i) * n + q] = out[static_cast<size_t>(q) * n + p + i] = sums[i];
    }
  }
}

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

void eigen_projection(const float* features, int hw, int c, float* out) {
  std::vector<double> mean(c, 0.0), x(static_cast<size_t>(hw) * c), gram(static_cast<size_t>(hw) * hw);
  for (int p = 0; p < hw; ++p)
    for (int k = 0; k < c; ++k) mean[k] += features[static_cast<size_t>(p) * c + k];
  for (int k = 0; k < c; ++k) mean[k] /= hw;
  for (int p = 0; p < hw; ++p)
    for (int k = 0; k < c; ++k)
      x[static_cast<size_t>(p) * c + k] = features[static_cast<size_t>(p) * c + k] - mean[k];
  rows_times_rows(x.data(), hw, c, gram.data());
  double trace = 0;
  for (int p = 0; p < hw; ++p) trace += gram[static_cast<size_t>(p) * hw + p];
  std::fill(out, out + hw, 0.0f);
  if (!(trace > 0)) return;
  // The algorithm of eigen_cam_math.h: repeated squaring of gram / trace, the largest column as the start,
  // power iteration on gram. Maps too large to square take their start from gram / trace itself, computed
  // where it is read (as the device does), so that they hold one hw x hw matrix, not three.
  const bool squares = eigen_squares(hw);
  std::vector<double> m(squares ? gram.size() : 0), square(m.size()), u(hw), v(hw);
  for (size_t e = 0; e < m.size(); ++e) m[e] = gram[e] / trace;
  const std::vector<double>& start = squares ? m : gram;
  const double divisor = squares ? 1.0 : trace;
  for (int round = 0; round < kEigenSquaringRounds && squares; ++round) {
    rows_times_rows(m.data(), hw, hw, square.data());  // m is symmetric: m m = m m^T
    double diagonal = 0;
    for (int p = 0; p < hw; ++p) diagonal += square[static_cast<size_t>(p) * hw + p];
    if (!(diagonal > 0)) break;
    for (size_t e = 0; e < m.size(); ++e) m[e] = square[e] / diagonal;
    if (!eigen_squares_again(diagonal)) break;
  }
  int best = 0;
  double best_norm = -1;
  for (int q = 0; q < hw; ++q) {
    double s = 0;
    for (int p = 0; p < hw; ++p) {
      const double e = start[static_cast<size_t>(p) * hw + q] / divisor;
      s += e * e;
    }
    if (s > best_norm) best_norm = s, best = q;
  }
  for (int p = 0; p < hw; ++p)
    u[p] = start[static_cast<size_t>(p) * hw + best] / divisor / std::sqrt(best_norm);
  double lambda = 0;
  for (int iteration = 0; iteration < kEigenMaxIterations; ++iteration) {
    double norm = 0;
    for (int p = 0; p < hw; ++p) {
      const double* row = &gram[static_cast<size_t>(p) * hw];
      double s = 0;
#pragma omp simd reduction(+ : s)
      for (int q = 0; q < hw; ++q) s += row[q] * u[q];
      v[p] = s, norm += s * s;
    }
    norm = std::sqrt(norm);
    if (!(norm > 0)) return;
    double change = 0;
    for (int p = 0; p < hw; ++p) v[p] /= norm, change = std::max(change, std::fabs(v[p] - u[p]));
    u.swap(v);
    lambda = norm;
    if (change < kEigenTolerance) break;
  }
  const double scale = std::sqrt(lambda);
  const auto [lo, hi] = std::minmax_element(u.begin(), u.end());
  const double sign = eigen_sign(*lo, *hi);
  for (int p = 0; p < hw; ++p) out[p] = static_cast<float>(sign * scale * u[p]);
}

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

void perturbed_input(const PerturbedJobs& p, const PerturbedJob& job, float* out) {
  const size_t pixels = static_cast<size_t>(p.h) * p.w;
  const float* x = p.inputs + job.image * pixels * 3;
  const float* map = p.maps + job.map * pixels;
  const int* rank = p.ranks + job.map * pixels;
  for (size_t q = 0; q < pixels; ++q) {
    const float keep = perturbation_keep(job.kind, rank[q], job.count, map[q]);
    for (int ch = 0; ch < 3; ++ch) out[q * 3 + ch] = perturbed_value(job.kind, x[q * 3 + ch], keep);
  }
}

void Backend::perturbed_logits(const PerturbedJobs& p, const TakeLogits& take) {
  perturbed_forward(
      *this, p.h, p.w, p.classes, static_cast<int>(p.jobs.size()), p.batch,
      [&](int j, float* out) { perturbed_input(p, p.jobs[j], out); }, take);
}

void Backend::eigen_projections(const float* features, int n, int hw, int c, float* out) {
#pragma omp parallel for schedule(dynamic)
  for (int i = 0; i < n; ++i)
    eigen_projection(features + static_cast<size_t>(i) * hw * c, hw, c, out + static_cast<size_t>(i) * hw);
}

void Backend::score_cam_logits(const ScoreCamJobs& s, const TakeLogits& take) {
  const size_t input_size = static_cast<size_t>(s.h) * s.w * 3,
               feature_size = static_cast<size_t>(s.fh) * s.fw * s.c;
  perturbed_forward(
      *this, s.h, s.w, s.classes, static_cast<int>(s.jobs.size()), s.batch,
      [&](int j, float* out) {
        const auto [image, channel] = s.jobs[j];
        score_cam_input(s.inputs + image * input_size, s.h, s.w, s.features + image * feature_size, s.fh,
                        s.fw, s.c, channel, out);
      },
      take);
}

namespace {

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

}  // namespace

void method_maps(const ResNet& net, Backend& backend, const ForwardResult& fwd, const BatchRequest& request,
                 const std::vector<std::vector<float>>& score_weights, std::vector<ImageResult>& results) {
  const int n = static_cast<int>(results.size()), h = net.preprocess.height, w = net.preprocess.width;
  const int c = net.feature_channels, fh = fwd.feature_h, fw = fwd.feature_w, hw = fh * fw;
  const std::vector<CamMethod>& methods = request.methods;
  std::vector<std::vector<int>> mapped(n);
  for (int i = 0; i < n; ++i) mapped[i] = classes_to_map(results[i].top, request.classes);
  std::vector<float> eigen_maps;  // (n, fh, fw) the class-free Eigen-CAM projections
  if (std::count(methods.begin(), methods.end(), CamMethod::kEigenCam)) {
    eigen_maps.resize(static_cast<size_t>(n) * hw);
    backend.eigen_projections(fwd.features.data(), n, hw, c, eigen_maps.data());
  }
  std::vector<size_t> first_score(n, 0);
  for (int i = 1; i < n; ++i) first_score[i] = first_score[i - 1] + mapped[i - 1].size();

  std::vector<const float*> head_weights;
  std::vector<int> head_ins, head_outs;
  for (const Dense& d : net.hidden)
    head_weights.push_back(d.weight.data()), head_ins.push_back(d.in), head_outs.push_back(d.out);
#pragma omp parallel
  {
    std::vector<float> gradients, weights(c), activation_sum(c), lowres(hw);
    std::vector<const float*> head_activations(net.hidden.size());
#pragma omp for schedule(dynamic)
    for (int i = 0; i < n; ++i) {
      ImageResult& r = results[i];
      const float* a = &fwd.features[static_cast<size_t>(i) * hw * c];
      for (size_t l = 0; l < net.hidden.size(); ++l)
        head_activations[l] = &fwd.hidden[l][static_cast<size_t>(i) * head_outs[l]];
      // The gradient at the pooled features of each mapped class, once for every method: the fc row, or
      // through an MLP head its closed form.
      gradients.resize(mapped[i].size() * c);
      for (size_t j = 0; j < mapped[i].size(); ++j) {
        const float* fc_row = &net.fc_weight[static_cast<size_t>(mapped[i][j]) * net.head_dim()];
        if (net.hidden.empty())
          std::copy(fc_row, fc_row + c, &gradients[j * c]);
        else
          head_cam_weights_cpu(head_weights, head_ins, head_outs, head_activations, fc_row,
                               &gradients[j * c]);
      }
      if (std::count(methods.begin(), methods.end(), CamMethod::kGradCamPlusPlus)) {
        std::fill(activation_sum.begin(), activation_sum.end(), 0.0f);
        for (int p = 0; p < hw; ++p)
          for (int k = 0; k < c; ++k) activation_sum[k] += a[static_cast<size_t>(p) * c + k];
      }
      for (CamMethod method : methods) {
        const size_t first_map = r.maps.size();
        for (size_t j = 0; j < mapped[i].size(); ++j) {
          const int cls = mapped[i][j];
          ClassMap m;
          m.class_index = cls, m.method = method, m.probability = r.probabilities[cls];
          if (method == CamMethod::kEigenCam && j > 0) {  // class-free: the first class's map
            m.map = r.maps[first_map].map;
            r.maps.push_back(std::move(m));
            continue;
          }
          m.map.resize(static_cast<size_t>(h) * w);
          if (method == CamMethod::kEigenCam) {
            finish_map_cpu(&eigen_maps[static_cast<size_t>(i) * hw], fh, fw, h, w, m.map.data());
          } else {
            const float* map_weights = &gradients[j * c];
            if (method == CamMethod::kGradCamPlusPlus) {
              for (int k = 0; k < c; ++k)
                weights[k] = gradcam_plusplus_channel_weight(map_weights[k], activation_sum[k], hw);
              map_weights = weights.data();
            } else if (method == CamMethod::kScoreCam) {
              map_weights = score_weights[first_score[i] + j].data();
            }
            class_map_cpu(a, fh, fw, c, map_weights, h, w, lowres.data(), m.map.data());
          }
          r.maps.push_back(std::move(m));
        }
      }
    }
  }
}

void add_overlays(const BatchRequest& request, int map_h, int map_w, std::vector<ImageResult>& results) {
#pragma omp parallel for schedule(dynamic)
  for (size_t i = 0; i < results.size(); ++i)
    for (ClassMap& m : results[i].maps)
      m.overlay =
          overlay_map(m.map.data(), map_h, map_w, *request.images[i], request.image_weight, request.colormap);
}

BatchRequest batch_request(const std::vector<const Image*>& images, const MapOptions& options) {
  BatchRequest request;
  request.images = images;
  request.topk = options.topk;
  request.classes = options.classes;
  request.overlays = options.overlays;
  request.image_weight = options.image_weight;
  request.colormap = options.colormap;
  request.methods = options.methods;
  return request;
}

std::vector<ImageResult> run_methods(const ResNet& net, Backend& backend,
                                     const std::vector<const Image*>& images, const MapOptions& options) {
  const int n = static_cast<int>(images.size()), h = net.preprocess.height, w = net.preprocess.width;
  std::vector<float> input(static_cast<size_t>(n) * h * w * 3);
  preprocess_images_cpu(images, net.preprocess, input.data());
  std::vector<ImageResult> results = run_methods_on_inputs(net, backend, input.data(), n, options);
  if (options.overlays) add_overlays(batch_request(images, options), h, w, results);
  return results;
}

std::vector<ImageResult> run_methods_on_inputs(const ResNet& net, Backend& backend, const float* input, int n,
                                               const MapOptions& options) {
  const int h = net.preprocess.height, w = net.preprocess.width, classes = net.num_classes;
  ForwardResult fwd;
  backend.forward(input, n, h, w, false, fwd);
  std::vector<ImageResult> results(n);
  std::vector<std::vector<int>> mapped(n);
  for (int i = 0; i < n; ++i) {
    results[i] = ranked_result(&fwd.logits[static_cast<size_t>(i) * classes], classes, options.topk);
    mapped[i] = classes_to_map(results[i].top, options.classes);
  }
  std::vector<std::vector<float>> score_weights;
  if (std::count(options.methods.begin(), options.methods.end(), CamMethod::kScoreCam))
    score_weights = score_cam_weights(backend, net, input, fwd, n, mapped, options);
  method_maps(net, backend, fwd, batch_request({}, options), score_weights, results);
  if (options.metrics) measure_faithfulness(backend, net, input, results, options);
  return results;
}

}  // namespace cam
