// Name tables of the option enums: one per enum, for parsing and printing.
#include "engine/model/options.h"

#include "engine/base/error.h"

namespace cam {
namespace {

template <typename Enum, int N>
Enum parse_named(const char* (&names)[N], const std::string& value, const char* option) {
  std::string valid;
  for (int i = 0; i < N; ++i) {
    if (value == names[i]) return static_cast<Enum>(i);
    valid += (i ? (i + 1 == N ? " or " : ", ") : "") + std::string(names[i]);
  }
  throw Error(std::string("unknown ") + option + " '" + value + "' (expected " + valid + ")");
}

const char* kBackendNames[] = {"auto", "cpu", "cuda"};             // BackendKind order
const char* kPrecisionNames[] = {"fp32", "tf32", "fp16", "bf16"};  // Precision order
const char* kConvFusionNames[] = {"auto", "off", "on", "graph"};   // ConvFusion order
const char* kResizeModeNames[] = {"pil-bilinear",         "pil-nearest", "cv2-linear",    "cv2-area",
                                  "pil12-bilinear",       "pil-bicubic", "pil12-bicubic", "tf-bilinear",
                                  "tf-bilinear-antialias"};                               // ResizeMode order
const char* kJpegIdctNames[] = {"accurate", "fast"};                                      // JpegIdct order
const char* kCamMethodNames[] = {"cam", "gradcam", "gradcam++", "scorecam", "eigencam"};  // CamMethod order

}  // namespace

BackendKind parse_backend(const std::string& name) {
  return parse_named<BackendKind>(kBackendNames, name, "backend");
}
Precision parse_precision(const std::string& name) {
  return parse_named<Precision>(kPrecisionNames, name, "precision");
}
ConvFusion parse_conv_fusion(const std::string& name) {
  return parse_named<ConvFusion>(kConvFusionNames, name, "conv fusion");
}
ResizeMode parse_resize_mode(const std::string& name) {
  return parse_named<ResizeMode>(kResizeModeNames, name, "resize mode");
}
JpegIdct parse_jpeg_idct(const std::string& name) {
  return parse_named<JpegIdct>(kJpegIdctNames, name, "JPEG IDCT");
}
CamMethod parse_cam_method(const std::string& name) {
  return parse_named<CamMethod>(kCamMethodNames, name, "method");
}
const char* name_of(BackendKind kind) {
  return kBackendNames[static_cast<int>(kind)];
}
const char* name_of(Precision precision) {
  return kPrecisionNames[static_cast<int>(precision)];
}
const char* name_of(ConvFusion fusion) {
  return kConvFusionNames[static_cast<int>(fusion)];
}
const char* name_of(ResizeMode mode) {
  return kResizeModeNames[static_cast<int>(mode)];
}
const char* name_of(JpegIdct idct) {
  return kJpegIdctNames[static_cast<int>(idct)];
}
const char* name_of(CamMethod method) {
  return kCamMethodNames[static_cast<int>(method)];
}

}  // namespace cam
