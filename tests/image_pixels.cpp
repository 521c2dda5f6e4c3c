// Test helper for tests/test_pil_pixels.py: the engine's decoded (and optionally resized) pixels of an image
// file, written as a lossless PNG, so that a Python test can compare them with PIL's bit for bit. With
// OUT.f32 and a TensorFlow mode, the resize's float output (H, W, 3) as raw little-endian float32, for
// tests/test_tf_pixels.py. With SHORTER, the WxH centre crop of the image resized to SHORTER on its shorter
// side (torchvision's Resize(SHORTER) + CenterCrop((H, W))), computed as the engine does: only the crop.
// --fast-idct decodes JPEGs with libjpeg's fast IDCT (TensorFlow's default).
//   image_pixels [--ignore-exif] [--fast-idct] IN OUT.png [WxH [MODE [SHORTER]]]
//   image_pixels IN OUT.f32 WxH tf-bilinear|tf-bilinear-antialias [SHORTER]
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "engine/base/error.h"
#include "engine/io/atomic_file.h"
#include "engine/io/image_io.h"
#include "engine/model/options.h"
#include "engine/ops/cpu_ops.h"
#include "engine/ops/image_ops.h"
#include "kernels/tf_resize_math.h"

int main(int argc, char** argv) {
  cam::DecodeOptions decode;
  for (; argc > 1 && argv[1][0] == '-'; --argc, ++argv) {
    if (std::string(argv[1]) == "--ignore-exif") decode.exif = cam::ExifOrientation::kIgnore;
    if (std::string(argv[1]) == "--fast-idct") decode.idct = cam::JpegIdct::kFast;
  }
  if (argc < 3 || argc > 6) {
    std::fprintf(stderr,
                 "usage: image_pixels [--ignore-exif] [--fast-idct] IN OUT.png [WxH [MODE [SHORTER]]]\n");
    return 2;
  }
  try {
    cam::Image image = cam::read_image(argv[1], decode);
    if (argc >= 4) {
      int w = 0, h = 0;
      if (std::sscanf(argv[3], "%dx%d", &w, &h) != 2 || w < 1 || h < 1)
        throw cam::Error("bad size " + std::string(argv[3]));
      const cam::ResizeMode mode =
          argc >= 5 ? cam::parse_resize_mode(argv[4]) : cam::ResizeMode::kPilBilinear;
      const int shorter = argc == 6 ? std::atoi(argv[5]) : 0;
      if (shorter && shorter < std::max(w, h)) throw cam::Error("SHORTER must be at least the crop's sides");
      const cam::ResizeBox box = cam::resize_box(image.height, image.width, h, w, shorter);
      const std::string out = argv[2];
      if (out.size() > 4 && out.compare(out.size() - 4, 4, ".f32") == 0) {
        if (!cam::is_tf_resize(mode)) throw cam::Error("float output is for the tf-* modes");
        std::vector<float> values(static_cast<size_t>(w) * h * 3);
        cam::resize_tf_cpu(image.rgb.data(), image.height, image.width, box, values.data(), h, w, mode);
        cam::write_file_atomically(out, "", values.data(), values.size() * sizeof(float));
        return 0;
      }
      cam::Image resized;
      resized.width = w, resized.height = h;
      resized.rgb.resize(static_cast<size_t>(w) * h * 3);
      cam::resize_image_cpu(image.rgb.data(), image.height, image.width, box, resized.rgb.data(), h, w, mode);
      image = std::move(resized);
    }
    cam::write_image(argv[2], image);
  } catch (const cam::Error& e) {
    std::fprintf(stderr, "image_pixels: %s\n", e.what());
    return 1;
  }
  return 0;
}
