"""--check of tools/convert.py: the converted file through cam_engine against PyTorch on the same random images.

The PyTorch side: a PyTorch source is run itself (its state_dict in the matching torchvision-style model); Keras
and ONNX sources are re-run in PyTorch from the converted tensors with the source's semantics (stride placement,
conv biases, BN eps), as no Keras or ONNX runtime is assumed. Bounds: probabilities max |diff| <= 1e-5 and the
top-1 CAM (conventions.md) max |diff| <= 1e-4, as the golden tests.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np
import torch
import torch.nn.functional as F

import safetensors_io
import torch_resnet


def engine_binary(given):
    here = os.path.dirname(os.path.abspath(__file__))
    for candidate in (given, os.path.join(here, "..", "build", "cam_engine"), shutil.which("cam_engine")):
        if candidate and os.path.exists(candidate):
            return candidate
    raise FileNotFoundError("cam_engine not found: build it or pass --engine")


def torch_cams(model, images, pre):
    """Probabilities and top-1 CAMs (steps 1-5 of conventions.md) for uint8 images (N, H, W, 3) at the input size."""
    x = images.astype(np.float32)
    if pre.get("channel_order") == "BGR":
        x = x[..., ::-1]
    x = (x * pre["scale"] - np.array(pre["mean"], np.float32)) / np.array(pre["std"], np.float32)
    feats = {}
    model.layer4.register_forward_hook(lambda m, i, o: feats.__setitem__("a", o))
    with torch.no_grad():
        logits = model(torch.from_numpy(np.ascontiguousarray(x)).permute(0, 3, 1, 2))
    probs = logits.softmax(1).numpy()
    top = probs.argmax(1)
    model.zero_grad()
    cams = []
    for i in range(len(images)):  # Grad-CAM by autograd: right for single-Linear and MLP heads alike
        a = feats["a"][i : i + 1].detach().requires_grad_(True)
        h = torch.flatten(F.adaptive_avg_pool2d(a, 1), 1)
        for layer in model.head:
            h = torch.relu(layer(h))
        model.fc(h)[0, top[i]].backward()
        m = (a.grad.mean(dim=(2, 3), keepdim=True) * a).sum(1, keepdim=True).relu()
        m = m - m.min()
        m = m / (1e-7 + m.max())
        m = F.interpolate(m, size=images.shape[1:3], mode="bilinear", align_corners=False)
        m = m - m.min()
        cams.append((m / (1e-7 + m.max()))[0, 0].detach().numpy())
    return probs, top, np.stack(cams)


def reference_for(weights, fmt, source):
    """The PyTorch model --check compares with, and what it is."""
    tensors, meta = safetensors_io.load(weights)
    if fmt == "pytorch":
        obj = torch.load(source, map_location="cpu")
        if isinstance(obj, torch.nn.Module):
            return obj.eval(), "the source model"
    return torch_resnet.from_tensors(tensors, meta), "converted tensors in PyTorch with the source's semantics"


def compare(weights, model, engine, n=3, seed=0):
    """Returns (probabilities max |diff|, top-1 CAM max |diff|) between cam_engine and `model`."""
    tensors, meta = safetensors_io.load(weights)
    pre = json.loads(meta["preprocess"])
    h, w = pre["input_size"]
    images = np.random.default_rng(seed).integers(0, 256, (n, h, w, 3), dtype=np.uint8)
    probs, top, cams = torch_cams(model, images, pre)
    tmp = tempfile.mkdtemp()
    from PIL import Image

    for i, im in enumerate(images):
        Image.fromarray(im).save(os.path.join(tmp, "%d.png" % i))
    classes = tensors["fc.weight"].shape[0]
    subprocess.run([engine_binary(engine), "--weights", weights, "--backend", "cpu", "--topk", str(classes), "--raw",
                    "--quiet", "--out", os.path.join(tmp, "out")] + [os.path.join(tmp, "%d.png" % i) for i in range(n)], check=True)
    worst_p, worst_cam = 0.0, 0.0
    with open(os.path.join(tmp, "out", "predictions.jsonl")) as f:
        for i, line in enumerate(f):
            rec = json.loads(line)
            got = np.zeros(classes)
            for t in rec["top"]:
                got[t["class"]] = t["probability"]
            worst_p = max(worst_p, float(np.abs(got - probs[i]).max()))
            raw = np.load(os.path.join(tmp, "out", rec["raw"]))
            if rec["top"][0]["class"] != top[i]:
                print("check: image %d top-1 differs: engine %d, PyTorch %d" % (i, rec["top"][0]["class"], top[i]))
                worst_cam = float("inf")
            else:
                worst_cam = max(worst_cam, float(np.abs(raw[0] - cams[i]).max()))
    shutil.rmtree(tmp)
    return worst_p, worst_cam


def run(weights, fmt, source, engine):
    model, what = reference_for(weights, fmt, source)
    worst_p, worst_cam = compare(weights, model, engine)
    ok = worst_p <= 1e-5 and worst_cam <= 1e-4
    print("check against %s: probabilities max |diff| %.3g (bound 1e-5), top-1 CAM max |diff| %.3g (bound 1e-4): %s"
          % (what, worst_p, worst_cam, "OK" if ok else "FAILED"))
    return 0 if ok else 1
