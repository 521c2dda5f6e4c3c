#include "cli_records.h"

#include "inputs.h"

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
