#!/usr/bin/env python3
"""ONNX Runtime side of the CPU benchmark: what a C++ user would pick for CPU inference. The same weights (from
the same safetensors file) exported by torch.onnx with two outputs, the logits and layer4's feature maps (dynamic
batch); ONNX Runtime's CPU provider with all graph optimisations and the same thread count as cam_bench; the top-1
CAM from the feature output in NumPy as pytorch_cam.py defines it (fc row . features, ReLU, min-max, bilinear
resize with OpenCV's INTER_LINEAR, min-max). Rows in pytorch_cam.py's JSON format, so compare_table.py merges them.
Needs .venv (torch for the export, onnxruntime, opencv-python-headless).
"""
import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
import warnings

import cv2
import numpy as np
import onnxruntime as ort
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pytorch_cam  # noqa: E402

MEAN = np.array([0.485, 0.456, 0.406], np.float32)
STD = np.array([0.229, 0.224, 0.225], np.float32)


class WithFeatures(torch.nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x):
        m = self.model
        a = m.layer4(m.layer3(m.layer2(m.layer1(m.maxpool(m.relu(m.bn1(m.conv1(x))))))))
        return m.fc(torch.flatten(m.avgpool(a), 1)), a


def minmax(m):
    m = m - m.min(axis=(-2, -1), keepdims=True)
    return m / (1e-7 + m.max(axis=(-2, -1), keepdims=True))


def inputs_of(images_u8):
    """The network inputs of uint8 NHWC images: (N, 3, H, W) float32, ImageNet-normalised."""
    return np.ascontiguousarray(((images_u8.astype(np.float32) / 255 - MEAN) / STD).transpose(0, 3, 1, 2))


def top1_cam(fc_weight, logits, a, size):
    """Probabilities and the top-1 CAM at size x size from the logits and layer4's features (NumPy, OpenCV)."""
    e = np.exp(logits - logits.max(1, keepdims=True))
    probs = e / e.sum(1, keepdims=True)
    top = probs.argmax(1)
    m = minmax(np.maximum(np.einsum("nc,nchw->nhw", fc_weight[top], a), 0))
    return probs, minmax(np.stack([cv2.resize(c, (size, size), interpolation=cv2.INTER_LINEAR) for c in m]))


def cam_step(session, fc_weight, images_u8, size):
    logits, a = session.run(None, {"input": inputs_of(images_u8)})
    return top1_cam(fc_weight, logits, a, size)


def export_onnx(model, path):
    """The model with two outputs (logits, layer4's features), dynamic batch and size, as ONNX at `path`."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(WithFeatures(model).eval(), (torch.zeros(2, 3, 224, 224),), path, input_names=["input"],
                          output_names=["logits", "features"],
                          dynamic_shapes=({0: torch.export.Dim("batch"), 2: torch.export.Dim("h", min=32),
                                           3: torch.export.Dim("w", min=32)},))


def timed_row(step, images, reps, warmup):
    """Median and p90 milliseconds of step(images) over reps runs after warmup runs."""
    for _ in range(warmup):
        step(images)
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        step(images)
        times.append((time.perf_counter() - t) * 1e3)
    times.sort()
    return statistics.median(times), times[min(len(times) - 1, int(0.9 * (len(times) - 1) + 0.5))]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--weights", required=True)
    ap.add_argument("--batch", default="1,16")
    ap.add_argument("--size", default="224,100")
    ap.add_argument("--reps", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--json")
    args = ap.parse_args()
    model = pytorch_cam.load_model(args.weights)
    fc_weight = model.fc.weight.detach().numpy()
    temporary = tempfile.TemporaryDirectory(prefix="cam_onnx_")  # removed when main returns
    path = os.path.join(temporary.name, "resnet_features.onnx")
    export_onnx(model, path)
    so = ort.SessionOptions()
    so.intra_op_num_threads, so.inter_op_num_threads = args.threads, 1
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    session = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
    library = "ONNX Runtime %s" % ort.__version__
    header = {"onnxruntime": ort.__version__, "threads": args.threads, "cpu": platform.processor() or platform.machine(),
              "device": "cpu", "library": library}
    print("# " + json.dumps(header))
    rows, rng = [], np.random.default_rng(1)
    for size in [int(s) for s in args.size.split(",")]:
        for batch in [int(b) for b in args.batch.split(",")]:
            images = rng.integers(0, 256, (batch, size, size, 3), dtype=np.uint8)
            median, p90 = timed_row(lambda x: cam_step(session, fc_weight, x, size), images, args.reps, args.warmup)
            rows.append({"backend": "onnxruntime-cpu", "library": library, "mode": "cpu-ep", "batch": batch,
                         "size": size, "median_ms": median, "p90_ms": p90, "images_per_s": batch / (median / 1e3)})
            print("%-16s %5d %5d %10.2f %10.2f %10.1f" % ("onnxruntime", batch, size, median, p90, rows[-1]["images_per_s"]),
                  flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"header": header, "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
