// Test helper for tests/test_pil_pixels.py: the engine's decoded (and optionally resized) pixels of an image
// file, written as a lossless PNG, so that a Python test can compare them with PIL's bit for bit.
//   image_pixels IN OUT.png [WxH]
#include <cstdio>
#include <string>

#include "error.h"
#include "image_io.h"

int main(int argc, char** argv) {
  if (argc != 3 && argc != 4) {
    std::fprintf(stderr, "usage: image_pixels IN OUT.png [WxH]\n");
    return 2;
  }
  try {
    cam::Image image = cam::read_image(argv[1]);
    if (argc == 4) {
      int w = 0, h = 0;
      if (std::sscanf(argv[3], "%dx%d", &w, &h) != 2 || w < 1 || h < 1)
        throw cam::Error("bad size " + std::string(argv[3]));
      image = cam::resize_image(image, w, h);
    }
    cam::write_image(argv[2], image);
  } catch (const cam::Error& e) {
    std::fprintf(stderr, "image_pixels: %s\n", e.what());
    return 1;
  }
  return 0;
}
