#!/usr/bin/env python3
"""Makes the synthetic demo: a "Fruits-360-like" dataset rendered here and a reduced-width ResNet-50 trained on it.

Twelve fruit-like classes, 100x100 on a white background like Fruits 360, each drawn from its shape, colour,
texture, highlight and stem, with random pose (rotation), scale, position and colour jitter; the fruit's box is
recorded. The network has the torchvision ResNet-50 topology (3, 4, 6, 3 bottleneck blocks) at 1/4 width, fed the images stretched to
224x224 as Fruits-360 fine-tunes are (7x7 maps), trained from scratch on this CPU with Debian's python3-torch (/usr/bin/python3). It is a synthetic demo, not a Fruits 360
model. Writes:
  weights/demo_fruits.safetensors   fp16 weights, labels and preprocessing in the metadata
  weights/demo_images/*.jpg         20 sample images for the README's quick start
  tests/data/demo_heldout/          held-out images (PNG) + boxes.json for the accuracy / pointing-game test
"""
import argparse
import json
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safetensors_io  # noqa: E402
import torch_resnet  # noqa: E402

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
SIZE = 100
# name: (body colour RGB, shape, aspect (h/w), texture, stem, relative size)
CLASSES = {
    "Apple Red": ((190, 25, 30), "round", 0.92, "streaks", True, 1.0),
    "Apple Green": ((120, 190, 50), "round", 0.92, "speckle", True, 1.0),
    "Banana": ((235, 205, 50), "crescent", 0.35, "none", False, 1.3),
    "Blueberry": ((60, 70, 130), "round", 1.0, "bloom", False, 0.8),
    "Cherry": ((110, 10, 30), "round", 1.0, "shine", True, 0.8),
    "Kiwi": ((130, 95, 55), "oval", 0.75, "fuzz", False, 1.0),
    "Lemon": ((245, 225, 60), "lemon", 0.72, "dimples", False, 0.95),
    "Lime": ((90, 170, 40), "round", 0.95, "dimples", False, 0.9),
    "Orange": ((245, 140, 20), "round", 1.0, "dimples", False, 1.05),
    "Pear": ((200, 200, 70), "pear", 1.3, "speckle", True, 1.05),
    "Plum": ((100, 40, 90), "oval", 1.1, "bloom", True, 0.9),
    "Strawberry": ((215, 30, 45), "strawberry", 1.15, "seeds", False, 0.95),
}
LABELS = sorted(CLASSES)


def body_mask(shape, u, v, aspect):
    """Signed inside-ness of a unit fruit in its own frame (u right, v down, radius ~1); > 0 inside."""
    if shape in ("round", "oval"):
        return 1 - (u ** 2 + (v / aspect) ** 2)
    if shape == "lemon":
        r = 1 - (u ** 2 + (v / aspect) ** 2)
        tip = np.maximum(0, 1 - np.abs(v) / (aspect * 0.25)) * np.maximum(0, 0.2 - np.abs(u)) * 5
        return np.maximum(r, tip - 0.1)
    if shape == "pear":
        top = 1 - ((u / 0.6) ** 2 + ((v + 0.55) / 0.6) ** 2)
        bottom = 1 - (u ** 2 + ((v - 0.35) / 0.8) ** 2)
        return np.maximum(top, bottom)
    if shape == "strawberry":
        width = np.clip(1.0 - 0.55 * (v + 1.0) / 2.0, 0.2, 1.0)
        return 1 - ((u / width) ** 2 + (v / aspect) ** 2)
    if shape == "crescent":
        outer = 1 - (u ** 2 + ((v + 0.2) / 0.8) ** 2)
        inner = 1 - ((u / 0.95) ** 2 + ((v + 0.55) / 0.75) ** 2)
        return np.minimum(outer, -inner)
    raise ValueError(shape)


