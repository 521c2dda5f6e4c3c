// A decoded image: 8-bit RGB, row-major (height, width, 3). The one image type engine, CLI and tests share.
#pragma once
#include <cstdint>
#include <vector>

namespace cam {

// The JPEG inverse DCT: libjpeg-turbo's accurate integer one (JDCT_ISLOW), PIL's and OpenCV's; or its fast
// one (JDCT_IFAST), TensorFlow's tf.io.decode_jpeg default and so Keras' image_dataset_from_directory's.
enum class JpegIdct { kAccurate, kFast };

struct Image {
  int width = 0;
  int height = 0;
  std::vector<uint8_t> rgb;  // (height, width, 3)
};

}  // namespace cam
