// Where the object is, and how much of a map falls on it: the pointing game (is the map's peak on the
// object?) and energy-in-mask (the fraction of the map's mass on the object), scored against a ground-truth
// mask at the original image size. The mask comes from boxes, from a mask image, or from a plain background:
// Fruits-360 photos are on white, so the object is every pixel not reached from the border through near-white
// pixels (highlights inside the fruit stay object).
#pragma once
#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "cli/outputs.h"
#include "engine/io/image.h"

namespace cam {

// (height, width) row-major, 1 = object, 0 = background.
struct ObjectMask {
  int width = 0, height = 0;
  std::vector<uint8_t> inside;  // (height, width)
  double area() const;          // fraction of pixels that are object
};

// Background = pixels whose every channel is >= threshold and that connect (4-neighbours) to the image border
// through such pixels; everything else is object.
ObjectMask mask_from_white_background(const Image& image, int threshold);

// Union of inclusive boxes [x0, y0, x1, y1] in pixels, clipped to the image.
ObjectMask mask_from_boxes(int width, int height, const std::vector<std::array<int, 4>>& boxes);

// A mask image (any channel > 127 = object), stretched to (width, height) by nearest neighbour.
ObjectMask mask_from_image(const Image& mask, int width, int height);

struct MaskScore {
  bool empty_map = false;    // the map is all zeros: neither score is defined
  bool peak_inside = false;  // pointing game hit: the peak within `tolerance` pixels of the object
  double peak_distance =
      0;              // pixels from the peak to the nearest object pixel (0 on the object; -1: no object)
  double energy = 0;  // sum of the map on the object / sum of the map, in [0, 1]
};

// map: (h, w) at the network input size, stretched over `region` of the mask's image (input_region: all of
// it, or a centre crop's part); peak from localize() on that map. Each map pixel is scored by the mask pixel
// under its centre. tolerance: the pointing game's, in original pixels (Zhang et al. 2016 count a peak within
// 15 px of the object as a hit; 0 = strictly on it).
MaskScore score_map(const float* map, int h, int w, const MapRegion& region, const Localization& peak,
                    const ObjectMask& mask, double tolerance = 0);

// How a run gets its masks: "white" or "white:T" (T in 1..255, default 230), "boxes:FILE" (JSON object: image
// path or file name -> [x0, y0, x1, y1] or a list of such boxes), or "masks:DIR" (DIR/<output name>.png, e.g.
// DIR/Apple/r0_1.jpg.png). Throws cam::Error for a malformed spec or boxes file.
class MaskSource {
 public:
  MaskSource() = default;
  explicit MaskSource(const std::string& spec);
  bool enabled() const { return kind_ != Kind::none; }
  // The mask for one image; throws cam::Error when the image has none (no box, missing mask file).
  ObjectMask mask_for(const std::string& path, const std::string& output_name, const Image& image) const;

 private:
  enum class Kind { none, white, boxes, masks };
  Kind kind_ = Kind::none;
  int threshold_ = 230;
  std::string folder_;
  std::vector<std::pair<std::string, std::vector<std::array<int, 4>>>> boxes_;  // sorted by key
};

}  // namespace cam
