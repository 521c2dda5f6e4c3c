#!/usr/bin/env python3
"""Writes the small decode fixtures in tests/data/images/ (Debian's python3-pil and numpy): one 5x4 picture saved
as 8-bit RGB PNG, gray PNG, 16-bit gray PNG, RGBA PNG, BMP, TGA and GIF, plus its raw RGB bytes for comparison."""
import os

import numpy as np
from PIL import Image

out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "data", "images")
os.makedirs(out, exist_ok=True)
rng = np.random.default_rng(5)
rgb = rng.integers(0, 256, (4, 5, 3), dtype=np.uint8)
rgb.tofile(os.path.join(out, "rgb.raw"))
Image.fromarray(rgb).save(os.path.join(out, "rgb.png"))
Image.fromarray(rgb).save(os.path.join(out, "rgb.bmp"))
Image.fromarray(rgb).save(os.path.join(out, "rgb.tga"))
gray = rgb[:, :, 1]
Image.fromarray(gray).save(os.path.join(out, "gray.png"))
gray16 = gray.astype(np.uint16) * 257 + 3  # high byte == gray
Image.fromarray(gray16, mode="I;16").save(os.path.join(out, "gray16.png"))
rgba = np.concatenate([rgb, rng.integers(0, 256, (4, 5, 1), dtype=np.uint8)], axis=2)
Image.fromarray(rgba, mode="RGBA").save(os.path.join(out, "rgba.png"))
# GIF: palette image whose first frame decodes back to these palette colours
pal = Image.fromarray(rgb).quantize(colors=16)
pal.save(os.path.join(out, "pal.gif"))
np.asarray(pal.convert("RGB")).tofile(os.path.join(out, "pal.raw"))
print("wrote", os.path.normpath(out))
