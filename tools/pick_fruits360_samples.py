#!/usr/bin/env python3
"""Copies the few real Fruits-360 Test photos the project ships, chosen by position so the choice is repeatable:
  weights/demo_images/<class>/         2 per class (files at 1/4 and 3/4 of each class's sorted list), the demo
  tests/data/fruits360_heldout/<class>/ 3 per class (at 1/8, 1/2 and 7/8), the tests' held-out set
and writes the CC BY-SA 4.0 attribution beside each. The files are byte copies of the dataset's JPEGs.
"""
import argparse
import os
import shutil

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
ATTRIBUTION = """# Real Fruits-360 photos ({what})

{count} photos, byte-for-byte copies of JPEGs from the **Fruits-360** dataset by Mihai Oltean and Horea Muresan
(fruits and vegetables filmed rotating on a white background, 100x100 RGB), licensed **CC BY-SA 4.0**
(https://creativecommons.org/licenses/by-sa/4.0/). They come from the dataset's Test split as gathered in the
project's shared data (see its README for the public repositories and commits they were taken from); they are not
modified. Any redistribution must keep this attribution and the licence. Chosen by position in each class's sorted
file list with `tools/pick_fruits360_samples.py` ({rule}). None of them was used to train
`weights/fruits360_r50.safetensors`.
"""


def copy(test_dir, labels, out_dir, fractions, what, rule):
    if os.path.isdir(out_dir):
        shutil.rmtree(out_dir)
    count = 0
    for name in labels:
        files = sorted(os.listdir(os.path.join(test_dir, name)))
        os.makedirs(os.path.join(out_dir, name))
        for f in fractions:
            src = files[min(len(files) - 1, int(f * len(files)))]
            shutil.copyfile(os.path.join(test_dir, name, src), os.path.join(out_dir, name, src))
            count += 1
    with open(os.path.join(out_dir, "README.md"), "w") as f:
        f.write(ATTRIBUTION.format(what=what, count=count, rule=rule))
    return count


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=os.path.join(ROOT, "..", "shared", "data", "fruits360"))
    args = ap.parse_args()
    with open(os.path.join(args.data, "labels.txt")) as f:
        labels = [line.strip() for line in f if line.strip()]
    test_dir = os.path.join(args.data, "Test")
    n = copy(test_dir, labels, os.path.join(ROOT, "weights", "demo_images"), (0.25, 0.75),
             "the quick start's demo images", "the files at 1/4 and 3/4")
    m = copy(test_dir, labels, os.path.join(ROOT, "tests", "data", "fruits360_heldout"), (0.125, 0.5, 0.875),
             "the tests' held-out set", "the files at 1/8, 1/2 and 7/8")
    print("copied %d demo and %d held-out photos" % (n, m))


if __name__ == "__main__":
    main()
