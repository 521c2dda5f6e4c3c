#!/usr/bin/env python3
"""The CAM libraries themselves as oracles: pytorch-grad-cam (GradCAM on model.layer4[-1], show_cam_on_image) and
torchcam (CAM, GradCAM) against cam_engine's maps and overlays, for torchvision and timm ResNets (18 and 50, a
131-class head, and an MLP head), on real Fruits-360 photos (tests/data/fruits360_heldout, resized here with PIL to
the input size and handed to the engine as PNG, so both sides see the same pixels). Bounds: maps max |diff|
<= 1e-4 (fp32, different summation orders), overlays the golden tests' bound (max |diff| <= 3, at most 0.1% of
the bytes differ: a map value on a 1/255 boundary of the JET lookup can land either side).
torchcam's maps are at the feature resolution; they are finished with the conventions' steps (docs: ReLU where the
method has none, min-max, bilinear resize, min-max), which are exactly what pytorch-grad-cam does after the
weighting, so the weighting itself is what is compared.
timm: `timm.create_model('resnet50', num_classes=N)` saved with safetensors.torch.save_file loads in the engine
with no conversion, and so do ResNet-D (`resnet26d`, `resnet50d`: deep stem, average-pool shortcuts) and ResNeXt
(`resnext50_32x4d` of timm and of torchvision: grouped 3x3s); their probabilities within 1e-5 of PyTorch's.
Usage: test_peers_cam.py --engine build/cam_engine   (exit 77 = skipped without the peer libraries)
"""
import glob
import os
import subprocess
import sys
import warnings

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import peers  # noqa: E402

np, torch, torchvision, timm, pytorch_grad_cam, torchcam, safetensors_torch, PIL_Image = peers.need(
    "numpy", "torch", "torchvision", "timm", "pytorch_grad_cam", "torchcam", "safetensors.torch", "PIL.Image")
from pytorch_grad_cam.utils.image import show_cam_on_image  # noqa: E402
from torchcam.methods import CAM as TorchcamCAM  # noqa: E402
from torchcam.methods import GradCAM as TorchcamGradCAM  # noqa: E402

import torch_resnet  # noqa: E402

warnings.filterwarnings("ignore")
F = torch.nn.functional
MEAN, STD = np.array([0.485, 0.456, 0.406], np.float32), np.array([0.229, 0.224, 0.225], np.float32)


