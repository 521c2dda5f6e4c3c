#include "cli/outputs.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>

#include "engine/base/error.h"
#include "engine/io/atomic_file.h"
#include "engine/io/image_io.h"
#include "engine/ops/image_ops.h"

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#include <stb_easy_font.h>
#pragma GCC diagnostic pop

namespace cam {
namespace {

void fill_rect(Image& img, int x0, int y0, int x1, int y1, const unsigned char* rgb) {
  for (int y = std::max(0, y0); y < std::min(img.height, y1); ++y)
    for (int x = std::max(0, x0); x < std::min(img.width, x1); ++x)
      std::memcpy(&img.rgb[(static_cast<size_t>(y) * img.width + x) * 3], rgb, 3);
}

// Draws text with stb_easy_font's quads, scaled by `scale`, at (x, y) top-left.
void draw_text(Image& img, int x, int y, const std::string& text, int scale) {
  std::vector<char> buffer(text.size() * 300 + 64);
  std::vector<char> chars(text.begin(), text.end());
  chars.push_back('\0');
  unsigned char color[4] = {0, 0, 0, 255};
  int quads = stb_easy_font_print(0, 0, chars.data(), color, buffer.data(), static_cast<int>(buffer.size()));
  const unsigned char black[3] = {20, 20, 20};
  for (int q = 0; q < quads; ++q) {
    const float* v0 = reinterpret_cast<const float*>(&buffer[q * 64]);       // vertex 0 (x, y, z, rgba)
    const float* v2 = reinterpret_cast<const float*>(&buffer[q * 64 + 32]);  // vertex 2, the opposite corner
    fill_rect(img, x + static_cast<int>(v0[0] * scale), y + static_cast<int>(v0[1] * scale),
              x + static_cast<int>(v2[0] * scale), y + static_cast<int>(v2[1] * scale), black);
  }
}

}  // namespace

namespace {

// The largest of n values, in eight independent lanes so that the compiler vectorises it (a single running
// maximum is a serial dependency it may not reorder). -inf for n == 0.
float max_of(const float* v, int n) {
  float lanes[8];
  for (float& lane : lanes) lane = -INFINITY;
  int i = 0;
  for (; i + 8 <= n; i += 8)
    for (int j = 0; j < 8; ++j) lanes[j] = v[i + j] > lanes[j] ? v[i + j] : lanes[j];
  for (; i < n; ++i) lanes[0] = v[i] > lanes[0] ? v[i] : lanes[0];
  float top = lanes[0];
  for (float lane : lanes) top = lane > top ? lane : top;
  return top;
}

}  // namespace

// Row by row: each row's maximum first, then only the rows that reach the box threshold are searched (from
// both ends) for the box, and only those that reach the plateau for the peak. A map is mostly rows of
// neither kind's interior, so this reads each value about once (0.38 -> 0.017 ms for a 320x320 map on the
// development VM), with the same result as a test of every pixel.
Localization localize(const float* map, int h, int w, const MapRegion& region, float threshold) {
  std::vector<float> row_max(h);
  float top = -INFINITY;
  for (int y = 0; y < h; ++y) {
    row_max[y] = max_of(map + static_cast<size_t>(y) * w, w);
    top = row_max[y] > top ? row_max[y] : top;
  }
  Localization loc;
  if (!(top > 0)) {
    loc.empty = true;
    return loc;
  }
  const float cut = threshold * top;
  // The peak is the centre of the maximum's plateau: an upsampled map is flat between the border and the
  // first low-resolution sample, and the first pixel of that plateau would sit in a corner.
  double sum_x = 0, sum_y = 0;
  int at_top = 0, x0 = w, y0 = h, x1 = -1, y1 = -1;
  const float plateau = top - 1e-6f * top;
  for (int y = 0; y < h; ++y) {
    const float* row = map + static_cast<size_t>(y) * w;
    if (row_max[y] >= cut) {
      int first = 0, last = w - 1;
      while (!(row[first] >= cut)) ++first;
      while (!(row[last] >= cut)) --last;
      x0 = std::min(x0, first), x1 = std::max(x1, last), y0 = std::min(y0, y), y1 = y;
    }
    if (row_max[y] >= plateau)
      for (int x = 0; x < w; ++x)
        if (row[x] >= plateau) sum_x += x, sum_y += y, ++at_top;
  }
  const int rw = region.width, rh = region.height;
  const double sx = static_cast<double>(rw) / w, sy = static_cast<double>(rh) / h;
  loc.peak_x = region.x0 + std::min(rw - 1, static_cast<int>((sum_x / at_top + 0.5) * sx));
  loc.peak_y = region.y0 + std::min(rh - 1, static_cast<int>((sum_y / at_top + 0.5) * sy));
  loc.box_x0 = region.x0 + static_cast<int>(std::floor(x0 * sx));
  loc.box_y0 = region.y0 + static_cast<int>(std::floor(y0 * sy));
  loc.box_x1 = region.x0 + std::min(rw - 1, static_cast<int>(std::ceil((x1 + 1) * sx)) - 1);
  loc.box_y1 = region.y0 + std::min(rh - 1, static_cast<int>(std::ceil((y1 + 1) * sy)) - 1);
  return loc;
}

void write_npy(const std::string& path, const float* data, const std::vector<int>& shape) {
  std::string dims;
  size_t count = 1;
  for (size_t i = 0; i < shape.size(); ++i)
    dims += (i ? ", " : "") + std::to_string(shape[i]), count *= static_cast<size_t>(shape[i]);
  if (shape.size() == 1) dims += ",";
  std::string dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (" + dims + "), }";
  size_t total = 10 + dict.size() + 1;
  dict += std::string((64 - total % 64) % 64, ' ') + "\n";
  std::string head = "\x93NUMPY";
  head += '\x01';
  head += '\x00';
  head += static_cast<char>(dict.size() & 0xff);
  head += static_cast<char>(dict.size() >> 8);
  write_file_atomically(path, head + dict, data, count * sizeof(float));
}

