#!/usr/bin/env python3
"""Copies the few real Fruits-360 photos the project ships, chosen by rule so the choice is repeatable:
  weights/demo_images/<class>/           2 Test photos per class (files at 1/4 and 3/4 of its sorted list), the demo
  tests/data/fruits360_heldout/<class>/   3 Test photos per class (at 1/8, 1/2 and 7/8), the tests' held-out set
  tests/data/fruits360_sessions/<class>/  1 photo per class and filming session from the cross-session validation
                                          split of Training/ (the middle of its held-out frames; 80 photos)
and writes the CC BY-SA 4.0 attribution beside each. The files are byte copies of the dataset's JPEGs.
"""
import argparse
import os
import shutil
import sys
import textwrap

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fruits360_split  # noqa: E402

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
ATTRIBUTION = """# Real Fruits-360 photos ({what})

{count} photos, byte-for-byte copies of JPEGs from the **Fruits-360** dataset by Mihai Oltean and Horea Muresan
(fruits and vegetables filmed rotating on a white background, 100x100 RGB), licensed **CC BY-SA 4.0**
(https://creativecommons.org/licenses/by-sa/4.0/). They come from the dataset's {split} as gathered in the
project's shared data (see its README for the public repositories and commits they were taken from); they are not
modified. Any redistribution must keep this attribution and the licence. Chosen with
`tools/pick_fruits360_samples.py` ({rule}). None of them was used to train `weights/fruits360_r50.safetensors`.
"""


def write(src_dir, picks, out_dir, what, split, rule):
    """Copies src_dir/<class>/<file> for each (class, file) of picks into out_dir with the attribution."""
    if os.path.isdir(out_dir):
        shutil.rmtree(out_dir)
    for name, src in picks:
        os.makedirs(os.path.join(out_dir, name), exist_ok=True)
        shutil.copyfile(os.path.join(src_dir, name, src), os.path.join(out_dir, name, src))
    with open(os.path.join(out_dir, "README.md"), "w") as f:
        title, body = ATTRIBUTION.format(what=what, count=len(picks), split=split, rule=rule).split("\n\n", 1)
        f.write(title + "\n\n" + textwrap.fill(" ".join(body.split()), 115, break_on_hyphens=False) + "\n")
    return len(picks)


def by_position(test_dir, labels, fractions):
    """The files at these fractions of each class's sorted list."""
    picks = []
    for name in labels:
        files = sorted(os.listdir(os.path.join(test_dir, name)))
        picks += [(name, files[min(len(files) - 1, int(f * len(files)))]) for f in fractions]
    return picks


def one_per_session(training_dir, labels):
    """Per class and filming session, the middle frame of its photos in the cross-session validation split."""
    paths = [os.path.join(name, f) for name in labels for f in sorted(os.listdir(os.path.join(training_dir, name)))]
    held = fruits360_split.validation_mask(paths)
    groups = {}
    for p in (p for p, h in zip(paths, held) if h):
        name, f = os.path.split(p)
        session, frame = fruits360_split.session_and_frame(f)
        groups.setdefault((name, session), []).append((frame, f))
    return [(name, sorted(frames)[len(frames) // 2][1]) for (name, _), frames in sorted(groups.items())]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=os.path.join(ROOT, "..", "shared", "data", "fruits360"))
    args = ap.parse_args()
    with open(os.path.join(args.data, "labels.txt")) as f:
        labels = [line.strip() for line in f if line.strip()]
    test_dir = os.path.join(args.data, "Test")
    n = write(test_dir, by_position(test_dir, labels, (0.25, 0.75)), os.path.join(ROOT, "weights", "demo_images"),
              "the quick start's demo images", "Test split", "the files at 1/4 and 3/4 of each class's sorted list")
    m = write(test_dir, by_position(test_dir, labels, (0.125, 0.5, 0.875)),
              os.path.join(ROOT, "tests", "data", "fruits360_heldout"), "the tests' held-out set", "Test split",
              "the files at 1/8, 1/2 and 7/8 of each class's sorted list")
    training_dir = os.path.join(args.data, "Training")
    k = write(training_dir, one_per_session(training_dir, labels),
              os.path.join(ROOT, "tests", "data", "fruits360_sessions"), "the tests' photos of every filming session",
              "Training split",
              "per class and filming session, the middle frame of its photos in the cross-session validation split "
              "of `tools/fruits360_split.py`, which `tools/train_fruits360.py` never trains on")
    print("copied %d demo, %d held-out and %d cross-session photos" % (n, m, k))


if __name__ == "__main__":
    main()