def photos(size, n=4):
    """n real Fruits-360 photos from different classes, PIL-resized (bilinear) to size x size, uint8 (n, H, W, 3)."""
    folders = sorted(glob.glob(os.path.join(peers.ROOT, "tests", "data", "fruits360_heldout", "*", "")))
    picks = [sorted(glob.glob(os.path.join(folders[i * len(folders) // n], "*.jpg")))[0] for i in range(n)]
    return np.stack([np.asarray(PIL_Image.open(p).convert("RGB").resize((size, size), PIL_Image.BILINEAR))
                     for p in picks])


def finish(m, size, relu):
    """Conventions steps 2-5 on feature-resolution maps (N, h, w): [ReLU], min-max, bilinear resize, min-max."""
    m = m.relu() if relu else m
    out = []
    for x in m:
        x = x - x.min()
        x = F.interpolate((x / (1e-7 + x.max()))[None, None], size=(size, size), mode="bilinear", align_corners=False)
        x = x - x.min()
        out.append((x / (1e-7 + x.max()))[0, 0].detach().numpy())
    return np.stack(out)


def run_engine(engine, weights, images, out, *extra):
    """cam_engine on the images as PNG: (top-1 classes, raw top-1 maps, overlays, records) in input order."""
    records, maps = peers.run_engine_raw(engine, weights, images, out, *extra)
    overlays = [np.asarray(PIL_Image.open(os.path.join(out, "cams", r["maps"][0]["file"])).convert("RGB"))
                for r in records]
    return np.array([r["top"][0]["class"] for r in records]), maps[:, 0], np.stack(overlays), records


def overlay_difference(got, images, maps):
    want = np.stack([show_cam_on_image(im.astype(np.float32) / 255, m, use_rgb=True, image_weight=0.5)
                     for im, m in zip(images, maps)])
    d = np.abs(got.astype(int) - want.astype(int))
    return int(d.max()), float((d > 0).mean())


def compare_model(results, name, model, weights, images, engine, extra, tmp):
    size = images.shape[1]
    x = torch.from_numpy(((images.astype(np.float32) / 255 - MEAN) / STD).transpose(0, 3, 1, 2).copy())
    top, maps, overlays, records = run_engine(engine, weights, images, os.path.join(tmp, name.replace(" ", "_")),
                                              *extra)
    with torch.no_grad():
        probs = model(x).softmax(1).numpy()
    want_top = probs.argmax(1)
    if not np.array_equal(top, want_top):
        results.add(name, False, "top-1 classes differ: engine %s, PyTorch %s" % (top, want_top))
        return
    d_p = max(abs(t["probability"] - probs[i, t["class"]]) for i, r in enumerate(records) for t in r["top"])
    results.add(name + ": probabilities (top-k) against PyTorch", d_p <= 1e-5, "max |diff| %.3g" % d_p)
    with pytorch_grad_cam.GradCAM(model=model, target_layers=[model.layer4[-1]]) as cam:
        pgc = cam(input_tensor=x, targets=None)  # targets=None: each image's highest-scoring class
    d_pgc = float(np.abs(maps - pgc).max())
    o_max, o_frac = overlay_difference(overlays, images, pgc)
    results.add(name + ": pytorch-grad-cam GradCAM + show_cam_on_image", d_pgc <= 1e-4 and o_max <= 3 and o_frac <= 1e-3,
                "map max |diff| %.3g; overlay max |diff| %d, %.4f%% of bytes differ" % (d_pgc, o_max, 100 * o_frac))
    with TorchcamGradCAM(model, target_layer="layer4") as extractor:
        scores = model(x)
        tc = extractor(class_idx=[int(c) for c in top], scores=scores)[0]
    d_tg = float(np.abs(maps - finish(tc, size, relu=True)).max())
    detail = "GradCAM map max |diff| %.3g" % d_tg
    ok = d_tg <= 1e-4
    if isinstance(model.fc, torch.nn.Linear):  # CAM needs the classifier to be one Linear
        with TorchcamCAM(model, target_layer="layer4", fc_layer="fc", input_shape=(3, size, size)) as extractor:
            with torch.no_grad():
                scores = model(x)
            tc = extractor(class_idx=[int(c) for c in top], scores=scores, normalized=False)[0]
        d_tc = float(np.abs(maps - finish(tc, size, relu=True)).max())
        detail = "CAM map max |diff| %.3g, " % d_tc + detail
        ok = ok and d_tc <= 1e-4
    results.add(name + ": torchcam", ok, detail)


def torchvision_models():
    """(name, model, input size) of the torchvision ResNets the CAM tests use: 18 and 50 with 131 classes, and a
    50 with an MLP head (Linear, ReLU, Dropout, Linear)."""
    torch.manual_seed(0)
    mlp = torchvision.models.resnet50(num_classes=131)
    mlp.fc = torch.nn.Sequential(torch.nn.Linear(2048, 256), torch.nn.ReLU(), torch.nn.Dropout(0.3),
                                 torch.nn.Linear(256, 131))
    return [("torchvision resnet18, 131 classes", torchvision.models.resnet18(num_classes=131), 160),
            ("torchvision resnet50, 131 classes", torchvision.models.resnet50(num_classes=131), 224),
            ("torchvision resnet50, MLP head", mlp, 160)]


def saved_models(results, models, tmp):
    """Each (name, model, size) randomised (seeded by its position) and saved for the engine: as the libraries save
    it where the head is one Linear (no conversion step), else through tools/convert.py. Yields (name, model, size,
    weights); a failed conversion is a failed row."""
    for seed, (name, model, size) in enumerate(models):
        model = torch_resnet.randomize(model, seed + 1).eval()
        weights = os.path.join(tmp, "m%d.safetensors" % seed)
        if isinstance(model.fc, torch.nn.Linear):
            safetensors_torch.save_file({k: v.contiguous() for k, v in model.state_dict().items()}, weights)
        else:
            torch.save(model.state_dict(), weights + ".pth")
            code, text = peers.convert(weights + ".pth", weights, "--input-size", str(size))
            if code != 0:
                results.add(name, False, "convert failed: " + text.strip().splitlines()[-1])
                continue
        yield name, model, size, weights


def main():
    engine, results, tmp = peers.start()
    print("torch %s, torchvision %s, timm %s, grad-cam %s, torchcam %s" % (
        torch.__version__, torchvision.__version__, timm.__version__, peers.version("grad-cam"),
        torchcam.__version__))
    models = torchvision_models() + [
        ("timm resnet18, 131 classes", timm.create_model("resnet18", num_classes=131), 160),
        ("timm resnet50, 131 classes", timm.create_model("resnet50", num_classes=131), 224),
        # odd sizes: the average-pool shortcuts' ceil mode meets odd maps (100 -> 13 -> 7 -> 4)
        ("timm resnet26d, 43 classes", timm.create_model("resnet26d", num_classes=43), 100),
        ("timm resnet50d, 131 classes", timm.create_model("resnet50d", num_classes=131), 224),
        ("timm resnext50_32x4d, 43 classes", timm.create_model("resnext50_32x4d", num_classes=43), 160),
        ("torchvision resnext50_32x4d, 131 classes", torchvision.models.resnext50_32x4d(num_classes=131), 100)]
    for name, model, size, weights in saved_models(results, models, tmp):
        compare_model(results, name, model, weights, photos(size), engine, ["--input-size", str(size)], tmp)
    for index, parts in ((6, "deep stem, average-pool shortcuts"), (7, "32 groups")):  # resnet50d, resnext
        info = subprocess.run([engine, "--info", os.path.join(tmp, "m%d.safetensors" % index)], capture_output=True,
                              text=True)
        lines = [line for line in info.stdout.splitlines() if line.startswith(("ResNet-", "ResNeXt-"))]
        results.add("--info says '%s'" % parts, bool(lines) and parts in lines[0], lines[0] if lines else info.stderr)
    return results.finish()


if __name__ == "__main__":
    sys.exit(main())
