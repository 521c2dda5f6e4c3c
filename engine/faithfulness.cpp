// Deletion / insertion AUC and Average Drop / Increase in Confidence of every map (faithfulness.h): all the
// perturbed inputs of a batch as one list of jobs through the backend's forward.
#include "faithfulness.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "cam_methods.h"
#include "cpu_ops.h"

namespace cam {
namespace {

enum class Perturbation { kBaseline, kDeletion, kInsertion, kMasked };

struct Job {
  Perturbation kind;
  int image = 0, map = 0;  // the map's position: results[image].maps[map]
  int point = 0;           // index on the curve
  int count = 0;           // pixels deleted or inserted
};

}  // namespace

void measure_faithfulness(Backend& backend, const ResNet& net, const float* input,
                          std::vector<ImageResult>& results, const MapOptions& options) {
  const int h = net.preprocess.height, w = net.preprocess.width, pixels = h * w, classes = net.num_classes;
  const int step = (pixels + options.metric_steps - 1) / options.metric_steps;
  std::vector<int> counts;
  for (int count = 0; count < pixels; count += step) counts.push_back(count);
  counts.push_back(pixels);
  const int points = static_cast<int>(counts.size());
  // rank[p]: the position of pixel p in the map's order, highest value first, ties to the lower index.
  std::vector<std::vector<std::vector<int>>> ranks(results.size());
  std::vector<Job> jobs = {{Perturbation::kBaseline}};
  for (size_t i = 0; i < results.size(); ++i) {
    ranks[i].resize(results[i].maps.size());
    for (size_t j = 0; j < results[i].maps.size(); ++j) {
      const std::vector<float>& map = results[i].maps[j].map;
      std::vector<int> order(pixels), rank(pixels);
      std::iota(order.begin(), order.end(), 0);
      std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return map[a] > map[b]; });
      for (int r = 0; r < pixels; ++r) rank[order[r]] = r;
      ranks[i][j] = std::move(rank);
      const int image = static_cast<int>(i), m = static_cast<int>(j);
      for (int point = 1; point + 1 < points; ++point) {
        jobs.push_back({Perturbation::kDeletion, image, m, point, counts[point]});
        jobs.push_back({Perturbation::kInsertion, image, m, point, counts[point]});
      }
      jobs.push_back({Perturbation::kMasked, image, m});
    }
  }
  const size_t input_size = static_cast<size_t>(pixels) * 3;
  // The probability of each job's map class; for the all-baseline job, of every class.
  std::vector<float> baseline(classes), job_probability(jobs.size()), row(classes);
  perturbed_forward(
      backend, net.preprocess.height, net.preprocess.width, classes, static_cast<int>(jobs.size()),
      options.perturbed_batch,
      [&](int index, float* out) {
        const Job& job = jobs[index];
        const float* x = input + job.image * input_size;
        if (job.kind == Perturbation::kBaseline) {
          std::fill(out, out + input_size, 0.0f);
          return;
        }
        const std::vector<int>& rank = ranks[job.image][job.map];
        const std::vector<float>& map = results[job.image].maps[job.map].map;
        for (int p = 0; p < pixels; ++p) {
          const bool ranked = rank[p] < job.count;
          const float keep = job.kind == Perturbation::kMasked     ? map[p]
                             : job.kind == Perturbation::kDeletion ? (ranked ? 0.0f : 1.0f)
                                                                   : (ranked ? 1.0f : 0.0f);
          for (int ch = 0; ch < 3; ++ch) out[p * 3 + ch] = x[p * 3 + ch] * keep;
        }
      },
      [&](int index, const float* logits) {
        softmax_cpu(logits, 1, classes, row.data());
        const Job& job = jobs[index];
        if (job.kind == Perturbation::kBaseline)
          baseline = row;
        else
          job_probability[index] = row[results[job.image].maps[job.map].class_index];
      });
  std::vector<std::vector<std::vector<double>>> deletion(results.size()), insertion(results.size());
  for (size_t i = 0; i < results.size(); ++i) {
    deletion[i].assign(results[i].maps.size(), std::vector<double>(points));
    insertion[i].assign(results[i].maps.size(), std::vector<double>(points));
    for (size_t j = 0; j < results[i].maps.size(); ++j) {
      const int cls = results[i].maps[j].class_index;
      deletion[i][j][0] = insertion[i][j][points - 1] = results[i].probabilities[cls];
      deletion[i][j][points - 1] = insertion[i][j][0] = baseline[cls];
    }
  }
  for (size_t index = 1; index < jobs.size(); ++index) {
    const Job& job = jobs[index];
    ClassMap& m = results[job.image].maps[job.map];
    const float p = job_probability[index];
    if (job.kind == Perturbation::kDeletion) deletion[job.image][job.map][job.point] = p;
    if (job.kind == Perturbation::kInsertion) insertion[job.image][job.map][job.point] = p;
    if (job.kind == Perturbation::kMasked) {
      const float original = results[job.image].probabilities[m.class_index];
      m.metrics.masked_probability = p;
      m.metrics.average_drop = std::max(0.0f, original - p) / (original + 1e-7f);
      m.metrics.increase = original < p;
    }
  }
  auto area = [&](const std::vector<double>& curve) {
    double sum = 0;
    for (int k = 0; k + 1 < points; ++k)
      sum += (static_cast<double>(counts[k + 1]) - counts[k]) / pixels * (curve[k] + curve[k + 1]) / 2;
    return sum;
  };
  for (size_t i = 0; i < results.size(); ++i)
    for (size_t j = 0; j < results[i].maps.size(); ++j) {
      MapMetrics& metrics = results[i].maps[j].metrics;
      metrics.measured = true;
      metrics.deletion = area(deletion[i][j]);
      metrics.insertion = area(insertion[i][j]);
    }
}

}  // namespace cam
