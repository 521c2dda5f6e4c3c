// Summaries of a run from its predictions.jsonl records: the HTML report (one offline file: run details,
// accuracy, confusion matrix, per-class table, misclassified first by confidence, filters by class and
// "wrong only", the true-class map beside the predicted one, failed images) and the CSV table.
#pragma once
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace cam {

// The localisation scores (object_mask.h) of top-1 maps over a set of records: the pointing game (share of
// maps whose peak is on the object), mean energy-in-mask, and the mean object area (the pointing game a
// uniformly random point would score). Records without scores or with an empty top-1 map are not counted.
// Only the maps of `method` count; empty: each record's first method.
struct LocalizationTally {
  std::string method;
  int maps = 0, hits = 0;
  double energy = 0, area = 0;  // sums
  void add(const nlohmann::json& record);
  double pointing() const { return maps ? static_cast<double>(hits) / maps : 0; }
  std::string describe() const;  // one line
};

// A LocalizationTally per method of the records' scored top-1 maps, in the order first seen.
struct LocalizationPerMethod {
  std::vector<LocalizationTally> methods;
  void add(const nlohmann::json& record);
  // "Top-1 maps against the object mask: ..." (the text's start as given), with each method's name in
  // parentheses after "maps" when there are several: one line per method.
  std::vector<std::string> describe(const std::string& start) const;
};

// The faithfulness metrics (faithfulness.h) of the top-1 maps, per method in the order first seen: mean
// insertion and deletion AUC, Average Drop, and the Increase in Confidence (share of maps whose masked input
// raised the probability). Maps without metrics are not counted.
struct FaithfulnessTally {
  struct Sums {
    int maps = 0, increases = 0;
    double insertion = 0, deletion = 0, drop = 0;
  };
  std::vector<std::pair<std::string, Sums>> methods;
  void add(const nlohmann::json& record);
  std::vector<std::string> describe() const;  // one line per method
};

// `run`: details shown at the top (a flat object: model, backend, precision, options, date, speed, ...);
// `out_dir`: the folder the report is written to, so links to the original images are relative to it.
std::string render_report_html(const std::vector<nlohmann::json>& records, const nlohmann::json& run = {},
                               const std::string& out_dir = ".");
std::string render_predictions_csv(const std::vector<nlohmann::json>& records);

// Reads a predictions.jsonl, keeping only complete JSON object lines (a line cut by an interruption is
// dropped).
std::vector<nlohmann::json> read_jsonl(const std::string& path);

}  // namespace cam
