// The JSONL record helpers of the CLI: names are bytes and JSON is UTF-8, so a path that is not valid UTF-8
// is written readable in "path" (its stray bytes as %XX) and exactly in "path_bytes" (every byte outside
// printable ASCII, and '%', as %XX).
#pragma once
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cli/inputs.h"
#include "cli/object_mask.h"
#include "engine/engine.h"

namespace cam {

nlohmann::json path_record(const std::string& path);
// The key --resume matches records and inputs by: the path, or its exact bytes where it needed escaping.
std::string path_key(const std::string& path);
std::string record_key(const nlohmann::json& record);
// {"path", "name", "error"} for an image that failed.
nlohmann::json error_record(const InputItem& item, const std::string& error);
// The files a record names (its maps' overlays, the .npy and the panel), relative to the output folder.
std::vector<std::string> record_files(const nlohmann::json& record);
// The file-name part of map j of an image's result (ImageResult::maps): top1..topK (zero-padded to K's
// width), class-LABEL (the label made file-safe), or truth. Each method's maps follow the previous method's;
// maps after those (the true-class maps the CLI adds, one per method) are "truth".
std::string map_kind(const Engine& engine, const MapOptions& maps, size_t j, int class_index);
// The fields of an image's record that come from its result, as predictions.jsonl has them and the Python
// package returns them: "width", "height", "top" ({class, label, probability} by rank), and per map "class",
// "label", "probability", "kind", "method", "peak" and "box" in original-image pixels (localize(); null, with
// "empty": true, for an all-zero map), "metrics" when measured; when `masks` is enabled, the image's object
// mask (MaskSource::mask_for(path, name, image)) gives "object_area" and per map "pointing", "peak_distance"
// and "energy_in_mask" (null for an empty map), or "object_mask_error" when the image has none.
nlohmann::json result_record(const Engine& engine, const MapOptions& maps, const Image& image,
                             const ImageResult& result, const MaskSource& masks, const std::string& path,
                             const std::string& name, double pointing_tolerance);
// An image's whole record but the files it names: path_record's fields, "name" (the item's output name),
// "truth" with "truth_unknown": true when the model has no such label, and result_record's fields. What the
// CLI writes (cli/image_files.h adds the files) and Engine.map yields.
nlohmann::json item_record(const Engine& engine, const MapOptions& maps, const InputItem& item,
                           const Image& image, const ImageResult& result, const MaskSource& masks,
                           double pointing_tolerance);
// One JSONL line; invalid UTF-8 that reached a string (a label, a message) becomes U+FFFD instead of
// throwing.
std::string json_line(const nlohmann::json& record);

}  // namespace cam
