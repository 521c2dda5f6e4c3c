// libFuzzer target: the list-file parser and the output naming that follows it.
#include <cstddef>
#include <cstdint>
#include <sstream>
#include <string>

#include "error.h"
#include "inputs.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::istringstream in(std::string(reinterpret_cast<const char*>(data), size));
  try {
    std::vector<cam::InputItem> items = cam::parse_list(in, "/base/dir", "fuzz.txt");
    cam::assign_output_names(items);
  } catch (const cam::Error&) {
  }
  return 0;
}
