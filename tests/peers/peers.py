"""Shared by the tests that compare cam_engine with the real libraries (the .venv tools/setup.sh makes from
tools/requirements-peers.txt): a skip with the reason when a library is missing, and the pass/fail table.
The engine's side (cam_engine on PNGs, every probability and the top-1 raw map) is tools/convert_check.py's."""
import importlib
import os
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tools"))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # TensorFlow's start-up banners would bury the table


def need(*modules):
    """Imports the modules or exits 77 (ctest: skipped) naming the missing one and how to install it."""
    loaded = []
    for name in modules:
        try:
            loaded.append(importlib.import_module(name))
        except ImportError as e:
            print("SKIPPED: %s is missing for %s (%s); bash tools/setup.sh installs the peer libraries into .venv"
                  % (name, sys.executable, e))
            sys.exit(77)
    return loaded


def convert(source, out, *extra):
    """tools/convert.py in this interpreter; (exit code, its output)."""
    import subprocess

    r = subprocess.run([sys.executable, os.path.join(ROOT, "tools", "convert.py"), source, "-o", out] + list(extra),
                       capture_output=True, text=True)
    return r.returncode, r.stdout + r.stderr


def version(distribution):
    """The installed version of a PyPI distribution (for libraries without __version__)."""
    from importlib import metadata

    return metadata.version(distribution)


_temporary = []  # the folders start() made: each is removed, with what a test wrote in it, when Python exits


def start():
    """(the cam_engine binary from --engine, an empty Results, a fresh temporary folder)."""
    import argparse
    import tempfile

    ap = argparse.ArgumentParser()
    ap.add_argument("--engine", required=True)
    engine = ap.parse_args().engine
    _temporary.append(tempfile.TemporaryDirectory(prefix="cam_peers_"))
    return engine, Results(), _temporary[-1].name


class Results:
    def __init__(self):
        self.rows = []

    def add(self, name, ok, detail):
        self.rows.append((name, bool(ok), detail))
        print("%-58s %s  %s" % (name, "ok  " if ok else "FAIL", detail), flush=True)

    def finish(self):
        failed = sum(not ok for _, ok, _ in self.rows)
        print("%d passed, %d failed" % (len(self.rows) - failed, failed))
        return 1 if failed or not self.rows else 0


def run_engine_raw(engine, weights, images, out, *extra):
    """cam_engine --raw --backend cpu on uint8 images (N, H, W, 3) saved as PNG in `out`: (its records, its raw maps
    (N, maps, H, W)) in input order, outputs in out/cams."""
    import json
    import subprocess

    import numpy as np
    from PIL import Image

    os.makedirs(out, exist_ok=True)
    paths = []
    for i, im in enumerate(images):
        paths.append(os.path.join(out, "in_%d.png" % i))
        Image.fromarray(im).save(paths[-1])
    subprocess.run([engine, "--weights", weights, "--backend", "cpu", "--raw", "--quiet", "--out",
                    os.path.join(out, "cams")] + list(extra) + paths, check=True)
    with open(os.path.join(out, "cams", "predictions.jsonl")) as f:
        records = [json.loads(line) for line in f]
    return records, np.stack([np.load(os.path.join(out, "cams", r["raw"])) for r in records])


class GivenMaps:
    """A torchcam extractor that returns maps already made (the engine's, or any), so that torchcam's metrics
    (which call extractor(class_idx, scores), fuse_cams and _hooks_off) run their protocol on exactly those."""

    def __init__(self, model, maps):
        self.model, self.maps = model, maps

    def __call__(self, class_idx=None, scores=None, normalized=True, **kwargs):
        return [self.maps]

    def fuse_cams(self, cams):
        return cams[0]

    def _hooks_off(self):
        import contextlib

        return contextlib.nullcontext()
