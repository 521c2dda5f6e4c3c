#include "report.h"

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <map>

namespace cam {
namespace {

std::string escape_html(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '<')
      out += "&lt;";
    else if (c == '>')
      out += "&gt;";
    else if (c == '&')
      out += "&amp;";
    else if (c == '"')
      out += "&quot;";
    else
      out += c;
  }
  return out;
}

std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

std::string percent(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f%%", 100.0 * v);
  return buf;
}

std::string predicted(const nlohmann::json& r) {
  return r["top"].empty() ? "" : r["top"][0]["label"].get<std::string>();
}
bool has_truth(const nlohmann::json& r) {
  return r.contains("truth") && !r["truth"].get<std::string>().empty();
}
bool correct(const nlohmann::json& r) {
  return has_truth(r) && r["truth"].get<std::string>() == predicted(r);
}

}  // namespace

std::vector<nlohmann::json> read_jsonl(const std::string& path) {
  std::vector<nlohmann::json> records;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    nlohmann::json j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_object() && j.contains("path")) records.push_back(std::move(j));
  }
  return records;
}

std::string render_predictions_csv(const std::vector<nlohmann::json>& records) {
  std::string out = "path,truth,class,label,probability,correct,error\n";
  for (const nlohmann::json& r : records) {
    out += csv_field(r["path"].get<std::string>()) + "," +
           csv_field(has_truth(r) ? r["truth"].get<std::string>() : "") + ",";
    if (r.contains("error")) {
      out += ",,,," + csv_field(r["error"].get<std::string>()) + "\n";
      continue;
    }
    const nlohmann::json& top = r["top"][0];
    char prob[32];
    std::snprintf(prob, sizeof prob, "%.6f", top["probability"].get<double>());
    out += std::to_string(top["class"].get<int>()) + "," + csv_field(top["label"].get<std::string>()) + "," +
           prob + "," + (has_truth(r) ? (correct(r) ? "1" : "0") : "") + ",\n";
  }
  return out;
}

std::string render_report_html(const std::vector<nlohmann::json>& records) {
  std::vector<const nlohmann::json*> ok;
  int failed = 0, judged = 0, right = 0;
  std::map<std::string, std::pair<int, int>> per_class;  // truth -> (correct, total)
  for (const nlohmann::json& r : records) {
    if (r.contains("error")) {
      ++failed;
      continue;
    }
    ok.push_back(&r);
    if (has_truth(r)) {
      ++judged;
      right += correct(r);
      auto& c = per_class[r["truth"].get<std::string>()];
      c.first += correct(r), ++c.second;
    }
  }
  std::stable_sort(ok.begin(), ok.end(), [](const nlohmann::json* a, const nlohmann::json* b) {
    return has_truth(*a) && !correct(*a) && !(has_truth(*b) && !correct(*b));
  });
  std::string h =
      "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>cam_engine report</title><style>"
      "body{font-family:sans-serif;margin:1em}.card{display:inline-block;vertical-align:top;width:180px;"
      "margin:4px;"
      "padding:4px;border:1px solid #ccc;font-size:12px}.card "
      "img{width:100%}.wrong{border-color:#d00;background:#fee}"
      "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:2px 6px}</style></head><body>\n"
      "<h1>cam_engine report</h1>\n<p>" +
      std::to_string(records.size()) + " images, " + std::to_string(failed) + " failed";
  if (judged)
    h += "; top-1 accuracy " + percent(static_cast<double>(right) / judged) + " (" + std::to_string(right) +
         "/" + std::to_string(judged) + ")";
  h += "</p>\n";
  if (!per_class.empty()) {
    h += "<details><summary>Per-class "
         "accuracy</summary><table><tr><th>class</th><th>accuracy</th><th>images</th></tr>\n";
    for (const auto& kv : per_class)
      h += "<tr><td>" + escape_html(kv.first) + "</td><td>" +
           percent(static_cast<double>(kv.second.first) / kv.second.second) + "</td><td>" +
           std::to_string(kv.second.second) + "</td></tr>\n";
    h += "</table></details>\n";
  }
  for (const nlohmann::json* r : ok) {
    bool wrong = has_truth(*r) && !correct(*r);
    h += std::string("<div class=\"card") + (wrong ? " wrong" : "") + "\">";
    if (!(*r)["maps"].empty() && (*r)["maps"][0].contains("file"))
      h += "<img loading=\"lazy\" src=\"" + escape_html((*r)["maps"][0]["file"].get<std::string>()) + "\">";
    h += "<div>" + escape_html((*r)["path"].get<std::string>()) + "</div>";
    if (has_truth(*r)) h += "<div>truth: " + escape_html((*r)["truth"].get<std::string>()) + "</div>";
    for (const nlohmann::json& t : (*r)["top"])
      h += "<div>" + escape_html(t["label"].get<std::string>()) + " " +
           percent(t["probability"].get<double>()) + "</div>";
    h += "</div>\n";
  }
  return h + "</body></html>\n";
}

}  // namespace cam
