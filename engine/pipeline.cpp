#include "engine/pipeline.h"

#include <time.h>

#include <algorithm>
#include <chrono>
#include <deque>
#include <future>
#include <memory>
#include <thread>

#include "engine/base/error.h"
#include "engine/base/thread_pool.h"

namespace cam {
namespace {

double thread_cpu_seconds() {
  timespec t{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + 1e-9 * static_cast<double>(t.tv_nsec);
}

struct Decoded {
  Image image;
  std::string error;  // empty when decoded
  double cpu_s = 0;
};

struct Encoded {
  Record record;
  double cpu_s = 0;
};

// One run of a Pipeline: the I/O pool, the next two batches decoding, the batch in the engine and the
// previous batch's records encoding.
class PipelineRun {
 public:
  PipelineRun(size_t count, size_t batch, int io_threads, const PipelineHooks& hooks, PipelineStats& stats)
      : count_(count), batch_(batch), hooks_(hooks), stats_(stats), io_(io_threads) {}

  // Runs every batch unless hooks.stop() says otherwise; true if all were delivered.
  bool run() {
    const size_t batches = (count_ + batch_ - 1) / batch_;
    for (size_t b = 0; b < std::min<size_t>(2, batches); ++b) schedule_decode(b);
    std::unique_ptr<Submitted> in_engine;
    size_t b = 0;
    for (; b < batches && !hooks_.stop(); ++b) {
      if (b + 2 < batches) schedule_decode(b + 2);
      std::unique_ptr<Submitted> s = submit_decoded(b);
      if (in_engine) collect(*in_engine);
      in_engine = std::move(s);
    }
    if (in_engine) collect(*in_engine);
    deliver();
    return b == batches;
  }

 private:
  // A batch submitted to the engine and not yet collected.
  struct Submitted {
    size_t batch = 0;
    uint64_t ticket = 0;
    std::vector<std::shared_ptr<Decoded>> decoded;
    std::vector<size_t> items;
    std::vector<const Image*> images;
  };

  void schedule_decode(size_t b) {
    std::vector<std::future<Decoded>> futures;
    for (size_t i = b * batch_; i < std::min(count_, (b + 1) * batch_); ++i)
      futures.push_back(io_.submit([this, i] {
        Decoded d;
        const double t = thread_cpu_seconds();
        try {
          d.image = hooks_.decode(i);
        } catch (const Error& e) {
          d.error = e.what();
        }
        d.cpu_s = thread_cpu_seconds() - t;
        return d;
      }));
    decoding_.push_back(std::move(futures));
  }

  template <typename Call>
  auto engine_time(const Call& call) {
    const auto t = std::chrono::steady_clock::now();
    auto value = call();
    stats_.engine_s += std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
    return value;
  }

  // Waits for batch b's decodes and submits its good images.
  std::unique_ptr<Submitted> submit_decoded(size_t b) {
    std::vector<std::future<Decoded>> futures = std::move(decoding_.front());
    decoding_.pop_front();
    auto s = std::make_unique<Submitted>();
    s->batch = b;
    for (size_t j = 0; j < futures.size(); ++j) {
      s->decoded.push_back(std::make_shared<Decoded>(futures[j].get()));
      stats_.decode_cpu_s += s->decoded.back()->cpu_s;
      if (!s->decoded.back()->error.empty()) continue;
      s->items.push_back(b * batch_ + j);
      s->images.push_back(&s->decoded.back()->image);
    }
    s->ticket = engine_time([&] { return hooks_.submit(s->items, s->images); });
    return s;
  }

  // Collects a submitted batch, hands its images to the I/O threads to encode and delivers the batch before.
  void collect(const Submitted& s) {
    auto results = std::make_shared<std::vector<ImageResult>>(
        engine_time([&] { return hooks_.collect(s.ticket, s.items, s.images); }));
    if (results->size() != s.images.size())
      throw Error("the engine returned a result per image of another batch");
    stats_.images += s.images.size();
    stats_.failed += s.decoded.size() - s.images.size();
    std::vector<std::future<Encoded>> next;
    for (size_t j = 0, good = 0; j < s.decoded.size(); ++j)
      next.push_back(io_.submit([this, i = s.batch * batch_ + j, d = s.decoded[j], results,
                                 g = s.decoded[j]->error.empty() ? good++ : 0] {
        Encoded e;
        const double t0 = thread_cpu_seconds();
        e.record = d->error.empty() ? hooks_.encode(i, d->image, (*results)[g]) : hooks_.failed(i, d->error);
        e.cpu_s = thread_cpu_seconds() - t0;
        return e;
      }));
    deliver();
    writing_ = std::move(next);
  }

  // The previous batch's records, delivered once the next batch has gone through the engine.
  void deliver() {
    std::vector<Record> records;
    for (auto& f : writing_) {
      Encoded e = f.get();
      stats_.encode_cpu_s += e.cpu_s;
      records.push_back(std::move(e.record));
    }
    writing_.clear();
    if (!records.empty()) hooks_.deliver(records);
  }

  const size_t count_, batch_;
  const PipelineHooks& hooks_;
  PipelineStats& stats_;
  std::deque<std::vector<std::future<Decoded>>> decoding_;  // the next two batches
  std::vector<std::future<Encoded>> writing_;
  ThreadPool io_;  // last: its threads finish (joined first) before the queues they fill go away
};

}  // namespace

int default_io_threads() {
  return std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
}

Pipeline::Pipeline(int batch, int io_threads)
    : batch_(std::max(1, batch)), io_threads_(io_threads > 0 ? io_threads : default_io_threads()) {}

bool Pipeline::run(size_t count, const PipelineHooks& hooks) {
  const auto start = std::chrono::steady_clock::now();
  const bool complete = PipelineRun(count, static_cast<size_t>(batch_), io_threads_, hooks, stats_).run();
  stats_.wall_s += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return complete;
}

}  // namespace cam