def render(label, rng):
    colour, shape, aspect, texture, stem, rel = CLASSES[label]
    yy, xx = np.mgrid[0:SIZE, 0:SIZE].astype(np.float32) + 0.5
    radius = rel * rng.uniform(21, 30)
    extent = radius * max(1.0, aspect) * 1.1
    cx = rng.uniform(extent, SIZE - extent) if extent < SIZE / 2 else SIZE / 2
    cy = rng.uniform(extent, SIZE - extent) if extent < SIZE / 2 else SIZE / 2
    angle = rng.uniform(-math.pi, math.pi) if shape in ("crescent", "oval") else rng.uniform(-0.5, 0.5)
    ca, sa = math.cos(angle), math.sin(angle)
    u = ((xx - cx) * ca + (yy - cy) * sa) / radius
    v = (-(xx - cx) * sa + (yy - cy) * ca) / radius
    inside = body_mask(shape, u, v, aspect)
    alpha = np.clip(inside * radius / 1.5, 0, 1)  # ~1.5 px antialiased edge
    base = np.clip(np.array(colour, np.float32) * rng.uniform(0.85, 1.15, 3), 0, 255)
    shade = np.clip(1.0 - 0.35 * np.clip(u * 0.5 + v * 0.6, 0, 2), 0.4, 1.0)[..., None]
    img = base * shade
    tex = rng.random((SIZE, SIZE)).astype(np.float32)
    if texture == "streaks":
        img *= (0.88 + 0.12 * np.sin(u * 25 + rng.uniform(0, 6)))[..., None]
    elif texture == "speckle":
        img *= (1 - 0.25 * (tex > 0.93))[..., None]
    elif texture == "dimples":
        img *= (0.93 + 0.07 * np.sin(xx * 1.7) * np.sin(yy * 1.7))[..., None]
    elif texture == "fuzz":
        img *= (0.8 + 0.3 * tex)[..., None]
    elif texture == "seeds":
        seeds = (np.sin(u * 14) * np.sin(v * 14) > 0.85)
        img = np.where(seeds[..., None], np.array([240, 220, 90], np.float32), img)
    elif texture == "bloom":
        img = img * 0.85 + 40 * (tex > 0.5)[..., None]
    if texture == "shine" or rng.random() < 0.7:
        hx, hy = -0.35 + rng.uniform(-0.1, 0.1), -0.4 + rng.uniform(-0.1, 0.1)
        spot = np.exp(-(((u - hx) ** 2 + (v - hy) ** 2) / (0.02 if texture == "shine" else 0.05)))
        img = img + (255 - img) * (spot * (0.9 if texture == "shine" else 0.5))[..., None]
    canvas = np.full((SIZE, SIZE, 3), 255.0, np.float32)
    canvas = canvas * (1 - alpha[..., None]) + img * alpha[..., None]
    if stem:
        sv = -aspect if shape != "pear" else -1.15
        stem_mask = (np.abs(u) < 0.07) & (v < sv + 0.15) & (v > sv - 0.35)
        canvas[stem_mask] = np.array([90, 60, 30], np.float32)
        alpha = np.maximum(alpha, stem_mask.astype(np.float32))
    if shape == "strawberry":
        leaves = (v < -aspect + 0.25) & (v > -aspect - 0.1) & (np.abs(u) < 0.6) & (np.sin(u * 12) > -0.2)
        canvas[leaves] = np.array([40, 140, 40], np.float32)
        alpha = np.maximum(alpha, leaves.astype(np.float32))
    canvas += rng.normal(0, 2.0, canvas.shape)
    ys, xs = np.nonzero(alpha > 0.5)
    box = [int(xs.min()), int(ys.min()), int(xs.max()), int(ys.max())]
    return np.clip(canvas, 0, 255).astype(np.uint8), box


def dataset(n, seed):
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % len(LABELS)
    rng.shuffle(labels)
    images, boxes = [], []
    for k in labels:
        im, box = render(LABELS[k], rng)
        images.append(im)
        boxes.append(box)
    return np.stack(images), labels, boxes


MEAN = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
STD = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)


