"""Shared by tests/python: the repository's paths, the shipped model, and the CLI run they are compared with."""
import glob
import json
import os
import subprocess
import sys

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tools"))  # torch_resnet, for the PyTorch oracles
WEIGHTS = os.path.join(ROOT, "weights", "fruits360_r50.safetensors")
DEMO = os.path.join(ROOT, "weights", "demo_images")
CLI = os.environ.get("CAM_ENGINE_BIN", os.path.join(ROOT, "build", "cam_engine"))


def demo_photos(n):
    """n real Fruits-360 photos of the demo folder, from different classes."""
    folders = sorted(glob.glob(os.path.join(DEMO, "*", "")))
    return [sorted(glob.glob(os.path.join(folders[i * len(folders) // n], "*.jpg")))[0] for i in range(n)]


def heldout_photos(size, n):
    """n real photos of different classes (tests/data/fruits360_heldout), PIL-resized (bilinear) to size x size,
    uint8 (n, size, size, 3): the framework oracles' inputs."""
    from PIL import Image

    folders = sorted(glob.glob(os.path.join(ROOT, "tests", "data", "fruits360_heldout", "*", "")))
    picks = [sorted(glob.glob(os.path.join(folders[i * len(folders) // n], "*.jpg")))[0] for i in range(n)]
    return np.stack([np.asarray(Image.open(p).convert("RGB").resize((size, size), Image.BILINEAR)) for p in picks])


@pytest.fixture(scope="session")
def engine():
    import cam_engine

    with cam_engine.Engine(WEIGHTS, backend="cpu") as eng:
        yield eng


def run_cli(out, inputs, *options):
    """The CLI on `inputs` into `out`; its records (by name) and, with --raw, each record's maps."""
    subprocess.run([CLI, "--weights", WEIGHTS, "--backend", "cpu", "--quiet", "--out", str(out), *options, *inputs],
                   check=True)
    records = [json.loads(line) for line in open(os.path.join(out, "predictions.jsonl"))]
    maps = {r["name"]: np.load(os.path.join(out, r["raw"])) for r in records if "raw" in r}
    return records, maps


FILE_KEYS = ("file", "raw", "panel")


def without_files(record):
    """A CLI record without the names of the files it wrote (the Python package writes none)."""
    r = {k: v for k, v in record.items() if k not in FILE_KEYS and k != "arrays"}
    if "maps" in r:
        r["maps"] = [{k: v for k, v in m.items() if k not in FILE_KEYS} for m in r["maps"]]
    return r
