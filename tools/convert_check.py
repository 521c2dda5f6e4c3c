"""--check of tools/convert.py: the converted file through cam_engine against PyTorch on the same random images.

The PyTorch side: a PyTorch source is run itself (its state_dict in the matching torchvision-style model); Keras
and ONNX sources are re-run in PyTorch from the converted tensors with the source's semantics (stride placement,
conv biases, BN eps), as no Keras or ONNX runtime is assumed. Bounds: probabilities max |diff| <= 1e-5 and the
top-1 CAM (docs/conventions.md) max |diff| <= 1e-4, as the golden tests.
"""
import json
import os
import shutil
import subprocess
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
    """Probabilities and top-1 CAMs (steps 1-5 of docs/conventions.md) for uint8 images (N, H, W, 3) at the input size.
    Grad-CAM by autograd on layer4's output, so it is right for any head (one Linear, an MLP, torchvision's or
    timm's modules)."""
    x = images.astype(np.float32)
    if pre.get("channel_order") == "BGR":
        x = x[..., ::-1]
    x = (x * pre["scale"] - np.array(pre["mean"], np.float32)) / np.array(pre["std"], np.float32)
    x = torch.from_numpy(np.ascontiguousarray(x)).permute(0, 3, 1, 2)
    feats = {}

    def keep(module, inputs, output):
        output.retain_grad()
        feats["a"] = output

    hook = model.layer4.register_forward_hook(keep)
    probs, top, cams = [], [], []
    try:
        for i in range(len(images)):
            model.zero_grad()
            logits = model(x[i : i + 1])
            probs.append(logits.softmax(1)[0].detach().numpy())
            top.append(int(logits[0].argmax()))
            logits[0, top[-1]].backward()
            a = feats["a"]
            m = (a.grad.mean(dim=(2, 3), keepdim=True) * a).sum(1, keepdim=True).relu()
            m = m - m.min()
            m = m / (1e-7 + m.max())
            m = F.interpolate(m, size=images.shape[1:3], mode="bilinear", align_corners=False)
            m = m - m.min()
            cams.append((m / (1e-7 + m.max()))[0, 0].detach().numpy())
    finally:
        hook.remove()
    return np.stack(probs), np.array(top), np.stack(cams)


def reference_for(weights, fmt, source):
    """The PyTorch model --check compares with, and what it is."""
    tensors, meta = safetensors_io.load(weights)
    if fmt == "pytorch":
        obj = torch.load(source, map_location="cpu")
        if isinstance(obj, torch.nn.Module):
            return obj.eval(), "the source model"
    return torch_resnet.from_tensors(tensors, meta), "converted tensors in PyTorch with the source's semantics"


def engine_outputs(weights, images, engine, extra=()):
    """cam_engine (CPU backend) on uint8 images (N, H, W, 3) at the input size, written as PNG (lossless): every
    class's probability (N, classes), the top-1 class and its raw map (H, W) per image."""
    from PIL import Image

    tensors, _ = safetensors_io.load(weights)
    classes = tensors["fc.weight"].shape[0]
    tmp = tempfile.mkdtemp()
    try:
        paths = []
        for i, im in enumerate(images):
            paths.append(os.path.join(tmp, "%d.png" % i))
            Image.fromarray(im).save(paths[-1])
        subprocess.run([engine_binary(engine), "--weights", weights, "--backend", "cpu", "--predictions", "all",
                        "--raw", "--quiet", "--out", os.path.join(tmp, "out")] + list(extra) + paths, check=True)
        probs, top, maps = np.zeros((len(images), classes)), [], []
        with open(os.path.join(tmp, "out", "predictions.jsonl")) as f:
            for i, line in enumerate(f):
                rec = json.loads(line)
                for t in rec["top"]:
                    probs[i, t["class"]] = t["probability"]
                top.append(rec["top"][0]["class"])
                maps.append(np.load(os.path.join(tmp, "out", rec["raw"]))[0])
        return probs, np.array(top), np.stack(maps)
    finally:
        shutil.rmtree(tmp)


def random_images(weights, n=3, seed=0):
    """n random uint8 images (n, H, W, 3) at the weights' input size."""
    _, meta = safetensors_io.load(weights)
    h, w = json.loads(meta["preprocess"])["input_size"]
    return np.random.default_rng(seed).integers(0, 256, (n, h, w, 3), dtype=np.uint8)


def max_differences(engine_probs, engine_top, engine_maps, probs, top, maps, what="PyTorch"):
    """(probabilities max |diff|, top-1 map max |diff|); inf when a top-1 class differs."""
    worst_cam = 0.0
    for i in range(len(probs)):
        if engine_top[i] != top[i]:
            print("check: image %d top-1 differs: engine %d, %s %d" % (i, engine_top[i], what, top[i]))
            worst_cam = float("inf")
        else:
            worst_cam = max(worst_cam, float(np.abs(engine_maps[i] - maps[i]).max()))
    return float(np.abs(engine_probs - probs).max()), worst_cam


def compare(weights, model, engine, n=3, seed=0):
    """Returns (probabilities max |diff|, top-1 CAM max |diff|) between cam_engine and `model`."""
    _, meta = safetensors_io.load(weights)
    images = random_images(weights, n, seed)
    probs, top, cams = torch_cams(model, images, json.loads(meta["preprocess"]))
    return max_differences(*engine_outputs(weights, images, engine), probs, top, cams)


def run(weights, fmt, source, engine):
    model, what = reference_for(weights, fmt, source)
    worst_p, worst_cam = compare(weights, model, engine)
    ok = worst_p <= 1e-5 and worst_cam <= 1e-4
    print("check against %s: probabilities max |diff| %.3g (bound 1e-5), top-1 CAM max |diff| %.3g (bound 1e-4): %s"
          % (what, worst_p, worst_cam, "OK" if ok else "FAILED"))
    return 0 if ok else 1
