// Image decode/encode: every supported format against the raw pixels it was made from
// (tools/make_test_images.py), gray/alpha/16-bit handling, the pixel limit checked before allocation, and
// clear errors for bad files.
#include <doctest/doctest.h>

#include <sys/stat.h>

#include <random>

#include "engine/base/error.h"
#include "engine/io/image_io.h"
#include "engine/ops/image_ops.h"
#include "tests/test_util.h"

namespace {

std::string img(const std::string& name) {
  return camtest::data_path("images/" + name);
}
const std::vector<uint8_t> kRgb = camtest::read_bytes(img("rgb.raw"));  // (4, 5, 3)

}  // namespace

TEST_CASE("PNG, BMP and TGA decode to the exact source pixels") {
  for (const char* name : {"rgb.png", "rgb.bmp", "rgb.tga"}) {
    CAPTURE(name);
    cam::Image im = cam::read_image(img(name));
    CHECK(im.width == 5);
    CHECK(im.height == 4);
    CHECK(im.rgb == kRgb);
  }
}

TEST_CASE("gray is replicated, 16-bit keeps the high byte, alpha is dropped, GIF gives its first frame") {
  for (const char* name : {"gray.png", "gray16.png"}) {
    CAPTURE(name);
    cam::Image im = cam::read_image(img(name));
    REQUIRE(im.rgb.size() == 60);
    for (int p = 0; p < 20; ++p)
      for (int c = 0; c < 3; ++c) CHECK(im.rgb[p * 3 + c] == kRgb[p * 3 + 1]);
  }
  CHECK(cam::read_image(img("rgba.png")).rgb == kRgb);
  CHECK(cam::read_image(img("pal.gif")).rgb == camtest::read_bytes(img("pal.raw")));
}

TEST_CASE("PNG round trip is exact, JPEG close; writes are atomic") {
  std::string dir = camtest::temp_dir();
  cam::Image im = cam::read_image(img("rgb.png"));
  cam::write_image(dir + "/out.png", im);
  CHECK(cam::read_image(dir + "/out.png").rgb == im.rgb);
  cam::Image flat;
  flat.width = 16;
  flat.height = 16;
  flat.rgb.assign(16 * 16 * 3, 0);
  for (size_t i = 0; i < flat.rgb.size(); ++i) flat.rgb[i] = static_cast<uint8_t>(100 + (i % 3) * 40);
  cam::write_image(dir + "/out.JPG", flat, 95);
  cam::Image back = cam::read_image(dir + "/out.JPG");
  int worst = 0;
  for (size_t i = 0; i < back.rgb.size(); ++i) worst = std::max(worst, std::abs(back.rgb[i] - flat.rgb[i]));
  CHECK(worst <= 4);
  CHECK_THROWS_WITH_AS(cam::write_image(dir + "/out.webp", im),
                       doctest::Contains("must end in .png, .jpg or .jpeg"), cam::Error);
  CHECK_THROWS_WITH_AS(cam::write_image(dir + "/no/such/dir/x.png", im),
                       doctest::Contains("x.png: cannot create (No such file or directory)"), cam::Error);
  struct stat st;
  CHECK(stat((dir + "/no/such/dir/x.png").c_str(), &st) != 0);
}

TEST_CASE("bad files: missing, empty, truncated, not an image") {
  std::string dir = camtest::temp_dir();
  CHECK_THROWS_WITH_AS(cam::read_image(dir + "/missing.jpg"), doctest::Contains("missing.jpg: cannot open"),
                       cam::Error);
  camtest::write_bytes(dir + "/empty.jpg", {});
  CHECK_THROWS_WITH_AS(cam::read_image(dir + "/empty.jpg"), doctest::Contains("empty.jpg: empty file"),
                       cam::Error);
  std::vector<uint8_t> png = camtest::read_bytes(img("rgb.png"));
  camtest::write_bytes(dir + "/trunc.png", std::vector<uint8_t>(png.begin(), png.begin() + 40));
  CHECK_THROWS_WITH_AS(cam::read_image(dir + "/trunc.png"),
                       doctest::Contains("trunc.png: cannot decode image"), cam::Error);
  camtest::write_bytes(dir + "/text.jpg", {'h', 'e', 'l', 'l', 'o', '\n'});
  CHECK_THROWS_WITH_AS(cam::read_image(dir + "/text.jpg"),
                       doctest::Contains("text.jpg: not a decodable image"), cam::Error);
}

TEST_CASE("a PNG chunk claiming more bytes than the file holds is refused before stb allocates for it") {
  // Regression for fuzz_image: an IDAT header claiming 1 GiB after a valid image made stb allocate 2 GiB.
  std::vector<uint8_t> png = camtest::read_bytes(img("rgb.png"));
  std::vector<uint8_t> bad(png.begin(), png.end() - 12);  // drop IEND
  const uint8_t idat[] = {0x40, 0x00, 0x00, 0x00, 'I', 'D', 'A', 'T', 1, 2, 3};
  bad.insert(bad.end(), std::begin(idat), std::end(idat));
  CHECK_THROWS_WITH_AS(cam::decode_image(bad.data(), bad.size(), "bomb.png"),
                       doctest::Contains("bomb.png: corrupt PNG: a chunk at byte"), cam::Error);
  CHECK_THROWS_WITH_AS(cam::decode_image(bad.data(), bad.size(), "bomb.png"),
                       doctest::Contains("claims 1073741824 bytes"), cam::Error);
  CHECK(cam::decode_image(png.data(), png.size(), "ok.png").width == 5);
}

