"""timm models through their own eval transform: cam_engine.from_torch reads the pretrained_cfg (mean, std, input
size, bicubic, Resize(floor(size / crop_pct)) + CenterCrop(size)) and the engine, given the photo files, matches
timm.data.create_transform(**resolve_data_config(model=...)) + the model's forward in probability, and
pytorch-grad-cam's Grad-CAM on the cropped input in its maps. The photos: real Fruits-360 photos (100x100, so
the transform enlarges them) and strips of two and three of them side by side (non-square: the crop cuts the
sides), as PNG. Peaks, boxes and the record's map_region are in the photo's pixels, within the crop's part of
it, and overlays leave the photo outside it unmarked. Skipped, saying so, without timm and pytorch-grad-cam."""
import glob
import os

import numpy as np
import pytest

import cam_engine
from conftest import ROOT

torch = pytest.importorskip("torch", reason="PyTorch is a peer library (tools/setup.sh without CAM_SKIP_PEERS)")
timm = pytest.importorskip("timm")
pytorch_grad_cam = pytest.importorskip("pytorch_grad_cam")
from PIL import Image  # noqa: E402
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget  # noqa: E402

import torch_resnet  # noqa: E402  (tools/)


@pytest.fixture(scope="module")
def photo_files(tmp_path_factory):
    """Paths of a square real photo and of 2- and 3-photo strips (200x100 and 100x300), as lossless PNG."""
    tmp = tmp_path_factory.mktemp("timm_photos")
    folders = sorted(glob.glob(os.path.join(ROOT, "tests", "data", "fruits360_heldout", "*", "")))
    photos = [np.asarray(Image.open(sorted(glob.glob(f + "*.jpg"))[0]).convert("RGB")) for f in folders[::5][:5]]
    arrays = [photos[0], np.concatenate(photos[1:3], axis=1), np.concatenate(photos[2:5], axis=0)]
    paths = []
    for i, a in enumerate(arrays):
        paths.append(str(tmp / ("photo%d.png" % i)))
        Image.fromarray(a).save(paths[-1])
    return paths


def timm_side(model, paths, input_size=None):
    """timm's eval transform and the model's probabilities, and the input tensors."""
    config = timm.data.resolve_data_config({} if input_size is None else {"input_size": (3, input_size, input_size)},
                                           model=model)
    transform = timm.data.create_transform(**config)
    x = torch.stack([transform(Image.open(p).convert("RGB")) for p in paths])
    with torch.no_grad():
        probs = torch.softmax(model(x), 1).numpy()
    return config, x, probs


@pytest.mark.parametrize("arch, input_size", [("resnet50d", None), ("resnet18", 160)])
def test_timm_eval_transform_probabilities_and_maps(photo_files, arch, input_size):
    model = torch_resnet.randomize(timm.create_model(arch, num_classes=6), 7).eval()
    config, x, want = timm_side(model, photo_files, input_size)
    assert config["crop_pct"] < 1 and config["interpolation"] in ("bicubic", "bilinear")
    eng = cam_engine.from_torch(model, input_size=input_size, backend="cpu")
    size = config["input_size"][1]
    assert eng.info["resize"] == "pil-" + config["interpolation"]
    assert eng.info["resize_shorter"] == int(np.floor(size / config["crop_pct"]))
    assert eng.info["input_size"] == [size, size]
    got = eng(photo_files, method="gradcam", overlays=True)
    assert np.abs(got.probs - want).max() <= 1e-5
    top = want.argmax(1)
    with pytorch_grad_cam.GradCAM(model=model, target_layers=[model.layer4[-1]]) as cam:
        maps = cam(input_tensor=x, targets=[ClassifierOutputTarget(int(c)) for c in top])
    assert got.maps.shape[2:] == (size, size)
    assert np.abs(got.maps[:, 0] - maps).max() <= 1e-4

    for i, path in enumerate(photo_files):
        photo = np.asarray(Image.open(path).convert("RGB"))
        h, w = photo.shape[:2]
        # torchvision's Resize(S) and CenterCrop(size) arithmetic, mapped back to the photo's pixels
        shorter = eng.info["resize_shorter"]
        rw, rh = (shorter, int(shorter * h / w)) if w <= h else (int(shorter * w / h), shorter)
        left, top_row = int(round((rw - size) / 2.0)), int(round((rh - size) / 2.0))
        region = [int(np.floor(left * w / rw + 0.5)), int(np.floor(top_row * h / rh + 0.5)),
                  int(np.floor((left + size) * w / rw + 0.5)) - 1, int(np.floor((top_row + size) * h / rh + 0.5)) - 1]
        record = got.records[i]
        assert record["map_region"] == region
        x0, y0, x1, y1 = region
        px, py = got.peaks[i, 0]
        assert x0 <= px <= x1 and y0 <= py <= y1
        bx0, by0, bx1, by1 = got.boxes[i, 0]
        assert x0 <= bx0 <= bx1 <= x1 and y0 <= by0 <= by1 <= y1
        overlay = got.overlays[i][0]
        outside = np.ones((h, w), bool)
        outside[y0:y1 + 1, x0:x1 + 1] = False
        assert overlay.shape == photo.shape and np.array_equal(overlay[outside], photo[outside])
        assert (overlay[~outside] != photo[~outside]).mean() > 0.5


def test_timm_cfg_beside_a_checkpoint_and_refusals(tmp_path):
    """timm's save_for_hf layout (config.json with pretrained_cfg beside the weights) gives the converter timm's
    eval transform; an interpolation the engine cannot reproduce is refused, naming it."""
    import json
    import subprocess
    import sys

    model = timm.create_model("resnet26d", num_classes=3)
    timm.models.save_for_hf(model, str(tmp_path), safe_serialization=False)
    out = str(tmp_path / "m.safetensors")
    r = subprocess.run([sys.executable, os.path.join(ROOT, "tools", "convert.py"), str(tmp_path / "pytorch_model.bin"),
                        "-o", out], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "preprocess from timm's pretrained_cfg: 224x224, bicubic, Resize(256) + CenterCrop(224)" in r.stdout
    with cam_engine.Engine(out, backend="cpu") as eng:
        assert eng.info["resize"] == "pil-bicubic" and eng.info["resize_shorter"] == 256
    config = json.load(open(tmp_path / "config.json"))
    config["pretrained_cfg"]["interpolation"] = "lanczos"
    json.dump(config, open(tmp_path / "config.json", "w"))
    r = subprocess.run([sys.executable, os.path.join(ROOT, "tools", "convert.py"), str(tmp_path / "pytorch_model.bin"),
                        "-o", out], capture_output=True, text=True)
    assert r.returncode == 2 and "interpolation 'lanczos' is not one the engine reproduces" in r.stderr