def to_input(images, size):
    """Stretches 100x100 to the network input as Fruits-360 fine-tunes do (the engine resizes the same way)."""
    x = torch.from_numpy(images).permute(0, 3, 1, 2).float()
    if size != SIZE:
        x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False).round().clamp(0, 255)
    return (x / 255 - MEAN) / STD


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--train", type=int, default=4800)
    ap.add_argument("--epochs", type=int, default=12)
    ap.add_argument("--minutes", type=float, default=40, help="stop training after this long")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--input-size", type=int, default=224, help="network input (maps of 7x7 at 224)")
    args = ap.parse_args()
    torch.manual_seed(args.seed)
    torch.set_num_threads(os.cpu_count() or 1)
    t0 = time.time()
    train_x, train_y, _ = dataset(args.train, args.seed + 1)
    val_x, val_y, _ = dataset(240, args.seed + 2)
    model = torch_resnet.resnet(50, 16, len(LABELS))
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=1e-4)
    steps = args.epochs * (args.train // 32)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=3e-3, total_steps=steps, pct_start=0.2)
    rng = np.random.default_rng(args.seed + 3)
    step = 0
    for epoch in range(args.epochs):
        model.train()
        order = rng.permutation(args.train)
        for i in range(0, args.train - 31, 32):
            idx = order[i : i + 32]
            x = to_input(train_x[idx], args.input_size)
            if rng.random() < 0.5:
                x = x.flip(3)
            loss = F.cross_entropy(model(x), torch.from_numpy(train_y[idx]).long(), label_smoothing=0.05)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            step += 1
        model.eval()
        with torch.no_grad():
            acc = (model(to_input(val_x, args.input_size)).argmax(1).numpy() == val_y).mean()
        print("epoch %d loss %.3f val acc %.3f (%.0f s)" % (epoch, loss.item(), acc, time.time() - t0), flush=True)
        if time.time() - t0 > args.minutes * 60:
            break
    model.eval()
    tensors = {}
    for k, v in model.state_dict().items():
        if k.endswith("num_batches_tracked"):
            continue
        a = v.numpy()
        tensors[k] = a.astype(np.float16) if a.ndim == 4 or k == "fc.weight" else a.astype(np.float32)
    meta = {"labels": json.dumps(LABELS),
            "preprocess": json.dumps({"input_size": [args.input_size, args.input_size], "mean": MEAN.view(-1).tolist(), "std": STD.view(-1).tolist(),
                                      "scale": 1 / 255, "channel_order": "RGB"}),
            "source": "tools/make_demo_model.py: synthetic Fruits-360-like demo, ResNet-50 topology at width 16, "
                      "val acc %.3f, %.0f s of training on CPU" % (acc, time.time() - t0)}
    out = os.path.join(ROOT, "weights", "demo_fruits.safetensors")
    safetensors_io.save(out, tensors, meta)
    from PIL import Image

    samples = os.path.join(ROOT, "weights", "demo_images")
    os.makedirs(samples, exist_ok=True)
    sx, sy, _ = dataset(20, args.seed + 4)
    for i, (im, y) in enumerate(zip(sx, sy)):
        Image.fromarray(im).save(os.path.join(samples, "%02d_%s.jpg" % (i, LABELS[y].replace(" ", "_"))), quality=95)
    held = os.path.join(ROOT, "tests", "data", "demo_heldout")
    os.makedirs(held, exist_ok=True)
    hx, hy, hb = dataset(120, args.seed + 5)
    records = []
    for i, (im, y, b) in enumerate(zip(hx, hy, hb)):
        name = "%03d.png" % i
        Image.fromarray(im).save(os.path.join(held, name))
        records.append({"file": name, "label": LABELS[y], "box": b})
    with open(os.path.join(held, "boxes.json"), "w") as f:
        json.dump(records, f, indent=0)
    print("wrote %s (%.1f MB), %d samples, %d held-out; %.0f s" % (out, os.path.getsize(out) / 1e6, len(sx), len(hx), time.time() - t0))


if __name__ == "__main__":
    main()
