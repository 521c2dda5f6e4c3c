#!/usr/bin/env python3
"""The peers' side of the map-methods benchmark: maps per second of pytorch-grad-cam's GradCAM, GradCAMPlusPlus,
ScoreCAM and EigenCAM (target layer model.layer4[-1], each image's top-1 class), and of torchcam's
DeletionInsertionMetric + ClassificationMetric on CAM maps, on the model of a safetensors file, for random
images at each --size, batch --batch, with --threads CPU threads or on --device cuda (cam_bench --methods ...
--metrics is the engine's side, same model, sizes, batch and threads or device). Median of --reps timed runs after
--warmup untimed ones; on CUDA each run ends with a synchronisation.

  .venv/bin/python bench/methods_pytorch.py --weights weights/fruits360_r50.safetensors --size 224,100 --batch 16
"""
import argparse
import json
import os
import sys
import time
import warnings

import numpy as np
import torch

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
sys.path.insert(0, os.path.join(ROOT, "tools"))
sys.path.insert(0, os.path.join(ROOT, "tests", "peers"))
import peers  # noqa: E402
import safetensors_io  # noqa: E402
import torch_resnet  # noqa: E402

warnings.filterwarnings("ignore")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--weights", required=True)
    ap.add_argument("--size", default="224,100")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=1, help="untimed runs first")
    ap.add_argument("--perturbed-batch", type=int, default=0,
                    help="masked/perturbed inputs per forward: ScoreCAM's batch_size, torchcam's (0: --batch)")
    ap.add_argument("--device", default="cpu", help="cpu or cuda")
    ap.add_argument("--methods", default="gradcam,gradcam++,scorecam,eigencam,metrics")
    ap.add_argument("--json")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    import pytorch_grad_cam
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget
    from torchcam.metrics import ClassificationMetric, DeletionInsertionMetric

    tensors, meta = safetensors_io.load(args.weights)
    device = torch.device(args.device)
    model = torch_resnet.from_tensors(tensors, meta).to(device)
    classes = {"gradcam": pytorch_grad_cam.GradCAM, "gradcam++": pytorch_grad_cam.GradCAMPlusPlus,
               "scorecam": pytorch_grad_cam.ScoreCAM, "eigencam": pytorch_grad_cam.EigenCAM}
    header = {"torch": torch.__version__, "threads": torch.get_num_threads(), "weights": args.weights,
              "device": torch.cuda.get_device_name() if device.type == "cuda" else "cpu",
              "batch": args.batch, "cpu": open("/proc/cpuinfo").read().split("model name")[1].split(":")[1].split("\n")[0].strip()}
    print("# " + json.dumps(header))
    print("%-10s %5s %5s %10s %10s" % ("what", "batch", "size", "median_s", "maps/s"))
    rows = []
    perturbed = args.perturbed_batch or args.batch
    softmax = lambda logits: torch.softmax(logits, dim=-1)  # noqa: E731
    for size in [int(s) for s in args.size.split(",")]:
        g = torch.Generator().manual_seed(0)
        x = torch.randn(args.batch, 3, size, size, generator=g).to(device)
        with torch.no_grad():
            top = model(x).argmax(1).tolist()
        targets = [ClassifierOutputTarget(c) for c in top]
        for what in args.methods.split(","):
            def once():
                if what == "metrics":
                    maps = torch.rand(args.batch, size, size, generator=g).to(device)
                    di = DeletionInsertionMetric(peers.GivenMaps(model, maps), softmax, steps=20, batch_size=perturbed)
                    di.update(x, class_idx=top)
                    cm = ClassificationMetric(peers.GivenMaps(model, maps), softmax)
                    cm.update(x, class_idx=top)
                    return
                with classes[what](model=model, target_layers=[model.layer4[-1]]) as cam:
                    cam.batch_size = perturbed
                    cam(input_tensor=x, targets=targets)
            for _ in range(args.warmup):
                once()
            times = []
            for _ in range(args.reps):
                t = time.perf_counter()
                once()
                if device.type == "cuda":
                    torch.cuda.synchronize()
                times.append(time.perf_counter() - t)
            median = float(np.median(times))
            print("%-10s %5d %5d %10.3f %10.2f" % (what, args.batch, size, median, args.batch / median), flush=True)
            rows.append({"what": what, "batch": args.batch, "size": size, "median_s": median,
                         "maps_per_s": args.batch / median})
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"header": header, "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
