// Image I/O: JPEG decoding and encoding through libjpeg-turbo with PIL's settings (the library and defaults
// PIL, OpenCV and TensorFlow decode with, so the pixels are PIL's bit for bit); PNG encoding around
// libdeflate (measured, below); every other decoder through stb. libstb-dev ships the stb
// implementations as a shared library, so no *_IMPLEMENTATION here.
#include "engine/io/image_io.h"

// clang-format off
#include <cstdio>  // jpeglib.h needs FILE and size_t declared first
#include <jpeglib.h>
#include <jerror.h>
// clang-format on
#include <libdeflate.h>
#include <stb_image.h>

#include <algorithm>
#include <cerrno>
#include <csetjmp>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <vector>

#include "engine/base/error.h"
#include "engine/io/atomic_file.h"
#include "engine/io/read_file.h"

namespace cam {
namespace {

// stb grows its PNG data buffer to whatever a chunk header claims before reading it, so a 90-byte file can
// make it allocate gigabytes (found by fuzz_image). Every chunk must fit in the bytes that are actually
// there.
void check_png_chunks(const uint8_t* data, size_t size, const std::string& name) {
  static const uint8_t kSignature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  if (size < 8 || std::memcmp(data, kSignature, 8) != 0) return;
  for (size_t offset = 8; offset + 8 <= size;) {
    const uint64_t length = (uint64_t{data[offset]} << 24) | (data[offset + 1] << 16) |
                            (data[offset + 2] << 8) | data[offset + 3];
    if (length > size - offset - 8)
      throw Error(name + ": corrupt PNG: a chunk at byte " + std::to_string(offset) + " claims " +
                  std::to_string(length) + " bytes, only " + std::to_string(size - offset - 8) + " follow");
    if (std::memcmp(data + offset + 4, "IEND", 4) == 0) return;
    offset += 12 + length;
  }
}

// Debian's stb snapshot trusts the 16 code counts of a JPEG Huffman table: more than 256 codes write past its
// code tables (UBSan in fuzz_image). The markers are walked as stb reads them (0xFF fill bytes allowed before
// any marker, segments skipped by their length, tables read until the declared length is used up even if the
// last one runs past it, bytes past the file read as 0) and every DHT table is checked first.
void check_jpeg_tables(const uint8_t* data, size_t size, const std::string& name) {
  auto skip_fill = [&](size_t at) {
    while (at < size && data[at] == 0xFF) ++at;
    return at;
  };
  if (size < 2 || data[0] != 0xFF) return;
  size_t offset = skip_fill(0);
  if (offset >= size || data[offset] != 0xD8) return;
  for (++offset; offset < size;) {
    if (data[offset] != 0xFF) {  // entropy-coded bytes: look for the next marker
      ++offset;
      continue;
    }
    const size_t m = skip_fill(offset);
    if (m >= size) return;
    const uint8_t marker = data[m];
    if (marker == 0x00 || marker == 0x01 || (marker >= 0xD0 && marker <= 0xD7)) {  // stuffed byte, TEM, RSTn
      offset = m + 1;
      continue;
    }
    if (marker == 0xD9 || m + 2 >= size) return;  // EOI, or no length left
    const size_t length = (static_cast<size_t>(data[m + 1]) << 8) | data[m + 2];
    const size_t end = std::min(size, m + 1 + length);
    if (marker == 0xC4)
      for (size_t p = m + 3; p < end;) {
        size_t codes = 0;
        for (size_t i = p + 1; i <= p + 16 && i < size; ++i)
          codes += data[i];  // stb reads on past the segment
        if (codes > 256)
          throw Error(name + ": corrupt JPEG: a Huffman table declares " + std::to_string(codes) +
                      " codes (at most 256)");
        p += 17 + codes;
      }
    offset = m + 1 + std::max<size_t>(length, 2);
  }
}

// libjpeg reports errors through error_exit, which must not return: it jumps back to decode_jpeg. A file that
// ends early is an error too (libjpeg would only warn and pad with gray; PIL refuses it as truncated); other
// warnings (extraneous bytes before a marker) are ignored, as PIL ignores them.
struct JpegErrors {
  jpeg_error_mgr mgr;
  std::jmp_buf jump;
  char message[JMSG_LENGTH_MAX];
};

[[noreturn]] void jpeg_fail(j_common_ptr cinfo) {
  JpegErrors* e = reinterpret_cast<JpegErrors*>(cinfo->err);
  (*cinfo->err->format_message)(cinfo, e->message);
  std::longjmp(e->jump, 1);
}

void jpeg_message(j_common_ptr cinfo, int level) {
  if (level < 0 && cinfo->err->msg_code == JWRN_JPEG_EOF) jpeg_fail(cinfo);
}

// Gray and YCbCr come out as RGB from libjpeg (gray replicated, as PIL's convert("RGB")); CMYK and YCCK come
// out as inverted CMYK (PIL assumes Adobe's convention) and are turned into RGB with PIL's formula:
// nk = 255 - k, channel = nk - round(c * nk / 255) with PIL's fixed-point rounding.
bool is_jpeg(const uint8_t* data, size_t size) {
  return size >= 3 && data[0] == 0xFF && data[1] == 0xD8 && data[2] == 0xFF;
}

Image decode_jpeg(const uint8_t* data, size_t size, const std::string& name, const DecodeOptions& options) {
  const int64_t max_pixels = options.max_pixels;
  const ExifOrientation exif = options.exif;
  jpeg_decompress_struct cinfo;
  JpegErrors errors;
  cinfo.err = jpeg_std_error(&errors.mgr);
  errors.mgr.error_exit = jpeg_fail;
  errors.mgr.emit_message = jpeg_message;
  Image img;  // declared before setjmp: nothing with a destructor is created between setjmp and a longjmp
  std::vector<uint8_t> row;
  if (setjmp(errors.jump)) {
    jpeg_destroy_decompress(&cinfo);
    throw Error(name + ": cannot decode JPEG (libjpeg: " + errors.message + ")");
  }
  jpeg_create_decompress(&cinfo);
  jpeg_mem_src(&cinfo, data, static_cast<unsigned long>(size));
  if (exif == ExifOrientation::kApply) jpeg_save_markers(&cinfo, JPEG_APP0 + 1, 0xFFFF);
  jpeg_read_header(&cinfo, TRUE);
  int orientation = 1;
  for (jpeg_saved_marker_ptr m = cinfo.marker_list; m && orientation == 1; m = m->next)
    if (m->marker == JPEG_APP0 + 1) orientation = exif_orientation(m->data, m->data_length);
  const bool cmyk = cinfo.jpeg_color_space == JCS_CMYK || cinfo.jpeg_color_space == JCS_YCCK;
  cinfo.out_color_space = cmyk ? JCS_CMYK : JCS_RGB;
  const int64_t w = cinfo.image_width, h = cinfo.image_height;
  if (w <= 0 || h <= 0) {
    jpeg_destroy_decompress(&cinfo);
    throw Error(name + ": image has zero size");
  }
  if (w * h > max_pixels) {
    jpeg_destroy_decompress(&cinfo);
    throw Error(name + ": image is " + std::to_string(w) + "x" + std::to_string(h) + ", over the limit of " +
                std::to_string(max_pixels) + " pixels");
  }
  cinfo.dct_method = options.idct == JpegIdct::kFast ? JDCT_IFAST : JDCT_ISLOW;
  jpeg_start_decompress(&cinfo);
  img.width = static_cast<int>(w), img.height = static_cast<int>(h);
  img.rgb.resize(static_cast<size_t>(w * h * 3));
  row.resize(static_cast<size_t>(w * cinfo.output_components));
  while (cinfo.output_scanline < cinfo.output_height) {
    JSAMPROW rows[1] = {row.data()};
    const int64_t y = cinfo.output_scanline;
    jpeg_read_scanlines(&cinfo, rows, 1);
    uint8_t* out = &img.rgb[static_cast<size_t>(y * w * 3)];
    if (!cmyk) {
      std::memcpy(out, row.data(), static_cast<size_t>(w * 3));
      continue;
    }
    for (int64_t x = 0; x < w; ++x) {
      const uint8_t* p = &row[static_cast<size_t>(x * 4)];
      const int nk = p[3];  // inverted k: 255 - k
      for (int c = 0; c < 3; ++c) {
        const int t = (255 - p[c]) * nk + 128;
        out[x * 3 + c] = static_cast<uint8_t>(std::clamp(nk - (((t >> 8) + t) >> 8), 0, 255));
      }
    }
  }
  jpeg_finish_decompress(&cinfo);
  jpeg_destroy_decompress(&cinfo);
  return orientation == 1 ? img : oriented(img, orientation);
}

}  // namespace

Image decode_image(const uint8_t* data, size_t size, const std::string& name, const DecodeOptions& options) {
  const int64_t max_pixels = options.max_pixels;
  if (size == 0) throw Error(name + ": empty file");
  if (size > static_cast<size_t>(INT32_MAX)) throw Error(name + ": file larger than 2 GB");
  if (is_jpeg(data, size)) return decode_jpeg(data, size, name, options);
  check_png_chunks(data, size, name);
  check_jpeg_tables(data, size, name);
  int w = 0, h = 0, channels = 0;
  if (!stbi_info_from_memory(data, static_cast<int>(size), &w, &h, &channels))
    throw Error(name + ": not a decodable image (" + stbi_failure_reason() + ")");
  if (w <= 0 || h <= 0) throw Error(name + ": image has zero size");
  if (static_cast<int64_t>(w) * h > max_pixels)
    throw Error(name + ": image is " + std::to_string(w) + "x" + std::to_string(h) + ", over the limit of " +
                std::to_string(max_pixels) + " pixels");
  uint8_t* pixels = stbi_load_from_memory(data, static_cast<int>(size), &w, &h, &channels, 3);
  if (!pixels) throw Error(name + ": cannot decode image (" + stbi_failure_reason() + ")");
  Image img;
  img.width = w;
  img.height = h;
  img.rgb.assign(pixels, pixels + static_cast<size_t>(w) * h * 3);
  stbi_image_free(pixels);
  return img;
}

Image read_image(const std::string& path, const DecodeOptions& options) {
  // stb takes int sizes: 2 GB at most
  const std::vector<uint8_t> bytes = read_regular_file(path, static_cast<size_t>(INT32_MAX), "image file");
  return decode_image(bytes.data(), bytes.size(), path, options);
}

// TIFF inside APP1: "Exif\0\0", byte order "II" or "MM", 42, the offset of IFD0 from the TIFF start; IFD0 is
// a count then 12-byte entries (tag, type, count, value). Every read is bounds-checked: any damage means 1.
int exif_orientation(const uint8_t* app1, size_t size) {
  if (size < 14 || std::memcmp(app1, "Exif\0\0", 6) != 0) return 1;
  const uint8_t* tiff = app1 + 6;
  const size_t length = size - 6;
  const bool little = tiff[0] == 'I' && tiff[1] == 'I';
  if (!little && !(tiff[0] == 'M' && tiff[1] == 'M')) return 1;
  auto u16 = [&](size_t at) -> uint32_t {
    return little ? tiff[at] | tiff[at + 1] << 8 : tiff[at] << 8 | tiff[at + 1];
  };
  auto u32 = [&](size_t at) { return little ? u16(at) | u16(at + 2) << 16 : u16(at) << 16 | u16(at + 2); };
  if (u16(2) != 42) return 1;
  const size_t ifd = u32(4);
  if (ifd > length - 2) return 1;
  const size_t entries = u16(ifd);
  for (size_t i = 0; i < entries && ifd + 2 + 12 * (i + 1) <= length; ++i) {
    const size_t entry = ifd + 2 + 12 * i;
    if (u16(entry) != 0x0112) continue;
    const uint32_t type = u16(entry + 2), value = type == 3 ? u16(entry + 8) : type == 4 ? u32(entry + 8) : 0;
    return value >= 1 && value <= 8 ? static_cast<int>(value) : 1;
  }
  return 1;
}

Image oriented(const Image& image, int orientation) {
  const int w = image.width, h = image.height;
  const bool swaps = orientation >= 5 && orientation <= 8;
  Image out;
  out.width = swaps ? h : w, out.height = swaps ? w : h;
  out.rgb.resize(image.rgb.size());
  for (int y = 0; y < out.height; ++y)
    for (int x = 0; x < out.width; ++x) {
      int sx = x, sy = y;  // the source pixel of output (x, y)
      switch (orientation) {
        case 2:
          sx = w - 1 - x;
          break;
        case 3:
          sx = w - 1 - x, sy = h - 1 - y;
          break;
        case 4:
          sy = h - 1 - y;
          break;
        case 5:
          sx = y, sy = x;
          break;
        case 6:
          sx = y, sy = h - 1 - x;
          break;
        case 7:
          sx = w - 1 - y, sy = h - 1 - x;
          break;
        case 8:
          sx = w - 1 - y, sy = x;
          break;
        default:
          break;
      }
      std::memcpy(&out.rgb[(static_cast<size_t>(y) * out.width + x) * 3],
                  &image.rgb[(static_cast<size_t>(sy) * w + sx) * 3], 3);
    }
  return out;
}

namespace {

// PNG written here around libdeflate: the Up filter on every row, libdeflate's level 1, one IDAT chunk.
// Measured on 400 real 100x100 overlays (AMD EPYC, one thread): 0.23 ms and 15.7 kB an image, against libpng
// + zlib level 1 (best strategy and filter, Huffman-only + Up) 0.33-0.37 ms and 16.7 kB, and stb's
// writer 1.98 ms and 20.7 kB (bench/results/2026-12-02-e2e-cpu-epyc-2core.md). Lossless whatever the
// settings.
void append_be32(std::vector<uint8_t>& out, uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<uint8_t>(v >> shift));
}

void append_chunk(std::vector<uint8_t>& out, const char* type, const uint8_t* data, size_t size) {
  append_be32(out, static_cast<uint32_t>(size));
  const size_t start = out.size();
  out.insert(out.end(), type, type + 4);
  out.insert(out.end(), data, data + size);
  append_be32(out, static_cast<uint32_t>(libdeflate_crc32(0, out.data() + start, size + 4)));
}

std::vector<uint8_t> encode_png(const Image& image) {
  struct FreeCompressor {
    void operator()(libdeflate_compressor* c) const { libdeflate_free_compressor(c); }
  };
  thread_local std::unique_ptr<libdeflate_compressor, FreeCompressor> compressor(
      libdeflate_alloc_compressor(1));
  if (!compressor) throw Error("cannot encode a PNG: out of memory");
  const size_t stride = static_cast<size_t>(image.width) * 3;
  if (static_cast<uint64_t>(stride + 1) * image.height > UINT32_MAX / 2)
    throw Error("cannot encode a " + std::to_string(image.width) + "x" + std::to_string(image.height) +
                " PNG: too large");
  std::vector<uint8_t> rows((stride + 1) *
                            image.height);  // each row: filter type 2 (Up), then the differences
  for (int y = 0; y < image.height; ++y) {
    uint8_t* out = &rows[y * (stride + 1)];
    const uint8_t* row = &image.rgb[y * stride];
    const uint8_t* above = y ? row - stride : nullptr;
    out[0] = 2;
    for (size_t i = 0; i < stride; ++i) out[1 + i] = static_cast<uint8_t>(row[i] - (above ? above[i] : 0));
  }
  std::vector<uint8_t> idat(libdeflate_zlib_compress_bound(compressor.get(), rows.size()));
  idat.resize(libdeflate_zlib_compress(compressor.get(), rows.data(), rows.size(), idat.data(), idat.size()));
  if (idat.empty()) throw Error("cannot encode a PNG: libdeflate failed");
  static const uint8_t kSignature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  std::vector<uint8_t> png(kSignature, kSignature + 8);
  png.reserve(idat.size() + 64);
  std::vector<uint8_t> header;
  append_be32(header, static_cast<uint32_t>(image.width));
  append_be32(header, static_cast<uint32_t>(image.height));
  header.insert(header.end(), {8, 2, 0, 0, 0});  // 8 bits, RGB, deflate, adaptive filtering, not interlaced
  append_chunk(png, "IHDR", header.data(), header.size());
  append_chunk(png, "IDAT", idat.data(), idat.size());
  append_chunk(png, "IEND", nullptr, 0);
  return png;
}

// libjpeg-turbo's defaults (4:2:0 chroma, as PIL's save) at the given quality.
std::vector<uint8_t> encode_jpeg(const Image& image, int quality) {
  jpeg_compress_struct cinfo;
  JpegErrors errors;
  cinfo.err = jpeg_std_error(&errors.mgr);
  errors.mgr.error_exit = jpeg_fail;
  unsigned char* buffer = nullptr;  // declared before setjmp, freed on both paths
  unsigned long size = 0;
  if (setjmp(errors.jump)) {
    jpeg_destroy_compress(&cinfo);
    std::free(buffer);
    throw Error("cannot encode a " + std::to_string(image.width) + "x" + std::to_string(image.height) +
                " JPEG (libjpeg: " + errors.message + ")");
  }
  jpeg_create_compress(&cinfo);
  jpeg_mem_dest(&cinfo, &buffer, &size);
  cinfo.image_width = static_cast<JDIMENSION>(image.width);
  cinfo.image_height = static_cast<JDIMENSION>(image.height);
  cinfo.input_components = 3;
  cinfo.in_color_space = JCS_RGB;
  jpeg_set_defaults(&cinfo);
  jpeg_set_quality(&cinfo, quality, TRUE);
  jpeg_start_compress(&cinfo, TRUE);
  const size_t stride = static_cast<size_t>(image.width) * 3;
  while (cinfo.next_scanline < cinfo.image_height) {
    JSAMPROW rows[1] = {const_cast<JSAMPROW>(image.rgb.data() + cinfo.next_scanline * stride)};
    jpeg_write_scanlines(&cinfo, rows, 1);
  }
  jpeg_finish_compress(&cinfo);
  jpeg_destroy_compress(&cinfo);
  std::vector<uint8_t> bytes(buffer, buffer + size);
  std::free(buffer);
  return bytes;
}

}  // namespace

