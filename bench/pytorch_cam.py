#!/usr/bin/env python3
"""PyTorch side of the benchmark: the same weights (read from the same safetensors file), the same CAM definition
(forward hook on layer4, einsum with fc.weight, ReLU, min-max, bilinear interpolate, min-max, on the device, maps
brought to the host as the engine returns them, into reused pinned buffers on a GPU as the engine does), the same
batches, sizes and timing rules as cam_bench.

Modes: eager (fp32), eager-cl (fp32 channels_last), amp-cl (fp16 autocast + channels_last, CUDA), bf16-cl (bf16
autocast + channels_last, CPU: what a PyTorch user gets on a CPU with bf16 instructions), compile
(torch.compile of the eager model, where torch has it), gradcam (autograd Grad-CAM with activations and gradients
copied to the host and resized with OpenCV, as pytorch-grad-cam does: the slow reference).
"""
import argparse
import json
import os
import platform
import re
import statistics
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools"))
import safetensors_io  # noqa: E402
import torch_resnet  # noqa: E402

MEAN = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
STD = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)


def load_model(path):
    tensors, _ = safetensors_io.load(path)
    model = torch_resnet.resnet(torch_resnet.infer_depth(tensors), tensors["conv1.weight"].shape[0], tensors["fc.weight"].shape[0])
    model.load_state_dict({k: torch.from_numpy(v) for k, v in tensors.items()})
    return model.eval()


def minmax(m):
    lo = m.amin(dim=(-2, -1), keepdim=True)
    m = m - lo
    return m / (1e-7 + m.amax(dim=(-2, -1), keepdim=True))


class CamRunner:
    def __init__(self, model, k):
        self.model, self.k, self.features = model, k, None
        self.pinned = {}  # CUDA: page-locked host buffers per shape, reused, as the engine's download buffer
        model.layer4.register_forward_hook(lambda mod, i, o: setattr(self, "features", o))

    def to_host(self, t):
        """Copies to the host; from a GPU into a reused pinned buffer (a fresh pageable tensor per call costs page
        faults that grow with the size, which the engine does not pay either)."""
        if t.device.type != "cuda":
            return t
        key = (tuple(t.shape), t.dtype)
        if key not in self.pinned:
            self.pinned[key] = torch.empty(t.shape, dtype=t.dtype, pin_memory=True)
        return self.pinned[key].copy_(t, non_blocking=True)

    @torch.inference_mode()
    def __call__(self, images_u8, size, amp):  # amp: None, torch.float16 (CUDA) or torch.bfloat16 (CPU)
        x = images_u8.permute(0, 3, 1, 2).float().div(255)
        x = (x - MEAN.to(x.device)) / STD.to(x.device)
        if amp is not None:
            x = x.contiguous(memory_format=torch.channels_last)
        with torch.autocast(x.device.type, dtype=amp or torch.bfloat16, enabled=amp is not None):
            logits = self.model(x)
        probs = logits.float().softmax(1)
        top = probs.topk(self.k, 1).indices
        w = self.model.fc.weight[top].float()
        m = torch.einsum("nkc,nchw->nkhw", w, self.features.float()).relu()
        m = minmax(F.interpolate(minmax(m), size=(size, size), mode="bilinear", align_corners=False))
        probs, m = self.to_host(probs), self.to_host(m)
        if m.is_pinned():
            torch.cuda.current_stream().synchronize()
        return probs, m