void write_text_file(const std::string& path, const std::string& content) {
  write_file_atomically(path, content, nullptr, 0);
}

Image make_panel(const Image& original, const std::vector<const Image*>& overlays,
                 const std::vector<std::string>& captions, int tile) {
  const int scale = tile >= 200 ? 2 : 1, caption_h = 14 * scale + 8, gap = 4;
  const int tile_w = std::max(
      1, static_cast<int>(std::lround(static_cast<double>(original.width) * tile / original.height)));
  const int tiles = 1 + static_cast<int>(overlays.size());
  Image panel;
  panel.width = tiles * tile_w + (tiles - 1) * gap;
  panel.height = tile + caption_h;
  panel.rgb.assign(static_cast<size_t>(panel.width) * panel.height * 3, 255);
  for (int t = 0; t < tiles; ++t) {
    const Image& src = t == 0 ? original : *overlays[t - 1];
    Image scaled = (src.width == tile_w && src.height == tile) ? src : resize_image(src, tile_w, tile);
    const int x0 = t * (tile_w + gap);
    for (int y = 0; y < tile; ++y)
      std::memcpy(&panel.rgb[(static_cast<size_t>(y) * panel.width + x0) * 3],
                  &scaled.rgb[static_cast<size_t>(y) * tile_w * 3], static_cast<size_t>(tile_w) * 3);
    if (t < static_cast<int>(captions.size())) {
      std::string text = captions[t];
      const size_t fits = static_cast<size_t>(std::max(1, tile_w / (6 * scale)));
      if (text.size() > fits) text = text.substr(0, fits > 2 ? fits - 2 : fits) + "..";
      draw_text(panel, x0 + 2, tile + 4, text, scale);
    }
  }
  return panel;
}

}  // namespace cam
