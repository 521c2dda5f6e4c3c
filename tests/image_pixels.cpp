// Test helper for tests/test_pil_pixels.py: the engine's decoded (and optionally resized) pixels of an image
// file, written as a lossless PNG, so that a Python test can compare them with PIL's bit for bit.
//   image_pixels [--ignore-exif] IN OUT.png [WxH [MODE]]
#include <cstdio>
#include <string>

#include "engine/base/error.h"
#include "engine/io/image_io.h"
#include "engine/model/options.h"
#include "engine/ops/image_ops.h"

int main(int argc, char** argv) {
  const bool ignore_exif = argc > 1 && std::string(argv[1]) == "--ignore-exif";
  argc -= ignore_exif, argv += ignore_exif;
  if (argc < 3 || argc > 5) {
    std::fprintf(stderr, "usage: image_pixels [--ignore-exif] IN OUT.png [WxH [MODE]]\n");
    return 2;
  }
  try {
    cam::Image image =
        cam::read_image(argv[1], cam::kDefaultMaxPixels,
                        ignore_exif ? cam::ExifOrientation::kIgnore : cam::ExifOrientation::kApply);
    if (argc >= 4) {
      int w = 0, h = 0;
      if (std::sscanf(argv[3], "%dx%d", &w, &h) != 2 || w < 1 || h < 1)
        throw cam::Error("bad size " + std::string(argv[3]));
      image = cam::resize_image(image, w, h,
                                argc == 5 ? cam::parse_resize_mode(argv[4]) : cam::ResizeMode::kPilBilinear);
    }
    cam::write_image(argv[2], image);
  } catch (const cam::Error& e) {
    std::fprintf(stderr, "image_pixels: %s\n", e.what());
    return 1;
  }
  return 0;
}
