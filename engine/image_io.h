// Image decode/encode (stb_image, stb_image_write) and resize for the engine's RGB8 images.
// Decode: JPEG, PNG (8/16-bit; 16-bit keeps the high byte), BMP, TGA, GIF (first frame). Gray is replicated
// to RGB; alpha is dropped without compositing, as PIL's convert("RGB") does, so inputs match a PyTorch
// pipeline.
#pragma once
#include <cstdint>
#include <string>

#include "image.h"

namespace cam {

constexpr int64_t kDefaultMaxPixels = 100'000'000;

// Throws cam::Error "<name>: <reason>" for empty, truncated, non-image data or a header over max_pixels
// (checked before any pixel buffer is allocated).
Image decode_image(const uint8_t* data, size_t size, const std::string& name,
                   int64_t max_pixels = kDefaultMaxPixels);
Image read_image(const std::string& path, int64_t max_pixels = kDefaultMaxPixels);

// Writes PNG or JPEG by the path's extension (.png, .jpg, .jpeg) to a temporary name in the same folder, then
// renames it into place, so a reader never sees a partial file. Throws cam::Error on failure.
void write_image(const std::string& path, const Image& image, int jpeg_quality = 95);

// Antialiased bilinear resize (kernels/preprocess_math.h), the one used for the network input.
Image resize_image(const Image& image, int width, int height);

}  // namespace cam
