#!/usr/bin/env python3
"""The engine's pixels are PIL's: decoded JPEGs (libjpeg-turbo with PIL's settings) and the antialiased bilinear
and bicubic resizes (Image.resize(size, BILINEAR), torchvision's PIL path; BICUBIC, timm's), the NEAREST one (Keras load_img's default) and
OpenCV's cv2.resize(INTER_LINEAR) and (INTER_AREA) compared bit for bit with PIL and cv2, through
the image_pixels tool (tests/image_pixels.cpp: the engine's read_image and resize_image, written as PNG).
Inputs: real Fruits-360 photos (tests/data/fruits360_heldout, 100x100 JPEG) stretched to 224x224 and 160x160 as
the shipped model and fine-tunes do, shrunk to 64x64 and to odd sizes; generated photos: large noisy ones
(1024x768 q85, shrunk to 224x224 and to 301x177), odd-sized (333x221), gray, CMYK, progressive, 4:4:4 and 4:2:0
subsampling. With torchvision, its eval transform Resize(S) + CenterCrop(size) (--resize-shorter). EXIF orientations 1..8 (little- and big-endian TIFF, a malformed tag): the default decode equals
ImageOps.exif_transpose, --ignore-exif the stored pixels. The encoders: PNG lossless, JPEG as PIL's own. Exit 77 (skipped) without PIL.
Usage: test_pil_pixels.py --tool build/tests/image_pixels
"""
import argparse
import glob
import os
import subprocess
import sys
import tempfile

try:
    import numpy as np
    from PIL import Image, ImageOps
except ImportError as e:
    print("SKIPPED: %s (apt-get install python3-pil python3-numpy)" % e)
    sys.exit(77)

HERE = os.path.dirname(os.path.abspath(__file__))
try:
    import cv2
except ImportError:
    cv2 = None


def resized(pil, size, mode):
    """The reference for the engine's --resize mode: PIL's own resize, or cv2's on the same RGB pixels."""
    if mode in ("cv2-linear", "cv2-area"):
        return cv2.resize(np.asarray(pil), size, interpolation=cv2.INTER_LINEAR if mode == "cv2-linear" else cv2.INTER_AREA)
    filters = {"pil-nearest": Image.NEAREST, "pil-bicubic": Image.BICUBIC, "pil12-bicubic": Image.BICUBIC}
    return np.asarray(pil.resize(size, filters.get(mode, Image.BILINEAR)))


# The engine's filter modes for the installed PIL: Pillow 13 chose a pass order, earlier ones did not.
PIL12 = "" if int(Image.__version__.split(".")[0]) >= 13 else "12"
MODES = ["pil%s-bilinear" % PIL12, "pil%s-bicubic" % PIL12, "pil-nearest"] + (["cv2-linear", "cv2-area"] if cv2 else [])


def generated(tmp):
    """(name, path) of generated JPEGs: smooth content with noise, so every DCT coefficient and rounding matters."""
    rng = np.random.default_rng(0)
    out = []

    def photo(w, h):
        y, x = np.mgrid[0:h, 0:w]
        base = np.stack([128 + 100 * np.sin(x / 37.0 + c) * np.cos(y / 23.0 - c) for c in range(3)], -1)
        return np.clip(base + rng.normal(0, 20, (h, w, 3)), 0, 255).astype(np.uint8)

    cases = [("large 1024x768 q85", photo(1024, 768), "RGB", dict(quality=85)),
             ("odd 333x221 q95 4:4:4", photo(333, 221), "RGB", dict(quality=95, subsampling=0)),
             ("odd 257x129 q75 4:2:0", photo(257, 129), "RGB", dict(quality=75, subsampling=2)),
             ("progressive 640x480", photo(640, 480), "RGB", dict(quality=90, progressive=True)),
             ("gray 300x200", photo(300, 200), "L", dict(quality=90)),
             ("CMYK 200x150", photo(200, 150), "CMYK", dict(quality=90))]
    for name, array, mode, options in cases:
        path = os.path.join(tmp, name.split()[0] + "_%dx%d.jpg" % (array.shape[1], array.shape[0]))
        Image.fromarray(array).convert(mode).save(path, **options)
        out.append((name, path))
    return out


def sources_in(tmp):
    """(name, path) of every decode and resize check: real Fruits-360 photos and the generated ones."""
    photos = sorted(glob.glob(os.path.join(HERE, "data", "fruits360_heldout", "*", "*.jpg")))[::8]
    return [("Fruits-360 " + os.path.basename(os.path.dirname(p)), p) for p in photos] + generated(tmp)


