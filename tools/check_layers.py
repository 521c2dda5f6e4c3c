#!/usr/bin/env python3
"""The include arrows of the sources go one way (docs/tour.md, "The layout"): a file includes files of its own
folder or of a folder below it, never above, and never a sibling backend. The folders, lowest first:

    kernels/ < engine/base/ < engine/io/ < engine/model/ < engine/ops/ < engine/methods/
             < engine/cpu/, engine/cuda/ < engine/ (engine.h, pipeline.h) < cli/ < python/, bench/ < tests/

Also: every include of a repository file names it from the repository root ("engine/io/image_io.h"), so that a
reader finds it by its path; and no file inside engine/ includes the public engine/engine.h except
engine/engine.cpp. Prints each broken arrow as FILE:LINE: INCLUDE (why); exits 1 if there is any.
"""
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RANK = {
    "kernels": 0, "engine/base": 1, "engine/io": 2, "engine/model": 3, "engine/ops": 4, "engine/methods": 5,
    "engine/cpu": 6, "engine/cuda": 6, "engine": 7, "cli": 8, "python": 9, "bench": 9, "tests": 10,
}
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"')
THIRD_PARTY = ("doctest/",)


def folder_of(path):
    folder = os.path.dirname(path)
    while folder and folder not in RANK:
        folder = os.path.dirname(folder)
    return folder or None


def problems(path, tracked):
    here = folder_of(path)
    found = []
    with open(os.path.join(ROOT, path), encoding="utf-8") as text:
        for number, line in enumerate(text, 1):
            m = INCLUDE.match(line)
            if not m or m.group(1).startswith(THIRD_PARTY):
                continue
            included = m.group(1)
            if included not in tracked:
                found.append((number, included, "not a path from the repository root"))
                continue
            there = folder_of(included)
            if here is None or there is None:
                continue
            if RANK[there] > RANK[here]:
                found.append((number, included, "%s/ is above %s/" % (there, here)))
            elif RANK[there] == RANK[here] and there != here:
                found.append((number, included, "%s/ is a sibling of %s/" % (there, here)))
            elif included == "engine/engine.h" and here.startswith("engine") and path != "engine/engine.cpp":
                found.append((number, included, "the public header is included by nothing inside engine/"))
    return found


def main():
    out = subprocess.run(["git", "-C", ROOT, "ls-files"], check=True, capture_output=True, text=True).stdout
    tracked = set(out.splitlines())
    sources = [f for f in sorted(tracked) if f.endswith((".h", ".cpp", ".cu", ".cuh")) and os.path.exists(
        os.path.join(ROOT, f))]
    broken = 0
    for f in sources:
        for number, included, why in problems(f, tracked):
            print("%s:%d: %s (%s)" % (f, number, included, why))
            broken += 1
    print("%d sources, %d broken include arrows" % (len(sources), broken))
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main())
