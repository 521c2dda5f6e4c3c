// The image-level helpers of engine/ops/image_ops.h over the CPU ops (engine/ops/cpu_ops.h).
#include "engine/ops/image_ops.h"

#include "engine/base/error.h"
#include "engine/ops/cpu_ops.h"
#include "kernels/colormap_table.h"

namespace cam {

int colormap_index(const std::string& name) {
  std::string known;
  for (int i = 0; i < kColormapCount; ++i) {
    if (name == kColormapNames[i]) return i;
    known += (i ? ", " : "") + std::string(kColormapNames[i]);
  }
  throw Error("unknown colormap '" + name + "' (expected one of " + known + ")");
}

Image overlay_map(const float* map, int map_h, int map_w, const Image& image, const MapRegion& region,
                  float image_weight, int colormap) {
  Image out;
  out.width = image.width, out.height = image.height;
  out.rgb.resize(image.rgb.size());
  overlay_cpu(map, map_h, map_w, image.rgb.data(), image.height, image.width, region, image_weight, colormap,
              out.rgb.data());
  return out;
}

Image resize_image(const Image& image, int width, int height, ResizeMode mode) {
  Image out;
  out.width = width;
  out.height = height;
  out.rgb.resize(static_cast<size_t>(width) * height * 3);
  resize_image_cpu(image.rgb.data(), image.height, image.width, out.rgb.data(), height, width, mode);
  return out;
}

}  // namespace cam