TEST_CASE("a JPEG Huffman table with more than 256 codes is refused (libjpeg; before stb reads it)") {
  // Regression for fuzz_image (UBSan: stb's Huffman builder wrote past its 257-entry size table).
  std::mt19937 rng(3);
  std::string dir = camtest::temp_dir();
  cam::write_image(dir + "/ok.jpg", camtest::random_image(16, 16, rng));
  std::vector<uint8_t> jpg = camtest::read_bytes(dir + "/ok.jpg");
  CHECK(cam::decode_image(jpg.data(), jpg.size(), "ok.jpg").width == 16);
  size_t dht = 2;
  while (dht + 1 < jpg.size() && !(jpg[dht] == 0xFF && jpg[dht + 1] == 0xC4)) ++dht;
  REQUIRE(dht + 21 < jpg.size());
  jpg[dht + 5 + 15] = 250;  // the 16th count of the first table: now well over 256 codes
  CHECK_THROWS_WITH_AS(cam::decode_image(jpg.data(), jpg.size(), "dht.jpg"),
                       doctest::Contains("dht.jpg: cannot decode JPEG (libjpeg: Bogus Huffman table"),
                       cam::Error);
  // A fill byte before the SOI marker: not what libjpeg takes (it is not PIL's JPEG), but stb would read it,
  // so the table check still runs first.
  jpg.insert(jpg.begin(), 0xFF);
  CHECK_THROWS_WITH_AS(cam::decode_image(jpg.data(), jpg.size(), "fill.jpg"),
                       doctest::Contains("fill.jpg: corrupt JPEG: a Huffman table declares"), cam::Error);
}

TEST_CASE(
    "a JPEG whose entropy-coded data runs dry is refused with a clear error (fuzz_image finding in stb)") {
  // fuzz_image found Debian's stb shifting its bit buffer by 32 on this file (arithmetic UB, no memory access
  // depends on it; tests/fuzz/ubsan_ignore.txt). stb then stops at a bad marker: one clear error, no crash.
  std::vector<uint8_t> bytes = camtest::read_bytes(camtest::data_path("images/fuzz_stb_shift32.jpg"));
  CHECK_THROWS_WITH_AS(cam::decode_image(bytes.data(), bytes.size(), "fuzz_stb_shift32.jpg"),
                       doctest::Contains("fuzz_stb_shift32.jpg: cannot decode JPEG (libjpeg: "), cam::Error);
}

TEST_CASE("pixel limit is enforced from the header, before decoding") {
  // A PNG whose IHDR claims 12000 x 10000 pixels, with no image data at all.
  std::vector<uint8_t> png = {0x89, 'P',  'N', 'G', '\r', '\n', 0x1a, '\n', 0,    0, 0,
                              13,   'I',  'H', 'D', 'R',  0,    0,    0x2e, 0xe0, 0, 0,
                              0x27, 0x10, 8,   2,   0,    0,    0,    0,    0,    0, 0};
  CHECK_THROWS_WITH_AS(
      cam::decode_image(png.data(), png.size(), "huge.png"),
      doctest::Contains("huge.png: image is 12000x10000, over the limit of 100000000 pixels"), cam::Error);
  std::vector<uint8_t> small = camtest::read_bytes(img("rgb.png"));
  CHECK_THROWS_WITH_AS(cam::decode_image(small.data(), small.size(), "small.png", cam::DecodeOptions{19}),
                       doctest::Contains("image is 5x4, over the limit of 19 pixels"), cam::Error);
  CHECK(cam::decode_image(small.data(), small.size(), "small.png", cam::DecodeOptions{20}).width == 5);
}

TEST_CASE("resize_image keeps a flat colour flat at any ratio") {
  cam::Image flat;
  flat.width = 31;
  flat.height = 17;
  flat.rgb.assign(31 * 17 * 3, 0);
  for (size_t i = 0; i < flat.rgb.size(); i += 3)
    flat.rgb[i] = 200, flat.rgb[i + 1] = 10, flat.rgb[i + 2] = 99;
  for (auto s : {std::make_pair(224, 224), std::make_pair(3, 2), std::make_pair(100, 7)}) {
    cam::Image r = cam::resize_image(flat, s.first, s.second);
    CHECK(r.width == s.first);
    CHECK(r.height == s.second);
    bool same = true;
    for (size_t i = 0; i < r.rgb.size(); i += 3)
      same = same && r.rgb[i] == 200 && r.rgb[i + 1] == 10 && r.rgb[i + 2] == 99;
    CHECK(same);
  }
}
