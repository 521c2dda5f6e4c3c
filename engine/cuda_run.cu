// CudaBackend::run: one batch. The images are packed into one pinned upload with their slot tables and the
// requested classes; on the device they are preprocessed, run through a plan's CUDA Graph (or eagerly) and
// blended into overlays; everything comes back into one pinned download before the results are assembled.
//
// With CudaOptions::pipeline_chunk, a batch goes through in chunks so that copies overlap compute: chunk c is
// uploaded on the copy stream while chunk c-1 computes, and downloaded while chunk c+1 computes. Two plans
// (activation arenas and graphs) of the chunk size take turns; a plan is reused only after the download of
// the chunk that last used it. Every chunk reads and writes its own regions of the shared upload, overlay and
// download buffers, so the results equal those of the whole batch at once. By default a batch is one chunk:
// on an H200 (bench/results/2026-11-26-h200.md) every chunked run of a 64- or 256-image batch was slower
// than the whole batch, because cuDNN's kernels for the smaller chunk are slower by more than the copies
// that overlap.
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
  results.clear();
  if (n == 0) return;
  const int chunk = profile_phases_ || pipeline_chunk_ <= 0 ? n : std::min(n, pipeline_chunk_);
  const int chunks = (n + chunk - 1) / chunk;
  const bool pipelined = chunks > 1;
  // Plans first: planning may allocate, measure and capture graphs, none of which may overlap the copies.
  std::vector<Plan*> plans(chunks);
  for (int c = 0; c < chunks; ++c)
    plans[c] = &plan_for(std::min(chunk, n - c * chunk), h, w, k, r, pipelined ? c % 2 : 0);
  laps_.start(stream_, profile_phases_, profile_layers_);

  // Host packing: images, then the two slot tables and the requested classes.
  std::vector<ImageSlot> image_slots(n);
  std::vector<OverlaySlot> overlay_slots(n);
  std::vector<size_t> image_end(n);  // packed bytes up to and including image i
  size_t image_bytes = 0, rows_bytes = 0;
  int max_pixels = 0;
  for (int i = 0; i < n; ++i) {
    const Image& img = *request.images[i];
    image_slots[i] = {static_cast<int64_t>(image_bytes), static_cast<int64_t>(rows_bytes), img.width,
                      img.height};
    overlay_slots[i] = {static_cast<int64_t>(image_bytes), static_cast<int64_t>(image_bytes) * slots,
                        img.width, img.height};
    image_bytes += img.rgb.size();
    image_end[i] = image_bytes;
    rows_bytes += static_cast<size_t>(img.height) * w * 3;
    max_pixels = std::max(max_pixels, img.width * img.height);
  }
  const size_t slots_at = align256(image_bytes), overlay_at = slots_at + align256(n * sizeof(ImageSlot)),
               requested_at = overlay_at + align256(n * sizeof(OverlaySlot)),
               upload_bytes = requested_at + r * sizeof(int);
  upload_.ensure(upload_bytes);
  device_upload_.ensure(upload_bytes);
  // Host copies run one image per thread: at batch 256 and 224x224 they move ~40 MB in and ~90 MB out.
