// Image decode/encode and resize for the engine's RGB8 images, giving PIL's pixels.
// Decode: JPEG through libjpeg-turbo with PIL's settings (ISLOW IDCT, fancy upsampling; gray replicated, CMYK
// converted as PIL's convert("RGB")); PNG (8/16-bit; 16-bit keeps the high byte), BMP, TGA, GIF (first frame)
// through stb_image. Alpha is dropped without compositing, as PIL's convert("RGB") does. Encode:
// stb_image_write.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "image.h"

namespace cam {

constexpr int64_t kDefaultMaxPixels = 100'000'000;

// Throws cam::Error "<name>: <reason>" for empty, truncated, non-image data or a header over max_pixels
// (checked before any pixel buffer is allocated).
Image decode_image(const uint8_t* data, size_t size, const std::string& name,
                   int64_t max_pixels = kDefaultMaxPixels);
// Reads only a regular file of at most 2 GB (read_file.h).
Image read_image(const std::string& path, int64_t max_pixels = kDefaultMaxPixels);

// The PNG or JPEG file bytes of an image. Throws cam::Error if stb cannot encode it.
std::vector<uint8_t> encode_image(const Image& image, bool png, int jpeg_quality = 95);

// Writes PNG or JPEG by the path's extension (.png, .jpg, .jpeg) through write_file_atomically
// (atomic_file.h): a reader never sees a partial file. Throws cam::Error (OutputFullError when the disk is
// full).
void write_image(const std::string& path, const Image& image, int jpeg_quality = 95);

// PIL's Image.resize(size, BILINEAR) to the bit (kernels/preprocess_math.h), the one used for the network
// input.
Image resize_image(const Image& image, int width, int height);

}  // namespace cam
