#include "cli/inputs.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sys/stat.h>

#include <set>
#include <string_view>
#include <unordered_map>

#include "engine/base/error.h"

namespace fs = std::filesystem;

namespace cam {
namespace {

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

fs::path absolute_normal(const std::string& path) {
  std::error_code ec;
  fs::path p = fs::absolute(path, ec);
  return (ec ? fs::path(path) : p).lexically_normal();
}

// The folder of a file path, as an absolute path.
std::string folder_of(const std::string& path) {
  return absolute_normal(path).parent_path().string();
}

}  // namespace

size_t utf8_sequence_length(const std::string& s, size_t i) {
  const auto byte = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char c = byte(i);
  if (c < 0x80) return 1;
  size_t n = c >= 0xF0 && c <= 0xF4 ? 4 : c >= 0xE0 ? 3 : c >= 0xC2 && c <= 0xDF ? 2 : 0;
  if (c >= 0xF5 || !n || i + n > s.size()) return 0;
  for (size_t k = 1; k < n; ++k)
    if ((byte(i + k) & 0xC0) != 0x80) return 0;
  const unsigned char d = byte(i + 1);
  if ((c == 0xE0 && d < 0xA0) || (c == 0xED && d > 0x9F) || (c == 0xF0 && d < 0x90) ||
      (c == 0xF4 && d > 0x8F))
    return 0;  // overlong, surrogate or past U+10FFFF
  return n;
}

bool is_valid_utf8(const std::string& s) {
  for (size_t i = 0; i < s.size();) {
    const size_t n = utf8_sequence_length(s, i);
    if (!n) return false;
    i += n;
  }
  return true;
}

std::string percent_escape(const std::string& s, bool all_bytes) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (size_t i = 0; i < s.size();) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    const size_t n = utf8_sequence_length(s, i);
    if (n && !(all_bytes && (c < 0x20 || c >= 0x7F || c == '%'))) {
      out.append(s, i, n);
      i += n;
    } else {
      out += '%', out += hex[c >> 4], out += hex[c & 15];
      ++i;
    }
  }
  return out;
}

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
    if (number == 1 && line.rfind("\xEF\xBB\xBF", 0) == 0) line.erase(0, 3);  // a UTF-8 byte-order mark
    size_t start = line.find_first_not_of(" \t");
    if (start == std::string::npos || line[start] == '#') continue;
    InputItem item;
    size_t tab = line.find('\t');
    std::string path = line.substr(0, tab);
    path.erase(path.find_last_not_of(' ') + 1);
    path.erase(0, std::min(path.size(), path.find_first_not_of(' ')));
    if (tab != std::string::npos) {
      item.truth = line.substr(tab + 1);
      if (item.truth.find('\t') != std::string::npos)
        throw Error(list_name + ":" + std::to_string(number) + ": more than two tab-separated fields");
    }
    if (path.empty()) throw Error(list_name + ":" + std::to_string(number) + ": empty path");
    fs::path p(path);
    item.path = p.is_absolute() || base_dir.empty() ? p.string() : (fs::path(base_dir) / p).string();
    item.anchor = folder_of(item.path);
    items.push_back(std::move(item));
  }
  if (in.bad()) throw Error(list_name + ": read error");
  return items;
}

std::vector<InputItem> list_folder(const std::string& folder, bool labels_from_folders,
                                   std::vector<std::string>* notes) {
  // A walk of our own rather than recursive_directory_iterator: a subfolder that cannot be read, a symlink
  // loop or a FIFO is skipped with a note instead of ending the listing (or the run), and symlinked folders
  // are followed once each (by device and inode), so a loop cannot recurse.
  std::vector<InputItem> items;
  std::set<std::pair<dev_t, ino_t>> visited;
  std::vector<fs::path> pending = {fs::path(folder)};
  size_t unreadable = 0, not_files = 0, loops = 0;
  std::string first_unreadable;
  const std::string anchor = absolute_normal(folder).string();
  while (!pending.empty()) {
    const fs::path dir = pending.back();
    pending.pop_back();
    struct stat st;
    if (stat(dir.c_str(), &st) != 0 || !visited.insert({st.st_dev, st.st_ino}).second) {
      ++loops;
      continue;
    }
    std::error_code ec;
    fs::directory_iterator it(dir, ec), end;
    if (ec) {
      if (!unreadable++) first_unreadable = dir.string() + " (" + ec.message() + ")";
      continue;
    }
    for (; it != end; it.increment(ec)) {
      const fs::path p = it->path();
      std::error_code kind_error;
      const fs::file_status status = fs::status(p, kind_error);  // follows symlinks
      if (kind_error) {
        ++not_files;  // a broken link, a loop, a name too long
      } else if (fs::is_directory(status)) {
        pending.push_back(p);
      } else if (is_image_path(p.string())) {
        if (!fs::is_regular_file(status)) {
          ++not_files;
          continue;
        }
        InputItem item;
        item.path = p.string();
        item.anchor = anchor;
        if (labels_from_folders) item.truth = p.parent_path().filename().string();
        items.push_back(std::move(item));
      }
    }
    if (ec && !unreadable++) first_unreadable = dir.string() + " (" + ec.message() + ")";
  }
  if (notes) {
    if (unreadable)
      notes->push_back(folder + ": skipped " + std::to_string(unreadable) +
                       " folder(s) that cannot be read, e.g. " + first_unreadable);
    if (not_files)
      notes->push_back(folder + ": skipped " + std::to_string(not_files) +
                       " image name(s) that are not regular files (FIFOs, devices, broken or looping links)");
    if (loops)
      notes->push_back(folder + ": skipped " + std::to_string(loops) +
                       " folder link(s) already listed (a loop)");
  }
  std::sort(items.begin(), items.end(),
            [](const InputItem& a, const InputItem& b) { return a.path < b.path; });
  return items;
}

