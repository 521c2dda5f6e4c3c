#!/usr/bin/env python3
"""Merges cam_bench and pytorch_cam.py JSON results into one Markdown table: each engine row (forward + top-1 CAM
+ upsample, maps to the host) beside every PyTorch mode on the same device, batch and size, with the ratio of
images per second (engine / PyTorch; above 1 the engine is faster)."""
import json
import sys


def main():
    engine, torch_rows, headers = [], [], []
    for path in sys.argv[1:]:
        with open(path) as f:
            data = json.load(f)
        headers.append(data["header"])
        if "mode" in (data["rows"][0] if data["rows"] else {}):
            torch_rows += data["rows"]
        else:
            engine += [r for r in data["rows"] if r["what"] == "cam"]
    for h in headers:
        print("<!-- %s -->" % json.dumps(h))
    print("| device | engine precision | batch | size | engine img/s (median ms) | PyTorch mode | PyTorch img/s (median ms) | ratio |")
    print("|---|---|---|---|---|---|---|---|")
    for e in engine:
        device = "cuda" if e["backend"] == "cuda" else "cpu"
        peers = [t for t in torch_rows if t["backend"] == "torch-" + device and t["batch"] == e["batch"] and t["size"] == e["size"]]
        for t in peers or [None]:
            left = "| %s | %s | %d | %d | %.1f (%.2f) |" % (device, e["precision"], e["batch"], e["size"], e["images_per_s"], e["median_ms"])
            if t is None:
                print(left + " - | - | - |")
            else:
                print(left + " %s | %.1f (%.2f) | %.2fx |" % (t["mode"], t["images_per_s"], t["median_ms"], e["images_per_s"] / t["images_per_s"]))


if __name__ == "__main__":
    main()
