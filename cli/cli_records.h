// The JSONL record helpers of the CLI: names are bytes and JSON is UTF-8, so a path that is not valid UTF-8
// is written readable in "path" (its stray bytes as %XX) and exactly in "path_bytes" (every byte outside
// printable ASCII, and '%', as %XX).
#pragma once
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "inputs.h"

namespace cam {

nlohmann::json path_record(const std::string& path);
// The key --resume matches records and inputs by: the path, or its exact bytes where it needed escaping.
std::string path_key(const std::string& path);
std::string record_key(const nlohmann::json& record);
// {"path", "name", "error"} for an image that failed.
nlohmann::json error_record(const InputItem& item, const std::string& error);
// The files a record names (its maps' overlays, the .npy and the panel), relative to the output folder.
std::vector<std::string> record_files(const nlohmann::json& record);
// One JSONL line; invalid UTF-8 that reached a string (a label, a message) becomes U+FFFD instead of
// throwing.
std::string json_line(const nlohmann::json& record);

}  // namespace cam
