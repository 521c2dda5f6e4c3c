// CudaBackend::submit / collect: one batch as pack (host), launch (device) and assemble (host). submit()
// packs the images with their tables and the requested classes into a flight's pinned upload and queues,
// without waiting: the upload on the copy stream; on the compute stream the preprocess, the plan's CUDA
// Graph (or eager launches), the overlays and a device copy of the plan's outputs into the flight; then the
// download on the copy stream. collect() waits for the download and assembles the results. So while batch
// i computes, batch i+1 uploads and batch i-1 downloads (and the host packs i+1 and assembles i-1): the
// copies overlap compute across batches, each batch at its full size. A batch is never split into chunks:
// bench/results/2026-11-26-h200.md has the measurement that decided it.
//
// Each flight owns every buffer its copies touch, so batches in flight never share one; the plan (arena,
// graph) is shared, which is safe because the compute stream runs batches one after another and a batch's
// outputs are copied out of the plan before the next batch computes. A flight is reused only after its
// batch was collected. While profiling, copies and compute share one stream and a batch completes inside
// submit(), so that the phase laps time them in order.
#include <algorithm>
#include <cstring>

#include "engine/base/error.h"
#include "engine/cuda/backend_impl.cuh"
#include "kernels/cam.cuh"
#include "kernels/preprocess.cuh"