std::vector<InputItem> collect_inputs(const std::vector<std::string>& args, bool labels_from_folders,
                                      std::istream& standard_input, std::vector<std::string>* notes) {
  std::vector<InputItem> items;
  for (const std::string& arg : args) {
    std::vector<InputItem> more;
    std::string ext = lower(fs::path(arg).extension().string());
    std::error_code ec;
    const fs::file_status status = arg == "-" ? fs::file_status() : fs::status(arg, ec);
    if (ec && ec != std::errc::no_such_file_or_directory)
      throw Error(arg + ": cannot read (" + ec.message() + ")");
    if (arg == "-") {
      more = parse_list(standard_input, "", "<stdin>");
    } else if (fs::is_directory(status)) {
      more = list_folder(arg, labels_from_folders, notes);
      if (more.empty() && notes)
        notes->push_back(arg + ": no images in this folder (jpg, jpeg, png, bmp, tga, gif)");
    } else if (ext == ".txt" || ext == ".lst" || ext == ".list") {
      if (!fs::is_regular_file(status))
        throw Error(arg + ": cannot open list file (no such file, or not a file)");
      std::ifstream list(arg);
      if (!list) throw Error(arg + ": cannot open list file");
      more = parse_list(list, fs::path(arg).parent_path().string(), arg);
    } else if (fs::exists(status)) {
      InputItem item;
      item.path = arg;
      item.anchor = folder_of(arg);
      if (labels_from_folders) item.truth = fs::path(arg).parent_path().filename().string();
      more.push_back(item);
    } else {
      throw Error(arg + ": no such file or folder");
    }
    if (labels_from_folders)  // list lines without a TAB label: the parent folder, as for folders and files
      for (InputItem& item : more)
        if (item.truth.empty()) item.truth = fs::path(item.path).parent_path().filename().string();
    items.insert(items.end(), std::make_move_iterator(more.begin()), std::make_move_iterator(more.end()));
  }
  assign_output_names(items);
  return items;
}

std::vector<InputItem> image_items(const std::vector<std::string>& paths, bool labels_from_folders) {
  std::vector<InputItem> items;
  for (const std::string& path : paths) {
    InputItem item;
    item.path = path;
    item.anchor = folder_of(path);
    if (labels_from_folders) item.truth = fs::path(path).parent_path().filename().string();
    items.push_back(std::move(item));
  }
  assign_output_names(items);
  return items;
}

void assign_output_names(std::vector<InputItem>& items) {
  if (items.empty()) return;
  fs::path root = fs::path(items[0].anchor.empty() ? folder_of(items[0].path) : items[0].anchor);
  for (const InputItem& item : items) {
    fs::path anchor(item.anchor.empty() ? folder_of(item.path) : item.anchor), common;
    for (auto a = root.begin(), b = anchor.begin(); a != root.end() && b != anchor.end() && *a == *b;
         ++a, ++b)
      common /= *a;
    root = common;
  }
  // Every name given out (a file may itself be called "x.jpg~2") -> how often it was wanted as a name. The
  // keys view the items' own output names (the vector does not move meanwhile): one small entry per item.
  std::unordered_map<std::string_view, int> given;
  given.reserve(items.size());
  for (InputItem& item : items) {
    std::string name = percent_escape(absolute_normal(item.path).lexically_relative(root).string(), false);
    if (name.empty() || name == "." || name.back() == '/') name += "_";
    std::string().swap(item.anchor);  // not needed once the root is known
    item.output = std::move(name);
    auto [entry, fresh] = given.try_emplace(item.output, 1);
    if (fresh) continue;
    int& wanted = entry->second;  // references into an unordered_map survive its rehashing
    wanted = std::max(wanted + 1, 2);
    const std::string base = item.output;
    item.output = base + "~" + std::to_string(wanted);
    while (given.count(item.output)) item.output = base + "~" + std::to_string(++wanted);
    given.emplace(item.output, 0);
  }
}

}  // namespace cam
