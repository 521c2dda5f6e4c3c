"""--check of tools/convert.py: the converted file through cam_engine against PyTorch on the same random images.

The PyTorch side: a PyTorch source is run itself (its state_dict in the matching torchvision-style model); Keras
and ONNX sources are re-run in PyTorch from the converted tensors with the source's semantics (stride placement,
conv biases, BN eps), as no Keras or ONNX runtime is assumed. Bounds: probabilities max |diff| <= 1e-5 and the
top-1 CAM (docs/conventions.md) max |diff| <= 1e-4, as the golden tests. Then photo-sized inputs (real photos,
non-square strips of them, a generated 333x221 one) through the source's own loading (check_photos,
source_loader) against the engine given the files: probabilities <= 1e-5, so a stored resize or crop that is
not what the source's framework does fails.
"""
import glob
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

    tmp = tempfile.mkdtemp()
    try:
        paths = []
        for i, im in enumerate(images):
            paths.append(os.path.join(tmp, "%d.png" % i))
            Image.fromarray(im).save(paths[-1])
        return engine_outputs_for(weights, paths, engine, extra)
    finally:
        shutil.rmtree(tmp)


def engine_outputs_for(weights, paths, engine, extra=()):
    """engine_outputs of image files, resized by the engine as the weights' preprocess says."""
    tensors, _ = safetensors_io.load(weights)
    classes = tensors["fc.weight"].shape[0]
    out = tempfile.mkdtemp()
    try:
        subprocess.run([engine_binary(engine), "--weights", weights, "--backend", "cpu", "--predictions", "all",
                        "--raw", "--quiet", "--out", out] + list(extra) + list(paths), check=True)
        probs, top, maps = np.zeros((len(paths), classes)), [], []
        with open(os.path.join(out, "predictions.jsonl")) as f:
            for i, line in enumerate(f):
                rec = json.loads(line)
                for t in rec["top"]:
                    probs[i, t["class"]] = t["probability"]
                top.append(rec["top"][0]["class"])
                maps.append(np.load(os.path.join(out, rec["raw"]))[0])
        return probs, np.array(top), np.stack(maps)
    finally:
        shutil.rmtree(out)


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
    # images at the input size go in as they are: no crop (check_photos covers the resize and crop)
    return max_differences(*engine_outputs(weights, images, engine, ["--resize-shorter", "0"]), probs, top, cams)


def check_photos(tmp):
    """Photo-sized inputs as PNG paths: real Fruits-360 photos (100x100) and non-square strips of them, and a
    generated 333x221 one, so that resizes and crops are exercised on both axes."""
    from PIL import Image

    here = os.path.dirname(os.path.abspath(__file__))
    real = sorted(glob.glob(os.path.join(here, "..", "tests", "data", "fruits360_heldout", "*", "*.jpg")))[::30][:4]
    arrays = [np.asarray(Image.open(p).convert("RGB")) for p in real]
    if len(arrays) >= 3:
        arrays += [np.concatenate(arrays[:2], axis=1), np.concatenate(arrays[1:3], axis=0)]
    y, x = np.mgrid[0:221, 0:333]
    smooth = np.stack([128 + 90 * np.sin(x / 29.0 + c) * np.cos(y / 17.0 - c) for c in range(3)], -1)
    arrays.append(np.clip(smooth + np.random.default_rng(5).normal(0, 12, smooth.shape), 0, 255).astype(np.uint8))
    paths = []
    for i, a in enumerate(arrays):
        paths.append(os.path.join(tmp, "photo%d.png" % i))
        Image.fromarray(a).save(paths[-1])
    return paths


