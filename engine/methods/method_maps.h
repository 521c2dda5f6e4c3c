// Maps by any CamMethod, and their faithfulness, on the host from a backend's forward (an engine internal:
// users set MapOptions::methods and call Engine::run), each method as pytorch-grad-cam 1.5 makes it on
// model.layer4[-1] (CamMethod in engine/model/options.h; element math in kernels/cam_methods_math.h):
//   cam, gradcam  the fc row of the class, or for an MLP head the gradient at the pooled features;
//   gradcam++     GradCAMPlusPlus' weights in closed form from that gradient (the same at every pixel);
//   scorecam      ScoreCAM: every channel (or the scorecam_channels of highest variance) upsampled and
//                 min-max'ed masks the network input; the class logits of the masked inputs, softmaxed over
//                 the channels, are the weights;
//   eigencam      EigenCAM: the centred features (h*w, C) projected on their first right-singular vector, the
//                 sign flipped where |min| > |max| (get_2d_projection_with_sign_correction); class-free, so
//                 every class gets the same map.
// Then ReLU, min-max, bilinear resize, min-max, as for CAM (finish_map_cpu).
// Who uses what: the CPU backend's run() makes every method but Score-CAM with method_maps; the CUDA backend
// makes those on the device (its own kernels, the same math); Score-CAM and the metrics, which need masked
// forwards, go through run_methods on either backend (its forwards, masked inputs made on the device by
// CUDA).
#pragma once
#include <vector>

#include "engine/model/backend.h"
#include "engine/model/options.h"
#include "engine/model/resnet.h"

namespace cam {

// The maps of request.methods for every image from one forward (fwd) of its network inputs, appended to
// results (ranked_result's, one per image): per method in order, a map per class classes_to_map names.
// Score-CAM's channel weights come in score_weights (one per image and mapped class, in order); Eigen-CAM's
// projections from backend.eigen_projections. The CPU backend's run() makes its maps with it.
void method_maps(const ResNet& net, Backend& backend, const ForwardResult& fwd, const BatchRequest& request,
                 const std::vector<std::vector<float>>& score_weights, std::vector<ImageResult>& results);

// Every map's overlay (maps at the input size of pre) on its image of request.images, over input_region.
void add_overlays(const BatchRequest& request, const Preprocess& pre, std::vector<ImageResult>& results);

// The backend's request for MapOptions on these images.
BatchRequest batch_request(const std::vector<const Image*>& images, const MapOptions& options);

// ImageResult of every image (top holds options.topk classes), with options.methods' maps and, when asked,
// their overlays and metrics: for Score-CAM and the metrics, which run masked forwards through the backend.
std::vector<ImageResult> run_methods(const ResNet& net, Backend& backend,
                                     const std::vector<const Image*>& images, const MapOptions& options);

// The same from network inputs already preprocessed (n, h, w, 3) NHWC at the model's input size (no overlays:
// there are no images to blend over).
std::vector<ImageResult> run_methods_on_inputs(const ResNet& net, Backend& backend, const float* input, int n,
                                               const MapOptions& options);

}  // namespace cam
