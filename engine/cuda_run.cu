// CudaBackend::run: one batch. The images are packed into one pinned upload with their slot tables and the
// requested classes, preprocessed on the device, run through the plan's CUDA Graph (or eagerly), blended into
// overlays, and everything comes back in one pinned download before the results are assembled.
#include <algorithm>
#include <cstring>

#include "cam.cuh"
#include "cuda_backend_impl.cuh"
#include "preprocess.cuh"

namespace cam {
namespace cuda_detail {

void CudaBackend::run(const BatchRequest& request, std::vector<ImageResult>& results) {
  const int n = static_cast<int>(request.images.size()), h = net_.preprocess.height,
            w = net_.preprocess.width;
  const int k = request.topk, r = static_cast<int>(request.classes.size()), slots = k + r,
            classes = net_.num_classes;
  Plan& p = plan_for(n, h, w, k, r);
  laps_.start(stream_, profile_phases_, profile_layers_);

  // Upload: packed images, then the two slot tables and the requested classes, in one copy.
  std::vector<ImageSlot> image_slots(n);
  std::vector<OverlaySlot> overlay_slots(n);
  size_t image_bytes = 0, rows_bytes = 0;
  int max_height = 0, max_pixels = 0;
  for (int i = 0; i < n; ++i) {
    const Image& img = *request.images[i];
    image_slots[i] = {static_cast<int64_t>(image_bytes), static_cast<int64_t>(rows_bytes), img.width,
                      img.height};
    overlay_slots[i] = {static_cast<int64_t>(image_bytes), static_cast<int64_t>(image_bytes) * slots,
                        img.width, img.height};
    image_bytes += img.rgb.size();
    rows_bytes += static_cast<size_t>(img.height) * w * 3;
    max_height = std::max(max_height, img.height);
    max_pixels = std::max(max_pixels, img.width * img.height);
  }
  const size_t slots_at = align256(image_bytes), overlay_at = slots_at + align256(n * sizeof(ImageSlot)),
               requested_at = overlay_at + align256(n * sizeof(OverlaySlot)),
               upload_bytes = requested_at + r * sizeof(int);
  upload_.ensure(upload_bytes);
  device_upload_.ensure(upload_bytes);
  for (int i = 0; i < n; ++i)
    std::memcpy(upload_.at<uint8_t>(image_slots[i].offset), request.images[i]->rgb.data(),
                request.images[i]->rgb.size());
  std::memcpy(upload_.at<void>(slots_at), image_slots.data(), n * sizeof(ImageSlot));
  std::memcpy(upload_.at<void>(overlay_at), overlay_slots.data(), n * sizeof(OverlaySlot));
  std::memcpy(upload_.at<void>(requested_at), request.classes.data(), r * sizeof(int));
  CUDA_CHECK(cudaMemcpyAsync(device_upload_.ptr, upload_.ptr, upload_bytes, cudaMemcpyHostToDevice, stream_));
  if (r)
    CUDA_CHECK(cudaMemcpyAsync(p.requested, device_upload_.at<int>(requested_at), r * sizeof(int),
                               cudaMemcpyDeviceToDevice, stream_));
  laps_.phase("upload");
  rows_.ensure(rows_bytes);
  const Preprocess& pre = net_.preprocess;
  Normalization norm{pre.scale,
                     {pre.mean[0], pre.mean[1], pre.mean[2]},
                     {pre.stddev[0], pre.stddev[1], pre.stddev[2]},
                     pre.bgr};
  launch_preprocess(storage_, device_upload_.at<uint8_t>(0), device_upload_.at<ImageSlot>(slots_at), n,
                    max_height, h, w, kStemChannels, norm, rows_.at<uint8_t>(0), p.input, stream_);
  laps_.phase("preprocess");
  if (p.graph && !laps_.active()) {
    CUDA_CHECK(cudaGraphLaunch(p.graph, stream_));
  } else {
    encode(p, nullptr);
  }
  const size_t overlay_bytes = request.overlays ? image_bytes * slots : 0;
  if (overlay_bytes) {
    overlays_.ensure(overlay_bytes);
    blend_max_.ensure(static_cast<size_t>(n) * slots * sizeof(float));
    launch_overlay(p.maps, n, slots, h, w, device_upload_.at<uint8_t>(0),
                   device_upload_.at<OverlaySlot>(overlay_at), max_pixels, request.image_weight,
                   request.colormap, blend_max_.at<float>(0), overlays_.at<uint8_t>(0), stream_);
    laps_.phase("overlay");
  }

  // Download everything in one pinned buffer.
  const size_t logits_bytes = static_cast<size_t>(n) * classes * sizeof(float),
               topk_bytes = static_cast<size_t>(n) * k * sizeof(int),
               map_bytes = static_cast<size_t>(n) * slots * h * w * sizeof(float);
  const size_t probs_at = logits_bytes, topk_at = 2 * logits_bytes, maps_at = topk_at + topk_bytes,
               overlays_at = maps_at + map_bytes;
  download_.ensure(overlays_at + overlay_bytes);
  CUDA_CHECK(cudaMemcpyAsync(download_.ptr, p.logits, logits_bytes, cudaMemcpyDeviceToHost, stream_));
  CUDA_CHECK(
      cudaMemcpyAsync(download_.at<void>(probs_at), p.probs, logits_bytes, cudaMemcpyDeviceToHost, stream_));
  if (topk_bytes)
    CUDA_CHECK(
        cudaMemcpyAsync(download_.at<void>(topk_at), p.topk, topk_bytes, cudaMemcpyDeviceToHost, stream_));
  if (map_bytes)
    CUDA_CHECK(
        cudaMemcpyAsync(download_.at<void>(maps_at), p.maps, map_bytes, cudaMemcpyDeviceToHost, stream_));
  if (overlay_bytes)
    CUDA_CHECK(cudaMemcpyAsync(download_.at<void>(overlays_at), overlays_.ptr, overlay_bytes,
                               cudaMemcpyDeviceToHost, stream_));
  laps_.phase("download");
  CUDA_CHECK(cudaStreamSynchronize(stream_));
  laps_.finish(phases_, layers_);

  results.assign(n, ImageResult());
  const size_t map_size = static_cast<size_t>(h) * w;
  for (int i = 0; i < n; ++i) {
    ImageResult& res = results[i];
    const float* logits = download_.at<float>(0) + static_cast<size_t>(i) * classes;
    const float* probs = download_.at<float>(probs_at) + static_cast<size_t>(i) * classes;
    res.logits.assign(logits, logits + classes);
    res.probabilities.assign(probs, probs + classes);
    res.top.assign(download_.at<int>(topk_at) + static_cast<size_t>(i) * k,
                   download_.at<int>(topk_at) + static_cast<size_t>(i + 1) * k);
    const Image& img = *request.images[i];
    for (int cls : classes_to_map(res.top, request.classes)) {
      auto in_top = std::find(res.top.begin(), res.top.end(), cls);
      int slot = in_top != res.top.end()
                     ? static_cast<int>(in_top - res.top.begin())
                     : k + static_cast<int>(std::find(request.classes.begin(), request.classes.end(), cls) -
                                            request.classes.begin());
      ClassMap m;
      m.class_index = cls;
      m.probability = probs[cls];
      const float* map = download_.at<float>(maps_at) + (static_cast<size_t>(i) * slots + slot) * map_size;
      m.map.assign(map, map + map_size);
      if (overlay_bytes) {
        m.overlay.width = img.width, m.overlay.height = img.height;
        const uint8_t* ov = download_.at<uint8_t>(overlays_at) + overlay_slots[i].output_offset +
                            static_cast<size_t>(slot) * img.rgb.size();
        m.overlay.rgb.assign(ov, ov + img.rgb.size());
      }
      res.maps.push_back(std::move(m));
    }
  }
}

}  // namespace cuda_detail
}  // namespace cam
