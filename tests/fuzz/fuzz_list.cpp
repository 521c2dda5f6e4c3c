// libFuzzer target: the list-file parser, the output naming that follows it, the byte escaping of names that
// are not UTF-8 and their JSON records. Every output name must be valid UTF-8 and unique, every path's exact
// escape must decode back to its bytes, and dumping a record must never throw.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>

#include "cli/inputs.h"
#include "engine/base/error.h"

namespace {

std::string unescape(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size()) {
      out += static_cast<char>(std::strtol(s.substr(i + 1, 2).c_str(), nullptr, 16));
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::istringstream in(std::string(reinterpret_cast<const char*>(data), size));
  try {
    std::vector<cam::InputItem> items = cam::parse_list(in, "/base/dir", "fuzz.txt");
    cam::assign_output_names(items);
    std::set<std::string> names;
    for (const cam::InputItem& item : items) {
      if (!cam::is_valid_utf8(item.output) || !names.insert(item.output).second) std::abort();
      const std::string exact = cam::percent_escape(item.path, true);
      if (!cam::is_valid_utf8(exact) || unescape(exact) != item.path) std::abort();
      nlohmann::json r = {{"path", cam::percent_escape(item.path, false)}, {"truth", item.truth}};
      (void)r.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    }
  } catch (const cam::Error&) {
  }
  return 0;
}
