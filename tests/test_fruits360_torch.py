#!/usr/bin/env python3
"""The shipped Fruits-360 model in PyTorch (Debian's) and in cam_engine on the same pixels: the held-out real
photos are decoded and stretched to the input size by PIL, as torchvision's pipeline does, and given to both as
those exact pixels (PNG at the input size, so the engine resizes nothing). Asserted: every top-5 probability
within 1e-5, the same top-1 class, and the top-1 CAM (forward hook on layer4, FC-row weighting, ReLU, min-max,
bilinear upsample, min-max: pytorch-grad-cam's definition) within 1e-4.
Asserted too: the engine given the JPEG files themselves (its own libjpeg-turbo decode and PIL-exact resize)
gives the same probabilities within 1e-5 (before both were PIL's, stb_image and a float resize moved them by up
to 6.6e-3), and with --resize pil-nearest, cv2-linear and cv2-area the same against PIL's NEAREST resize (Keras
load_img's default) and cv2.resize(INTER_LINEAR / INTER_AREA).

  test_fruits360_torch.py --engine build/cam_engine
Exit 77 (skipped) when torch or PIL is missing.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
sys.path.insert(0, os.path.join(ROOT, "tools"))


def load_torch_model(path):
    import torch
    import safetensors_io
    import torch_resnet

    tensors, meta = safetensors_io.load(path)
    labels = json.loads(meta["labels"])
    model = torch_resnet.ResNet(50, tensors["conv1.weight"].shape[0], len(labels),
                                replace_stride_with_dilation=torch_resnet.dilation_from_meta(meta))
    state = {k: torch.from_numpy(v.astype(np.float32)) for k, v in tensors.items()}
    missing = model.load_state_dict(state, strict=False)
    assert not missing.unexpected_keys and all(k.endswith("num_batches_tracked") for k in missing.missing_keys)
    return model.eval(), labels, json.loads(meta["preprocess"])


def torch_outputs(model, pixels, pre):
    """pixels: uint8 (N, H, W, 3). Returns probabilities (N, classes) and the top-1 CAM (N, H, W)."""
    import torch
    import torch.nn.functional as F

    feats = {}
    hook = model.layer4.register_forward_hook(lambda m, i, o: feats.__setitem__("a", o))
    x = torch.from_numpy(pixels).permute(0, 3, 1, 2).float() * pre["scale"]
    x = (x - torch.tensor(pre["mean"]).view(1, 3, 1, 1)) / torch.tensor(pre["std"]).view(1, 3, 1, 1)
    with torch.no_grad():
        probs = F.softmax(model(x), 1)
        top = probs.argmax(1)
        cam = torch.einsum("nk,nkhw->nhw", model.fc.weight[top], feats["a"]).clamp(min=0)
        flat = cam.flatten(1)
        cam = (cam - flat.min(1)[0].view(-1, 1, 1))
        cam = cam / (1e-7 + cam.flatten(1).max(1)[0].view(-1, 1, 1))
        up = F.interpolate(cam[:, None], size=pixels.shape[1:3], mode="bilinear", align_corners=False)[:, 0]
        up = up - up.flatten(1).min(1)[0].view(-1, 1, 1)
        up = up / (1e-7 + up.flatten(1).max(1)[0].view(-1, 1, 1))
    hook.remove()
    return probs.numpy(), up.numpy()


def run_engine(engine, weights, folder, out, extra=()):
    subprocess.run([engine, "--weights", weights, "--backend", "cpu", "--quiet", "--raw", "--out", out, folder] +
                   list(extra), check=True)
    return {os.path.relpath(r["path"], folder): r for r in map(json.loads, open(os.path.join(out, "predictions.jsonl")))}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--engine", required=True)
    ap.add_argument("--weights", default=os.path.join(ROOT, "weights", "fruits360_r50.safetensors"))
    ap.add_argument("--photos", default=os.path.join(ROOT, "tests", "data", "fruits360_heldout"))
    args = ap.parse_args()
    try:
        import torch  # noqa: F401
        from PIL import Image
    except ImportError as e:
        print("SKIPPED: %s" % e)
        return 77
    model, labels, pre = load_torch_model(args.weights)
    h, w = pre["input_size"]
    names = sorted(os.path.join(c, f) for c in os.listdir(args.photos) if os.path.isdir(os.path.join(args.photos, c))
                   for f in os.listdir(os.path.join(args.photos, c)))
    temporary = tempfile.TemporaryDirectory(prefix="cam_torch_")  # removed when main returns
    tmp = temporary.name
    same = os.path.join(tmp, "pixels")
    pixels = []
    for name in names:
        a = np.asarray(Image.open(os.path.join(args.photos, name)).convert("RGB").resize((w, h), Image.BILINEAR))
        pixels.append(a)
        os.makedirs(os.path.dirname(os.path.join(same, name)), exist_ok=True)
        Image.fromarray(a).save(os.path.join(same, name) + ".png")
    pixels = np.stack(pixels)
    probs, cams = torch_outputs(model, pixels, pre)
    nearest = np.stack([np.asarray(Image.open(os.path.join(args.photos, name)).convert("RGB").resize(
        (w, h), Image.NEAREST)) for name in names])
    probs_nearest, _ = torch_outputs(model, nearest, pre)
    own_nearest = run_engine(args.engine, args.weights, args.photos, os.path.join(tmp, "nearest"),
                             ["--resize", "pil-nearest"])
    cv2_runs = []  # (mode, PyTorch's probabilities on cv2's pixels, the engine's records)
    try:
        import cv2
        for mode, flag in (("cv2-linear", cv2.INTER_LINEAR), ("cv2-area", cv2.INTER_AREA)):
            resized = np.stack([cv2.resize(np.asarray(Image.open(os.path.join(args.photos, name)).convert("RGB")),
                                           (w, h), interpolation=flag) for name in names])
            cv2_runs.append((mode, torch_outputs(model, resized, pre)[0],
                             run_engine(args.engine, args.weights, args.photos, os.path.join(tmp, mode),
                                        ["--resize", mode])))
    except ImportError:
        print("cv2 missing: --resize cv2-linear and cv2-area not checked")
    got = run_engine(args.engine, args.weights, same, os.path.join(tmp, "out"))
    own = run_engine(args.engine, args.weights, args.photos, os.path.join(tmp, "own"))
    worst_p, worst_cam, worst_own, worst_nearest, worst_cv2, agree = 0.0, 0.0, 0.0, 0.0, {}, 0
    for i, name in enumerate(names):
        r = got[name + ".png"]
        if r["top"][0]["class"] == int(probs[i].argmax()):
            agree += 1
        for t in r["top"]:
            worst_p = max(worst_p, abs(t["probability"] - float(probs[i][t["class"]])))
        raw = np.load(os.path.join(tmp, "out", r["raw"]))
        worst_cam = max(worst_cam, float(np.abs(raw[0] - cams[i]).max()))
        for t in own[name]["top"]:
            worst_own = max(worst_own, abs(t["probability"] - float(probs[i][t["class"]])))
        for t in own_nearest[name]["top"]:
            worst_nearest = max(worst_nearest, abs(t["probability"] - float(probs_nearest[i][t["class"]])))
        for mode, probs_cv2, own_cv2 in cv2_runs:
            for t in own_cv2[name]["top"]:
                worst_cv2[mode] = max(worst_cv2.get(mode, 0.0), abs(t["probability"] - float(probs_cv2[i][t["class"]])))
    print("%d photos at %dx%d: top-1 agree %d/%d; top-5 probabilities max |diff| %.2e (bound 1e-5); top-1 CAM "
          "max |diff| %.2e (bound 1e-4)" % (len(names), w, h, agree, len(names), worst_p, worst_cam))
    print("engine's own JPEG decode + resize vs PIL's: top-5 probabilities max |diff| %.2e (bound 1e-5)" % worst_own)
    print("--resize pil-nearest on the JPEG files vs PIL's NEAREST + PyTorch (Keras load_img's pixels): top-5 "
          "probabilities max |diff| %.2e (bound 1e-5)" % worst_nearest)
    for mode, worst in worst_cv2.items():
        print("--resize %s on the JPEG files vs cv2.resize + PyTorch: top-5 probabilities max |diff| %.2e "
              "(bound 1e-5)" % (mode, worst))
    ok = (agree == len(names) and worst_p <= 1e-5 and worst_cam <= 1e-4 and worst_own <= 1e-5 and
          worst_nearest <= 1e-5 and all(v <= 1e-5 for v in worst_cv2.values()))
    print("ok" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
