// The CLI's building blocks: list parsing, folder listing, output naming, localisation, .npy files, panels,
// reports.
#include <doctest/doctest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include "cli/inputs.h"
#include "cli/outputs.h"
#include "cli/report.h"
#include "engine/base/error.h"
#include "engine/io/image_io.h"
#include "tests/test_util.h"

namespace fs = std::filesystem;

TEST_CASE("list files: comments, blank lines, tab-separated truth, paths relative to the list") {
  std::istringstream in("# fruits\n\napple/1.jpg\tApple Red\r\n/abs/pear.png\n  \n../up/kiwi.jpg\tKiwi\n");
  std::vector<cam::InputItem> items = cam::parse_list(in, "/data/lists", "l.txt");
  REQUIRE(items.size() == 3);
  CHECK(items[0].path == "/data/lists/apple/1.jpg");
  CHECK(items[0].truth == "Apple Red");
  CHECK(items[1].path == "/abs/pear.png");
  CHECK(items[2].path == "/data/lists/../up/kiwi.jpg");
  cam::assign_output_names(items);  // relative to the common root of /data/lists/apple, /abs and /data/up
  CHECK(items[0].output == "data/lists/apple/1.jpg");
  CHECK(items[1].output == "abs/pear.png");
  CHECK(items[2].output == "data/up/kiwi.jpg");
  // found by fuzz_list: "/" as a path (twice, so the names collide and are mirrored) must not throw
  std::istringstream root("/\n/\tA\ndir/\n");
  std::vector<cam::InputItem> odd = cam::parse_list(root, "", "odd.txt");
  cam::assign_output_names(odd);
  REQUIRE(odd.size() == 3);
  for (const cam::InputItem& item : odd) CHECK(!item.output.empty());
  std::istringstream bad("a.jpg\tx\ty\n");
  CHECK_THROWS_WITH_AS(cam::parse_list(bad, "", "l.txt"),
                       doctest::Contains("l.txt:1: more than two tab-separated fields"), cam::Error);
}

TEST_CASE("folders are listed recursively and sorted; labels from parent folders; names collision-free") {
  std::string dir = camtest::temp_dir();
  for (const char* f : {"Banana/b2.jpg", "Banana/b1.png", "Apple/a.jpg", "Apple/a.png", "Apple/notes.txt"}) {
    fs::create_directories(fs::path(dir) / fs::path(f).parent_path());
    std::ofstream(fs::path(dir) / f) << "x";
  }
  std::istringstream none;
  std::vector<cam::InputItem> items = cam::collect_inputs({dir}, true, none);
  REQUIRE(items.size() == 4);
  CHECK(items[0].output == "Apple/a.jpg");  // names are relative to the folder given, extension kept
  CHECK(items[1].output == "Apple/a.png");
  CHECK(items[2].output == "Banana/b1.png");
  CHECK(items[2].truth == "Banana");
  // the same folder twice: the later copies of a path get ~2
  items = cam::collect_inputs({dir + "/Banana", dir + "/Banana"}, false, none);
  REQUIRE(items.size() == 4);
  CHECK(items[0].output == "b1.png");
  CHECK(items[2].output == "b1.png~2");
  // a file that is itself called "x~2" keeps its name when it comes first, and a later copy of x skips it
  // either way; names already given are never given twice
  std::istringstream tilde("/d/x.jpg~2\n/d/x.jpg\n/d/x.jpg\n/d/x.jpg~2\n/d/x.jpg\n");
  std::vector<cam::InputItem> clash = cam::parse_list(tilde, "", "tilde.txt");
  cam::assign_output_names(clash);
  REQUIRE(clash.size() == 5);
  const char* expected[] = {"x.jpg~2", "x.jpg", "x.jpg~3", "x.jpg~2~2", "x.jpg~4"};
  for (size_t i = 0; i < clash.size(); ++i) CHECK(clash[i].output == expected[i]);
  for (const cam::InputItem& item : clash) CHECK(item.anchor.empty());
  // two folders: names relative to their common parent, not to each folder (no collisions, no absolute paths)
  items = cam::collect_inputs({dir + "/Banana", dir + "/Apple/a.jpg", dir + "/Apple"}, false, none);
  REQUIRE(items.size() == 5);
  CHECK(items[0].output == "Banana/b1.png");
  CHECK(items[2].output == "Apple/a.jpg");
  CHECK(items[3].output == "Apple/a.jpg~2");
  // a folder without images is a note, not silence
  fs::create_directories(dir + "/empty");
  std::vector<std::string> notes;
  CHECK(cam::collect_inputs({dir + "/empty"}, false, none, &notes).empty());
  REQUIRE(notes.size() == 1);
  CHECK(notes[0].find("empty: no images in this folder") != std::string::npos);
  CHECK_THROWS_WITH_AS(cam::collect_inputs({dir + "/missing"}, false, none),
                       doctest::Contains("missing: no such file or folder"), cam::Error);
  std::istringstream stdin_list(dir + "/Apple/a.jpg\tApple\n");
  items = cam::collect_inputs({"-"}, false, stdin_list);
  REQUIRE(items.size() == 1);
  CHECK(items[0].truth == "Apple");
  // --labels-from-folders reaches list lines too; a TAB label wins
  std::istringstream labelled(dir + "/Apple/a.jpg\n" + dir + "/Banana/b1.png\tPlantain\n");
  items = cam::collect_inputs({"-"}, true, labelled);
  REQUIRE(items.size() == 2);
  CHECK(items[0].truth == "Apple");
  CHECK(items[1].truth == "Plantain");
}

