#include "cli/object_mask.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "engine/base/error.h"
#include "engine/io/image_io.h"

namespace cam {

double ObjectMask::area() const {
  if (inside.empty()) return 0;
  size_t n = 0;
  for (uint8_t v : inside) n += v;
  return static_cast<double>(n) / inside.size();
}

ObjectMask mask_from_white_background(const Image& image, int threshold) {
  const int w = image.width, h = image.height;
  ObjectMask m;
  m.width = w, m.height = h;
  m.inside.assign(static_cast<size_t>(w) * h, 1);
  auto white = [&](size_t p) {
    const uint8_t* px = &image.rgb[p * 3];
    return px[0] >= threshold && px[1] >= threshold && px[2] >= threshold;
  };
  // Flood fill of the background from every white border pixel; a pixel is pushed once, when it is marked.
  std::vector<size_t> stack;
  auto visit = [&](int x, int y) {
    const size_t p = static_cast<size_t>(y) * w + x;
    if (m.inside[p] && white(p)) m.inside[p] = 0, stack.push_back(p);
  };
  for (int x = 0; x < w; ++x) visit(x, 0), visit(x, h - 1);
  for (int y = 0; y < h; ++y) visit(0, y), visit(w - 1, y);
  while (!stack.empty()) {
    const size_t p = stack.back();
    stack.pop_back();
    const int x = static_cast<int>(p % w), y = static_cast<int>(p / w);
    if (x > 0) visit(x - 1, y);
    if (x + 1 < w) visit(x + 1, y);
    if (y > 0) visit(x, y - 1);
    if (y + 1 < h) visit(x, y + 1);
  }
  return m;
}

ObjectMask mask_from_boxes(int width, int height, const std::vector<std::array<int, 4>>& boxes) {
  ObjectMask m;
  m.width = width, m.height = height;
  m.inside.assign(static_cast<size_t>(width) * height, 0);
  for (const std::array<int, 4>& b : boxes)
    for (int y = std::max(0, b[1]); y <= std::min(height - 1, b[3]); ++y)
      for (int x = std::max(0, b[0]); x <= std::min(width - 1, b[2]); ++x)
        m.inside[static_cast<size_t>(y) * width + x] = 1;
  return m;
}

ObjectMask mask_from_image(const Image& mask, int width, int height) {
  ObjectMask m;
  m.width = width, m.height = height;
  m.inside.resize(static_cast<size_t>(width) * height);
  for (int y = 0; y < height; ++y) {
    const int sy = static_cast<int>(static_cast<int64_t>(y) * mask.height / height);
    for (int x = 0; x < width; ++x) {
      const int sx = static_cast<int>(static_cast<int64_t>(x) * mask.width / width);
      const uint8_t* px = &mask.rgb[(static_cast<size_t>(sy) * mask.width + sx) * 3];
      m.inside[static_cast<size_t>(y) * width + x] = px[0] > 127 || px[1] > 127 || px[2] > 127;
    }
  }
  return m;
}

MaskScore score_map(const float* map, int h, int w, const MapRegion& region, const Localization& peak,
                    const ObjectMask& mask, double tolerance) {
  MaskScore s;
  double total = 0, on_object = 0;
  std::vector<int> mask_x(w);  // the mask column under each map column, once
  for (int x = 0; x < w; ++x)
    mask_x[x] = std::min(mask.width - 1, region.x0 + static_cast<int>((x + 0.5) * region.width / w));
  for (int y = 0; y < h; ++y) {
    const int my = std::min(mask.height - 1, region.y0 + static_cast<int>((y + 0.5) * region.height / h));
    const uint8_t* mask_row = &mask.inside[static_cast<size_t>(my) * mask.width];
    for (int x = 0; x < w; ++x) {
      const double v = map[static_cast<size_t>(y) * w + x];
      total += v;
      if (mask_row[mask_x[x]]) on_object += v;
    }
  }
  if (!(total > 0)) {
    s.empty_map = true;
    return s;
  }
  s.energy = on_object / total;
  // Distance to the nearest object pixel: one pass over the mask (the same order of work as making it).
  int64_t best = -1;
  if (mask.inside[static_cast<size_t>(peak.peak_y) * mask.width + peak.peak_x]) {
    best = 0;
  } else {
    for (int y = 0; y < mask.height; ++y)
      for (int x = 0; x < mask.width; ++x)
        if (mask.inside[static_cast<size_t>(y) * mask.width + x]) {
          const int64_t dx = x - peak.peak_x, dy = y - peak.peak_y, d = dx * dx + dy * dy;
          if (best < 0 || d < best) best = d;
        }
  }
  s.peak_distance = best < 0 ? -1.0 : std::sqrt(static_cast<double>(best));
  s.peak_inside = best >= 0 && s.peak_distance <= tolerance;
  return s;
}

namespace {

std::array<int, 4> parse_box(const nlohmann::json& j, const std::string& where) {
  if (!j.is_array() || j.size() != 4)
    throw Error(where + ": a box must be [x0, y0, x1, y1] (inclusive pixels)");
  std::array<int, 4> b{};
  for (int i = 0; i < 4; ++i) {
    if (!j[i].is_number()) throw Error(where + ": box coordinates must be numbers");
    b[i] = static_cast<int>(j[i].get<double>());
  }
  if (b[2] < b[0] || b[3] < b[1]) throw Error(where + ": a box needs x1 >= x0 and y1 >= y0");
  return b;
}

}  // namespace

MaskSource::MaskSource(const std::string& spec) {
  const std::string usage =
      "--object-mask must be white, white:T, boxes:FILE or masks:DIR, got '" + spec + "'";
  if (spec == "white") {
    kind_ = Kind::white;
  } else if (spec.rfind("white:", 0) == 0) {
    kind_ = Kind::white;
    char* end = nullptr;
    long t = std::strtol(spec.c_str() + 6, &end, 10);
    if (spec.size() == 6 || *end || t < 1 || t > 255) throw Error(usage + " (T is 1..255)");
    threshold_ = static_cast<int>(t);
  } else if (spec.rfind("masks:", 0) == 0 && spec.size() > 6) {
    kind_ = Kind::masks;
    folder_ = spec.substr(6);
  } else if (spec.rfind("boxes:", 0) == 0 && spec.size() > 6) {
    kind_ = Kind::boxes;
    const std::string file = spec.substr(6);
    std::ifstream in(file);
    if (!in) throw Error(file + ": cannot read the boxes file");
    nlohmann::json j = nlohmann::json::parse(in, nullptr, false);
    if (!j.is_object())
      throw Error(file + ": not a JSON object of image path -> [x0, y0, x1, y1] or a list of boxes");
    for (auto it = j.begin(); it != j.end(); ++it) {
      const std::string where = file + ": \"" + it.key() + "\"";
      std::vector<std::array<int, 4>> boxes;
      if (it->is_array() && !it->empty() && (*it)[0].is_array())
        for (const nlohmann::json& b : *it) boxes.push_back(parse_box(b, where));
      else
        boxes.push_back(parse_box(*it, where));
      boxes_.emplace_back(it.key(), std::move(boxes));
    }
    std::sort(boxes_.begin(), boxes_.end());
  } else {
    throw Error(usage);
  }
}

ObjectMask MaskSource::mask_for(const std::string& path, const std::string& output_name,
                                const Image& image) const {
  if (kind_ == Kind::white) return mask_from_white_background(image, threshold_);
  if (kind_ == Kind::masks) {
    const std::string file = folder_ + "/" + output_name + ".png";
    return mask_from_image(read_image(file), image.width, image.height);
  }
  for (const std::string& key : {path, std::filesystem::path(path).filename().string()}) {
    auto it = std::lower_bound(boxes_.begin(), boxes_.end(), key,
                               [](const auto& entry, const std::string& k) { return entry.first < k; });
    if (it != boxes_.end() && it->first == key) return mask_from_boxes(image.width, image.height, it->second);
  }
  throw Error(path + ": no box for this image in the --object-mask boxes file");
}

}  // namespace cam