namespace cam {
namespace cuda_detail {

void CudaBackend::run(const BatchRequest& request, std::vector<ImageResult>& results) {
  collect(submit(request), results);
}

uint64_t CudaBackend::submit(const BatchRequest& request) {
  check_backend_methods(request.methods);
  Flight* free_flight = nullptr;
  for (Flight& f : flights_)
    if (!f.busy && !free_flight) free_flight = &f;
  if (!free_flight)
    throw Error("submit: " + std::to_string(kMaxInFlight) + " batches in flight; collect one first");
  Flight& f = *free_flight;
  f.layout = BatchLayout();
  const int n = static_cast<int>(request.images.size());
  if (n) {
    // The plan first: a new one waits for the batches in flight, allocates, measures and captures (and may
    // throw for want of memory, leaving the flight free).
    Plan& p = plan_for(n, net_.preprocess.height, net_.preprocess.width, request.topk,
                       static_cast<int>(request.classes.size()), request.methods);
    laps_.start(stream_.get(), profile_phases_, profile_layers_);
    pack(request, f);
    launch(request, p, f);
    if (profile_phases_) {
      CUDA_CHECK(cudaStreamSynchronize(stream_.get()));
      laps_.finish(phases_, layers_);
    }
  }
  f.busy = true;
  f.ticket = next_ticket_++;
  return f.ticket;
}

void CudaBackend::collect(uint64_t ticket, std::vector<ImageResult>& results) {
  for (Flight& f : flights_) {
    if (!f.busy || f.ticket != ticket) continue;
    results.clear();
    if (f.layout.n) {
      CUDA_CHECK(cudaEventSynchronize(f.downloaded.get()));
      assemble(f, results);
    }
    f.busy = false;
    return;
  }
  throw Error("collect: no batch in flight has ticket " + std::to_string(ticket));
}

// Host packing: images, then the two tables and the requested classes, into the flight's pinned upload; its
// device and download buffers grown to the batch (they are idle: the flight's last batch was collected).
void CudaBackend::pack(const BatchRequest& request, Flight& f) {
  BatchLayout& b = f.layout;
  b.n = static_cast<int>(request.images.size()), b.h = net_.preprocess.height, b.w = net_.preprocess.width;
  b.k = request.topk, b.r = static_cast<int>(request.classes.size()), b.slots = b.k + b.r;
  b.classes = net_.num_classes;
  b.requested = request.classes;
  b.methods = request.methods;
  const int n = b.n, groups = static_cast<int>(b.methods.size());
  b.images.resize(n), b.overlays.resize(n);
  size_t image_bytes = 0, rows_bytes = 0;
  for (int i = 0; i < n; ++i) {
    const Image& img = *request.images[i];
    const Preprocess& pre = net_.preprocess;
    const ResizeBox box = resize_box(img.height, img.width, b.h, b.w, pre.resize_shorter);
    b.images[i] = {static_cast<int64_t>(image_bytes), static_cast<int64_t>(rows_bytes), img.width, img.height,
                   box};
    b.overlays[i] = {static_cast<int64_t>(image_bytes), static_cast<int64_t>(image_bytes) * b.slots,
                     img.width, img.height, input_region(pre, img.height, img.width)};
    image_bytes += img.rgb.size();
    const PilPasses passes = pil_passes(img.height, img.width, box, b.h, b.w, pre.resize);
    rows_bytes += static_cast<size_t>(passes.rows) * passes.cols * 3;
    b.max_pixels = std::max(b.max_pixels, img.width * img.height);
  }
  b.tables_at = align256(image_bytes);
  b.overlay_table_at = b.tables_at + align256(n * sizeof(PackedImage));
  b.requested_at = b.overlay_table_at + align256(n * sizeof(PackedOverlay));
  b.upload_bytes = b.requested_at + b.r * sizeof(int);
  f.upload.ensure(b.upload_bytes);
  f.device_upload.ensure(b.upload_bytes);
  // Host copies run one image per thread: at batch 256 and 224x224 they move ~40 MB in and ~90 MB out.
#pragma omp parallel for schedule(dynamic)
  for (int i = 0; i < n; ++i)
    std::memcpy(f.upload.at<uint8_t>(b.images[i].offset), request.images[i]->rgb.data(),
                request.images[i]->rgb.size());
  std::memcpy(f.upload.at<void>(b.tables_at), b.images.data(), n * sizeof(PackedImage));
  std::memcpy(f.upload.at<void>(b.overlay_table_at), b.overlays.data(), n * sizeof(PackedOverlay));
  std::memcpy(f.upload.at<void>(b.requested_at), request.classes.data(), b.r * sizeof(int));
  f.rows.ensure(rows_bytes);
  b.group_overlay_bytes = request.overlays ? image_bytes * b.slots : 0;
  b.overlay_bytes = b.group_overlay_bytes * groups;
  if (b.overlay_bytes) {
    f.overlays.ensure(b.overlay_bytes);
    f.blend_max.ensure(static_cast<size_t>(n) * b.slots * sizeof(float));
  }
  b.map_size = static_cast<size_t>(b.h) * b.w;
  const size_t logits_bytes = static_cast<size_t>(n) * b.classes * sizeof(float),
               topk_bytes = static_cast<size_t>(n) * b.k * sizeof(int),
               map_bytes = static_cast<size_t>(n) * b.slots * b.map_size * sizeof(float) * groups;
  b.probs_at = logits_bytes, b.topk_at = 2 * logits_bytes, b.maps_at = b.topk_at + topk_bytes;
  b.overlays_at = b.maps_at + map_bytes;
  f.outputs.ensure(b.overlays_at);
  f.download.ensure(b.overlays_at + b.overlay_bytes);
}

// The batch's copies and launches, queued without waiting: upload (copy stream), preprocess, forward, the
// plan's outputs copied into the flight, overlays (compute stream), download (copy stream).
void CudaBackend::launch(const BatchRequest& request, Plan& p, Flight& f) {
  const BatchLayout& b = f.layout;
  const Preprocess& pre = net_.preprocess;
  const Normalization norm{pre.scale,
                           {pre.mean[0], pre.mean[1], pre.mean[2]},
                           {pre.stddev[0], pre.stddev[1], pre.stddev[2]},
                           pre.bgr};
  cudaStream_t compute = stream_.get(), copy = profile_phases_ ? compute : copy_stream_.get();
  CUDA_CHECK(
      cudaMemcpyAsync(f.device_upload.ptr, f.upload.ptr, b.upload_bytes, cudaMemcpyHostToDevice, copy));
  CUDA_CHECK(cudaEventRecord(f.uploaded.get(), copy));
  laps_.phase("upload");

  CUDA_CHECK(cudaStreamWaitEvent(compute, f.uploaded.get(), 0));
  if (b.r)
    CUDA_CHECK(cudaMemcpyAsync(p.requested, f.device_upload.at<int>(b.requested_at), b.r * sizeof(int),
                               cudaMemcpyDeviceToDevice, compute));
  int first_rows = 0, first_cols = 0;  // the largest first-pass image of the batch
  for (const PackedImage& image : b.images) {
    const PilPasses passes = pil_passes(image.height, image.width, image.box, b.h, b.w, pre.resize);
    first_rows = std::max(first_rows, passes.rows), first_cols = std::max(first_cols, passes.cols);
  }
  launch_preprocess(storage_, f.device_upload.at<uint8_t>(0), f.device_upload.at<PackedImage>(b.tables_at),
                    b.n, first_rows, first_cols, b.h, b.w, kStemChannels, pre.resize, norm,
                    f.rows.at<uint8_t>(0), p.input, compute);
  laps_.phase("preprocess");
  if (p.graph && !laps_.active()) {
    CUDA_CHECK(cudaGraphLaunch(p.graph.get(), compute));
  } else {
    enqueue_forward(p, nullptr);
  }
  // The plan's outputs of this batch's images into the flight, laid out as in the download.
  auto keep = [&](size_t to, const void* from, size_t bytes) {
    if (bytes)
      CUDA_CHECK(cudaMemcpyAsync(f.outputs.at<uint8_t>(to), from, bytes, cudaMemcpyDeviceToDevice, compute));
  };
  keep(0, p.logits, b.probs_at);
  keep(b.probs_at, p.probs, b.probs_at);
  keep(b.topk_at, p.topk, b.maps_at - b.topk_at);
  // Each method's maps: the plan holds p.n images per group, the flight b.n.
  const size_t group_maps = static_cast<size_t>(b.n) * b.slots * b.map_size;
  for (size_t g = 0; g < b.methods.size(); ++g) {
    keep(b.maps_at + g * group_maps * sizeof(float),
         p.maps + g * static_cast<size_t>(p.n) * b.slots * b.map_size, group_maps * sizeof(float));
    if (b.overlay_bytes)
      launch_overlay(f.outputs.at<float>(b.maps_at) + g * group_maps, b.n, b.slots, b.h, b.w,
                     f.device_upload.at<uint8_t>(0), f.device_upload.at<PackedOverlay>(b.overlay_table_at),
                     b.max_pixels, request.image_weight, request.colormap, f.blend_max.at<float>(0),
                     f.overlays.at<uint8_t>(g * b.group_overlay_bytes), compute);
  }
  if (b.overlay_bytes) laps_.phase("overlay");
  CUDA_CHECK(cudaEventRecord(f.computed.get(), compute));

  CUDA_CHECK(cudaStreamWaitEvent(copy, f.computed.get(), 0));
  CUDA_CHECK(cudaMemcpyAsync(f.download.ptr, f.outputs.ptr, b.overlays_at, cudaMemcpyDeviceToHost, copy));
  if (b.overlay_bytes)
    CUDA_CHECK(cudaMemcpyAsync(f.download.at<uint8_t>(b.overlays_at), f.overlays.ptr, b.overlay_bytes,
                               cudaMemcpyDeviceToHost, copy));
  CUDA_CHECK(cudaEventRecord(f.downloaded.get(), copy));
  laps_.phase("download");
}

// The results, one image per thread, from the flight's pinned download.
void CudaBackend::assemble(const Flight& f, std::vector<ImageResult>& results) {
  const BatchLayout& b = f.layout;
  const int n = b.n, k = b.k, slots = b.slots, classes = b.classes;
  results.assign(n, ImageResult());
#pragma omp parallel for schedule(dynamic)
  for (int i = 0; i < n; ++i) {
    ImageResult& res = results[i];
    const float* logits = f.download.at<float>(0) + static_cast<size_t>(i) * classes;
    const float* probs = f.download.at<float>(b.probs_at) + static_cast<size_t>(i) * classes;
    res.logits.assign(logits, logits + classes);
    res.probabilities.assign(probs, probs + classes);
    res.top.assign(f.download.at<int>(b.topk_at) + static_cast<size_t>(i) * k,
                   f.download.at<int>(b.topk_at) + static_cast<size_t>(i + 1) * k);
    const int width = b.overlays[i].width, height = b.overlays[i].height;
    const size_t image_bytes = static_cast<size_t>(width) * height * 3;
    const std::vector<int> mapped = classes_to_map(res.top, b.requested);  // slot j holds map j
    for (size_t g = 0; g < b.methods.size(); ++g)
      for (int slot = 0; slot < slots; ++slot) {
        const int cls = mapped[slot];
        ClassMap m;
        m.class_index = cls;
        m.method = b.methods[g];
        m.probability = probs[cls];
        const float* map =
            f.download.at<float>(b.maps_at) + ((g * n + i) * static_cast<size_t>(slots) + slot) * b.map_size;
        m.map.assign(map, map + b.map_size);
        if (b.overlay_bytes) {
          m.overlay.width = width, m.overlay.height = height;
          const uint8_t* ov = f.download.at<uint8_t>(b.overlays_at) + g * b.group_overlay_bytes +
                              b.overlays[i].output_offset + static_cast<size_t>(slot) * image_bytes;
          m.overlay.rgb.assign(ov, ov + image_bytes);
        }
        res.maps.push_back(std::move(m));
      }
  }
}

}  // namespace cuda_detail
}  // namespace cam
