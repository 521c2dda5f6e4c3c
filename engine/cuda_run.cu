// CudaBackend::run: one batch, as pack (host), launch (device) and assemble (host). The images are packed
// into one pinned upload with their tables and the requested classes; on the device they are preprocessed,
// run through a plan's CUDA Graph (or eagerly) and blended into overlays; everything comes back into one
// pinned download before the results are assembled.
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

// Offsets of one batch in the pinned upload (images, then the two tables and the requested classes) and the
// pinned download (logits, probabilities, top-k, maps, overlays).
struct CudaBackend::BatchLayout {
  int n = 0, k = 0, r = 0, slots = 0, classes = 0, h = 0, w = 0, max_pixels = 0;
  std::vector<PackedImage> images;
  std::vector<PackedOverlay> overlays;
  std::vector<size_t> image_end;  // packed bytes up to and including image i
  size_t tables_at = 0, overlay_table_at = 0, requested_at = 0, upload_bytes = 0;
  size_t map_size = 0, overlay_bytes = 0, probs_at = 0, topk_at = 0, maps_at = 0, overlays_at = 0;
};

void CudaBackend::run(const BatchRequest& request, std::vector<ImageResult>& results) {
  results.clear();
  const int n = static_cast<int>(request.images.size());
  if (n == 0) return;
  const int chunk = profile_phases_ || pipeline_chunk_ <= 0 ? n : std::min(n, pipeline_chunk_);
  const int chunks = (n + chunk - 1) / chunk;
  const bool pipelined = chunks > 1;
  // Plans first: planning may allocate, measure and capture graphs, none of which may overlap the copies.
  std::vector<Plan*> plans(chunks);
  for (int c = 0; c < chunks; ++c)
    plans[c] = &plan_for(std::min(chunk, n - c * chunk), net_.preprocess.height, net_.preprocess.width,
                         request.topk, static_cast<int>(request.classes.size()), pipelined ? c % 2 : 0);
  laps_.start(stream_.get(), profile_phases_, profile_layers_);
  const BatchLayout layout = pack(request);
  launch(request, layout, plans, chunk);
  laps_.finish(phases_, layers_);
  assemble(request, layout, results);
}

// Host packing: images, then the two tables and the requested classes, into the pinned upload; the device
// and download buffers grown to the batch.
CudaBackend::BatchLayout CudaBackend::pack(const BatchRequest& request) {
  BatchLayout b;
  b.n = static_cast<int>(request.images.size()), b.h = net_.preprocess.height, b.w = net_.preprocess.width;
  b.k = request.topk, b.r = static_cast<int>(request.classes.size()), b.slots = b.k + b.r;
  b.classes = net_.num_classes;
  const int n = b.n;
  b.images.resize(n), b.overlays.resize(n), b.image_end.resize(n);
  size_t image_bytes = 0, rows_bytes = 0;
  for (int i = 0; i < n; ++i) {
    const Image& img = *request.images[i];
    b.images[i] = {static_cast<int64_t>(image_bytes), static_cast<int64_t>(rows_bytes), img.width,
                   img.height};
    b.overlays[i] = {static_cast<int64_t>(image_bytes), static_cast<int64_t>(image_bytes) * b.slots,
                     img.width, img.height};
    image_bytes += img.rgb.size();
    b.image_end[i] = image_bytes;
    const PilPasses passes = pil_passes(img.height, img.width, b.h, b.w, net_.preprocess.resize);
    rows_bytes += static_cast<size_t>(passes.rows) * passes.cols * 3;
    b.max_pixels = std::max(b.max_pixels, img.width * img.height);
  }
  b.tables_at = align256(image_bytes);
  b.overlay_table_at = b.tables_at + align256(n * sizeof(PackedImage));
  b.requested_at = b.overlay_table_at + align256(n * sizeof(PackedOverlay));
  b.upload_bytes = b.requested_at + b.r * sizeof(int);
  upload_.ensure(b.upload_bytes);
  device_upload_.ensure(b.upload_bytes);
  // Host copies run one image per thread: at batch 256 and 224x224 they move ~40 MB in and ~90 MB out.
#pragma omp parallel for schedule(dynamic)
  for (int i = 0; i < n; ++i)
    std::memcpy(upload_.at<uint8_t>(b.images[i].offset), request.images[i]->rgb.data(),
                request.images[i]->rgb.size());
  std::memcpy(upload_.at<void>(b.tables_at), b.images.data(), n * sizeof(PackedImage));
  std::memcpy(upload_.at<void>(b.overlay_table_at), b.overlays.data(), n * sizeof(PackedOverlay));
  std::memcpy(upload_.at<void>(b.requested_at), request.classes.data(), b.r * sizeof(int));
  rows_.ensure(rows_bytes);
  b.overlay_bytes = request.overlays ? image_bytes * b.slots : 0;
  if (b.overlay_bytes) {
    overlays_.ensure(b.overlay_bytes);
    blend_max_.ensure(static_cast<size_t>(n) * b.slots * sizeof(float));
  }
  b.map_size = static_cast<size_t>(b.h) * b.w;
  const size_t logits_bytes = static_cast<size_t>(n) * b.classes * sizeof(float),
               topk_bytes = static_cast<size_t>(n) * b.k * sizeof(int),
               map_bytes = static_cast<size_t>(n) * b.slots * b.map_size * sizeof(float);
  b.probs_at = logits_bytes, b.topk_at = 2 * logits_bytes, b.maps_at = b.topk_at + topk_bytes;
  b.overlays_at = b.maps_at + map_bytes;
  download_.ensure(b.overlays_at + b.overlay_bytes);
  return b;
}