TEST_CASE("localize: an all-zero map is empty (no peak, no box), not a box over the whole image") {
  std::vector<float> zeros(10 * 10, 0.0f);
  cam::Localization loc = cam::localize(zeros.data(), 10, 10, {0, 0, 100, 100});
  CHECK(loc.empty);
  zeros[5] = 0.25f;
  CHECK(!cam::localize(zeros.data(), 10, 10, {0, 0, 100, 100}).empty);
}

TEST_CASE("localize: peak and the 20% box, mapped to original pixels") {
  std::vector<float> map(10 * 10, 0.0f);
  map[3 * 10 + 6] = 1.0f;   // peak at (x 6, y 3)
  map[5 * 10 + 2] = 0.25f;  // above 20%
  map[8 * 10 + 8] = 0.15f;  // below
  cam::Localization loc = cam::localize(map.data(), 10, 10, {0, 0, 200, 100});
  CHECK(loc.peak_x == 130);  // (6 + 0.5) * 20
  CHECK(loc.peak_y == 35);
  CHECK(loc.box_x0 == 40);
  CHECK(loc.box_x1 == 139);
  CHECK(loc.box_y0 == 30);
  CHECK(loc.box_y1 == 59);
  // a plateau at the border (as bilinear upsampling makes): its centre, not its first pixel
  std::vector<float> flat(10 * 10, 0.1f);
  for (int y = 0; y < 4; ++y)
    for (int x = 0; x < 3; ++x) flat[y * 10 + x] = 0.9f;
  loc = cam::localize(flat.data(), 10, 10, {0, 0, 10, 10});
  CHECK(loc.peak_x == 1);
  CHECK(loc.peak_y == 2);
}

