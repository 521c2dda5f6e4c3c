// Localisation ground truth and scores (cli/object_mask.h, cli/object_mask.cpp): masks from a white
// background, boxes and mask images, and the pointing game / energy-in-mask, each against a plain reference
// written here a different way (the background grown by whole-image sweeps until nothing changes; the energy
// summed pixel by pixel from the inverse mapping of mask pixels to map pixels).
#include <doctest/doctest.h>

#include <fstream>
#include <random>

#include "cli/object_mask.h"
#include "engine/base/error.h"
#include "engine/io/image_io.h"
#include "tests/test_util.h"

namespace {

void set_pixel(cam::Image& img, int x, int y, uint8_t r, uint8_t g, uint8_t b) {
  uint8_t* p = &img.rgb[(static_cast<size_t>(y) * img.width + x) * 3];
  p[0] = r, p[1] = g, p[2] = b;
}

}  // namespace

TEST_CASE("white background: the object is what the border cannot reach through near-white pixels") {
  cam::Image img;
  img.width = 40, img.height = 30;
  img.rgb.assign(40 * 30 * 3, 250);
  // a red ring (object) around a white highlight (stays object), and a gray speck on the background
  for (int y = 5; y < 20; ++y)
    for (int x = 8; x < 25; ++x)
      if (y == 5 || y == 19 || x == 8 || x == 24) set_pixel(img, x, y, 200, 20, 30);
  set_pixel(img, 33, 25, 120, 120, 120);
  cam::ObjectMask m = cam::mask_from_white_background(img, 230);
  REQUIRE(m.inside.size() == 40u * 30u);
  CHECK(m.inside[12 * 40 + 15] == 1);  // the highlight inside the ring
  CHECK(m.inside[5 * 40 + 8] == 1);    // the ring
  CHECK(m.inside[25 * 40 + 33] == 1);  // the speck is not white
  CHECK(m.inside[0] == 0);
  CHECK(m.inside == camtest::reference_object_mask(img, 230));
  CHECK(m.area() == doctest::Approx((15.0 * 17.0 + 1.0) / (40.0 * 30.0)));
  // a fruit touching the border, and random images, against the sweep reference
  std::mt19937 rng(3);
  for (int t = 0; t < 20; ++t) {
    cam::Image r = camtest::random_image(23 + t, 17 + 2 * t, rng);
    for (uint8_t& v : r.rgb) v = v > 60 ? 255 : v;  // mostly white, with dark islands
    CHECK(cam::mask_from_white_background(r, 230).inside == camtest::reference_object_mask(r, 230));
  }
}

TEST_CASE("boxes and mask images give the pixels they cover") {
  cam::ObjectMask b = cam::mask_from_boxes(10, 8, {{2, 1, 4, 3}, {8, 6, 20, 20}});
  int n = 0;
  for (int y = 0; y < 8; ++y)
    for (int x = 0; x < 10; ++x) {
      bool want = (x >= 2 && x <= 4 && y >= 1 && y <= 3) || (x >= 8 && y >= 6);
      CHECK(b.inside[y * 10 + x] == want);
      n += want;
    }
  CHECK(n == 9 + 4);
  cam::Image mask;
  mask.width = 4, mask.height = 2;
  mask.rgb.assign(4 * 2 * 3, 0);
  set_pixel(mask, 1, 0, 255, 255, 255);
  cam::ObjectMask s = cam::mask_from_image(mask, 8, 4);  // each mask pixel covers 2x2
  for (int y = 0; y < 4; ++y)
    for (int x = 0; x < 8; ++x) CHECK(s.inside[y * 8 + x] == (y < 2 && (x == 2 || x == 3)));
}

