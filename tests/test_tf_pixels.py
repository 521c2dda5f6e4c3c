#!/usr/bin/env python3
"""The engine's tf-bilinear and tf-bilinear-antialias resizes are TensorFlow's tf.image.resize(size, "bilinear",
antialias=False / True) to the bit: its float32 output (the engine normalises those floats, never rounded to
uint8), through the image_pixels tool (tests/image_pixels.cpp, OUT.f32). TensorFlow gets the pixels the engine
decoded (equal to PIL's: test_pil_pixels.py), which are tf.io.decode_jpeg's with dct_method="INTEGER_ACCURATE"
(checked); TensorFlow's default decode, and so image_dataset_from_directory's, is the fast IDCT, which the
engine's --jpeg-idct fast gives (checked). Inputs: the sources of test_pil_pixels.py (real Fruits-360 photos,
generated large, odd-sized, gray, CMYK and progressive JPEGs) at the sizes models take (224, 160, 64) and odd
ones, stretched and shrunk per axis; and with --resize-shorter, TensorFlow's resize to the size torchvision's
Resize(S) gives, centre-cropped by torchvision's CenterCrop. Exit 77 (skipped) without TensorFlow (a peer of tools/setup.sh).
Usage: test_tf_pixels.py --tool build/tests/image_pixels
"""
import argparse
import os
import subprocess
import sys
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
try:  # before TensorFlow: the other order aborts in LLVM's option registry
    import torch
    import torchvision.transforms as T
except ImportError:
    T = None  # the centre-crop checks need torchvision's Resize and CenterCrop
try:
    import numpy as np
    import tensorflow as tf
    from PIL import Image
except ImportError as e:
    print("SKIPPED: %s (a peer library: tools/setup.sh without CAM_SKIP_PEERS)" % e)
    sys.exit(77)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import test_pil_pixels  # noqa: E402  (its sources)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tool", required=True)
    args = ap.parse_args()
    temporary = tempfile.TemporaryDirectory(prefix="cam_tf_")
    tmp = temporary.name
    checks = failures = 0
    for name, path in test_pil_pixels.sources_in(tmp)[::2]:
        pixels = np.asarray(Image.open(path).convert("RGB"))
        h, w = pixels.shape[:2]
        if path.endswith(".jpg") and "CMYK" not in name and "gray" not in name:
            checks += 1
            data = tf.io.read_file(path)
            accurate = tf.io.decode_jpeg(data, channels=3, dct_method="INTEGER_ACCURATE").numpy()
            if not np.array_equal(accurate, pixels):
                print("FAIL %s: tf.io.decode_jpeg(dct_method='INTEGER_ACCURATE') differs from the engine's decode" % name)
                failures += 1
            fast = tf.io.decode_jpeg(data, channels=3).numpy()  # TensorFlow's default: the fast IDCT
            out = os.path.join(tmp, "fast.png")
            r = subprocess.run([args.tool, "--fast-idct", path, out], capture_output=True, text=True)
            checks += 1
            got = np.asarray(Image.open(out).convert("RGB")) if r.returncode == 0 else None
            if got is None or not np.array_equal(got, fast):
                print("FAIL %s: --jpeg-idct fast differs from tf.io.decode_jpeg's default decode" % name)
                failures += 1
            else:
                print("ok   %s: --jpeg-idct fast is tf.io.decode_jpeg's default decode (%d levels off the accurate "
                      "one at most)" % (name, np.abs(fast.astype(int) - pixels).max()))
        sizes = [(224, 224), (160, 160), (64, 64), (h // 3 + 1, w // 2), (2 * h + 1, w - 3)]
        for size in sizes:
            for antialias in (False, True):
                mode = "tf-bilinear-antialias" if antialias else "tf-bilinear"
                want = tf.image.resize(pixels, size, "bilinear", antialias=antialias).numpy()
                out = os.path.join(tmp, "engine.f32")
                r = subprocess.run([args.tool, path, out, "%dx%d" % (size[1], size[0]), mode],
                                   capture_output=True, text=True)
                what = "%s resized to %dx%d (%s)" % (name, size[1], size[0], mode)
                checks += 1
                got = np.fromfile(out, np.float32) if r.returncode == 0 else None
                if got is None or got.size != want.size or not np.array_equal(got.reshape(want.shape), want):
                    print("FAIL %s: %s" % (what, r.stderr.strip() if got is None else "size %d vs %d or max |diff| %s" %
                                           (got.size, want.size, np.abs(got.reshape(want.shape) - want).max()
                                            if got.size == want.size else "-")))
                    failures += 1
                else:
                    print("ok   %s: identical float32" % what)
        # --resize-shorter: TensorFlow's resize to the size torchvision's Resize(S) gives, then CenterCrop
        if T is None:
            continue
        for crop, shorter in ((224, 256), (64, 73)):
            new_w, new_h = T.Resize(shorter)(Image.open(path)).size
            for antialias in (False, True):
                mode = "tf-bilinear-antialias" if antialias else "tf-bilinear"
                full = tf.image.resize(pixels, (new_h, new_w), "bilinear", antialias=antialias).numpy()
                want = T.CenterCrop(crop)(torch.from_numpy(full).permute(2, 0, 1)).permute(1, 2, 0).numpy()
                out = os.path.join(tmp, "engine.f32")
                r = subprocess.run([args.tool, path, out, "%dx%d" % (crop, crop), mode, str(shorter)],
                                   capture_output=True, text=True)
                checks += 1
                got = np.fromfile(out, np.float32) if r.returncode == 0 else None
                what = "%s Resize(%d) + CenterCrop(%d) (%s)" % (name, shorter, crop, mode)
                if got is None or got.size != want.size or not np.array_equal(got.reshape(want.shape), want):
                    print("FAIL %s: %s" % (what, r.stderr.strip() if got is None else "differs"))
                    failures += 1
                else:
                    print("ok   %s: identical float32" % what)
    print("%d of %d identical to TensorFlow %s" % (checks - failures, checks, tf.__version__))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