// The copies and launches of every chunk: upload on the copy stream, then per chunk preprocess, the plan's
// graph (or eager launches), overlays, and the download of the chunk's outputs.
void CudaBackend::launch(const BatchRequest& request, const BatchLayout& b, const std::vector<Plan*>& plans,
                         int chunk) {
  const int chunks = static_cast<int>(plans.size()), n = b.n, k = b.k, r = b.r, slots = b.slots;
  const Preprocess& pre = net_.preprocess;
  const Normalization norm{pre.scale,
                           {pre.mean[0], pre.mean[1], pre.mean[2]},
                           {pre.stddev[0], pre.stddev[1], pre.stddev[2]},
                           pre.bgr};
  cudaStream_t compute = stream_.get(), copy = chunks > 1 ? copy_stream_.get() : compute;
  events_.ensure(3 * chunks);
  // The tables first, then each chunk's images.
  CUDA_CHECK(cudaMemcpyAsync(device_upload_.at<void>(b.tables_at), upload_.at<void>(b.tables_at),
                             b.upload_bytes - b.tables_at, cudaMemcpyHostToDevice, copy));
  for (int c = 0; c < chunks; ++c) {
    const int first = c * chunk, count = std::min(chunk, n - first);
    const size_t begin = b.images[first].offset, end = b.image_end[first + count - 1];
    CUDA_CHECK(cudaMemcpyAsync(device_upload_.at<uint8_t>(begin), upload_.at<uint8_t>(begin), end - begin,
                               cudaMemcpyHostToDevice, copy));
    CUDA_CHECK(cudaEventRecord(events_.uploaded(c), copy));
  }
  laps_.phase("upload");
  for (int c = 0; c < chunks; ++c) {
    Plan& p = *plans[c];  // with room for p.n >= count images
    const int first = c * chunk, count = std::min(chunk, n - first);
    CUDA_CHECK(cudaStreamWaitEvent(compute, events_.uploaded(c), 0));
    if (c >= 2) CUDA_CHECK(cudaStreamWaitEvent(compute, events_.downloaded(c - 2), 0));  // plan free again
    if (r)
      CUDA_CHECK(cudaMemcpyAsync(p.requested, device_upload_.at<int>(b.requested_at), r * sizeof(int),
                                 cudaMemcpyDeviceToDevice, compute));
    int first_rows = 0, first_cols = 0;  // the largest first-pass image of the chunk
    for (int i = first; i < first + count; ++i) {
      const PilPasses passes =
          pil_passes(b.images[i].height, b.images[i].width, b.h, b.w, net_.preprocess.resize);
      first_rows = std::max(first_rows, passes.rows), first_cols = std::max(first_cols, passes.cols);
    }
    launch_preprocess(storage_, device_upload_.at<uint8_t>(0),
                      device_upload_.at<PackedImage>(b.tables_at) + first, count, first_rows, first_cols, b.h,
                      b.w, kStemChannels, net_.preprocess.resize, norm, rows_.at<uint8_t>(0), p.input,
                      compute);
    laps_.phase("preprocess");
    if (p.graph && !laps_.active()) {
      CUDA_CHECK(cudaGraphLaunch(p.graph.get(), compute));
    } else {
      enqueue_forward(p, nullptr);
    }
    if (b.overlay_bytes) {
      launch_overlay(p.maps, count, slots, b.h, b.w, device_upload_.at<uint8_t>(0),
                     device_upload_.at<PackedOverlay>(b.overlay_table_at) + first, b.max_pixels,
                     request.image_weight, request.colormap,
                     blend_max_.at<float>(static_cast<size_t>(first) * slots), overlays_.at<uint8_t>(0),
                     compute);
      laps_.phase("overlay");
    }
    CUDA_CHECK(cudaEventRecord(events_.computed(c), compute));

    // This chunk's outputs into its regions of the pinned download.
    CUDA_CHECK(cudaStreamWaitEvent(copy, events_.computed(c), 0));
    auto fetch = [&](size_t to, const void* from, size_t bytes) {
      if (bytes)
        CUDA_CHECK(cudaMemcpyAsync(download_.at<uint8_t>(to), from, bytes, cudaMemcpyDeviceToHost, copy));
    };
    const size_t row = static_cast<size_t>(b.classes) * sizeof(float);
    fetch(first * row, p.logits, count * row);
    fetch(b.probs_at + first * row, p.probs, count * row);
    fetch(b.topk_at + static_cast<size_t>(first) * k * sizeof(int), p.topk,
          static_cast<size_t>(count) * k * sizeof(int));
    const size_t chunk_maps = static_cast<size_t>(slots) * b.map_size * sizeof(float);
    fetch(b.maps_at + first * chunk_maps, p.maps, count * chunk_maps);
    if (b.overlay_bytes) {
      const size_t from = b.overlays[first].output_offset, to = b.image_end[first + count - 1] * slots;
      fetch(b.overlays_at + from, overlays_.at<uint8_t>(from), to - from);
    }
    CUDA_CHECK(cudaEventRecord(events_.downloaded(c), copy));
  }
  laps_.phase("download");
  CUDA_CHECK(cudaStreamSynchronize(copy));
  CUDA_CHECK(cudaStreamSynchronize(compute));
}

