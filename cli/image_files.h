// The files one image's run writes under an output folder (an overlay per map, the .npy with --raw, the
// captioned panel with --panel) and its JSONL record naming them: what the CLI writes per image, and Python's
// Engine.map(out=...) through the same code. Overlays at another size than the original's (--out-size) are
// blended here; at the original size the engine blends them (MapOptions::overlays).
#pragma once
#include <atomic>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cli/inputs.h"
#include "cli/object_mask.h"
#include "engine/engine.h"

namespace cam {

struct FileOptions {
  std::string out;                    // the output folder
  std::string format = "png";         // of overlays and panels: png | jpg
  std::string out_size = "original";  // overlay size: original | input | WxH | N (validated by the caller)
  bool raw = false, panel = false;
  bool truth_maps = false;  // a misclassified image's true-class map (the report's and the panel's)
  double pointing_tolerance = 0;
};

class ImageFiles {
 public:
  // Sets maps.overlays: the engine blends only at the original size.
  ImageFiles(Engine& engine, MapOptions& maps, const MaskSource& masks, const FileOptions& options);

  // Overlay size in pixels; 0 x 0 for the original's.
  int out_w() const { return out_w_; }
  int out_h() const { return out_h_; }
  // Set once a write found the output full: the run should stop (and be resumed).
  bool output_full() const { return output_full_; }

  // With truth_maps, for a misclassified image whose true class has no map among the top-k, a map of the
  // true class (kind "truth") after the others. One engine call per distinct true class in the batch.
  void add_truth_maps(const std::vector<const InputItem*>& items, const std::vector<const Image*>& images,
                      std::vector<ImageResult>& results);
  // Writes one image's files and returns its record. When a write fails, the files already written for this
  // image are removed and the record is an error record (with "retry" when the output is full).
  nlohmann::json write(const InputItem& item, const Image& image, const ImageResult& result);

 private:
  Engine& engine_;
  const MapOptions& maps_;
  const MaskSource& masks_;
  FileOptions o_;
  std::map<std::string, int> label_index_;  // label -> class index
  int out_w_ = 0, out_h_ = 0;
  std::atomic<bool> output_full_{false};
};

}  // namespace cam