TEST_CASE("pointing game and energy-in-mask against a pixel-by-pixel reference") {
  std::mt19937 rng(11);
  std::uniform_real_distribution<float> u(0.0f, 1.0f);
  for (int t = 0; t < 10; ++t) {
    const int h = 12 + t, w = 9 + 2 * t, ow = 31 + 3 * t, oh = 20 + t;
    std::vector<float> map(h * w);
    for (float& v : map) v = u(rng) < 0.3f ? 0.0f : u(rng);
    cam::ObjectMask mask = cam::mask_from_boxes(ow, oh, {{ow / 4, oh / 5, ow / 2 + t, oh - 3}});
    cam::Localization loc = cam::localize(map.data(), h, w, {0, 0, ow, oh});
    cam::MaskScore s = cam::score_map(map.data(), h, w, {0, 0, ow, oh}, loc, mask);
    double on = 0, all = 0;
    for (int p = 0; p < h * w; ++p) {
      const double cx = (p % w + 0.5) * ow / w, cy = (p / w + 0.5) * oh / h;  // centre in original pixels
      const bool inside = cx >= ow / 4 && cx < ow / 2 + t + 1 && cy >= oh / 5 && cy < oh - 2;
      all += map[p];
      on += inside ? map[p] : 0;
    }
    CHECK(!s.empty_map);
    CHECK(s.energy == doctest::Approx(on / all).epsilon(1e-12));
    const bool peak_in =
        loc.peak_x >= ow / 4 && loc.peak_x <= ow / 2 + t && loc.peak_y >= oh / 5 && loc.peak_y <= oh - 3;
    CHECK(s.peak_inside == peak_in);
  }
  std::vector<float> zeros(6 * 6, 0.0f);
  cam::ObjectMask all = cam::mask_from_boxes(6, 6, {{0, 0, 5, 5}});
  CHECK(cam::score_map(zeros.data(), 6, 6, {0, 0, 6, 6}, cam::localize(zeros.data(), 6, 6, {0, 0, 6, 6}), all)
            .empty_map);
}

TEST_CASE("mask sources: spec parsing, boxes files by path or file name, refusals") {
  CHECK(!cam::MaskSource().enabled());
  CHECK(cam::MaskSource("white").enabled());
  CHECK(cam::MaskSource("white:200").enabled());
  CHECK_THROWS_WITH_AS(cam::MaskSource("white:0"), doctest::Contains("T is 1..255"), cam::Error);
  CHECK_THROWS_WITH_AS(cam::MaskSource("black"), doctest::Contains("--object-mask must be"), cam::Error);
  const std::string dir = camtest::temp_dir();
  std::ofstream(dir + "/boxes.json") << R"({"a/x.jpg": [1, 1, 2, 2], "y.png": [[0, 0, 0, 0], [3, 3, 3, 3]]})";
  cam::MaskSource boxes("boxes:" + dir + "/boxes.json");
  cam::Image img;
  img.width = 4, img.height = 4;
  img.rgb.assign(48, 255);
  CHECK(boxes.mask_for("a/x.jpg", "x", img).area() == doctest::Approx(4.0 / 16));
  CHECK(boxes.mask_for("elsewhere/y.png", "y", img).area() == doctest::Approx(2.0 / 16));
  CHECK_THROWS_WITH_AS(boxes.mask_for("z.jpg", "z", img), doctest::Contains("z.jpg: no box"), cam::Error);
  std::ofstream(dir + "/bad.json") << R"({"a.jpg": [3, 1, 2]})";
  CHECK_THROWS_WITH_AS(cam::MaskSource("boxes:" + dir + "/bad.json"),
                       doctest::Contains("bad.json: \"a.jpg\": a box must be"), cam::Error);
  CHECK_THROWS_WITH_AS(cam::MaskSource("boxes:" + dir + "/missing.json"),
                       doctest::Contains("missing.json: cannot read"), cam::Error);
  cam::Image mask;
  mask.width = 2, mask.height = 2;
  mask.rgb = {255, 255, 255, 0, 0, 0, 0, 0, 0, 0, 0, 0};
  cam::write_image(dir + "/m.png", mask);
  cam::MaskSource masks("masks:" + dir);
  CHECK(masks.mask_for("whatever/m.jpg", "m", img).area() == doctest::Approx(0.25));
  CHECK_THROWS_AS(masks.mask_for("n.jpg", "n", img), cam::Error);
}
