#include "cli/cli_options.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <map>
#include <vector>

#include "engine/base/error.h"
#include "engine/base/suggest.h"

namespace cam {
namespace {

long parse_int(const std::string& opt, const std::string& v, long lo, long hi) {
  char* end = nullptr;
  long x = std::strtol(v.c_str(), &end, 10);
  if (v.empty() || *end || x < lo || x > hi)
    throw Error(opt + " needs an integer in " + std::to_string(lo) + ".." + std::to_string(hi) + ", got '" +
                v + "'");
  return x;
}

}  // namespace

bool parse_size(const std::string& text, int lo, int hi, int& width, int& height) {
  if (text.find_first_not_of("0123456789x") != std::string::npos) return false;
  const size_t x = text.find('x');
  const std::string a = text.substr(0, x), b = x == std::string::npos ? a : text.substr(x + 1);
  if (a.empty() || b.empty() || b.find('x') != std::string::npos || a.size() > 6 || b.size() > 6)
    return false;
  const int w = std::stoi(a), h = std::stoi(b);
  if (w < lo || h < lo || w > hi || h > hi) return false;
  width = w, height = h;
  return true;
}

const char* cli_help() {
  return R"(cam_engine: ResNet predictions and class activation maps for lists and folders of images.

usage: cam_engine --weights MODEL.safetensors [options] INPUT...
       cam_engine --info MODEL.safetensors      (the model's layers, input size, labels and metadata)
       cam_engine merge --out DIR SHARD_OUT...  (one predictions.jsonl, CSV, report and file tree from the
                                                --out folders of --shard 1/N ... N/N)

INPUT is an image, a folder (searched recursively for jpg/jpeg/png/bmp/tga/gif), a list file (*.txt, *.lst,
*.list: one path per line, optional TAB + ground-truth label, '#' comments, paths relative to the list), or '-'
to read such a list from stdin.

options:
  --weights FILE          model in safetensors (see weights/FORMAT.md; tools/convert.py makes one)
  --out DIR               output folder (default cam_out); created if missing
  --topk K                maps for the K most probable classes (default 1; 0 for none); predictions.jsonl
                          ranks at least the top --predictions classes
  --predictions N|all     classes ranked with their probabilities in predictions.jsonl (default 5)
  --class NAME|INDEX      also a map for this class on every image (repeatable; case-insensitive when
                          unambiguous)
  --method M[,M...]       how maps are made, each method's maps in the order given (default cam):
                          cam, gradcam (the same map: the fc row, or an MLP head's pooled gradient),
                          gradcam++, scorecam, eigencam (class-free: one map, repeated per class), each as
                          pytorch-grad-cam computes it on the last block
  --scorecam-channels N   Score-CAM over the N channels of highest variance only (Faster Score-CAM; default
                          all: one forward per channel and image)
  --metrics               per map, faithfulness as torchcam defines it: insertion and deletion AUC of the
                          class probability (the map's pixels restored into / removed from a zero input) and
                          Average Drop / Increase in Confidence (the input multiplied by the map); averages
                          per method in the summary and the report
  --metric-steps N        intervals of the insertion and deletion curves (default 20; RISE used 224 at 224x224)
  --labels-from-folders   the parent folder's name is the ground truth (ImageFolder / Fruits-360 layout; list
                          lines too, unless they give a label after a TAB)
  --batch N               images per batch (default 16)
  --backend auto|cuda|cpu engine backend (default auto: CUDA when a device is there)
  --precision P           fp32 | tf32 | fp16 | bf16 (default fp32; the CPU backend: fp32, and bf16 where
                          the CPU has AVX512-BF16 or AMX)
  --device N              CUDA device index (default 0)
  --conv-fusion M         CUDA: auto | off | on | graph, cuDNN's fused conv+bias+add+ReLU per layer shape
                          (default auto: where measured faster than conv + our epilogue kernel; graph:
                          cuDNN's graph API, engines chosen by heuristics and timing, experimental)
  --tuning FILE           CUDA: reuse the conv algorithm and fusion choices recorded in FILE (written after
                          the first batch), so repeated runs give byte-identical outputs
  --threads N             CPU threads for the engine (default: all cores)
  --io-threads N          threads decoding, encoding and writing images (default: one per core)
  --colormap NAME         jet (default), turbo, viridis, inferno, magma, plasma, hot, bone
  --alpha A               weight of the image in the overlay, 0..1 (default 0.5)
  --format png|jpg        format of the overlays and panels (default png; jpeg = jpg)
  --out-size S            overlay size: original (default), input (the network's), WxH or N (NxN)
  --input-size WxH|N      network input size (default: the model's preprocess metadata)
  --resize MODE           how images are resized to the input, each bit for bit as its library does it:
                          pil-bilinear (Pillow 13's antialiased BILINEAR, torchvision's; pil12-bilinear:
                          as Pillow up to 12 ordered its passes), pil-bicubic and pil12-bicubic (BICUBIC,
                          timm's), pil-nearest (PIL's NEAREST, Keras load_img's default), cv2-linear or
                          cv2-area (cv2.resize with INTER_LINEAR or INTER_AREA), tf-bilinear and
                          tf-bilinear-antialias (tf.image.resize, float output; Keras'
                          image_dataset_from_directory); default: the model's preprocess metadata, else
                          pil-bilinear
  --resize-shorter S      resize the shorter side to S (aspect kept) and take the centre crop of the input
                          size, as torchvision's Resize(S) + CenterCrop and timm's eval transform (S =
                          size / crop_pct) do; maps, overlays, peaks and boxes then cover that crop, in the
                          photo's pixels (the record's map_region); 0 stretches the photo to the input;
                          default: the model's preprocess metadata, else 0
  --jpeg-idct accurate|fast  JPEG decoding: libjpeg's accurate IDCT (PIL's, OpenCV's) or the fast one
                          (TensorFlow's decode_jpeg default, so image_dataset_from_directory's); default: the
                          model's preprocess metadata, else accurate
  --raw                   also write the [0,1] maps at input size as NAME.npy, float32 (K + C, H, W): the
                          top-K maps, then one per --class in the order given
  --panel                 also write NAME.panel.png: the image and each overlay, captioned
  --report                write index.html: run details, accuracy, confusion matrix, per-class table and a
                          gallery with the most confident errors first, filters by class and "wrong only"
  --csv                   write predictions.csv beside predictions.jsonl
  --object-mask SPEC      score each map against where the object is: white[:T] (object = not the white
                          background, pixels with every channel >= T reached from the border, T default 230),
                          boxes:FILE (JSON: image path or file name -> [x0,y0,x1,y1] or a list of boxes) or
                          masks:DIR (DIR/NAME.png, non-black = object); adds per map the pointing game (peak on
                          the object) and energy-in-mask (share of the map on the object), averages in the
                          summary and the report
  --pointing-tolerance PX a peak within PX pixels of the object is a pointing-game hit (default 0: on it;
                          Zhang et al. 2016 use 15); the JSONL gives each peak's distance either way
  --shard K/N             take every N-th input from the K-th (1 <= K <= N) of the list as given, so N
                          processes (a Slurm job array, one per GPU) split it with no coordination; output
                          names are those of the whole list; join the N --out folders with cam_engine merge
  --resume                skip images whose outputs already exist (after an interruption); refused when the
                          options that shape the outputs differ from the run that wrote --out
  --ignore-exif           decode JPEGs as stored; by default a photo's EXIF orientation turns it upright as
                          PIL's ImageOps.exif_transpose does (a plain Image.open(...).convert("RGB") does not)
  --max-pixels N          refuse images larger than N pixels (default 100000000)
  --memory-budget MB      what the run may hold at once (default half the RAM): a --batch or --out-size that
                          cannot fit is refused, and images too large for their share are refused one by one
  --quiet                 no progress or summary;  --verbose: plans, memory and algorithms
  --version, --help

outputs (in --out): NAME is the input's path below the common folder of all inputs, extension kept (a path
given twice gets NAME~2): NAME.top1.png ... NAME.topK.png (zero-padded: top01 when K >= 10),
NAME.class-LABEL.png, NAME.truth.png (a misclassified image's true class, with --report or --panel); methods
other than cam add their name: NAME.scorecam.top1.png; predictions.jsonl (one object per image: path, truth,
the top-5 or top-K ranking, per map its kind, method, peak and the box above 20% of the max in original pixels,
null for an all-zero map, file, and with --metrics its metrics), run.json (the options --resume must match).
exit status: 0 all images done, 1 some images failed, 2 usage/weights errors or a full output disk, 130 interrupted.

examples:
  cam_engine --weights weights/fruits360_r50.safetensors --labels-from-folders --object-mask white --report --out cams weights/demo_images
  cam_engine --weights fruits360.safetensors --topk 3 --panel --report --labels-from-folders Test/ --out run1
  cam_engine --info weights/fruits360_r50.safetensors
  find photos -name '*.jpg' | cam_engine --weights m.safetensors --class Banana --raw -
)";
}

namespace {

// "; did you mean '--topk 3'?" for an option glued to its number, "; did you mean '--labels-from-folders'?"
// for one within a few typos of a known option, else nothing.
std::string option_hint(const std::string& name, const std::vector<std::string>& value_options,
                        const std::vector<std::string>& flag_options) {
  for (const std::string& option : value_options) {
    const std::string rest = name.substr(std::min(name.size(), option.size()));
    if (name.rfind(option, 0) == 0 && !rest.empty() &&
        rest.find_first_not_of("0123456789.,") == std::string::npos)
      return "; did you mean '" + option + " " + rest + "'?";
  }
  std::vector<std::string> names = value_options;
  names.insert(names.end(), flag_options.begin(), flag_options.end());
  const std::vector<size_t> nearest = nearest_names(name, names, 1);
  if (nearest.empty()) return "";
  const std::string& closest = names[nearest[0]];
  if (edit_distance(name, closest) > std::max<size_t>(2, closest.size() / 5)) return "";
  return "; did you mean '" + closest + "'?";
}

}  // namespace

CliOptions parse_cli(int argc, char** argv) {
  CliOptions o;
  std::map<std::string, std::function<void(const std::string&)>> with_value = {
      {"--weights", [&](const std::string& v) { o.weights = v; }},
      {"--info", [&](const std::string& v) { o.info = v; }},
      {"--out", [&](const std::string& v) { o.out = v; }},
      {"--topk", [&](const std::string& v) { o.topk = static_cast<int>(parse_int("--topk", v, 0, 100)); }},
      {"--predictions",
       [&](const std::string& v) {
         o.predictions = v == "all" ? 1 << 30 : static_cast<int>(parse_int("--predictions", v, 1, 1 << 30));
       }},
      {"--class", [&](const std::string& v) { o.classes.push_back(v); }},
      {"--method",
       [&](const std::string& v) {
         o.methods.clear();
         size_t from = 0;
         while (true) {
           const size_t comma = v.find(',', from);
           o.methods.push_back(parse_cam_method(v.substr(from, comma - from)));
           if (comma == std::string::npos) break;
           from = comma + 1;
         }
       }},
      {"--scorecam-channels",
       [&](const std::string& v) {
         o.scorecam_channels = static_cast<int>(parse_int("--scorecam-channels", v, 0, 1 << 20));
       }},
      {"--metric-steps",
       [&](const std::string& v) {
         o.metric_steps = static_cast<int>(parse_int("--metric-steps", v, 1, 1 << 24));
       }},
      {"--batch",
       [&](const std::string& v) { o.batch = static_cast<int>(parse_int("--batch", v, 1, 4096)); }},
      {"--backend", [&](const std::string& v) { o.backend = parse_backend(v); }},
      {"--precision", [&](const std::string& v) { o.precision = parse_precision(v); }},
      {"--resize", [&](const std::string& v) { o.resize = parse_resize_mode(v); }},
      {"--jpeg-idct", [&](const std::string& v) { o.jpeg_idct = parse_jpeg_idct(v); }},
      {"--resize-shorter",
       [&](const std::string& v) {
         o.resize_shorter = static_cast<int>(parse_int("--resize-shorter", v, 0, 16384));
       }},
      {"--conv-fusion", [&](const std::string& v) { o.conv_fusion = parse_conv_fusion(v); }},
      {"--tuning", [&](const std::string& v) { o.tuning_file = v; }},
      {"--device",
       [&](const std::string& v) { o.device = static_cast<int>(parse_int("--device", v, 0, 64)); }},
      {"--threads",
       [&](const std::string& v) { o.threads = static_cast<int>(parse_int("--threads", v, 0, 1024)); }},
      {"--io-threads",
       [&](const std::string& v) { o.io_threads = static_cast<int>(parse_int("--io-threads", v, 0, 256)); }},
      {"--colormap", [&](const std::string& v) { o.colormap = v; }},
      {"--alpha",
       [&](const std::string& v) {
         char* end = nullptr;
         o.alpha = std::strtof(v.c_str(), &end);
         if (v.empty() || *end || !(o.alpha >= 0.0f && o.alpha <= 1.0f))
           throw Error("--alpha needs a number in 0..1, got '" + v + "'");
       }},
      {"--format",
       [&](const std::string& v) {
         if (v != "png" && v != "jpg" && v != "jpeg")
           throw Error("--format must be png or jpg (jpeg), got '" + v + "'");
         o.format = v == "png" ? "png" : "jpg";
       }},
      {"--out-size",
       [&](const std::string& v) {
         int w = 0, h = 0;
         if (v != "original" && v != "input" && !parse_size(v, 1, 16384, w, h))
           throw Error("--out-size must be original, input, WxH or N (1..16384), got '" + v + "'");
         o.out_size = v == "original" || v == "input" ? v : std::to_string(w) + "x" + std::to_string(h);
       }},
      {"--object-mask", [&](const std::string& v) { o.object_mask = v; }},
      {"--pointing-tolerance",
       [&](const std::string& v) {
         o.pointing_tolerance = static_cast<double>(parse_int("--pointing-tolerance", v, 0, 100000));
       }},
      {"--input-size",
       [&](const std::string& v) {
         if (!parse_size(v, 8, 4096, o.input_w, o.input_h))
           throw Error("--input-size must be WxH or N (8..4096), e.g. 224x224 or 224, got '" + v + "'");
       }},
      {"--memory-budget",
       [&](const std::string& v) { o.memory_budget_mb = parse_int("--memory-budget", v, 64, 1L << 30); }},
      {"--shard",
       [&](const std::string& v) {
         const size_t slash = v.find('/');
         const std::string k = slash == std::string::npos ? "" : v.substr(0, slash);
         const std::string n = slash == std::string::npos ? "" : v.substr(slash + 1);
         if (k.empty() || n.empty() || k.find_first_not_of("0123456789") != std::string::npos ||
             n.find_first_not_of("0123456789") != std::string::npos || k.size() > 6 || n.size() > 6 ||
             std::stoi(k) < 1 || std::stoi(k) > std::stoi(n))
           throw Error("--shard must be K/N with 1 <= K <= N (e.g. 2/8), got '" + v + "'");
         o.shard = std::stoi(k), o.shards = std::stoi(n);
       }},
      {"--max-pixels",
       [&](const std::string& v) { o.max_pixels = parse_int("--max-pixels", v, 1, 4'000'000'000L); }},
  };
  std::map<std::string, bool*> flags = {{"--labels-from-folders", &o.labels_from_folders},
                                        {"--raw", &o.raw},
                                        {"--metrics", &o.metrics},
                                        {"--panel", &o.panel},
                                        {"--report", &o.report},
                                        {"--csv", &o.csv},
                                        {"--resume", &o.resume},
                                        {"--ignore-exif", &o.ignore_exif},
                                        {"--quiet", &o.quiet},
                                        {"--verbose", &o.verbose},
                                        {"--help", &o.help},
                                        {"-h", &o.help},
                                        {"--version", &o.version}};
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--") {
      for (++i; i < argc; ++i) o.inputs.push_back(argv[i]);
      break;
    }
    if (arg.size() < 2 || arg[0] != '-' || arg == "-") {
      o.inputs.push_back(arg);
      continue;
    }
    std::string name = arg, value;
    size_t eq = arg.find('=');
    bool inline_value = eq != std::string::npos;
    if (inline_value) name = arg.substr(0, eq), value = arg.substr(eq + 1);
    if (flags.count(name) && !inline_value) {
      *flags[name] = true;
    } else if (with_value.count(name)) {
      if (!inline_value) {
        if (i + 1 >= argc) throw Error(name + " needs a value");
        value = argv[++i];
      }
      with_value[name](value);
    } else {
      std::vector<std::string> value_options, flag_options;
      for (const auto& kv : with_value) value_options.push_back(kv.first);
      for (const auto& kv : flags) flag_options.push_back(kv.first);
      throw Error("unknown option '" + arg + "'" + option_hint(name, value_options, flag_options) +
                  " (see --help)");
    }
  }
  if (o.help || o.version || !o.info.empty()) return o;
  if (o.weights.empty()) throw Error("--weights is required (see --help)");
  if (o.inputs.empty()) throw Error("no input images, folders or lists given (see --help)");
  return o;
}

}  // namespace cam
