#include "cli/report.h"

#include "cli/outputs.h"
#include "engine/io/atomic_file.h"

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <filesystem>
#include <map>
#include <set>

namespace fs = std::filesystem;

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
// A true class the model knows (records of ground truth it has no label for say "truth_unknown").
bool judgeable(const nlohmann::json& r) {
  return has_truth(r) && !r.value("truth_unknown", false);
}
bool correct(const nlohmann::json& r) {
  return judgeable(r) && r["truth"].get<std::string>() == predicted(r);
}

std::string fixed(double v, int digits) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.*f", digits, v);
  return buf;
}

}  // namespace

// The method of a map entry (records of versions before --method have none: CAM).
std::string method_of(const nlohmann::json& map) {
  return map.value("method", "cam");
}

// Whether map entry m of a record is a top-1 map with localisation scores.
bool scored_top1(const nlohmann::json& m) {
  return m.value("kind", "") == "top1" && m.contains("pointing") && !m["pointing"].is_null();
}

void LocalizationTally::add(const nlohmann::json& r) {
  if (!r.contains("maps") || !r.contains("object_area") || r["maps"].empty()) return;
  const std::string counted = method.empty() ? method_of(r["maps"][0]) : method;
  for (const nlohmann::json& m : r["maps"]) {
    if (!scored_top1(m) || method_of(m) != counted) continue;
    ++maps;
    hits += m["pointing"].get<bool>();
    energy += m["energy_in_mask"].get<double>();
    area += r["object_area"].get<double>();
  }
}

std::string LocalizationTally::describe() const {
  if (!maps) return "no scored maps";
  return "pointing game " + percent(pointing()) + " (" + std::to_string(hits) + "/" + std::to_string(maps) +
         "), energy-in-mask " + fixed(energy / maps, 3) + ", object area " + fixed(area / maps, 3) +
         " (a random point's pointing game)";
}

void LocalizationPerMethod::add(const nlohmann::json& r) {
  if (!r.contains("maps") || !r.contains("object_area")) return;
  std::vector<std::string> seen;
  for (const nlohmann::json& m : r["maps"])
    if (scored_top1(m) && std::find(seen.begin(), seen.end(), method_of(m)) == seen.end())
      seen.push_back(method_of(m));
  for (const std::string& method : seen) {
    auto it = std::find_if(methods.begin(), methods.end(),
                           [&](const LocalizationTally& t) { return t.method == method; });
    if (it == methods.end()) {
      methods.emplace_back();
      methods.back().method = method;
      it = methods.end() - 1;
    }
    it->add(r);
  }
}

std::vector<std::string> LocalizationPerMethod::describe(const std::string& start) const {
  std::vector<std::string> lines;
  const std::string maps = "maps";
  const size_t at = start.find(maps);
  for (const LocalizationTally& t : methods) {
    std::string line = start;
    if (methods.size() > 1 && at != std::string::npos) line.insert(at + maps.size(), " (" + t.method + ")");
    lines.push_back(line + ": " + t.describe());
  }
  return lines;
}

void FaithfulnessTally::add(const nlohmann::json& r) {
  if (!r.contains("maps")) return;
  for (const nlohmann::json& m : r["maps"]) {
    if (m.value("kind", "") != "top1" || !m.contains("metrics")) continue;
    const std::string method = method_of(m);
    auto it = std::find_if(methods.begin(), methods.end(), [&](const auto& e) { return e.first == method; });
    if (it == methods.end()) it = methods.insert(methods.end(), {method, Sums()});
    const nlohmann::json& x = m["metrics"];
    Sums& s = it->second;
    ++s.maps;
    s.increases += x["increase"].get<bool>();
    s.insertion += x["insertion"].get<double>();
    s.deletion += x["deletion"].get<double>();
    s.drop += x["average_drop"].get<double>();
  }
}

std::vector<std::string> FaithfulnessTally::describe() const {
  std::vector<std::string> lines;
  for (const auto& [method, s] : methods)
    lines.push_back(method + ": insertion AUC " + fixed(s.insertion / s.maps, 3) + ", deletion AUC " +
                    fixed(s.deletion / s.maps, 3) + ", Average Drop " + percent(s.drop / s.maps) +
                    ", Increase in Confidence " + percent(static_cast<double>(s.increases) / s.maps) + " (" +
                    std::to_string(s.maps) + " maps)");
  return lines;
}

