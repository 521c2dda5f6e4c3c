#!/usr/bin/env python3
"""The fidelity of one CLI run against another over the same images (e.g. --precision bf16 against fp32 on the
CPU): top-1 agreement, the largest probability difference (every ranked class both runs list), the largest
difference of the top-1 maps (their --raw .npy, [0, 1]) where both runs picked the same top-1, and, with
--object-mask, the pointing game and the mean energy in the mask of the top-1 maps in each run.

    tools/compare_runs.py REFERENCE_OUT OTHER_OUT [--json FILE]

Both runs need --raw; the object-mask columns need --object-mask. Prints one Markdown table.
"""
import argparse
import json
import os
import sys

import numpy as np


def records(out):
    with open(os.path.join(out, "predictions.jsonl")) as f:
        return {r["name"]: r for r in map(json.loads, f) if "error" not in r}


def compare(reference_out, other_out):
    """The figures as a dict (see the module's doc)."""
    ref, other = records(reference_out), records(other_out)
    if set(ref) != set(other):
        raise ValueError("%s and %s hold different images" % (reference_out, other_out))
    same_top1, prob_diff, map_diff = 0, 0.0, 0.0
    pointing = {"reference": [], "other": []}
    energy = {"reference": [], "other": []}
    for name, a in ref.items():
        b = other[name]
        same = a["top"][0]["class"] == b["top"][0]["class"]
        same_top1 += same
        pa = {t["class"]: t["probability"] for t in a["top"]}
        pb = {t["class"]: t["probability"] for t in b["top"]}
        prob_diff = max([prob_diff] + [abs(pa[c] - pb[c]) for c in pa.keys() & pb.keys()])
        if same:
            ma = np.load(os.path.join(reference_out, a["raw"]))[0]
            mb = np.load(os.path.join(other_out, b["raw"]))[0]
            map_diff = max(map_diff, float(np.abs(ma - mb).max()))
        for key, r in (("reference", a), ("other", b)):
            m = r["maps"][0]
            if "pointing" in m:
                pointing[key].append(bool(m["pointing"]))
            if m.get("energy_in_mask") is not None:
                energy[key].append(m["energy_in_mask"])
    result = {"images": len(ref), "top1_agreement": same_top1 / len(ref), "max_probability_diff": prob_diff,
              "max_top1_map_diff": map_diff}
    if pointing["reference"]:
        result.update({"pointing_reference": float(np.mean(pointing["reference"])),
                       "pointing_other": float(np.mean(pointing["other"])),
                       "energy_in_mask_reference": float(np.mean(energy["reference"])),
                       "energy_in_mask_other": float(np.mean(energy["other"]))})
    return result


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("reference")
    ap.add_argument("other")
    ap.add_argument("--json")
    args = ap.parse_args()
    try:
        r = compare(args.reference, args.other)
    except (OSError, ValueError, KeyError) as e:
        sys.exit("compare_runs.py: %s" % e)
    print("| images | top-1 agreement | max prob diff | max top-1 map diff (same top-1) | pointing game ref -> other "
          "| energy in mask ref -> other |")
    print("|---|---|---|---|---|---|")
    pointing = ("%.2f%% -> %.2f%%" % (100 * r["pointing_reference"], 100 * r["pointing_other"])
                if "pointing_reference" in r else "-")
    energy = ("%.4f -> %.4f" % (r["energy_in_mask_reference"], r["energy_in_mask_other"])
              if "energy_in_mask_reference" in r else "-")
    print("| %d | %.2f%% (%d differ) | %.2e | %.2e | %s | %s |" % (
        r["images"], 100 * r["top1_agreement"], round(r["images"] * (1 - r["top1_agreement"])),
        r["max_probability_diff"], r["max_top1_map_diff"], pointing, energy))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(r, f, indent=1)


if __name__ == "__main__":
    main()
