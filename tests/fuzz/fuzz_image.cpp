// libFuzzer target: image decode through the engine's entry point (header check against a pixel limit, then
// libjpeg-turbo for JPEGs, Debian's uninstrumented library, so its error paths run but coverage does not
// guide into it; stb for the other formats), followed by the resize to a network input, as every image the
// CLI reads goes. The limit is 64 Ki pixels rather than the CLI's 100 M: larger images only repeat the same
// decoder loops, and under ASan + UBSan a 1000x1000 PNG took 6 s on the development machine (a 256x256 one
// 0.2 s), which kept runs far from 10^6 inputs. stb's decoders are compiled into this target (instrumented,
// so coverage guides the fuzzer through them); they take precedence over libstb.so.
#include <cstddef>
#include <cstdint>

#define STB_IMAGE_IMPLEMENTATION
#include <stb_image.h>

#include "engine/base/error.h"
#include "engine/io/image_io.h"
#include "engine/ops/image_ops.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    cam::Image img = cam::decode_image(data, size, "fuzz.img", cam::DecodeOptions{65536});
    cam::Image small = cam::resize_image(img, 37, 29);
    (void)small;
  } catch (const cam::Error&) {
  }
  return 0;
}
