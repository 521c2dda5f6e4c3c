// The end-to-end run over a list of images: decode -> engine -> encode/write, as one component that the CLI
// and `cam_bench --e2e` both use. The calling thread submits batch b to the engine and then collects batch
// b-1 (Engine::submit/collect: on a GPU batch b's upload overlaps b-1's compute, and b-1's download b's);
// a pool of I/O threads decodes the next two batches and encodes/writes the collected batch's outputs
// meanwhile. At most five batches are alive (two decoding, one in the engine, one collected, one being
// written), so memory stays flat whatever the list's length. Records reach `deliver` in input order, one
// batch at a time, after every output of that batch is written; `stop` is asked before each batch (an
// interruption, a full disk), and what was started is finished and delivered first.
#pragma once
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "engine/io/image.h"
#include "engine/model/results.h"

namespace cam {

using Record = nlohmann::json;

// Batches of images a Pipeline holds at once at most: two decoding ahead, one in the engine, one collected
// and being encoded, one being written and delivered. The CLI's memory plan (cli_setup.h) counts on it.
constexpr int kPipelineBatchesAlive = 5;

// The I/O threads for this machine: all its cores. Measured on 2 cores with the CPU backend (whose own
// threads take the same cores): 1, 2 and 4 I/O threads gave 214, 229 and 232 img/s end to end, so the
// engine does not need cores kept free; with a GPU the cores have nothing else to do.
int default_io_threads();

// Where the time went, summed over the run. CPU time is per thread (CLOCK_THREAD_CPUTIME_ID), so it is
// what decoding and encoding cost in core-seconds, not inflated by waiting for a core.
struct PipelineStats {
  size_t images = 0, failed = 0;  // decoded and engine-run; failed to decode
  double decode_cpu_s = 0;        // I/O threads in `decode`
  double encode_cpu_s = 0;        // I/O threads in `encode` (overlays, files, records)
  double engine_s = 0;            // wall time of `submit` and `collect` on the calling thread
  double wall_s = 0;              // the whole run
};

struct PipelineHooks {
  // I/O thread: item i's image; a cam::Error makes the item failed(i, message).
  std::function<Image(size_t item)> decode;
  // Calling thread: starts a batch's decoded images through the engine, `images[j]` being item `items[j]`
  // (Engine::submit); the batch's results are asked for later, by `collect`.
  std::function<uint64_t(const std::vector<size_t>& items, const std::vector<const Image*>& images)> submit;
  // Calling thread: the results of the batch `submit` returned `ticket` for, with its items and images again
  // (still alive); one result per image.
  std::function<std::vector<ImageResult>(uint64_t ticket, const std::vector<size_t>& items,
                                         const std::vector<const Image*>& images)>
      collect;
  // I/O thread: writes item i's outputs, returns its record.
  std::function<Record(size_t item, const Image& image, const ImageResult& result)> encode;
  // I/O thread: the record of an item that failed to decode.
  std::function<Record(size_t item, const std::string& error)> failed;
  // Calling thread: a batch's records in input order.
  std::function<void(std::vector<Record>& records)> deliver;
  // Calling thread, before each batch: true ends the run there.
  std::function<bool()> stop;
};

class Pipeline {
 public:
  Pipeline(int batch, int io_threads);
  // Runs items 0..count-1; true if all were delivered, false if `stop` ended the run early.
  bool run(size_t count, const PipelineHooks& hooks);
  const PipelineStats& stats() const { return stats_; }
  int io_threads() const { return io_threads_; }

 private:
  int batch_, io_threads_;
  PipelineStats stats_;
};

}  // namespace cam