TEST_CASE("localize equals a test of every pixel, on maps with plateaus and ties, odd sizes") {
  std::mt19937 rng(3);
  for (auto [h, w, ow, oh] : {std::array{320, 320, 100, 100}, {224, 224, 640, 480}, {37, 53, 51, 29}}) {
    for (int trial = 0; trial < 5; ++trial) {
      // A coarse random map blown up by nearest neighbour: wide plateaus and ties, zeros after a ReLU.
      const int ch = 3 + trial, cw = 4 + trial;
      std::vector<float> coarse = camtest::random_floats(static_cast<size_t>(ch) * cw, rng, -0.5f, 1.0f);
      std::vector<float> map(static_cast<size_t>(h) * w);
      for (int y = 0; y < h; ++y)
        for (int x = 0; x < w; ++x)
          map[static_cast<size_t>(y) * w + x] =
              std::max(0.0f, coarse[static_cast<size_t>(y * ch / h) * cw + x * cw / w]);
      // The reference: every pixel tested against the peak's plateau and the 20% cut.
      const float top = *std::max_element(map.begin(), map.end()), cut = 0.2f * top,
                  plateau = top - 1e-6f * top;
      double sum_x = 0, sum_y = 0;
      int at_top = 0, x0 = w, y0 = h, x1 = -1, y1 = -1;
      for (int y = 0; y < h; ++y)
        for (int x = 0; x < w; ++x) {
          const float v = map[static_cast<size_t>(y) * w + x];
          if (v >= plateau) sum_x += x, sum_y += y, ++at_top;
          if (v >= cut)
            x0 = std::min(x0, x), y0 = std::min(y0, y), x1 = std::max(x1, x), y1 = std::max(y1, y);
        }
      const double sx = static_cast<double>(ow) / w, sy = static_cast<double>(oh) / h;
      const cam::Localization loc = cam::localize(map.data(), h, w, {0, 0, ow, oh});
      CAPTURE(h);
      CAPTURE(w);
      CAPTURE(trial);
      REQUIRE(!loc.empty);
      CHECK(loc.peak_x == std::min(ow - 1, static_cast<int>((sum_x / at_top + 0.5) * sx)));
      CHECK(loc.peak_y == std::min(oh - 1, static_cast<int>((sum_y / at_top + 0.5) * sy)));
      CHECK(loc.box_x0 == static_cast<int>(std::floor(x0 * sx)));
      CHECK(loc.box_y0 == static_cast<int>(std::floor(y0 * sy)));
      CHECK(loc.box_x1 == std::min(ow - 1, static_cast<int>(std::ceil((x1 + 1) * sx)) - 1));
      CHECK(loc.box_y1 == std::min(oh - 1, static_cast<int>(std::ceil((y1 + 1) * sy)) - 1));
    }
  }
}

TEST_CASE(".npy files: header NumPy reads, data float32 little-endian") {
  std::string dir = camtest::temp_dir();
  std::vector<float> data = {0.0f, 0.5f, 1.0f, 0.25f, 0.75f, 1.5f};
  cam::write_npy(dir + "/m.npy", data.data(), {1, 2, 3});
  std::vector<uint8_t> bytes = camtest::read_bytes(dir + "/m.npy");
  REQUIRE(bytes.size() == 128 + 24);
  std::string header(bytes.begin() + 10, bytes.begin() + 128);
  CHECK(std::string(bytes.begin() + 1, bytes.begin() + 6) == "NUMPY");
  CHECK(header.find("'descr': '<f4', 'fortran_order': False, 'shape': (1, 2, 3), }") != std::string::npos);
  CHECK(header.back() == '\n');
  float back[6];
  std::memcpy(back, bytes.data() + 128, 24);
  CHECK(std::vector<float>(back, back + 6) == data);
  cam::write_npy(dir + "/v.npy", data.data(), {6});
  std::vector<uint8_t> v = camtest::read_bytes(dir + "/v.npy");
  CHECK(std::string(v.begin() + 10, v.begin() + 64).find("'shape': (6,)") != std::string::npos);
}

TEST_CASE("panel: tiles side by side with captions drawn below") {
  cam::Image a;
  a.width = 50, a.height = 40, a.rgb.assign(50 * 40 * 3, 200);
  cam::Image b = a;
  b.rgb.assign(b.rgb.size(), 10);
  cam::Image panel = cam::make_panel(a, {&b}, {"input", "Banana 97.0%"}, 160);
  CHECK(panel.height > 160);
  CHECK(panel.width == 2 * 200 + 4);
  CHECK(panel.rgb[(10 * panel.width + 300) * 3] == 10);  // inside the overlay tile
  int dark = 0;                                          // text pixels in the caption strip under the overlay
  for (int y = 160; y < panel.height; ++y)
    for (int x = 204; x < panel.width; ++x)
      dark += panel.rgb[(static_cast<size_t>(y) * panel.width + x) * 3] < 100;
  CHECK(dark > 50);
}

