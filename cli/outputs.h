// What the CLI writes beside the overlays: localisation of a map in original-image pixels, NumPy .npy files,
// captioned panels, and atomically written text files. Every writer goes through a temporary name + rename.
#pragma once
#include <string>
#include <vector>

#include "engine/io/image.h"
#include "kernels/preprocess_math.h"

namespace cam {

struct Localization {
  bool empty = false;          // the map is all zeros (ReLU removed everything): no peak, no box
  int peak_x = 0, peak_y = 0;  // centre of the map's maximum, in original-image pixels
  int box_x0 = 0, box_y0 = 0, box_x1 = 0,
      box_y1 = 0;  // inclusive box of map >= threshold * max (CAM paper: 20%)
};

// map: (h, w) at the network input size, stretched over `region` of the original image (input_region: all of
// it, or a centre crop's part).
Localization localize(const float* map, int h, int w, const MapRegion& region, float threshold = 0.2f);

// Writes float32 data of `shape` as a NumPy .npy v1.0 file. Throws cam::Error.
void write_npy(const std::string& path, const float* data, const std::vector<int>& shape);

// Writes `content` to `path` via a temporary file and rename. Throws cam::Error.
void write_text_file(const std::string& path, const std::string& content);

// One image: the original, then each overlay, all scaled to `tile` pixels high, each with its caption drawn
// below.
Image make_panel(const Image& original, const std::vector<const Image*>& overlays,
                 const std::vector<std::string>& captions, int tile);

}  // namespace cam