void JsonlRecords::each(const std::function<void(const nlohmann::json&, uint64_t)>& visit) const {
  std::ifstream in(path_);
  std::string line;
  uint64_t position = 0;
  while (std::getline(in, line)) {
    const uint64_t start = position;
    position += line.size() + 1;
    nlohmann::json j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_object() && j.contains("path")) visit(j, start);
  }
}

nlohmann::json JsonlRecords::at(uint64_t position) const {
  std::ifstream in(path_);
  in.seekg(static_cast<std::streamoff>(position));
  std::string line;
  std::getline(in, line);
  return nlohmann::json::parse(line, nullptr, false);
}

void RecordList::each(const std::function<void(const nlohmann::json&, uint64_t)>& visit) const {
  for (size_t i = 0; i < records_.size(); ++i) visit(records_[i], i);
}

std::vector<nlohmann::json> read_jsonl(const std::string& path) {
  std::vector<nlohmann::json> records;
  JsonlRecords(path).each([&](const nlohmann::json& r, uint64_t) { records.push_back(r); });
  return records;
}

namespace {

const char* kCsvHeader = "path,truth,class,label,probability,correct,error\n";

std::string csv_row(const nlohmann::json& r) {
  std::string out = csv_field(r["path"].get<std::string>()) + "," +
                    csv_field(has_truth(r) ? r["truth"].get<std::string>() : "") + ",";
  if (r.contains("error")) return out + ",,,," + csv_field(r["error"].get<std::string>()) + "\n";
  if (r["top"].empty()) return out + ",,," + std::string(has_truth(r) ? "0" : "") + ",\n";
  const nlohmann::json& top = r["top"][0];
  char prob[32];
  std::snprintf(prob, sizeof prob, "%.6f", top["probability"].get<double>());
  return out + std::to_string(top["class"].get<int>()) + "," + csv_field(top["label"].get<std::string>()) +
         "," + prob + "," + (judgeable(r) ? (correct(r) ? "1" : "0") : "") + ",\n";
}

}  // namespace

void write_predictions_csv(const Records& records, const std::string& path) {
  AtomicFile file(path);
  std::string chunk = kCsvHeader;
  records.each([&](const nlohmann::json& r, uint64_t) {
    chunk += csv_row(r);
    if (chunk.size() < (1u << 20)) return;
    file.append(chunk);
    chunk.clear();
  });
  file.append(chunk);
  file.commit();
}

std::string render_predictions_csv(const std::vector<nlohmann::json>& records) {
  std::string out = kCsvHeader;
  for (const nlohmann::json& r : records) out += csv_row(r);
  return out;
}

namespace {

// Percent-encodes a relative URL path (RFC 3986 unreserved characters and '/' stay): names with '#', '%',
// '?' or spaces must still link to their file.
std::string url_path(const std::string& path) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : path) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~' || c == '/')
      out += static_cast<char>(c);
    else
      out += '%', out += hex[c >> 4], out += hex[c & 15];
  }
  return out;
}

std::string image_link(const std::string& file) {
  return escape_html(url_path(file));
}

// The path of an input image as seen from the report's folder.
std::string relative_to(const std::string& path, const std::string& folder) {
  std::error_code ec;
  fs::path abs = fs::absolute(path, ec).lexically_normal(),
           base = fs::absolute(folder, ec).lexically_normal();
  fs::path rel = abs.lexically_relative(base);
  return rel.empty() ? abs.string() : rel.string();
}

const nlohmann::json* map_of_kind(const nlohmann::json& r, const std::string& kind) {
  for (const nlohmann::json& m : r["maps"])
    if (m.value("kind", "") == kind && m.contains("file")) return &m;
  return nullptr;
}

double top_probability(const nlohmann::json& r) {
  return r["top"].empty() ? 0.0 : r["top"][0]["probability"].get<double>();
}