def crop_checks(tool, sources, tmp):
    """(checks, failures) of --resize-shorter: torchvision's Resize(S, interpolation) + CenterCrop(size) on PIL
    images, the eval transform of torchvision and timm (S = size / crop_pct), against the engine's crop, which
    computes only the crop's pixels. Skipped (0, 0) without torchvision."""
    try:
        import torchvision.transforms as T
    except ImportError:
        print("note: no torchvision here: the centre-crop checks need it")
        return 0, 0
    interpolation = {"pil%s-bilinear" % PIL12: T.InterpolationMode.BILINEAR,
                     "pil%s-bicubic" % PIL12: T.InterpolationMode.BICUBIC, "pil-nearest": T.InterpolationMode.NEAREST}
    checks = failures = 0
    for name, path in sources[::2]:
        pil = Image.open(path).convert("RGB")
        w, h = pil.size
        for crop, shorter in ((224, 256), (224, 235), (160, 183), (64, 64), ((96, 72), 101)):
            size = (crop, crop) if isinstance(crop, int) else crop  # (h, w), as torchvision takes it
            for mode, interp in interpolation.items():
                want = np.asarray(T.CenterCrop(size)(T.Resize(shorter, interpolation=interp)(pil)))
                out = os.path.join(tmp, "crop_engine.png")
                r = subprocess.run([tool, path, out, "%dx%d" % (size[1], size[0]), mode, str(shorter)],
                                   capture_output=True, text=True)
                what = "%s (%dx%d) Resize(%d) + CenterCrop(%dx%d) (%s)" % (name, w, h, shorter, size[1], size[0], mode)
                checks += 1
                got = np.asarray(Image.open(out).convert("RGB")) if r.returncode == 0 else None
                if got is None or got.shape != want.shape or not np.array_equal(got, want):
                    print("FAIL %s: %s" % (what, r.stderr.strip() if got is None else "differs"))
                    failures += 1
                else:
                    print("ok   %s: identical" % what)
    return checks, failures


def exif_app1(orientation, big_endian):
    """The TIFF bytes of an EXIF block with one tag, Orientation (0x0112, SHORT), in the given byte order."""
    order, pack = (b"MM", ">") if big_endian else (b"II", "<")
    import struct
    return (order + struct.pack(pack + "HI", 42, 8) + struct.pack(pack + "H", 1) +
            struct.pack(pack + "HHIHH", 0x0112, 3, 1, orientation, 0) + struct.pack(pack + "I", 0))


def exif_checks(tool, tmp):
    """(checks, failures) of the EXIF orientations against ImageOps.exif_transpose."""
    rng = np.random.default_rng(1)
    array = rng.integers(0, 256, (61, 90, 3), dtype=np.uint8)  # wider than tall, odd: every turn shows
    checks = failures = 0
    cases = [(o, big) for o in range(1, 9) for big in (False, True)] + [(0, False), (9, True)]
    for orientation, big in cases:
        path = os.path.join(tmp, "exif_%d_%s.jpg" % (orientation, "MM" if big else "II"))
        Image.fromarray(array).save(path, quality=95, exif=b"Exif\x00\x00" + exif_app1(orientation, big))
        stored = Image.open(path)
        if orientation in range(1, 9) and stored.getexif().get(0x0112) != orientation:
            print("FAIL EXIF %d: PIL does not read the tag back" % orientation)
            failures += 1
        for flags, want, what in (([], ImageOps.exif_transpose(stored), "applied"),
                                  (["--ignore-exif"], stored, "ignored")):
            want = np.asarray(want.convert("RGB"))
            out = os.path.join(tmp, "exif_engine.png")
            r = subprocess.run([tool] + flags + [path, out], capture_output=True, text=True)
            checks += 1
            got = np.asarray(Image.open(out).convert("RGB")) if r.returncode == 0 else None
            name = "EXIF orientation %d (%s) %s" % (orientation, "MM" if big else "II", what)
            if got is None or got.shape != want.shape or not np.array_equal(got, want):
                print("FAIL %s: %s" % (name, r.stderr.strip() if got is None else "shape %s vs %s or pixels differ" %
                                       (got.shape, want.shape)))
                failures += 1
            else:
                print("ok   %s: identical (%dx%d)" % (name, want.shape[1], want.shape[0]))
    return checks, failures


