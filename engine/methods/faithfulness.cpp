// Deletion / insertion AUC and Average Drop / Increase in Confidence of every map
// (engine/methods/faithfulness.h): all the perturbed inputs of a batch as one list of jobs through the
// backend (Backend::perturbed_logits).
#include "engine/methods/faithfulness.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "engine/ops/cpu_ops.h"
#include "kernels/cam_methods_math.h"

namespace cam {

void perturbed_input(const PerturbedJobs& p, const PerturbedJob& job, float* out) {
  const size_t pixels = static_cast<size_t>(p.h) * p.w;
  const float* x = p.inputs + job.image * pixels * 3;
  const float* map = p.maps + job.map * pixels;
  const int* rank = p.ranks + job.map * pixels;
  for (size_t q = 0; q < pixels; ++q) {
    const float keep = perturbation_keep(job.kind, rank[q], job.count, map[q]);
    for (int ch = 0; ch < 3; ++ch) out[q * 3 + ch] = perturbed_value(job.kind, x[q * 3 + ch], keep);
  }
}

namespace {

// A perturbed forward and where its probability goes: map `map` of image `image` (results[image].maps[map]),
// point `point` of its curve.
struct Job {
  int kind;
  int image = 0, map = 0;
  int point = 0;
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
  // Every map and its ranks, one after another: rank[p] is the position of pixel p in the map's order,
  // highest value first, ties to the lower index.
  PerturbedJobs perturbed;
  std::vector<float> maps;
  std::vector<int> ranks;
  std::vector<Job> jobs = {{kPerturbBaseline}};
  perturbed.jobs = {{kPerturbBaseline}};
  for (size_t i = 0; i < results.size(); ++i)
    for (size_t j = 0; j < results[i].maps.size(); ++j) {
      const std::vector<float>& map = results[i].maps[j].map;
      std::vector<int> order(pixels), rank(pixels);
      std::iota(order.begin(), order.end(), 0);
      std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return map[a] > map[b]; });
      for (int r = 0; r < pixels; ++r) rank[order[r]] = r;
      const int image = static_cast<int>(i), m = static_cast<int>(j), flat = perturbed.maps_count++;
      maps.insert(maps.end(), map.begin(), map.end());
      ranks.insert(ranks.end(), rank.begin(), rank.end());
      for (int point = 1; point + 1 < points; ++point)
        for (int kind : {kPerturbDeletion, kPerturbInsertion}) {
          jobs.push_back({kind, image, m, point});
          perturbed.jobs.push_back({kind, image, flat, counts[point]});
        }
      jobs.push_back({kPerturbMasked, image, m});
      perturbed.jobs.push_back({kPerturbMasked, image, flat, 0});
    }
  perturbed.inputs = input, perturbed.maps = maps.data(), perturbed.ranks = ranks.data();
  perturbed.n = static_cast<int>(results.size()), perturbed.h = h, perturbed.w = w,
  perturbed.classes = classes;
  perturbed.batch = options.perturbed_batch;
  // The probability of each job's map class; for the all-baseline job, of every class.
  std::vector<float> baseline(classes), job_probability(jobs.size()), row(classes);
  backend.perturbed_logits(perturbed, [&](int index, const float* logits) {
    softmax_cpu(logits, 1, classes, row.data());
    const Job& job = jobs[index];
    if (job.kind == kPerturbBaseline)
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
    if (job.kind == kPerturbDeletion) deletion[job.image][job.map][job.point] = p;
    if (job.kind == kPerturbInsertion) insertion[job.image][job.map][job.point] = p;
    if (job.kind == kPerturbMasked) {
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