TEST_CASE("report and CSV: accuracy, misclassified first, errors counted") {
  std::vector<nlohmann::json> records = {
      nlohmann::json::parse(
          R"({"path":"a.jpg","truth":"Apple","top":[{"class":0,"label":"Apple","probability":0.9}],"maps":[{"file":"a.top1.png"}]})"),
      nlohmann::json::parse(
          R"({"path":"b.jpg","truth":"Corn","top":[{"class":2,"label":"Onion White","probability":0.6}],"maps":[{"file":"b.top1.png"}]})"),
      nlohmann::json::parse(R"({"path":"c.jpg","error":"c.jpg: empty file"})")};
  std::string html = cam::render_report_html(records);
  CHECK(html.find("3 images, 1 failed; top-1 accuracy 50.0% (1/2)") != std::string::npos);
  CHECK(html.find("b.top1.png") < html.find("a.top1.png"));
  std::string csv = cam::render_predictions_csv(records);
  CHECK(csv.find("b.jpg,Corn,2,Onion White,0.600000,0,\n") != std::string::npos);
  CHECK(csv.find("c.jpg,,,,,,c.jpg: empty file\n") != std::string::npos);
}

TEST_CASE("report: errors by confidence, URL-encoded links, unknown truth left out, confusion, filters") {
  auto rec = [](const std::string& text) { return nlohmann::json::parse(text); };
  std::vector<nlohmann::json> records = {
      rec(R"J({"path":"x/a#1.jpg","truth":"Apple","top":[{"class":0,"label":"Apple","probability":0.9}],
              "maps":[{"file":"a#1.jpg.top1.png","kind":"top1","label":"Apple"}]})J"),
      rec(R"J({"path":"b.jpg","truth":"Corn","top":[{"class":2,"label":"Onion","probability":0.6}],
              "maps":[{"file":"b.jpg.top1.png","kind":"top1","label":"Onion"},
                      {"file":"b.jpg.truth.png","kind":"truth","label":"Corn"}],"panel":"b.jpg.panel.png"})J"),
      rec(R"J({"path":"c 100%.jpg","truth":"Corn","top":[{"class":0,"label":"Apple","probability":0.95}],
              "maps":[{"file":"c 100%.jpg.top1.png","kind":"top1","label":"Apple"}]})J"),
      rec(R"J({"path":"d.jpg","truth":"Apple Red 1","truth_unknown":true,
              "top":[{"class":0,"label":"Apple","probability":0.7}],"maps":[]})J"),
      rec(R"J({"path":"e.jpg","error":"e.jpg: not an image (unknown format)"})J")};
  const std::string h =
      cam::render_report_html(records, {{"backend", "cpu"}, {"model", "m.safetensors"}}, ".");
  CHECK(h.find("5 images, 1 failed; top-1 accuracy 33.3% (1/3)") != std::string::npos);  // d.jpg left out
  CHECK(h.find("Apple Red 1 (1)") != std::string::npos);
  CHECK(h.find("src=\"a%231.jpg.top1.png\"") != std::string::npos);
  CHECK(h.find("src=\"c%20100%25.jpg.top1.png\"") != std::string::npos);
  CHECK(h.find("href=\"c%20100%25.jpg\"") != std::string::npos);  // the original, relative to the report
  CHECK(h.find("c%20100%25.jpg.top1.png") < h.find("b.jpg.top1.png"));  // 95% wrong before 60% wrong
  CHECK(h.find("b.jpg.top1.png") < h.find("a%231.jpg.top1.png"));       // errors before the right ones
  CHECK(h.find("src=\"b.jpg.truth.png\"") != std::string::npos);        // the true-class map beside
  CHECK(h.find("href=\"b.jpg.panel.png\"") != std::string::npos);
  CHECK(h.find("e.jpg: not an image (unknown format)") != std::string::npos);
  CHECK(h.find("showPair(&quot;Corn&quot;,&quot;Onion&quot;)\">1</a>") != std::string::npos);
  CHECK(h.find("<td>cpu</td>") != std::string::npos);
  CHECK(h.find("data-wrong=\"1\"") != std::string::npos);
  // a record with no ranking (written by an older run) must not crash the CSV
  std::string csv =
      cam::render_predictions_csv({rec(R"J({"path":"f.jpg","truth":"Apple","top":[],"maps":[]})J")});
  CHECK(csv.find("f.jpg,Apple,,,,0,\n") != std::string::npos);
}
