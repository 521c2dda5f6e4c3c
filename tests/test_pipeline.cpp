// engine/pipeline.h on its own, with hooks that stand in for the engine and the files: records arrive in
// input order whatever order the I/O threads finish in, a failed decode becomes its failed() record, `stop`
// ends the run after what was started is delivered, no more than five batches of images are alive at once,
// each batch is collected with its own ticket after the next one was submitted, an error in `deliver` reaches
// the caller, and the CPU-time counters add up to what the hooks spent.
#include <doctest/doctest.h>

#include <time.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <set>
#include <stdexcept>
#include <thread>

#include "engine/base/error.h"
#include "engine/pipeline.h"

namespace {

// Spins for about `ms` of this thread's CPU time (sleeping would not count as CPU time).
void burn_cpu_ms(double ms) {
  timespec start{}, now{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &start);
  do {
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now);
  } while ((now.tv_sec - start.tv_sec) * 1e3 + (now.tv_nsec - start.tv_nsec) / 1e6 < ms);
}

struct Fake {
  std::atomic<int> alive{0}, most_alive{0};  // decoded images not yet encoded
  std::mutex mutex;
  std::vector<size_t> delivered;
  std::set<size_t> bad;  // items whose decode fails
  size_t stop_after = SIZE_MAX;
  std::vector<std::vector<size_t>> submitted;          // the items of each submitted batch, by ticket - 100
  size_t collected_batches = 0, expected_batches = 0;  // the run's batches, where a test knows them

  cam::PipelineHooks hooks() {
    cam::PipelineHooks h;
    h.decode = [this](size_t i) {
      if (bad.count(i)) throw cam::Error("item " + std::to_string(i) + ": corrupt");
      // later items of a batch finish first, so order must come from the pipeline, not the threads
      std::this_thread::sleep_for(std::chrono::microseconds(200 * (7 - i % 8)));
      const int now = ++alive;
      for (int seen = most_alive; now > seen && !most_alive.compare_exchange_weak(seen, now);) {
      }
      cam::Image image;
      image.width = static_cast<int>(i), image.height = 1;
      return image;
    };
    h.submit = [this](const std::vector<size_t>& items, const std::vector<const cam::Image*>& images) {
      REQUIRE(items.size() == images.size());
      std::lock_guard<std::mutex> lock(mutex);
      submitted.push_back(items);
      return static_cast<uint64_t>(100 + submitted.size() - 1);
    };
    h.collect = [this](uint64_t ticket, const std::vector<size_t>& items,
                       const std::vector<const cam::Image*>& images) {
      std::lock_guard<std::mutex> lock(mutex);
      REQUIRE(ticket >= 100);
      const size_t batch = ticket - 100;
      REQUIRE(batch < submitted.size());
      CHECK(items == submitted[batch]);  // the batch of this ticket
      // overlapped: the next batch was submitted first, except for the last one
      if (collected_batches + 1 < expected_batches) CHECK(submitted.size() == batch + 2);
      ++collected_batches;
      std::vector<cam::ImageResult> results(images.size());
      for (size_t j = 0; j < images.size(); ++j) {
        CHECK(images[j]->width == static_cast<int>(items[j]));  // each image beside its own item
        results[j].top = {static_cast<int>(items[j])};
      }
      return results;
    };
    h.encode = [this](size_t i, const cam::Image& image, const cam::ImageResult& result) {
      --alive;
      return cam::Record{{"item", i}, {"image", image.width}, {"top", result.top[0]}};
    };
    h.failed = [](size_t i, const std::string& error) { return cam::Record{{"item", i}, {"error", error}}; };
    h.deliver = [this](std::vector<cam::Record>& records) {
      std::lock_guard<std::mutex> lock(mutex);
      for (const cam::Record& r : records) {
        if (!r.contains("error")) CHECK(r["image"] == r["item"]);
        delivered.push_back(r["item"].get<size_t>());
      }
    };
    h.stop = [this] { return delivered.size() >= stop_after; };
    return h;
  }
};

}  // namespace

TEST_CASE("records in input order, failures in their place, at most five batches alive") {
  Fake fake;
  fake.bad = {3, 17, 40};
  fake.expected_batches = 6;
  cam::Pipeline pipeline(8, 4);
  CHECK(pipeline.run(45, fake.hooks()));
  REQUIRE(fake.delivered.size() == 45);
  for (size_t i = 0; i < 45; ++i) CHECK(fake.delivered[i] == i);
  CHECK(fake.collected_batches == 6);
  CHECK(fake.most_alive.load() <= cam::kPipelineBatchesAlive * 8);
  CHECK(pipeline.stats().images == 42);
  CHECK(pipeline.stats().failed == 3);
}

TEST_CASE("stop ends the run at a batch boundary, after delivering what was started") {
  Fake fake;
  fake.stop_after = 10;  // asked before each batch: true once 10 records are in
  cam::Pipeline pipeline(4, 2);
  CHECK_FALSE(pipeline.run(40, fake.hooks()));
  // Before batch 5 stop says true (batches 0-2 are in); batches 3 and 4, already submitted to the engine,
  // are still collected and delivered.
  REQUIRE(fake.delivered.size() == 20);
  for (size_t i = 0; i < fake.delivered.size(); ++i) CHECK(fake.delivered[i] == i);
}

TEST_CASE("an error in deliver reaches the caller; an empty list delivers nothing") {
  Fake fake;
  cam::PipelineHooks hooks = fake.hooks();
  hooks.deliver = [](std::vector<cam::Record>&) { throw cam::Error("predictions.jsonl: cannot write"); };
  cam::Pipeline pipeline(4, 3);
  CHECK_THROWS_WITH_AS(pipeline.run(9, hooks), "predictions.jsonl: cannot write", cam::Error);
  Fake empty;
  cam::Pipeline none(4, 3);
  CHECK(none.run(0, empty.hooks()));
  CHECK(empty.delivered.empty());
}

TEST_CASE("CPU time of decode and encode is counted per thread, the engine's as wall time") {
  Fake fake;
  cam::PipelineHooks hooks = fake.hooks();
  auto decode = hooks.decode;
  hooks.decode = [&](size_t i) {
    burn_cpu_ms(2);
    return decode(i);
  };
  auto encode = hooks.encode;
  hooks.encode = [&](size_t i, const cam::Image& image, const cam::ImageResult& result) {
    burn_cpu_ms(3);
    return encode(i, image, result);
  };
  cam::Pipeline pipeline(5, 2);
  CHECK(pipeline.run(20, hooks));
  const cam::PipelineStats& s = pipeline.stats();
  CHECK(s.decode_cpu_s >= 20 * 2e-3);
  CHECK(s.decode_cpu_s < 20 * 2e-3 + 0.2);
  CHECK(s.encode_cpu_s >= 20 * 3e-3);
  CHECK(s.encode_cpu_s < 20 * 3e-3 + 0.2);
  CHECK(s.wall_s >= s.engine_s);
  CHECK(cam::default_io_threads() >= 1);
  CHECK(pipeline.io_threads() == 2);
}