def encode_checks(tool, sources, tmp):
    """(checks, failures) of the engine's encoders: its PNG (libpng, fast zlib settings) is lossless as PIL reads
    it, and its JPEG at quality 95 (libjpeg-turbo, 4:2:0) decodes in PIL to the pixels of PIL's own
    save(quality=95) of the same image."""
    checks = failures = 0
    for name, path in sources:
        want = np.asarray(Image.open(path).convert("RGB"))
        for ext in ("png", "jpg"):
            out = os.path.join(tmp, "encoded." + ext)
            r = subprocess.run([tool, path, out], capture_output=True, text=True)
            checks += 1
            if r.returncode != 0:
                print("FAIL %s encoded as %s: %s" % (name, ext, r.stderr.strip()))
                failures += 1
                continue
            got = np.asarray(Image.open(out).convert("RGB"))
            reference = want
            if ext == "jpg":
                pil_jpeg = os.path.join(tmp, "pil.jpg")
                Image.fromarray(want).save(pil_jpeg, quality=95)
                reference = np.asarray(Image.open(pil_jpeg).convert("RGB"))
            if got.shape != reference.shape or not np.array_equal(got, reference):
                print("FAIL %s encoded as %s: differs from %s" % (name, ext, "the source" if ext == "png" else
                                                                  "PIL's JPEG"))
                failures += 1
            else:
                print("ok   %s encoded as %s: %s" % (name, ext, "lossless" if ext == "png" else
                                                      "decodes as PIL's own quality-95 JPEG"))
    return checks, failures


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tool", required=True)
    args = ap.parse_args()
    temporary = tempfile.TemporaryDirectory(prefix="cam_pil_")  # removed when main returns
    tmp = temporary.name
    sources = sources_in(tmp)
    failures, checks = 0, 0
    for name, path in sources:
        pil = Image.open(path).convert("RGB")
        w, h = pil.size
        sizes = [None, (224, 224), (160, 160), (64, 64), (w * 2 // 3 + 1, h // 2 + 3)]
        if w > 500:
            sizes += [(301, 177)]
        if w % 2 == 0 and h % 2 == 0:
            sizes += [(w // 2, h // 2)]  # an exact halving: cv2's INTER_LINEAR takes its INTER_AREA shortcut
        sizes += [(w // 3, h // 3), (w // 4, h // 5)]  # cv2's INTER_AREA: whole-number cells
        # Pillow 13 runs the vertical pass first for these two (wider and shorter; much shorter, a little
        # narrower), PIL up to 12 the horizontal one: pil-bilinear and pil12-bilinear (and the bicubic pair)
        # differ here
        sizes += [(w * 2, h // 2 + 1), (w - 2, h // 3)]
        cases = [(None, None)] + [(size, mode) for size in sizes[1:] for mode in MODES]
        for size, mode in cases:
            want = np.asarray(pil) if size is None else resized(pil, size, mode)
            out = os.path.join(tmp, "engine.png")
            cmd = [args.tool, path, out] + ([] if size is None else ["%dx%d" % size, mode])
            r = subprocess.run(cmd, capture_output=True, text=True)
            what = "%s %s" % (name, "decoded" if size is None else "resized to %dx%d (%s)" % (size + (mode,)))
            checks += 1
            if r.returncode != 0:
                print("FAIL %s: %s" % (what, r.stderr.strip()))
                failures += 1
                continue
            got = np.asarray(Image.open(out).convert("RGB"))
            if got.shape != want.shape or not np.array_equal(got, want):
                d = np.abs(got.astype(int) - want.astype(int)) if got.shape == want.shape else None
                print("FAIL %s: %s" % (what, "shape %s vs %s" % (got.shape, want.shape) if d is None else
                                       "max |diff| %d, %.3f%% of values differ" % (d.max(), 100 * (d > 0).mean())))
                failures += 1
            else:
                print("ok   %s: identical (%dx%d)" % (what, want.shape[1], want.shape[0]))
    crop_count, crop_failures = crop_checks(args.tool, sources, tmp)
    checks, failures = checks + crop_count, failures + crop_failures
    exif_count, exif_failures = exif_checks(args.tool, tmp)
    encode_count, encode_failures = encode_checks(args.tool, sources, tmp)
    checks, failures = checks + exif_count + encode_count, failures + exif_failures + encode_failures
    print("%d of %d identical to PIL %s%s" % (checks - failures, checks, Image.__version__,
                                           " and OpenCV %s" % cv2.__version__ if cv2 else " (no cv2: its modes untested)"))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
