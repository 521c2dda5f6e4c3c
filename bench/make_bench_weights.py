#!/usr/bin/env python3
"""Writes a full-size ResNet (torchvision names, random weights and BN statistics) as safetensors for benchmarks:
the engine and PyTorch then load the very same file. Run with a Python that has torch (Debian's /usr/bin/python3
here, python3 on the GPU machine)."""
import argparse
import json
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools"))
import safetensors_io  # noqa: E402
import torch_resnet  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("out")
    ap.add_argument("--depth", type=int, default=50)
    ap.add_argument("--classes", type=int, default=131)
    ap.add_argument("--size", type=int, default=224, help="input size written to the preprocess metadata")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    model = torch_resnet.randomize(torch_resnet.resnet(args.depth, 64, args.classes), args.seed)
    tensors = {k: v.numpy().astype(np.int64 if k.endswith("num_batches_tracked") else np.float32)
               for k, v in model.state_dict().items()}
    meta = {"preprocess": json.dumps({"input_size": [args.size, args.size]}),
            "source": "bench/make_bench_weights.py: random ResNet-%d, %d classes" % (args.depth, args.classes)}
    safetensors_io.save(args.out, tensors, meta)


if __name__ == "__main__":
    main()
