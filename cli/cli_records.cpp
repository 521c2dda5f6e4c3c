#include "cli/cli_records.h"

#include <algorithm>
#include <cctype>

#include "cli/inputs.h"
#include "cli/outputs.h"
#include "engine/base/error.h"

namespace cam {

nlohmann::json path_record(const std::string& path) {
  if (is_valid_utf8(path)) return {{"path", path}};
  return {{"path", percent_escape(path, false)}, {"path_bytes", percent_escape(path, true)}};
}

std::string path_key(const std::string& path) {
  return is_valid_utf8(path) ? path : "bytes:" + percent_escape(path, true);
}
std::string record_key(const nlohmann::json& r) {
  return r.contains("path_bytes") ? "bytes:" + r["path_bytes"].get<std::string>()
                                  : r["path"].get<std::string>();
}

nlohmann::json error_record(const InputItem& item, const std::string& error) {
  nlohmann::json r = path_record(item.path);
  r["name"] = item.output;
  r["error"] = percent_escape(error, false);
  return r;
}

namespace {

std::string safe_name(const std::string& label) {
  std::string s;
  for (char c : label)
    s += (std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.') ? c : '_';
  return s;
}

}  // namespace

std::string map_kind(const Engine& engine, const MapOptions& maps, size_t j, int class_index) {
  const size_t k = static_cast<size_t>(maps.topk), per_method = k + maps.classes.size();
  if (j >= per_method * maps.methods.size()) return "truth";
  j %= per_method;
  if (j < k) {
    std::string n = std::to_string(j + 1);
    return "top" + std::string(std::to_string(k).size() - n.size(), '0') + n;
  }
  return "class-" + safe_name(engine.label(class_index));
}

nlohmann::json item_record(const Engine& engine, const MapOptions& maps, const InputItem& item,
                           const Image& image, const ImageResult& result, const MaskSource& masks,
                           double pointing_tolerance) {
  nlohmann::json r = path_record(item.path);
  r["name"] = item.output;
  if (!item.truth.empty()) {
    r["truth"] = percent_escape(item.truth, false);
    const std::vector<std::string>& labels = engine.model().labels;
    if (std::find(labels.begin(), labels.end(), item.truth) == labels.end()) r["truth_unknown"] = true;
  }
  r.update(result_record(engine, maps, image, result, masks, item.path, item.output, pointing_tolerance));
  return r;
}

nlohmann::json result_record(const Engine& engine, const MapOptions& maps, const Image& image,
                             const ImageResult& result, const MaskSource& masks, const std::string& path,
                             const std::string& name, double pointing_tolerance) {
  nlohmann::json r;
  ObjectMask object;
  if (masks.enabled()) {
    try {
      object = masks.mask_for(path, name, image);
      r["object_area"] = object.area();
    } catch (const Error& e) {
      r["object_mask_error"] = e.what();
    }
  }
  r["width"] = image.width, r["height"] = image.height;
  r["top"] = nlohmann::json::array();
  for (int c : result.top)
    r["top"].push_back({{"class", c}, {"label", engine.label(c)}, {"probability", result.probabilities[c]}});
  const Preprocess& pre = engine.model().preprocess;
  const MapRegion region = input_region(pre, image.height, image.width);
  if (pre.resize_shorter)  // the maps cover the centre crop: its part of the photo
    r["map_region"] = {region.x0, region.y0, region.x0 + region.width - 1, region.y0 + region.height - 1};
  r["maps"] = nlohmann::json::array();
  for (size_t j = 0; j < result.maps.size(); ++j) {
    const ClassMap& m = result.maps[j];
    const Localization loc = localize(m.map.data(), pre.height, pre.width, region);
    nlohmann::json entry = {{"class", m.class_index},
                            {"label", engine.label(m.class_index)},
                            {"probability", m.probability},
                            {"kind", map_kind(engine, maps, j, m.class_index)},
                            {"method", name_of(m.method)},
                            {"peak", nullptr},
                            {"box", nullptr}};
    if (loc.empty)
      entry["empty"] = true;
    else
      entry["peak"] = {loc.peak_x, loc.peak_y},
      entry["box"] = {loc.box_x0, loc.box_y0, loc.box_x1, loc.box_y1};
    if (m.metrics.measured)
      entry["metrics"] = {{"insertion", m.metrics.insertion},
                          {"deletion", m.metrics.deletion},
                          {"average_drop", m.metrics.average_drop},
                          {"increase", m.metrics.increase},
                          {"masked_probability", m.metrics.masked_probability}};
    if (!object.inside.empty()) {
      const MaskScore score =
          score_map(m.map.data(), pre.height, pre.width, region, loc, object, pointing_tolerance);
      const auto defined = [&](const nlohmann::json& value) {
        return score.empty_map ? nlohmann::json() : value;
      };
      entry["pointing"] = defined(score.peak_inside);
      entry["peak_distance"] = defined(score.peak_distance);
      entry["energy_in_mask"] = defined(score.energy);
    }
    r["maps"].push_back(std::move(entry));
  }
  return r;
}

std::string json_line(const nlohmann::json& r) {
  return r.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

std::vector<std::string> record_files(const nlohmann::json& record) {
  std::vector<std::string> files;
  if (record.contains("maps"))
    for (const nlohmann::json& m : record["maps"])
      if (m.contains("file")) files.push_back(m["file"]);
  for (const char* key : {"raw", "panel"})
    if (record.contains(key)) files.push_back(record[key]);
  return files;
}

}  // namespace cam
