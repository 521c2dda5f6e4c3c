// A decoded image: 8-bit RGB, row-major (height, width, 3). The one image type engine, CLI and tests share.
#pragma once
#include <cstdint>
#include <vector>

namespace cam {

struct Image {
  int width = 0;
  int height = 0;
  std::vector<uint8_t> rgb;  // (height, width, 3)
};

}  // namespace cam