const char* kScript = R"JS(
function applyFilters() {
  var c = document.getElementById('cls').value, w = document.getElementById('wrong').checked;
  var t = document.body.dataset.truth || '', p = document.body.dataset.pred || '';
  var cards = document.querySelectorAll('.card'), shown = 0;
  for (var i = 0; i < cards.length; ++i) {
    var d = cards[i].dataset;
    var ok = (!c || d.truth === c || d.pred === c) && (!w || d.wrong === '1') &&
             (!t || d.truth === t) && (!p || d.pred === p);
    cards[i].style.display = ok ? '' : 'none';
    shown += ok;
  }
  document.getElementById('shown').textContent = shown;
  document.getElementById('pair').textContent = t ? ('truth ' + t + ', predicted ' + p + ' ') : '';
}
function showPair(t, p) {
  document.body.dataset.truth = t; document.body.dataset.pred = p;
  document.getElementById('cls').value = ''; document.getElementById('wrong').checked = false;
  applyFilters(); document.getElementById('gallery').scrollIntoView();
}
function clearPair() { document.body.dataset.truth = ''; document.body.dataset.pred = ''; applyFilters(); }
)JS";

}  // namespace

namespace {

// What the report counts over every record, in one pass, and which records its gallery shows: the
// `cards` most confident errors, then the first other images in input order, up to `cards` in all.
struct ReportTallies {
  size_t cards = 0, images = 0;
  int judged = 0, right = 0;
  size_t ok = 0, wrong = 0;
  std::vector<std::pair<std::string, std::string>> failed;  // (path, error), the first `cards`
  size_t failed_count = 0;
  std::map<std::string, std::pair<int, int>> per_class;          // truth -> (correct, total)
  std::map<std::pair<std::string, std::string>, int> confusion;  // (truth, predicted) -> images
  std::map<std::string, int> unknown_truth;                      // truth the model has no label for
  std::set<std::string> classes;                                 // every truth and prediction judged
  std::set<std::string> filter_classes;                          // every truth and prediction of an image
  LocalizationTally located;  // the first method's, as the per-class table shows
  LocalizationPerMethod located_per_method;
  FaithfulnessTally faithful;
  std::map<std::string, LocalizationTally> located_per_class;  // truth (else prediction) -> scores
  std::vector<std::pair<double, uint64_t>> errors;  // (probability, position): a heap, least sure on top
  std::vector<uint64_t> others;                     // positions of the first images not wrong