def gradcam(model, images_u8, size, device):
    """pytorch-grad-cam's path: autograd, activations and gradients to the host, OpenCV resize there."""
    import cv2

    store = {}
    layer = model.layer4[-1]
    h1 = layer.register_forward_hook(lambda m, i, o: store.__setitem__("a", o))
    h2 = layer.register_full_backward_hook(lambda m, gi, go: store.__setitem__("g", go[0]))
    x = images_u8.permute(0, 3, 1, 2).float().div(255)
    x = ((x - MEAN.to(device)) / STD.to(device)).requires_grad_(True)
    logits = model(x)
    top = logits.argmax(1)
    model.zero_grad()
    logits.gather(1, top[:, None]).sum().backward()
    a, g = store["a"].detach().cpu().numpy(), store["g"].detach().cpu().numpy()
    cams = np.maximum((g.mean(axis=(2, 3))[:, :, None, None] * a).sum(1), 0)
    out = []
    for c in cams:
        c = c - c.min()
        c = cv2.resize(c / (1e-7 + c.max()), (size, size))
        c = c - c.min()
        out.append(c / (1e-7 + c.max()))
    h1.remove()
    h2.remove()
    return np.stack(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--weights", required=True)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--batch", default="1,16")
    ap.add_argument("--size", default="224,100")
    ap.add_argument("--modes", default="eager,eager-cl")
    ap.add_argument("--reps", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--threads", type=int, default=os.cpu_count(), help="CPU threads (default: all cores, as cam_bench)")
    ap.add_argument("--topk", type=int, default=1)
    ap.add_argument("--label", default="", help="where this torch comes from, for the table (Debian, PyPI)")
    ap.add_argument("--json")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    # cuDNN picks its algorithms by timing per shape, as the engine does at planning (the warm-up runs pay for it).
    torch.backends.cudnn.benchmark = device.type == "cuda"
    onednn = re.search(r"(?:oneDNN|MKL-DNN) v([0-9.]+)", torch.__config__.show())
    library = "PyTorch %s%s" % (torch.__version__.split("+")[0], args.label and " (%s)" % args.label)
    header = {"torch": torch.__version__, "library": library, "onednn": onednn.group(1) if onednn else "unknown",
              "threads": torch.get_num_threads(), "cudnn_benchmark": torch.backends.cudnn.benchmark,
              "cpu": platform.processor() or platform.machine(),
              "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"}
    print("# " + json.dumps(header))
    print("%-8s %-9s %5s %5s %10s %10s %10s" % ("back", "mode", "batch", "size", "median_ms", "p90_ms", "img/s"))
    rows = []
    base = load_model(args.weights).to(device)
    gen = torch.Generator().manual_seed(1)
    for mode in args.modes.split(","):
        model = base
        if mode in ("eager-cl", "amp-cl", "bf16-cl"):
            model = base.to(memory_format=torch.channels_last)
        if (mode == "amp-cl" and device.type != "cuda") or (mode == "bf16-cl" and device.type != "cpu"):
            continue
        amp = {"amp-cl": torch.float16, "bf16-cl": torch.bfloat16}.get(mode)
        if mode == "compile":
            if not hasattr(torch, "compile"):
                print("# compile: not available in torch %s" % torch.__version__)
                continue
            model = torch.compile(base)
        runner = CamRunner(model if mode != "compile" else base, args.topk)
        if mode == "compile":
            runner.model = model
        for size in [int(s) for s in args.size.split(",")]:
            for batch in [int(b) for b in args.batch.split(",")]:
                images = torch.randint(0, 256, (batch, size, size, 3), generator=gen, dtype=torch.uint8).to(device)
                if mode == "gradcam":
                    call = lambda: gradcam(base, images, size, device)  # noqa: E731
                else:
                    call = lambda: runner(images, size, amp)  # noqa: E731
                for _ in range(args.warmup):
                    call()
                times = []
                for _ in range(args.reps if mode != "gradcam" else max(2, args.reps // 3)):
                    if device.type == "cuda":
                        torch.cuda.synchronize()
                    t = time.perf_counter()
                    call()
                    if device.type == "cuda":
                        torch.cuda.synchronize()
                    times.append((time.perf_counter() - t) * 1e3)
                times.sort()
                median = statistics.median(times)
                p90 = times[min(len(times) - 1, int(0.9 * (len(times) - 1) + 0.5))]
                row = {"backend": "torch-" + device.type, "library": library, "mode": mode, "batch": batch, "size": size, "median_ms": median,
                       "p90_ms": p90, "images_per_s": batch / (median / 1e3)}
                rows.append(row)
                print("%-8s %-9s %5d %5d %10.2f %10.2f %10.1f" % (row["backend"], mode, batch, size, median, p90, row["images_per_s"]))
                sys.stdout.flush()
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"header": header, "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
