// libFuzzer target: the weights loader end to end on arbitrary bytes (header, table, metadata, offsets,
// dtypes, and the ResNet built from the tensors). Any outcome but a cam::Error or success is a finding.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "engine/base/error.h"
#include "engine/io/safetensors.h"
#include "engine/model/resnet.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    cam::SafeTensors file("fuzz.safetensors", std::vector<uint8_t>(data, data + size));
    cam::ResNet net = cam::ResNet::from(file);
    (void)net.describe();
  } catch (const cam::Error&) {
  }
  return 0;
}
