// ConvPlanner's tuning record: the conv algorithm (cudnnFind) and fusion choice per shape, as JSON, so a
// later run can repeat exactly the kernels of an earlier one instead of measuring again (timing noise can
// change a choice, and with it the last bits of the outputs).
//   {"format": "cam_engine tuning 3", "for": "<device, versions, precision>",
//    "algorithms": [[n, cin, h, w, cout, k, stride, dilation, groups, algo, workspace], ...],
//    "fusion": [[n, cin, h, w, cout, k, stride, dilation, groups, residual, relu, fused], ...],
//    "graph": [[n, cin, h, w, cout, k, stride, dilation, groups, residual, relu, heuristics config], ...]}
// (Formats 1 and 2, before dilated and grouped convolutions, lacked those columns; such records are refused
// as not a record.) "graph" (--conv-fusion graph) is optional when reading.
#include <nlohmann/json.hpp>

#include "engine/base/error.h"
#include "engine/cuda/conv_planner.cuh"

namespace cam {
namespace cuda_detail {

namespace {
constexpr const char* kFormat = "cam_engine tuning 3";
}

std::string ConvPlanner::tuning() const {
  nlohmann::json algorithms = nlohmann::json::array(), fusion = nlohmann::json::array(),
                 graph = nlohmann::json::array();
  for (const auto& [key, choice] : algo_cache_) {
    const auto& [n, cin, h, w, cout, k, stride, dilation, groups] = key;
    algorithms.push_back(
        {n, cin, h, w, cout, k, stride, dilation, groups, static_cast<int>(choice.first), choice.second});
  }
  for (const auto& [key, fused] : fusion_cache_) {
    const auto& [shape, residual, relu] = key;
    const auto& [n, cin, h, w, cout, k, stride, dilation, groups] = shape;
    fusion.push_back(
        {n, cin, h, w, cout, k, stride, dilation, groups, residual ? 1 : 0, relu ? 1 : 0, fused ? 1 : 0});
  }
  decltype(graph_config_) configs = graph_config_;  // as read, then as built
  for (const auto& [key, built] : graph_convs_)
    if (built) configs[key] = built->config();
  for (const auto& [key, config] : configs) {
    const auto& [shape, residual, relu] = key;
    const auto& [n, cin, h, w, cout, k, stride, dilation, groups] = shape;
    graph.push_back(
        {n, cin, h, w, cout, k, stride, dilation, groups, residual ? 1 : 0, relu ? 1 : 0, config});
  }
  return nlohmann::json({{"format", kFormat},
                         {"for", tuned_for_},
                         {"algorithms", algorithms},
                         {"fusion", fusion},
                         {"graph", graph}})
             .dump(1) +
         "\n";
}

void ConvPlanner::set_tuning(const std::string& text) {
  nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object() || j.value("format", "") != kFormat || !j.contains("for") ||
      !j["for"].is_string() || !j.contains("algorithms") || !j["algorithms"].is_array() ||
      !j.contains("fusion") || !j["fusion"].is_array() || (j.contains("graph") && !j["graph"].is_array()))
    throw Error(std::string("not a tuning record (expected JSON with \"format\": \"") + kFormat +
                "\", \"for\", \"algorithms\" and \"fusion\")");
  if (j["for"] != tuned_for_)
    throw Error("the tuning record was made for '" + j["for"].get<std::string>() + "', this run is '" +
                tuned_for_ + "'; use another file or delete it");
  auto ints = [](const nlohmann::json& row, size_t count) {
    if (!row.is_array() || row.size() != count)
      throw Error("a tuning row has the wrong length: " + row.dump());
    std::vector<int64_t> v;
    for (const nlohmann::json& x : row) {
      if (!x.is_number_integer() || x.get<int64_t>() < 0)
        throw Error("a tuning row holds a bad value: " + row.dump());
      v.push_back(x.get<int64_t>());
    }
    return v;
  };
  decltype(algo_cache_) algorithms;
  decltype(fusion_cache_) fusion;
  decltype(graph_config_) graph;
  auto shape = [](const std::vector<int64_t>& v) {
    return std::make_tuple(int(v[0]), int(v[1]), int(v[2]), int(v[3]), int(v[4]), int(v[5]), int(v[6]),
                           int(v[7]), int(v[8]));
  };
  for (const nlohmann::json& row : j["algorithms"]) {
    std::vector<int64_t> v = ints(row, 11);
    if (v[9] >= CUDNN_CONVOLUTION_FWD_ALGO_COUNT)
      throw Error("a tuning row names no cuDNN algorithm: " + row.dump());
    algorithms[shape(v)] =
        std::make_pair(static_cast<cudnnConvolutionFwdAlgo_t>(v[9]), static_cast<size_t>(v[10]));
  }
  for (const nlohmann::json& row : j["fusion"]) {
    std::vector<int64_t> v = ints(row, 12);
    fusion[std::make_tuple(shape(v), v[9] != 0, v[10] != 0)] = v[11] != 0;
  }
  for (const nlohmann::json& row : j.value("graph", nlohmann::json::array())) {
    std::vector<int64_t> v = ints(row, 12);
    graph[std::make_tuple(shape(v), v[9] != 0, v[10] != 0)] = static_cast<int>(v[11]);
  }
  if (planned_) throw Error("a tuning record must be given before the first batch");
  algo_cache_ = std::move(algorithms);
  fusion_cache_ = std::move(fusion);
  graph_config_ = std::move(graph);
}

}  // namespace cuda_detail
}  // namespace cam