  static bool surer(const std::pair<double, uint64_t>& a, const std::pair<double, uint64_t>& b) {
    return a.first != b.first ? a.first > b.first : a.second < b.second;
  }
  void add(const nlohmann::json& r, uint64_t position);
  std::vector<uint64_t> gallery();  // positions, in the order shown
};

void ReportTallies::add(const nlohmann::json& r, uint64_t position) {
  ++images;
  if (r.contains("error")) {
    if (failed.size() < cards)
      failed.emplace_back(r["path"].get<std::string>(), r["error"].get<std::string>());
    ++failed_count;
    return;
  }
  ++ok;
  filter_classes.insert(predicted(r));
  if (has_truth(r)) filter_classes.insert(r["truth"].get<std::string>());
  located.add(r);
  located_per_method.add(r);
  faithful.add(r);
  located_per_class[judgeable(r) ? r["truth"].get<std::string>() : predicted(r)].add(r);
  if (has_truth(r) && !judgeable(r)) ++unknown_truth[r["truth"].get<std::string>()];
  const bool is_wrong = judgeable(r) && !correct(r);
  if (is_wrong) {
    ++wrong;
    errors.emplace_back(top_probability(r), position);
    std::push_heap(errors.begin(), errors.end(), surer);
    if (errors.size() > cards) {
      std::pop_heap(errors.begin(), errors.end(), surer);
      errors.pop_back();
    }
  } else if (others.size() < cards) {
    others.push_back(position);
  }
  if (!judgeable(r)) return;
  ++judged;
  right += correct(r);
  auto& c = per_class[r["truth"].get<std::string>()];
  c.first += correct(r), ++c.second;
  ++confusion[{r["truth"].get<std::string>(), predicted(r)}];
  classes.insert(r["truth"].get<std::string>());
  classes.insert(predicted(r));
}

std::vector<uint64_t> ReportTallies::gallery() {
  std::sort(errors.begin(), errors.end(), surer);
  std::vector<uint64_t> order;
  for (const auto& e : errors) order.push_back(e.second);
  for (uint64_t p : others)
    if (order.size() < cards) order.push_back(p);
  return order;
}

std::string run_section(const nlohmann::json& run) {
  if (!run.is_object() || run.empty()) return "";
  std::string h = "<details open><summary>Run</summary><table>";
  for (auto it = run.begin(); it != run.end(); ++it)
    h += "<tr><th>" + escape_html(it.key()) + "</th><td>" +
         escape_html(it->is_string() ? it->get<std::string>() : it->dump()) + "</td></tr>";
  return h + "</table></details>\n";
}

// The counts: images, failures, accuracy, unknown ground truth, localisation and faithfulness per method.
std::string totals_section(const ReportTallies& t) {
  std::string h = "<p>" + std::to_string(t.images) + (t.images == 1 ? " image, " : " images, ") +
                  std::to_string(t.failed_count) + " failed";
  if (t.judged)
    h += "; top-1 accuracy " + percent(static_cast<double>(t.right) / t.judged) + " (" +
         std::to_string(t.right) + "/" + std::to_string(t.judged) + ")";
  h += "</p>\n";
  if (!t.unknown_truth.empty()) {
    h += "<p>Left out of the accuracy, ground truth that is not a label of the model:";
    for (const auto& [truth, n] : t.unknown_truth)
      h += " " + escape_html(truth) + " (" + std::to_string(n) + ")";
    h += "</p>\n";
  }
  for (const std::string& line : t.located_per_method.describe("Top-1 maps against the object mask"))
    h += "<p>" + escape_html(line) + "</p>\n";
  if (t.faithful.methods.empty()) return h;
  h += "<p>Faithfulness of the top-1 maps (torchcam's definitions: higher insertion, lower deletion and "
       "Average Drop, higher Increase in Confidence are better):</p><table><tr><th>method</th><th>maps</th>"
       "<th>insertion AUC</th><th>deletion AUC</th><th>Average Drop</th><th>Increase in "
       "Confidence</th></tr>\n";
  for (const auto& [method, s] : t.faithful.methods)
    h += "<tr><td>" + escape_html(method) + "</td><td>" + std::to_string(s.maps) + "</td><td>" +
         fixed(s.insertion / s.maps, 3) + "</td><td>" + fixed(s.deletion / s.maps, 3) + "</td><td>" +
         percent(s.drop / s.maps) + "</td><td>" + percent(static_cast<double>(s.increases) / s.maps) +
         "</td></tr>\n";
  return h + "</table>\n";
}

std::string per_class_section(ReportTallies& t) {
  if (t.per_class.empty() && !t.located.maps) return "";
  std::string h =
      "<details><summary>Per class</summary><table><tr><th>class</th><th>accuracy</th><th>images</th>";
  if (t.located.maps)
    h += "<th>pointing game" +
         (t.located_per_method.methods.size() > 1
              ? " (" + escape_html(t.located_per_method.methods[0].method) + ")"
              : std::string()) +
         "</th><th>energy-in-mask</th><th>object area</th>";
  h += "</tr>\n";
  std::map<std::string, std::pair<int, int>> rows = t.per_class;
  for (const auto& kv : t.located_per_class) rows.emplace(kv.first, std::make_pair(0, 0));
  for (const auto& kv : rows) {
    h += "<tr><td>" + escape_html(kv.first) + "</td><td>" +
         (kv.second.second ? percent(static_cast<double>(kv.second.first) / kv.second.second) : "") +
         "</td><td>" + std::to_string(kv.second.second) + "</td>";
    if (t.located.maps) {
      const LocalizationTally& l = t.located_per_class[kv.first];
      h += l.maps ? "<td>" + percent(l.pointing()) + "</td><td>" + fixed(l.energy / l.maps, 3) + "</td><td>" +
                        fixed(l.area / l.maps, 3) + "</td>"
                  : "<td></td><td></td><td></td>";
    }
    h += "</tr>\n";
  }
  return h + "</table></details>\n";
}

// Rows: truth, columns: prediction; a count opens the gallery on exactly those images.
std::string confusion_section(const ReportTallies& t) {
  if (!t.judged) return "";
  std::string h =
      "<details><summary>Confusion matrix (rows: truth, columns: predicted)</summary><table class=\"cm\"><tr>"
      "<th></th>";
  std::vector<std::string> order(t.classes.begin(), t.classes.end());
  for (size_t j = 0; j < order.size(); ++j)
    h += "<th title=\"" + escape_html(order[j]) + "\">" + std::to_string(j) + "</th>";
  h += "</tr>\n";
  for (size_t i = 0; i < order.size(); ++i) {
    h += "<tr><th style=\"text-align:left\">" + std::to_string(i) + " " + escape_html(order[i]) + "</th>";
    for (size_t j = 0; j < order.size(); ++j) {
      auto it = t.confusion.find({order[i], order[j]});
      if (it == t.confusion.end()) {
        h += "<td></td>";
        continue;
      }
      h += std::string("<td class=\"") + (i == j ? "diag" : "off") + "\"><a onclick=\"showPair(" +
           escape_html(nlohmann::json(order[i]).dump()) + "," + escape_html(nlohmann::json(order[j]).dump()) +
           ")\">" + std::to_string(it->second) + "</a></td>";
    }
    h += "</tr>\n";
  }
  return h + "</table></details>\n";
}

std::string failed_section(const ReportTallies& t) {
  if (!t.failed_count) return "";
  std::string h =
      "<details><summary>Failed images (" + std::to_string(t.failed_count) +
      (t.failed.size() < t.failed_count ? ", the first " + std::to_string(t.failed.size()) + " listed"
                                        : std::string()) +
      ")</summary><table>";
  for (const auto& [path, error] : t.failed)
    h += "<tr><td>" + escape_html(path) + "</td><td>" + escape_html(error) + "</td></tr>";
  return h + "</table></details>\n";
}

std::string filters_section(const ReportTallies& t, size_t shown) {
  std::string h =
      "<div id=\"filters\">class <select id=\"cls\" onchange=\"applyFilters()\"><option "
      "value=\"\">all</option>";
  for (const std::string& c : t.filter_classes)
    h += "<option value=\"" + escape_html(c) + "\">" + escape_html(c) + "</option>";
  h += "</select> <label><input type=\"checkbox\" id=\"wrong\" onchange=\"applyFilters()\"> wrong "
       "only</label> "
       "<span id=\"pair\"></span><a onclick=\"clearPair()\" style=\"cursor:pointer;color:#00c\">[all "
       "pairs]</a> "
       "showing <span id=\"shown\">" +
       std::to_string(shown) + "</span> of " + std::to_string(shown);
  if (shown < t.ok)
    h += " (the gallery holds " + std::to_string(shown) + " of the " + std::to_string(t.ok) +
         " images: the " + std::to_string(std::min(t.wrong, shown)) + " most confident of the " +
         std::to_string(t.wrong) + " errors, then the first others in input order)";
  return h + "</div>\n<div id=\"gallery\">\n";
}

// One image's card: its top-1 map (beside the true class's when wrong), each method's top-1 map, its
// ranking and localisation, and links to the original and the panel.
std::string card_html(const nlohmann::json& r, const std::string& out_dir) {
  const bool wrong = judgeable(r) && !correct(r);
  std::string h = std::string("<div class=\"card") + (wrong ? " wrong" : "") + "\" data-truth=\"" +
                  escape_html(has_truth(r) ? r["truth"].get<std::string>() : "") + "\" data-pred=\"" +
                  escape_html(predicted(r)) + "\" data-wrong=\"" + (wrong ? "1" : "0") + "\">";
  const nlohmann::json* first =
      r.contains("maps") && !r["maps"].empty() && r["maps"][0].contains("file") ? &r["maps"][0] : nullptr;
  const nlohmann::json* truth_map = nullptr;
  if (wrong) {
    truth_map = map_of_kind(r, "truth");
    for (const nlohmann::json& m : r["maps"])
      if (!truth_map && m.value("label", "") == r["truth"].get<std::string>() && m.contains("file"))
        truth_map = &m;
  }
  const std::string original = image_link(relative_to(r["path"].get<std::string>(), out_dir));
  // The image's own size reserves its space before it loads, so lazy loading stays lazy at 10,000 cards.
  const std::string size = r.contains("width")
                               ? " width=\"" + std::to_string(r["width"].get<int>()) + "\" height=\"" +
                                     std::to_string(r["height"].get<int>()) + "\""
                               : "";
  if (first && truth_map) {
    h += "<div class=\"pair\"><img" + size +
         " loading=\"lazy\" title=\"predicted: " + escape_html((*first)["label"]) + "\" src=\"" +
         image_link((*first)["file"]) + "\"> <img" + size +
         " loading=\"lazy\" title=\"true class: " + escape_html((*truth_map)["label"]) + "\" src=\"" +
         image_link((*truth_map)["file"]) + "\"></div><div>left: predicted, right: true class</div>";
  } else if (first) {
    h += "<img" + size + " loading=\"lazy\" src=\"" + image_link((*first)["file"]) + "\">";
  } else {
    h += "<img" + size + " loading=\"lazy\" src=\"" + original + "\">";
  }
  // With several methods, each method's top-1 map side by side below the first.
  std::vector<const nlohmann::json*> by_method;
  for (const nlohmann::json& m : r["maps"])
    if (m.value("kind", "") == "top1" && m.contains("file") && &m != first) by_method.push_back(&m);
  if (first && !by_method.empty()) {
    by_method.insert(by_method.begin(), first);
    const std::string width = std::to_string(100 / by_method.size() - 1) + "%";
    std::string names;
    h += "<div class=\"methods\">";
    for (const nlohmann::json* m : by_method) {
      const std::string method = method_of(*m);
      h += "<img" + size + " style=\"width:" + width + "\" loading=\"lazy\" title=\"" + escape_html(method) +
           "\" src=\"" + image_link((*m)["file"]) + "\">";
      names += (names.empty() ? "" : " | ") + method;
    }
    h += "</div><div>" + escape_html(names) + "</div>";
  }
  h += "<div>" + escape_html(r["path"].get<std::string>()) + "</div>";
  if (has_truth(r)) h += "<div>truth: " + escape_html(r["truth"].get<std::string>()) + "</div>";
  int shown = 0;
  for (const nlohmann::json& t : r["top"]) {
    if (shown++ == 3) break;
    h += "<div>" + escape_html(t["label"].get<std::string>()) + " " +
         percent(t["probability"].get<double>()) + "</div>";
  }
  if (first && first->contains("pointing") && !(*first)["pointing"].is_null())
    h += "<div>peak on object: " + std::string((*first)["pointing"].get<bool>() ? "yes" : "no") +
         ", energy " + fixed((*first)["energy_in_mask"].get<double>(), 2) + "</div>";
  h += "<div><a href=\"" + original + "\">original</a>";
  if (r.contains("panel")) h += " <a href=\"" + image_link(r["panel"]) + "\">panel</a>";
  return h + "</div></div>\n";
}

const char* kStyle =
    "body{font-family:sans-serif;margin:1em}.card{display:inline-block;vertical-align:top;width:200px;"
    "margin:4px;padding:4px;border:1px solid #ccc;font-size:12px;overflow-wrap:anywhere;"
    "content-visibility:auto;contain-intrinsic-size:200px 330px}"
    ".card img{width:100%;height:auto}.card .pair img{width:49%}.wrong{border-color:#d00;background:#fee}"
    "table{border-collapse:collapse;font-size:12px}td,th{border:1px solid #ccc;padding:2px 6px}"
    ".cm td{text-align:right}.cm a{cursor:pointer;color:#00c}.diag{background:#efe}.off{background:#fdd}"
    "#filters{position:sticky;top:0;background:#fff;padding:4px 0}";

}  // namespace

