// Profiling laps on a CUDA stream, for benchmarks: an event is recorded after each phase of a batch (upload,
// preprocess, forward, cam, overlay, download) and, when asked, after each layer of the forward; the
// intervals are read once the stream has been synchronised. Events are created on first use and reused;
// nothing is recorded unless a batch was started with profiling on, so graph capture and plain runs never see
// them.
#pragma once
#include <cuda_runtime.h>

#include <string>
#include <vector>

#include "engine/model/backend.h"

namespace cam {

class EventLaps {
 public:
  EventLaps() = default;
  ~EventLaps();
  EventLaps(const EventLaps&) = delete;
  EventLaps& operator=(const EventLaps&) = delete;

  // Begins a batch on `stream`; with phases false nothing is recorded until the next start.
  void start(cudaStream_t stream, bool phases, bool layers);
  bool active() const { return phases_on_; }
  void phase(const std::string& name);
  void layer(const std::string& name, double flops);
  // After the stream is synchronised: the measured intervals, in recording order.
  void finish(std::vector<TimedStep>& phases, std::vector<TimedStep>& layers);

 private:
  struct Lap {
    bool is_layer;
    std::string name;
    double flops;
    int from, to;  // event indices
  };
  int record();

  cudaStream_t stream_ = nullptr;
  bool phases_on_ = false, layers_on_ = false;
  std::vector<cudaEvent_t> events_;
  int used_ = 0, last_phase_ = 0, last_layer_ = 0;
  std::vector<Lap> laps_;
};

}  // namespace cam
