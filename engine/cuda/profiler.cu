#include "engine/cuda/profiler.cuh"
#include "kernels/common.cuh"

namespace cam {

EventLaps::~EventLaps() {
  for (cudaEvent_t e : events_)
    if (cudaEventDestroy(e) != cudaSuccess)
      std::fprintf(stderr, "cam_engine: destroying a CUDA event failed\n");
}

int EventLaps::record() {
  if (used_ == static_cast<int>(events_.size())) {
    cudaEvent_t e;
    CUDA_CHECK(cudaEventCreate(&e));
    events_.push_back(e);
  }
  CUDA_CHECK(cudaEventRecord(events_[used_], stream_));
  return used_++;
}

void EventLaps::start(cudaStream_t stream, bool phases, bool layers) {
  stream_ = stream;
  phases_on_ = phases || layers;
  layers_on_ = layers;
  used_ = 0;
  laps_.clear();
  if (phases_on_) last_phase_ = last_layer_ = record();
}

void EventLaps::phase(const std::string& name) {
  if (!phases_on_) return;
  int e = record();
  laps_.push_back({false, name, 0.0, last_phase_, e});
  last_phase_ = last_layer_ = e;
}

void EventLaps::layer(const std::string& name, double flops) {
  if (!layers_on_) return;
  int e = record();
  laps_.push_back({true, name, flops, last_layer_, e});
  last_layer_ = e;
}

void EventLaps::finish(std::vector<TimedStep>& phases, std::vector<TimedStep>& layers) {
  phases.clear();
  layers.clear();
  if (!phases_on_) return;
  for (const Lap& lap : laps_) {
    float ms = 0;
    CUDA_CHECK(cudaEventElapsedTime(&ms, events_[lap.from], events_[lap.to]));
    (lap.is_layer ? layers : phases).push_back({lap.name, ms, lap.flops});
  }
  phases_on_ = layers_on_ = false;
}

}  // namespace cam