std::string render_report_html(const Records& records, const nlohmann::json& run, const std::string& out_dir,
                               size_t gallery_cards) {
  ReportTallies t;
  t.cards = gallery_cards;
  records.each([&](const nlohmann::json& r, uint64_t position) { t.add(r, position); });
  const std::vector<uint64_t> gallery = t.gallery();
  std::string h =
      "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>cam_engine report</title><style>" +
      std::string(kStyle) + "</style><script>" + kScript +
      "</script></head><body>\n<h1>cam_engine report</h1>\n";
  h += run_section(run) + totals_section(t) + per_class_section(t) + confusion_section(t) + failed_section(t);
  h += filters_section(t, gallery.size());
  for (uint64_t position : gallery) h += card_html(records.at(position), out_dir);
  return h + "</div></body></html>\n";
}

std::string render_report_html(const std::vector<nlohmann::json>& records, const nlohmann::json& run,
                               const std::string& out_dir) {
  return render_report_html(RecordList(records), run, out_dir);
}

void write_run_summaries(const std::string& out, nlohmann::json details, const std::string& this_run,
                         bool csv, bool report) {
  if (!csv && !report) return;
  const JsonlRecords records((fs::path(out) / "predictions.jsonl").string());
  if (csv) write_predictions_csv(records, (fs::path(out) / "predictions.csv").string());
  if (!report) return;
  char date[64];
  const std::time_t now = std::time(nullptr);
  std::strftime(date, sizeof date, "%Y-%m-%d %H:%M:%S %Z", std::localtime(&now));
  details["date"] = date;
  details["this run"] = this_run;
  write_text_file((fs::path(out) / "index.html").string(), render_report_html(records, details, out));
}

}  // namespace cam
