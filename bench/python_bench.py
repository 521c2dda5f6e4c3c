#!/usr/bin/env python3
"""The Python package's speed beside what it wraps and what it replaces, measured in one run on one machine:
  1. overhead: Engine(...)(batch of 16 uint8 images at the input size) against cam_bench's "cam" row on the same
     weights, backend and batch (both random images, top-1 CAM, maps back on the host);
  2. lists: Engine.map over real photos against the CLI on the same list (the CLI also writes its overlay PNGs
     and predictions.jsonl; map returns records and arrays);
  3. compat: cam_engine.compat.GradCAM against pytorch-grad-cam's GradCAM on a torchvision ResNet-50 at 224,
     batch 1 and 16 (needs the peers of tools/setup.sh).
Usage: .venv/bin/python bench/python_bench.py [--build build] [--photos ../shared/data/fruits360/Test] [--count 400]
(PYTHONPATH=BUILD/python to measure a build's package instead of the installed one)."""
import argparse
import glob
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

import cam_engine

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WEIGHTS = os.path.join(ROOT, "weights", "fruits360_r50.safetensors")


def cpu_model():
    for line in open("/proc/cpuinfo"):
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor()


def median_ms(fn, reps, warmup=1):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1e3)
    return statistics.median(times)


def overhead(build, backend, reps, rounds=3):
    """Rounds of cam_bench then Python, alternated, so that a slow spell of a shared machine hits both."""
    eng = cam_engine.Engine(WEIGHTS, backend=backend)
    w, h = eng.info["input_size"]
    images = np.random.default_rng(0).integers(0, 256, (16, h, w, 3), dtype=np.uint8)
    bench, python = [], []
    for _ in range(rounds):
        with tempfile.NamedTemporaryFile(suffix=".json") as f:
            subprocess.run([os.path.join(build, "cam_bench"), "--weights", WEIGHTS, "--backend", backend, "--batch",
                            "16", "--size", str(w), "--reps", str(reps), "--warmup", "1", "--json", f.name],
                           check=True, stdout=subprocess.DEVNULL)
            bench.append(next(r["median_ms"] for r in json.load(open(f.name))["rows"] if r["what"] == "cam"))
        python.append(median_ms(lambda: eng(images, topk=1), reps))
    bench_ms, python_ms = statistics.median(bench), statistics.median(python)
    print("overhead  %s, batch 16 at %dx%d, median of %d alternated rounds: cam_bench %.1f ms, Engine() %.1f ms: "
          "Python overhead %+.1f%%" % (eng.info["backend"], w, h, rounds, bench_ms, python_ms,
                                       100 * (python_ms / bench_ms - 1)))


def lists(build, backend, photos, count):
    paths = sorted(glob.glob(os.path.join(photos, "*", "*.jpg")))[:count]
    eng = cam_engine.Engine(WEIGHTS, backend=backend)
    with tempfile.TemporaryDirectory() as tmp:
        listing = os.path.join(tmp, "list.txt")
        open(listing, "w").write("\n".join(paths) + "\n")
        start = time.perf_counter()
        subprocess.run([os.path.join(build, "cam_engine"), "--weights", WEIGHTS, "--backend", backend, "--quiet",
                        "--out", os.path.join(tmp, "out"), listing], check=True)
        cli = len(paths) / (time.perf_counter() - start)
    start = time.perf_counter()
    n = sum(1 for _ in eng.map(paths))
    mapped = n / (time.perf_counter() - start)
    print("lists     %d real photos, %s: CLI %.1f img/s (with its overlay files), Engine.map %.1f img/s: %.2fx"
          % (len(paths), eng.info["backend"], cli, mapped, mapped / cli))


def compat(reps):
    try:
        import pytorch_grad_cam
        import torch
        import torchvision
    except ImportError as e:
        print("compat    skipped: %s (the peers of tools/setup.sh)" % e)
        return
    from cam_engine.compat import GradCAM

    model = torchvision.models.resnet50().eval()
    torch.set_num_threads(os.cpu_count())
    for batch in (1, 16):
        x = torch.randn(batch, 3, 224, 224)
        rates = []
        for cls in (pytorch_grad_cam.GradCAM, GradCAM):
            with cls(model=model, target_layers=[model.layer4[-1]]) as cam:
                ms = median_ms(lambda: cam(input_tensor=x, targets=None), reps)
            rates.append(batch / ms * 1e3)
        print("compat    ResNet-50 at 224, batch %2d: pytorch-grad-cam GradCAM %.1f img/s, cam_engine.compat %.1f img/s:"
              " %.1fx" % (batch, rates[0], rates[1], rates[1] / rates[0]))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--backend", default="cpu")
    ap.add_argument("--photos", default=os.path.join(ROOT, "..", "shared", "data", "fruits360", "Test"))
    ap.add_argument("--count", type=int, default=400)
    ap.add_argument("--reps", type=int, default=7)
    args = ap.parse_args()
    print("# %s, %d cores, Python %s, cam_engine %s from %s, %s" % (
        cpu_model(), os.cpu_count(), platform.python_version(), cam_engine.__version__,
        os.path.dirname(cam_engine.__file__), time.strftime("%Y-%m-%d")))
    overhead(args.build, args.backend, args.reps)
    lists(args.build, args.backend, args.photos, args.count)
    compat(args.reps)
    return 0


if __name__ == "__main__":
    sys.exit(main())
