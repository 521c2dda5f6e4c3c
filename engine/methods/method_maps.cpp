// Maps by every CamMethod on the host (engine/methods/method_maps.h): the methods' channel weights per
// (image, class) from one forward, then the map of each; Score-CAM's weights and the metrics through the
// backend.
#include "engine/methods/method_maps.h"

#include <omp.h>

#include <algorithm>

#include "engine/methods/faithfulness.h"
#include "engine/methods/score_cam.h"
#include "engine/ops/cpu_ops.h"
#include "engine/ops/image_ops.h"
#include "kernels/cam_methods_math.h"

namespace cam {

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

void add_overlays(const BatchRequest& request, const Preprocess& pre, std::vector<ImageResult>& results) {
#pragma omp parallel for schedule(dynamic)
  for (size_t i = 0; i < results.size(); ++i) {
    const Image& photo = *request.images[i];
    const MapRegion region = input_region(pre, photo.height, photo.width);
    for (ClassMap& m : results[i].maps)
      m.overlay = overlay_map(m.map.data(), pre.height, pre.width, photo, region, request.image_weight,
                              request.colormap);
  }
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
  if (options.overlays) add_overlays(batch_request(images, options), net.preprocess, results);
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
