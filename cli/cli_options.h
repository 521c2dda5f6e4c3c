// Command-line options of cam_engine and their parsing (--opt value and --opt=value forms).
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "engine/model/options.h"

namespace cam {

struct CliOptions {
  std::string weights;
  std::string info;  // --info MODEL: print the model's description, labels and metadata, then exit
  std::string out = "cam_out";
  std::vector<std::string> inputs;  // images, folders, list files, "-"
  int topk = 1;
  std::vector<CamMethod> methods{CamMethod::kCam};  // --method, in the order given
  int scorecam_channels = 0;                        // 0: all
  bool metrics = false;
  int metric_steps = 20;
  int predictions = 5;  // classes ranked in predictions.jsonl (at least topk; clamped to the model's)
  std::vector<std::string> classes;  // labels or indices
  int batch = 16;
  BackendKind backend = BackendKind::kAuto;
  Precision precision = Precision::kFp32;
  std::optional<ResizeMode> resize;   // --resize; unset: the model's preprocess metadata
  std::optional<int> resize_shorter;  // --resize-shorter; unset: the model's preprocess metadata
  std::optional<JpegIdct> jpeg_idct;  // --jpeg-idct; unset: the model's preprocess metadata
  int device = 0;
  ConvFusion conv_fusion = ConvFusion::kAuto;
  std::string tuning_file;
  int threads = 0;     // engine CPU threads, 0 = all
  int io_threads = 0;  // decode/encode threads, 0 = min(4, cores)
  std::string colormap = "jet";
  float alpha = 0.5f;  // image weight in the blend
  std::string format = "png";
  std::string out_size = "original";  // original | input | WxH
  std::string object_mask;            // ground truth for localisation scores (object_mask.h); empty = none
  double pointing_tolerance = 0;      // pixels; a peak this close to the object counts as a hit
  int input_h = 0, input_w = 0;       // network input override; 0 = the weights' metadata
  int shard = 0, shards = 0;          // --shard K/N: this process takes inputs K-1, K-1+N, ...; 0/0 = all
  int64_t max_pixels = 100'000'000;
  int64_t memory_budget_mb = 0;  // 0 = half the machine's RAM
  bool labels_from_folders = false, raw = false, panel = false, report = false, csv = false, resume = false;
  bool quiet = false, verbose = false, help = false, version = false;
  bool ignore_exif = false;  // --ignore-exif: JPEG pixels as stored, not turned upright by their EXIF tag
};

// "WxH" or "N" (N x N), each side within lo..hi; false for anything else ("10x10abc", "0x0").
bool parse_size(const std::string& text, int lo, int hi, int& width, int& height);

// Throws cam::Error with a one-line reason for unknown options and bad values.
CliOptions parse_cli(int argc, char** argv);
const char* cli_help();

}  // namespace cam
