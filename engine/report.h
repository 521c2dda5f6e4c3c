// Summaries of a run from its predictions.jsonl records: the HTML gallery (misclassified first, accuracy and
// per-class accuracy when ground truth is known) and the CSV table.
#pragma once
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace cam {

std::string render_report_html(const std::vector<nlohmann::json>& records);
std::string render_predictions_csv(const std::vector<nlohmann::json>& records);

// Reads a predictions.jsonl, keeping only complete JSON object lines (a line cut by an interruption is
// dropped).
std::vector<nlohmann::json> read_jsonl(const std::string& path);

}  // namespace cam
