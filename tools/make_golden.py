#!/usr/bin/env python3
"""Generates the golden fixtures in tests/data/ (run with Debian's /usr/bin/python3: python3-torch, numpy, opencv).

For each fixture: a torchvision-named ResNet with random weights and random BN running statistics, a few fixed
uint8 inputs at the network input size, and the expected logits, per-stage activations (NHWC), Grad-CAM maps computed
the pytorch-grad-cam way (autograd on layer4[-1], then docs/conventions.md steps 2-5 with cv2.resize) and one overlay
made as show_cam_on_image does.

  make_golden.py                 # the committed fixtures
  make_golden.py --only NAME     # one of them (the others keep their bytes)
  make_golden.py --full OUTDIR   # full-size ResNet-50, 131 classes, 224x224 (the on-the-fly test)
"""
import argparse
import json
import os
import sys

import cv2
import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safetensors_io  # noqa: E402
import torch_resnet  # noqa: E402

MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)


def make_images(n, h, w, seed):
    """Smooth coloured blobs on a light background plus noise: structured enough for meaningful maps."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    images = []
    for _ in range(n):
        img = np.full((h, w, 3), 235.0, np.float32)
        for _ in range(4):
            cy, cx = rng.uniform(0, h), rng.uniform(0, w)
            r = rng.uniform(0.1, 0.3) * min(h, w)
            blob = np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * r * r))[..., None]
            img = img * (1 - blob) + rng.uniform(0, 255, 3).astype(np.float32) * blob
        img += rng.normal(0, 6, img.shape)
        images.append(np.clip(img, 0, 255).astype(np.uint8))
    return np.stack(images)


def normalize(images):
    return ((images.astype(np.float32) / 255.0 - MEAN) / STD).astype(np.float32)


def scale_cam_image(cam, target_size=None):
    """pytorch-grad-cam's scale_cam_image for one map: min-max with 1e-7, then cv2.resize when a size is given."""
    cam = cam - np.min(cam)
    cam = cam / (1e-7 + np.max(cam))
    if target_size is not None:
        cam = cv2.resize(cam, target_size)
    return np.float32(cam)


def grad_cam(model, x, classes):
    """Grad-CAM on model.layer4[-1] as pytorch-grad-cam computes it. x (N,3,H,W); classes (N,K) -> (N,K,H,W)."""
    store = {}
    layer = model.layer4[-1]
    h1 = layer.register_forward_hook(lambda m, i, o: store.__setitem__("a", o))
    h2 = layer.register_full_backward_hook(lambda m, gi, go: store.__setitem__("g", go[0]))
    n, k = classes.shape
    out = np.zeros((n, k, x.shape[2], x.shape[3]), np.float32)
    for j in range(k):
        model.zero_grad()
        logits = model(x.clone().requires_grad_(True))
        loss = sum(logits[i, int(classes[i, j])] for i in range(n))
        loss.backward()
        a = store["a"].detach().numpy()
        g = store["g"].detach().numpy()
        weights = np.mean(g, axis=(2, 3))
        cams = np.maximum((weights[:, :, None, None] * a).sum(axis=1), 0)
        for i in range(n):
            first = scale_cam_image(cams[i], (x.shape[3], x.shape[2]))
            out[i, j] = scale_cam_image(np.maximum(first, 0))
    h1.remove()
    h2.remove()
    return out


def show_cam_on_image(img_u8, mask, image_weight=0.5):
    heatmap = cv2.applyColorMap(np.uint8(255 * mask), cv2.COLORMAP_JET)
    heatmap = np.float32(cv2.cvtColor(heatmap, cv2.COLOR_BGR2RGB)) / 255
    img = np.float32(img_u8) / 255
    cam = (1 - image_weight) * heatmap + image_weight * img
    cam = cam / np.max(cam)
    return np.uint8(255 * cam)


def weights_dict(model, f16=(), bf16=()):
    """state_dict as NumPy; tensors whose name starts with a prefix in f16/bf16 are rounded to that type in the
    model too, so PyTorch computes with exactly the stored values."""
    tensors, bf16_names = {}, set()
    with torch.no_grad():
        for name, t in model.state_dict().items():
            if name.endswith("num_batches_tracked"):
                tensors[name] = t.numpy().astype(np.int64)
                continue
            if name.startswith(tuple(f16)) and name.endswith("weight") and t.dim() == 4:
                t.copy_(t.half().float())
                tensors[name] = t.numpy().astype(np.float16)
                continue
            if name.startswith(tuple(bf16)) and name.endswith("weight") and t.dim() == 4:
                t.copy_(t.bfloat16().float())
                bf16_names.add(name)
            tensors[name] = t.numpy().astype(np.float32)
    return tensors, bf16_names


