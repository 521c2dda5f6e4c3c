// Image-level helpers over the CPU ops, part of the public API (engine/engine.h includes this): the colormap
// names, a map's overlay on a photo, and an image resize by any ResizeMode.
#pragma once
#include <string>

#include "engine/io/image.h"
#include "kernels/preprocess_math.h"
#include "kernels/resize_mode.h"

namespace cam {

// Index of a colormap name (jet, turbo, viridis, inferno, magma, plasma, hot, bone); throws cam::Error.
int colormap_index(const std::string& name);

// A map (map_h, map_w) in [0, 1] blended over `image` at the image's size, as the backends draw overlays:
// the map resized bilinearly over the image's `region` (input_region: all of it unless the input was a
// crop; the photo's own pixels outside), colored by `colormap`, weighted against the image by image_weight.
Image overlay_map(const float* map, int map_h, int map_w, const Image& image, const MapRegion& region,
                  float image_weight, int colormap);

// PIL's Image.resize(size, BILINEAR) or (NEAREST), or cv2.resize(INTER_LINEAR) or (INTER_AREA), to the bit
// (kernels/preprocess_math.h), as the network input is resized.
Image resize_image(const Image& image, int width, int height, ResizeMode mode = ResizeMode::kPilBilinear);

}  // namespace cam