#pragma omp parallel for schedule(dynamic)
  for (int i = 0; i < n; ++i)
    std::memcpy(upload_.at<uint8_t>(image_slots[i].offset), request.images[i]->rgb.data(),
                request.images[i]->rgb.size());
  std::memcpy(upload_.at<void>(slots_at), image_slots.data(), n * sizeof(ImageSlot));
  std::memcpy(upload_.at<void>(overlay_at), overlay_slots.data(), n * sizeof(OverlaySlot));
  std::memcpy(upload_.at<void>(requested_at), request.classes.data(), r * sizeof(int));
  rows_.ensure(rows_bytes);
  const size_t overlay_bytes = request.overlays ? image_bytes * slots : 0;
  if (overlay_bytes) {
    overlays_.ensure(overlay_bytes);
    blend_max_.ensure(static_cast<size_t>(n) * slots * sizeof(float));
  }
  const size_t logits_bytes = static_cast<size_t>(n) * classes * sizeof(float),
               topk_bytes = static_cast<size_t>(n) * k * sizeof(int), map_size = static_cast<size_t>(h) * w,
               map_bytes = static_cast<size_t>(n) * slots * map_size * sizeof(float);
  const size_t probs_at = logits_bytes, topk_at = 2 * logits_bytes, maps_at = topk_at + topk_bytes,
               overlays_at = maps_at + map_bytes;
  download_.ensure(overlays_at + overlay_bytes);
  const Preprocess& pre = net_.preprocess;
  const Normalization norm{pre.scale,
                           {pre.mean[0], pre.mean[1], pre.mean[2]},
                           {pre.stddev[0], pre.stddev[1], pre.stddev[2]},
                           pre.bgr};

  cudaStream_t copy = pipelined ? copy_stream_ : stream_;
  events_.ensure(3 * chunks);
  // The tables first, then each chunk's images.
  CUDA_CHECK(cudaMemcpyAsync(device_upload_.at<void>(slots_at), upload_.at<void>(slots_at),
                             upload_bytes - slots_at, cudaMemcpyHostToDevice, copy));
  for (int c = 0; c < chunks; ++c) {
    const int first = c * chunk, count = std::min(chunk, n - first);
    const size_t begin = image_slots[first].offset, end = image_end[first + count - 1];
    CUDA_CHECK(cudaMemcpyAsync(device_upload_.at<uint8_t>(begin), upload_.at<uint8_t>(begin), end - begin,
                               cudaMemcpyHostToDevice, copy));
    CUDA_CHECK(cudaEventRecord(events_.uploaded(c), copy));
  }
  laps_.phase("upload");
  for (int c = 0; c < chunks; ++c) {
    Plan& p = *plans[c];
    const int first = c * chunk, count = p.n;
    CUDA_CHECK(cudaStreamWaitEvent(stream_, events_.uploaded(c), 0));
    if (c >= 2) CUDA_CHECK(cudaStreamWaitEvent(stream_, events_.downloaded(c - 2), 0));  // plan free again
    if (r)
      CUDA_CHECK(cudaMemcpyAsync(p.requested, device_upload_.at<int>(requested_at), r * sizeof(int),
                                 cudaMemcpyDeviceToDevice, stream_));
    int chunk_height = 0;
    for (int i = first; i < first + count; ++i) chunk_height = std::max(chunk_height, image_slots[i].height);
    launch_preprocess(storage_, device_upload_.at<uint8_t>(0), device_upload_.at<ImageSlot>(slots_at) + first,
                      count, chunk_height, h, w, kStemChannels, norm, rows_.at<uint8_t>(0), p.input, stream_);
    laps_.phase("preprocess");
    if (p.graph && !laps_.active()) {
      CUDA_CHECK(cudaGraphLaunch(p.graph, stream_));
    } else {
      encode(p, nullptr);
    }
    if (overlay_bytes) {
      launch_overlay(p.maps, count, slots, h, w, device_upload_.at<uint8_t>(0),
                     device_upload_.at<OverlaySlot>(overlay_at) + first, max_pixels, request.image_weight,
                     request.colormap, blend_max_.at<float>(static_cast<size_t>(first) * slots),
                     overlays_.at<uint8_t>(0), stream_);
      laps_.phase("overlay");
    }
    CUDA_CHECK(cudaEventRecord(events_.computed(c), stream_));

    // This chunk's outputs into its regions of the pinned download.
    CUDA_CHECK(cudaStreamWaitEvent(copy, events_.computed(c), 0));
    auto fetch = [&](size_t to, const void* from, size_t bytes) {
      if (bytes)
        CUDA_CHECK(cudaMemcpyAsync(download_.at<uint8_t>(to), from, bytes, cudaMemcpyDeviceToHost, copy));
    };
    const size_t row = static_cast<size_t>(classes) * sizeof(float);
    fetch(first * row, p.logits, count * row);
    fetch(probs_at + first * row, p.probs, count * row);
    fetch(topk_at + static_cast<size_t>(first) * k * sizeof(int), p.topk,
          static_cast<size_t>(count) * k * sizeof(int));
    const size_t chunk_maps = static_cast<size_t>(slots) * map_size * sizeof(float);
    fetch(maps_at + first * chunk_maps, p.maps, count * chunk_maps);
    if (overlay_bytes) {
      const size_t from = overlay_slots[first].output_offset, to = image_end[first + count - 1] * slots;
      fetch(overlays_at + from, overlays_.at<uint8_t>(from), to - from);
    }
    CUDA_CHECK(cudaEventRecord(events_.downloaded(c), copy));
  }
  laps_.phase("download");
  CUDA_CHECK(cudaStreamSynchronize(copy));
  CUDA_CHECK(cudaStreamSynchronize(stream_));
  laps_.finish(phases_, layers_);

  results.assign(n, ImageResult());
#pragma omp parallel for schedule(dynamic)
  for (int i = 0; i < n; ++i) {
    ImageResult& res = results[i];
    const float* logits = download_.at<float>(0) + static_cast<size_t>(i) * classes;
    const float* probs = download_.at<float>(probs_at) + static_cast<size_t>(i) * classes;
    res.logits.assign(logits, logits + classes);
    res.probabilities.assign(probs, probs + classes);
    res.top.assign(download_.at<int>(topk_at) + static_cast<size_t>(i) * k,
                   download_.at<int>(topk_at) + static_cast<size_t>(i + 1) * k);
    const Image& img = *request.images[i];
    const std::vector<int> mapped = classes_to_map(res.top, request.classes);  // slot j holds map j
    for (int slot = 0; slot < slots; ++slot) {
      const int cls = mapped[slot];
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