std::vector<uint8_t> encode_image(const Image& image, bool png, int jpeg_quality) {
  if (image.width <= 0 || image.height <= 0 ||
      image.rgb.size() != static_cast<size_t>(image.width) * image.height * 3)
    throw Error("cannot encode an image of " + std::to_string(image.width) + "x" +
                std::to_string(image.height) + " with " + std::to_string(image.rgb.size()) + " bytes");
  return png ? encode_png(image) : encode_jpeg(image, jpeg_quality);
}

void write_image(const std::string& path, const Image& image, int jpeg_quality) {
  auto ends_with = [&](const char* suffix) {
    size_t n = std::strlen(suffix);
    if (path.size() < n) return false;
    for (size_t i = 0; i < n; ++i)
      if (std::tolower(static_cast<unsigned char>(path[path.size() - n + i])) != suffix[i]) return false;
    return true;
  };
  bool png = ends_with(".png"), jpg = ends_with(".jpg") || ends_with(".jpeg");
  if (!png && !jpg) throw Error(path + ": output must end in .png, .jpg or .jpeg");
  std::vector<uint8_t> bytes;
  try {
    bytes = encode_image(image, png, jpeg_quality);
  } catch (const Error& e) {
    throw Error(path + ": " + e.what());
  }
  // Not stb's own file writers: they ignore fwrite/fclose failures (a full disk would leave a truncated
  // file).
  write_file_atomically(path, std::string(), bytes.data(), bytes.size());
}

}  // namespace cam