// The results, one image per thread, from the pinned download.
void CudaBackend::assemble(const BatchRequest& request, const BatchLayout& b,
                           std::vector<ImageResult>& results) {
  const int n = b.n, k = b.k, slots = b.slots, classes = b.classes;
  results.assign(n, ImageResult());
#pragma omp parallel for schedule(dynamic)
  for (int i = 0; i < n; ++i) {
    ImageResult& res = results[i];
    const float* logits = download_.at<float>(0) + static_cast<size_t>(i) * classes;
    const float* probs = download_.at<float>(b.probs_at) + static_cast<size_t>(i) * classes;
    res.logits.assign(logits, logits + classes);
    res.probabilities.assign(probs, probs + classes);
    res.top.assign(download_.at<int>(b.topk_at) + static_cast<size_t>(i) * k,
                   download_.at<int>(b.topk_at) + static_cast<size_t>(i + 1) * k);
    const Image& img = *request.images[i];
    const std::vector<int> mapped = classes_to_map(res.top, request.classes);  // slot j holds map j
    for (int slot = 0; slot < slots; ++slot) {
      const int cls = mapped[slot];
      ClassMap m;
      m.class_index = cls;
      m.probability = probs[cls];
      const float* map =
          download_.at<float>(b.maps_at) + (static_cast<size_t>(i) * slots + slot) * b.map_size;
      m.map.assign(map, map + b.map_size);
      if (b.overlay_bytes) {
        m.overlay.width = img.width, m.overlay.height = img.height;
        const uint8_t* ov = download_.at<uint8_t>(b.overlays_at) + b.overlays[i].output_offset +
                            static_cast<size_t>(slot) * img.rgb.size();
        m.overlay.rgb.assign(ov, ov + img.rgb.size());
      }
      res.maps.push_back(std::move(m));
    }
  }
}

}  // namespace cuda_detail
}  // namespace cam