def make_fixture(out_dir, name, depth, width, classes, h, w, n, seed, f16=(), bf16=(), hidden=(),
                 dilation=(False, False, False)):
    torch.manual_seed(seed)
    net = (torch_resnet.ResNet(depth, width, classes, hidden) if hidden
           else torch_resnet.resnet(depth, width, classes, dilation))
    model = torch_resnet.randomize(net, seed)
    tensors, bf16_names = weights_dict(model, f16, bf16)
    labels = ["fruit_%02d" % i for i in range(classes)]
    meta = {
        "labels": json.dumps(labels),
        "preprocess": json.dumps({"input_size": [h, w], "mean": MEAN.tolist(), "std": STD.tolist(),
                                  "scale": 1 / 255, "channel_order": "RGB"}),
        "source": "tools/make_golden.py: random ResNet-%d width %d, seed %d" % (depth, width, seed),
    }
    if any(dilation):
        meta["replace_stride_with_dilation"] = json.dumps(list(dilation))
    safetensors_io.save(os.path.join(out_dir, name + ".safetensors"), tensors, meta, bf16=bf16_names)

    images = make_images(n, h, w, seed)
    x = torch.from_numpy(normalize(images)).permute(0, 3, 1, 2).contiguous()
    stages = []
    hooks = [getattr(model, m).register_forward_hook(lambda mod, i, o: stages.append(o.detach()))
             for m in ("maxpool", "layer1", "layer2", "layer3", "layer4")]
    with torch.no_grad():
        logits = model(x)
    for hk in hooks:
        hk.remove()
    order = torch.argsort(logits, dim=1, descending=True).numpy()
    cam_classes = np.stack([order[:, 0], order[:, 1], np.full(n, classes - 1)], axis=1)
    cams = grad_cam(model, x, cam_classes)
    expected = {
        "images": images,
        "input": normalize(images),
        "logits": logits.numpy().astype(np.float32),
        "cam_classes": cam_classes.astype(np.float32),
        "cams": cams,
        "overlay": show_cam_on_image(images[0], cams[0, 0]),
    }
    for i, s in enumerate(stages):
        expected["stage%d" % i] = s.permute(0, 2, 3, 1).contiguous().numpy().astype(np.float32)
    safetensors_io.save(os.path.join(out_dir, name + "_expected.safetensors"), expected)
    print("%s: logits %s, top-1 %s, stages %s" % (name, tuple(logits.shape), order[:, 0].tolist(),
                                                  [tuple(s.shape) for s in stages]), file=sys.stderr)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--full", metavar="OUTDIR", help="write the full-size ResNet-50 fixture to OUTDIR")
    ap.add_argument("--only", metavar="NAME", help="write only this committed fixture")
    args = ap.parse_args()
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    if args.full:
        os.makedirs(args.full, exist_ok=True)
        make_fixture(args.full, "full_r50", 50, 64, 131, 224, 224, 2, 7)
        return
    data = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "data")
    os.makedirs(data, exist_ok=True)
    fixtures = {
        "golden_r50w16": lambda: make_fixture(data, "golden_r50w16", 50, 16, 11, 100, 100, 3, 1, f16=("layer1", "layer2"),
                                              bf16=("layer3", "layer4")),
        "golden_r18w8": lambda: make_fixture(data, "golden_r18w8", 18, 8, 5, 64, 48, 2, 2),
        "golden_r18w8_mlp": lambda: make_fixture(data, "golden_r18w8_mlp", 18, 8, 6, 64, 64, 3, 3, hidden=(48, 24)),
        # torchvision's replace_stride_with_dilation=[False, True, True] (output stride 8, as its segmentation
        # models): layer4's first block dilated by 2 (the dilation before it), the others by 4. 72x56: 9x7 maps.
        "golden_r50w8_dilated": lambda: make_fixture(data, "golden_r50w8_dilated", 50, 8, 5, 72, 56, 2, 4,
                                                     f16=("layer",), dilation=(False, True, True)),
    }
    for name, make in fixtures.items():
        if args.only in (None, name):
            make()


if __name__ == "__main__":
    main()
