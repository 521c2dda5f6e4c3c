// Summaries of a run from its predictions.jsonl records: the HTML report (one offline file: run details,
// accuracy, confusion matrix, per-class table, misclassified first by confidence, filters by class and
// "wrong only", the true-class map beside the predicted one, failed images) and the CSV table.
#pragma once
#include <cstdint>
#include <functional>
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

// The faithfulness metrics (engine/methods/faithfulness.h) of the top-1 maps, per method in the order first
// seen: mean insertion and deletion AUC, Average Drop, and the Increase in Confidence (share of maps whose
// masked input raised the probability). Maps without metrics are not counted.
struct FaithfulnessTally {
  struct Sums {
    int maps = 0, increases = 0;
    double insertion = 0, deletion = 0, drop = 0;
  };
  std::vector<std::pair<std::string, Sums>> methods;
  void add(const nlohmann::json& record);
  std::vector<std::string> describe() const;  // one line per method
};

// A run's records, read as often as a summary needs: every record in order with its position, and one record
// by its position. A JSONL file is streamed, so a summary's memory does not grow with the run.
class Records {
 public:
  virtual ~Records() = default;
  virtual void each(const std::function<void(const nlohmann::json&, uint64_t position)>& visit) const = 0;
  virtual nlohmann::json at(uint64_t position) const = 0;
};

// The complete JSON object lines of a predictions.jsonl (a line cut by an interruption is skipped); a
// position is a line's byte offset.
class JsonlRecords final : public Records {
 public:
  explicit JsonlRecords(std::string path) : path_(std::move(path)) {}
  void each(const std::function<void(const nlohmann::json&, uint64_t)>& visit) const override;
  nlohmann::json at(uint64_t position) const override;

 private:
  std::string path_;
};

// Records in memory; a position is an index.
class RecordList final : public Records {
 public:
  explicit RecordList(const std::vector<nlohmann::json>& records) : records_(records) {}
  void each(const std::function<void(const nlohmann::json&, uint64_t)>& visit) const override;
  nlohmann::json at(uint64_t position) const override { return records_.at(position); }

 private:
  const std::vector<nlohmann::json>& records_;
};

// The report's gallery holds at most this many cards (the most confident errors first, then the other images
// in input order) and its table of failed images this many rows, so that the page stays usable and its
// size bounded at a million images; the counts above them cover every record.
constexpr size_t kReportGalleryCards = 10000;

// `run`: details shown at the top (a flat object: model, backend, precision, options, date, speed, ...);
// `out_dir`: the folder the report is written to, so links to the original images are relative to it.
std::string render_report_html(const Records& records, const nlohmann::json& run = {},
                               const std::string& out_dir = ".", size_t gallery_cards = kReportGalleryCards);
std::string render_report_html(const std::vector<nlohmann::json>& records, const nlohmann::json& run = {},
                               const std::string& out_dir = ".");
// The CSV table, one line per record, written to `path` as it is read.
void write_predictions_csv(const Records& records, const std::string& path);
std::string render_predictions_csv(const std::vector<nlohmann::json>& records);

// OUT/predictions.csv (csv) and OUT/index.html (report) from OUT/predictions.jsonl, as a run, a merge and
// a Ray run (examples/ray_cam.py) write them: the report's run details are `details` (run.json's) with the
// date added and "this run" set to `this_run`.
void write_run_summaries(const std::string& out, nlohmann::json details, const std::string& this_run,
                         bool csv, bool report);

// Reads a predictions.jsonl, keeping only complete JSON object lines (a line cut by an interruption is
// dropped).
std::vector<nlohmann::json> read_jsonl(const std::string& path);

}  // namespace cam
