#!/usr/bin/env python3
"""Merges cam_bench and pytorch_cam.py JSON results into one Markdown table: each engine row (forward + top-1 CAM
+ upsample, maps to the host) beside every PyTorch mode on the same device, batch and size, with the ratio of
images per second (engine / peer; above 1 the engine is faster); then each engine row against the fastest peer
(the slow pytorch-grad-cam reference left out): an fp32 engine row against the fastest fp32 peer, a reduced-
precision one against the fastest peer in any precision. Peers: PyTorch (Debian's, PyPI's), ONNX Runtime and
OpenVINO (fp32 and its default precision). Rows whose
p90 is over 1.5x their median, and runs whose header carries a load warning, are flagged: not comparable."""
import json
import sys


UNSTEADY = 1.5  # as cam_bench: a row whose p90 is over this many times its median


def unsteady(row):
    return row.get("p90_ms", 0) > UNSTEADY * row["median_ms"]


def peer_precision(row):
    mode = row["mode"]
    return "bf16" if "bf16" in mode or "bfloat16" in mode else "fp16" if mode.startswith("amp") else "fp32"


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
    for h in headers:
        if h.get("warning"):
            print("> **WARNING** (%s): %s\n" % (h.get("library", "engine"), h["warning"]))
    shaky = [r for r in engine + torch_rows if unsteady(r)]
    if shaky:
        print("> **WARNING**: %d row(s) marked UNSTEADY (p90 over %.1fx the median): other work took the cores during "
              "some repetitions; their ratios are not to be trusted. Rerun on an idle machine.\n" % (len(shaky), UNSTEADY))
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
                print(left + " %s %s | %.1f (%.2f) | %.2fx%s |" % (t.get("library", "PyTorch"), t["mode"], t["images_per_s"],
                                                                 t["median_ms"], e["images_per_s"] / t["images_per_s"],
                                                                 " UNSTEADY" if unsteady(e) or unsteady(t) else ""))
    print()
    print("| device | engine precision | batch | size | fastest peer | engine / fastest |")
    print("|---|---|---|---|---|---|")
    for e in engine:
        device = "cuda" if e["backend"] == "cuda" else "cpu"
        peers = [t for t in torch_rows if t["backend"].endswith("-" + device) and t["batch"] == e["batch"] and
                 t["size"] == e["size"] and t["mode"] != "gradcam" and
                 (e["precision"] != "fp32" or peer_precision(t) == "fp32")]
        if peers:
            best = max(peers, key=lambda t: t["images_per_s"])
            print("| %s | %s | %d | %d | %s %s (%.1f img/s) | %.2fx%s |" % (
                device, e["precision"], e["batch"], e["size"], best.get("library", "PyTorch"), best["mode"],
                best["images_per_s"], e["images_per_s"] / best["images_per_s"],
                " UNSTEADY" if unsteady(e) or unsteady(best) else ""))


if __name__ == "__main__":
    main()
