// Image decode/encode and resize for the engine's RGB8 images, giving PIL's pixels.
// Decode: JPEG through libjpeg-turbo with PIL's settings (ISLOW IDCT unless asked for IFAST, fancy
// upsampling; gray replicated, CMYK converted as PIL's convert("RGB"); the EXIF orientation applied as
// ImageOps.exif_transpose unless asked not to); PNG (8/16-bit; 16-bit keeps the high byte), BMP, TGA, GIF
// (first frame) through stb_image. Alpha is dropped without compositing, as PIL's convert("RGB") does.
// Encode: PNG around libdeflate (lossless), JPEG through libjpeg-turbo.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "engine/io/image.h"
#include "kernels/resize_mode.h"

namespace cam {

constexpr int64_t kDefaultMaxPixels = 100'000'000;

// A JPEG's EXIF orientation (tag 0x0112 of its first Exif APP1 segment): applied as PIL's
// ImageOps.exif_transpose does, so the photo is upright as a viewer shows it (the default); or ignored, the
// stored pixels as Image.open(...).convert("RGB") gives them. A missing, malformed or out-of-range tag is
// orientation 1 (as stored), as in PIL.
enum class ExifOrientation { kApply, kIgnore };

struct DecodeOptions {
  int64_t max_pixels = kDefaultMaxPixels;  // larger headers are refused before any pixel buffer exists
  ExifOrientation exif = ExifOrientation::kApply;
  JpegIdct idct = JpegIdct::kAccurate;
};

// Throws cam::Error "<name>: <reason>" for empty, truncated, non-image data or a header over max_pixels
// (checked before any pixel buffer is allocated).
Image decode_image(const uint8_t* data, size_t size, const std::string& name,
                   const DecodeOptions& options = {});
// Reads only a regular file of at most 2 GB (engine/io/read_file.h).
Image read_image(const std::string& path, const DecodeOptions& options = {});

// The EXIF orientation (1..8) in an APP1 segment's payload ("Exif\0\0" + TIFF), 1 when there is none.
int exif_orientation(const uint8_t* app1, size_t size);
// The image as orientation o (1..8) says to show it: PIL's transpose for exif_transpose (2 mirror, 3 rotate
// 180, 4 flip, 5 transpose, 6 rotate 90 clockwise, 7 transverse, 8 rotate 90 counter-clockwise).
Image oriented(const Image& image, int orientation);

// The PNG or JPEG file bytes of an image. Throws cam::Error if it cannot be encoded.
std::vector<uint8_t> encode_image(const Image& image, bool png, int jpeg_quality = 95);

// Writes PNG or JPEG by the path's extension (.png, .jpg, .jpeg) through write_file_atomically
// (engine/io/atomic_file.h): a reader never sees a partial file. Throws cam::Error (OutputFullError when the
// disk is full).
void write_image(const std::string& path, const Image& image, int jpeg_quality = 95);

}  // namespace cam
