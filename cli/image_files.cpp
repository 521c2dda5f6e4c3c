// The files of one image and its record (image_files.h), for the CLI and Engine.map(out=...).
#include "cli/image_files.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>

#include "cli/cli_options.h"
#include "cli/cli_records.h"
#include "cli/outputs.h"
#include "engine/base/error.h"
#include "engine/io/atomic_file.h"
#include "engine/io/image_io.h"
#include "engine/ops/image_ops.h"

namespace fs = std::filesystem;

namespace cam {

ImageFiles::ImageFiles(Engine& engine, MapOptions& maps, const MaskSource& masks, const FileOptions& options)
    : engine_(engine), maps_(maps), masks_(masks), o_(options) {
  for (int k = 0; k < engine.model().num_classes; ++k) label_index_.emplace(engine.label(k), k);
  const Preprocess& pre = engine.model().preprocess;
  if (o_.out_size == "input") {
    out_w_ = pre.width, out_h_ = pre.height;
  } else if (o_.out_size != "original" && !parse_size(o_.out_size, 1, 16384, out_w_, out_h_)) {
    throw Error("out_size: '" + o_.out_size + "' is not original, input, WxH or N (1..16384)");
  }
  if (o_.format == "jpeg") o_.format = "jpg";
  if (o_.format != "png" && o_.format != "jpg")
    throw Error("format: '" + o_.format + "' is neither png nor jpg");
  maps.overlays = out_w_ == 0;
}

void ImageFiles::add_truth_maps(const std::vector<const InputItem*>& items,
                                const std::vector<const Image*>& images, std::vector<ImageResult>& results) {
  if (!o_.truth_maps) return;
  std::map<int, std::vector<size_t>> by_truth;  // true class -> positions in `results`
  for (size_t g = 0; g < items.size(); ++g) {
    auto known = label_index_.find(items[g]->truth);
    if (known == label_index_.end() || results[g].top.empty() || results[g].top[0] == known->second) continue;
    bool mapped = false;
    for (int j = 0; j < maps_.topk; ++j) mapped = mapped || results[g].top[j] == known->second;
    if (!mapped) by_truth[known->second].push_back(g);
  }
  for (const auto& [truth, positions] : by_truth) {
    MapOptions one = maps_;
    one.topk = 0, one.classes = {truth};
    std::vector<const Image*> subset;
    for (size_t g : positions) subset.push_back(images[g]);
    std::vector<ImageResult> extra = engine_.run(subset, one);
    for (size_t j = 0; j < positions.size(); ++j)
      for (ClassMap& m : extra[j].maps) results[positions[j]].maps.push_back(std::move(m));
  }
}

nlohmann::json ImageFiles::write(const InputItem& item, const Image& image, const ImageResult& result) {
  nlohmann::json r;
  std::vector<std::string> written;
  auto save_image = [&](const std::string& file, const Image& picture) {
    write_image(file, picture);
    written.push_back(file);
  };
  try {
    r = item_record(engine_, maps_, item, image, result, masks_, o_.pointing_tolerance);
    fs::path base = fs::path(o_.out) / item.output;
    std::error_code ec;
    fs::create_directories(base.parent_path(), ec);
    const Preprocess& pre = engine_.model().preprocess;
    Image resized;
    if (out_w_) resized = resize_image(image, out_w_, out_h_);
    std::vector<Image> blended(result.maps.size());
    std::vector<const Image*> overlays;
    std::vector<std::string> captions = {item.truth.empty() ? "input" : "truth: " + item.truth};
    for (size_t j = 0; j < result.maps.size(); ++j) {
      const ClassMap& m = result.maps[j];
      nlohmann::json& entry = r["maps"][j];
      const std::string kind = entry["kind"], method = entry["method"];
      const Image* overlay = &m.overlay;
      if (out_w_) {
        blended[j] =
            overlay_map(m.map.data(), pre.height, pre.width, resized,
                        input_region(pre, resized.height, resized.width), maps_.image_weight, maps_.colormap);
        overlay = &blended[j];
      }
      std::string file =
          item.output + "." + (m.method == CamMethod::kCam ? "" : method + ".") + kind + "." + o_.format;
      save_image((fs::path(o_.out) / file).string(), *overlay);
      entry["file"] = file;
      overlays.push_back(overlay);
      char prob[32];
      std::snprintf(prob, sizeof prob, " %.1f%%", 100.0 * m.probability);
      const bool named = maps_.methods.size() > 1 || m.method != CamMethod::kCam;
      captions.push_back((named ? method + ": " : "") + engine_.label(m.class_index) + prob +
                         (kind == "truth" ? " (true class)" : ""));
    }
    const size_t fixed_maps = (maps_.topk + maps_.classes.size()) * maps_.methods.size();  // every image's
    if (o_.raw && fixed_maps) {
      std::vector<float> stacked;
      for (size_t j = 0; j < fixed_maps; ++j)
        stacked.insert(stacked.end(), result.maps[j].map.begin(), result.maps[j].map.end());
      write_npy(base.string() + ".npy", stacked.data(),
                {static_cast<int>(fixed_maps), pre.height, pre.width});
      written.push_back(base.string() + ".npy");
      r["raw"] = item.output + ".npy";
    }
    if (o_.panel) {
      const Image& first = out_w_ ? resized : image;
      int tile = std::max(160, std::min(320, first.height));
      save_image(base.string() + ".panel." + o_.format, make_panel(first, overlays, captions, tile));
      r["panel"] = item.output + ".panel." + o_.format;
    }
  } catch (const Error& e) {
    const bool full = dynamic_cast<const OutputFullError*>(&e) != nullptr;
    if (full) output_full_ = true;
    for (const std::string& file : written) std::remove(file.c_str());
    r = error_record(item, e.what());
    if (full)
      r["retry"] = true;  // not a property of the image: said, but not recorded, so --resume redoes it
  }
  return r;
}

}  // namespace cam
