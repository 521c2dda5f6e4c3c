#include "inputs.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>

#include "error.h"

namespace fs = std::filesystem;

namespace cam {
namespace {

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// A name is never empty nor a bare folder: "_" stands in (paths such as "/" or "dir/").
std::string non_empty(const std::string& name) {
  return name.empty() || name.back() == '/' ? name + "_" : name;
}

// The relative name an item is known by: its path below the folder or as written in the list.
std::string relative_name(const fs::path& p) {
  fs::path n = p.lexically_normal();
  bool escapes = n.is_absolute() || (!n.empty() && *n.begin() == "..");
  return non_empty(escapes ? n.filename().string() : n.string());
}

std::string mirror(const std::string& path) {
  std::string abs = fs::absolute(path).lexically_normal().string();
  size_t start = abs.find_first_not_of('/');
  return non_empty(start == std::string::npos ? "" : abs.substr(start));
}

}  // namespace

bool is_image_path(const std::string& path) {
  static const char* kExtensions[] = {".jpg", ".jpeg", ".png", ".bmp", ".tga", ".gif"};
  std::string ext = lower(fs::path(path).extension().string());
  return std::find(std::begin(kExtensions), std::end(kExtensions), ext) != std::end(kExtensions);
}

std::vector<InputItem> parse_list(std::istream& in, const std::string& base_dir,
                                  const std::string& list_name) {
  std::vector<InputItem> items;
  std::string line;
  for (int number = 1; std::getline(in, line); ++number) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    size_t start = line.find_first_not_of(" \t");
    if (start == std::string::npos || line[start] == '#') continue;
    InputItem item;
    size_t tab = line.find('\t');
    std::string path = line.substr(0, tab);
    path.erase(path.find_last_not_of(' ') + 1);
    if (tab != std::string::npos) {
      item.truth = line.substr(tab + 1);
      if (item.truth.find('\t') != std::string::npos)
        throw Error(list_name + ":" + std::to_string(number) + ": more than two tab-separated fields");
    }
    if (path.empty()) throw Error(list_name + ":" + std::to_string(number) + ": empty path");
    fs::path p(path);
    item.path = p.is_absolute() || base_dir.empty() ? p.string() : (fs::path(base_dir) / p).string();
    item.output = relative_name(p);
    items.push_back(item);
  }
  if (in.bad()) throw Error(list_name + ": read error");
  return items;
}

std::vector<InputItem> list_folder(const std::string& folder, bool labels_from_folders) {
  std::vector<InputItem> items;
  std::error_code ec;
  for (fs::recursive_directory_iterator it(folder, fs::directory_options::skip_permission_denied, ec), end;
       it != end; it.increment(ec)) {
    if (ec) throw Error(folder + ": cannot list folder (" + ec.message() + ")");
    if (!it->is_regular_file(ec) || !is_image_path(it->path().string())) continue;
    InputItem item;
    item.path = it->path().string();
    item.output = it->path().lexically_relative(folder).string();
    if (labels_from_folders) item.truth = it->path().parent_path().filename().string();
    items.push_back(item);
  }
  if (ec) throw Error(folder + ": cannot list folder (" + ec.message() + ")");
  std::sort(items.begin(), items.end(),
            [](const InputItem& a, const InputItem& b) { return a.path < b.path; });
  return items;
}

std::vector<InputItem> collect_inputs(const std::vector<std::string>& args, bool labels_from_folders,
                                      std::istream& standard_input) {
  std::vector<InputItem> items;
  for (const std::string& arg : args) {
    std::vector<InputItem> more;
    std::string ext = lower(fs::path(arg).extension().string());
    if (arg == "-") {
      more = parse_list(standard_input, "", "<stdin>");
    } else if (fs::is_directory(arg)) {
      more = list_folder(arg, labels_from_folders);
    } else if (ext == ".txt" || ext == ".lst" || ext == ".list") {
      std::ifstream list(arg);
      if (!list) throw Error(arg + ": cannot open list file");
      more = parse_list(list, fs::path(arg).parent_path().string(), arg);
    } else if (fs::exists(arg)) {
      InputItem item;
      item.path = arg;
      item.output = relative_name(arg);
      if (labels_from_folders) item.truth = fs::path(arg).parent_path().filename().string();
      more.push_back(item);
    } else {
      throw Error(arg + ": no such file or folder");
    }
    items.insert(items.end(), more.begin(), more.end());
  }
  assign_output_names(items);
  return items;
}

void assign_output_names(std::vector<InputItem>& items) {
  auto stem_of = [](const std::string& name) {
    return (fs::path(name).parent_path() / fs::path(name).stem()).string();
  };
  std::map<std::string, int> stems, names;
  for (const InputItem& item : items) ++stems[stem_of(item.output)], ++names[item.output];
  for (InputItem& item : items) {
    if (stems[stem_of(item.output)] == 1)
      item.output = stem_of(item.output);
    else if (names[item.output] > 1)
      item.output = mirror(item.path);
  }
}

}  // namespace cam