def source_loader(fmt, pre, chosen_resize, timm_cfg):
    """The source's own loading of a photo file at the input size, as uint8 (H, W, 3) or float (TensorFlow),
    and what it is: the --resize given, through its library; otherwise the source framework's default (Keras
    load_img: nearest; timm's eval transform when the weights carry its pretrained_cfg; torchvision's Resize)."""
    from PIL import Image

    h, w = pre["input_size"]
    mode = chosen_resize
    if mode is None:
        mode = "pil-nearest" if fmt == "keras" else pre.get("resize", "pil-bilinear") if timm_cfg else "pil-bilinear"
    shorter = 0 if fmt == "keras" and chosen_resize is None else pre.get("resize_shorter", 0)
    if mode.startswith("tf-"):
        import tensorflow as tf

        def load(path):
            return tf.image.resize(np.asarray(Image.open(path).convert("RGB")), (h, w), "bilinear",
                                   antialias=mode.endswith("antialias")).numpy()
        return load, "tf.image.resize (%s)" % mode
    if mode.startswith("cv2-"):
        import cv2

        flag = cv2.INTER_LINEAR if mode == "cv2-linear" else cv2.INTER_AREA
        return (lambda path: cv2.resize(np.asarray(Image.open(path).convert("RGB")), (w, h), interpolation=flag),
                "cv2.resize (%s)" % mode)
    if fmt == "keras" and chosen_resize is None:
        try:  # Keras' own load_img where Keras is installed
            from keras.utils import load_img
        except ImportError:
            load_img = None
        if load_img is not None:
            return lambda path: np.asarray(load_img(path, target_size=(h, w))), "Keras load_img (nearest)"
    import torchvision.transforms as T

    interpolation = {"nearest": T.InterpolationMode.NEAREST, "bicubic": T.InterpolationMode.BICUBIC}.get(
        mode.split("-")[-1], T.InterpolationMode.BILINEAR)
    steps = [T.Resize(shorter, interpolation=interpolation), T.CenterCrop((h, w))] if shorter else [
        T.Resize((h, w), interpolation=interpolation)]
    what = ("PIL's NEAREST, as Keras load_img" if fmt == "keras" and chosen_resize is None else
            "torchvision %s, %s" % (" + ".join(type(t).__name__ + "(%s)" % (t.size,) for t in steps),
                                     interpolation.value))
    return lambda path: np.asarray(T.Compose(steps)(Image.open(path).convert("RGB"))), what


def compare_photos(weights, model, engine, loader):
    """Probabilities max |diff| between cam_engine given the photo files (its own resize) and `model` given the
    loader's pixels."""
    _, meta = safetensors_io.load(weights)
    pre = json.loads(meta["preprocess"])
    tmp = tempfile.mkdtemp()
    try:
        paths = check_photos(tmp)
        loaded = np.stack([loader(p) for p in paths])
        probs, _, _ = torch_cams(model, loaded, pre)
        engine_probs, _, _ = engine_outputs_for(weights, paths, engine)
        return float(np.abs(engine_probs - probs).max()), len(paths)
    finally:
        shutil.rmtree(tmp)


def run(weights, fmt, source, engine, chosen_resize=None, timm_cfg=False):
    model, what = reference_for(weights, fmt, source)
    worst_p, worst_cam = compare(weights, model, engine)
    ok = worst_p <= 1e-5 and worst_cam <= 1e-4
    print("check against %s: probabilities max |diff| %.3g (bound 1e-5), top-1 CAM max |diff| %.3g (bound 1e-4): %s"
          % (what, worst_p, worst_cam, "OK" if ok else "FAILED"))
    _, meta = safetensors_io.load(weights)
    pre = json.loads(meta["preprocess"])
    try:
        loader, loading = source_loader(fmt, pre, chosen_resize, timm_cfg)
    except ImportError as e:
        print("check on photos skipped: the source's loading needs %s" % e.name)
        return 0 if ok else 1
    photo_p, count = compare_photos(weights, model, engine, loader)
    photo_ok = photo_p <= 1e-5
    print("check on %d photo-sized inputs through %s against the engine's own resize: probabilities max |diff| %.3g "
          "(bound 1e-5): %s" % (count, loading, photo_p, "OK" if photo_ok else
                                "FAILED (the stored preprocess is not the source's loading: --resize, --preprocess)"))
    return 0 if ok and photo_ok else 1
