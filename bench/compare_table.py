#!/usr/bin/env python3
"""Merges cam_bench and pytorch_cam.py JSON results into one Markdown table: each engine row (forward + top-1 CAM
+ upsample, maps to the host) beside every PyTorch mode on the same device, batch and size, with the ratio of
images per second (engine / peer; above 1 the engine is faster); then each engine row against the fastest peer
(the slow pytorch-grad-cam reference left out). Peers: PyTorch (Debian's, PyPI's) and ONNX Runtime."""
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
    print("| device | engine precision | batch | size | engine img/s (median ms) | peer and mode | peer img/s (median ms) | ratio |")
    print("|---|---|---|---|---|---|---|---|")
    for e in engine:
        device = "cuda" if e["backend"] == "cuda" else "cpu"
        peers = [t for t in torch_rows if t["backend"].endswith("-" + device) and t["batch"] == e["batch"] and t["size"] == e["size"]]
        for t in peers or [None]:
            left = "| %s | %s | %d | %d | %.1f (%.2f) |" % (device, e["precision"], e["batch"], e["size"], e["images_per_s"], e["median_ms"])
            if t is None:
                print(left + " - | - | - |")
            else:
                print(left + " %s %s | %.1f (%.2f) | %.2fx |" % (t.get("library", "PyTorch"), t["mode"], t["images_per_s"],
                                                               t["median_ms"], e["images_per_s"] / t["images_per_s"]))
    print()
    print("| device | engine precision | batch | size | fastest peer | engine / fastest |")
    print("|---|---|---|---|---|---|")
    for e in engine:
        device = "cuda" if e["backend"] == "cuda" else "cpu"
        peers = [t for t in torch_rows if t["backend"].endswith("-" + device) and t["batch"] == e["batch"] and
                 t["size"] == e["size"] and t["mode"] != "gradcam"]
        if peers:
            best = max(peers, key=lambda t: t["images_per_s"])
            print("| %s | %s | %d | %d | %s %s (%.1f img/s) | %.2fx |" % (
                device, e["precision"], e["batch"], e["size"], best.get("library", "PyTorch"), best["mode"],
                best["images_per_s"], e["images_per_s"] / best["images_per_s"]))


if __name__ == "__main__":
    main()
