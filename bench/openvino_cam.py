#!/usr/bin/env python3
"""OpenVINO side of the CPU benchmark: what a CPU user who wants speed picks. The ONNX export of
onnxruntime_cam.py (logits and layer4's features), compiled by OpenVINO's CPU plugin for each (batch, size) as a
static shape (the engine also plans per shape), LATENCY hint, the same thread count as cam_bench; the top-1 CAM
from the features as onnxruntime_cam.py computes it. Two precisions: f32 (INFERENCE_PRECISION_HINT=f32) and the
plugin's own default on this CPU (bf16 where the CPU has AMX or AVX512-BF16; the row names what it chose).
Rows in pytorch_cam.py's JSON format, so compare_table.py merges them. Needs .venv (openvino, torch for the export).
"""
import argparse
import json
import os
import platform
import sys
import tempfile

import numpy as np
import openvino as ov

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import onnxruntime_cam  # noqa: E402
import pytorch_cam  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--weights", required=True)
    ap.add_argument("--batch", default="1,16")
    ap.add_argument("--size", default="224,100")
    ap.add_argument("--reps", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--precisions", default="f32,default", help="f32 and/or default (the plugin's choice here)")
    ap.add_argument("--json")
    args = ap.parse_args()
    model = pytorch_cam.load_model(args.weights)
    fc_weight = model.fc.weight.detach().numpy()
    temporary = tempfile.TemporaryDirectory(prefix="cam_openvino_")  # removed when main returns
    path = os.path.join(temporary.name, "resnet_features.onnx")
    onnxruntime_cam.export_onnx(model, path)
    core = ov.Core()
    library = "OpenVINO %s" % ov.get_version().split("-")[0]
    header = {"openvino": ov.get_version(), "threads": args.threads, "device": "cpu", "library": library,
              "cpu": core.get_property("CPU", "FULL_DEVICE_NAME") or platform.processor(),
              "cpu_capabilities": list(core.get_property("CPU", "OPTIMIZATION_CAPABILITIES"))}
    print("# " + json.dumps(header))
    rows, rng = [], np.random.default_rng(1)
    for precision in args.precisions.split(","):
        config = {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_NUM_THREADS": args.threads}
        if precision == "f32":
            config["INFERENCE_PRECISION_HINT"] = "f32"
        for size in [int(s) for s in args.size.split(",")]:
            for batch in [int(b) for b in args.batch.split(",")]:
                network = core.read_model(path)
                network.reshape({"input": [batch, 3, size, size]})
                compiled = core.compile_model(network, "CPU", config)
                hint = compiled.get_property("INFERENCE_PRECISION_HINT")
                chosen = hint.to_string() if hasattr(hint, "to_string") else str(hint)
                request = compiled.create_infer_request()

                def step(images):
                    out = request.infer({"input": onnxruntime_cam.inputs_of(images)})
                    return onnxruntime_cam.top1_cam(fc_weight, out[compiled.output("logits")],
                                                    out[compiled.output("features")], size)

                images = rng.integers(0, 256, (batch, size, size, 3), dtype=np.uint8)
                median, p90 = onnxruntime_cam.timed_row(step, images, args.reps, args.warmup)
                mode = "%s (%s)" % (precision, chosen) if precision == "default" else precision
                rows.append({"backend": "openvino-cpu", "library": library, "mode": mode, "batch": batch,
                             "size": size, "median_ms": median, "p90_ms": p90, "images_per_s": batch / (median / 1e3)})
                print("%-22s %5d %5d %10.2f %10.2f %10.1f" % ("openvino " + mode, batch, size, median, p90,
                                                               rows[-1]["images_per_s"]), flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"header": header, "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
