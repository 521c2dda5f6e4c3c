#!/usr/bin/env python3
"""Every repository path that the code's comments and the docs cite must exist: a reader who follows one must
find a file. Scans the sources, scripts and Markdown files under git for paths such as `engine/cpu/backend.h`,
`bench/compare.sh` or `docs/python.md`, and for the bare names of Markdown files (`conventions.md`). A path
counts as found relative to the repository root or to the citing file's folder. Paths under `../shared/` (not part
of a clone), URLs, globs and paths a program makes at run time (under /tmp, out/, run1/ ...) are not checked.
Prints each missing one as FILE:LINE: PATH; exits 1 if any is missing.
"""
import glob
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOP = ("engine", "kernels", "cli", "python", "tests", "tools", "bench", "docs", "examples", "weights", ".ci")
SCANNED = (".h", ".cpp", ".cu", ".cuh", ".py", ".sh", ".md", ".txt", ".toml")
CITED = re.compile(r"(?<![\w./~-])((?:%s)/[\w./+-]*[\w+-])" % "|".join(re.escape(t) for t in TOP))
BARE_MD = re.compile(r"(?<![\w./>-])(?<!> )([A-Za-z][\w-]*\.md)\b")  # not an output (> table.md)


def tracked_files():
    out = subprocess.run(["git", "-C", ROOT, "ls-files"], check=True, capture_output=True, text=True).stdout
    return [f for f in out.splitlines() if f.endswith(SCANNED) and not f.startswith("tests/data/")]


CHECKED = SCANNED + (".ipynb", ".safetensors")  # what a citation names: code, docs, the shipped weights
GENERATED = ("bench/resnet50_random.safetensors",)  # made by the script that cites it


def exists(path, citing):
    path = path.rstrip(".")
    extension = os.path.splitext(path)[1]
    if any(c in path for c in "*{}<>$") or path in GENERATED or (extension and extension not in CHECKED):
        return True
    for base in (ROOT, os.path.join(ROOT, os.path.dirname(citing))):
        candidate = os.path.join(base, path)
        # An op pair (kernels/score_cam) or a file stem (tests/data/golden_r50w8_dilated) names its files.
        if os.path.exists(candidate) or glob.glob(glob.escape(candidate) + ".*"):
            return True
    return False


def main():
    files = tracked_files()
    names = {os.path.basename(f) for f in files}
    missing = []
    for f in files:
        with open(os.path.join(ROOT, f), encoding="utf-8", errors="replace") as text:
            for number, line in enumerate(text, 1):
                line = re.sub(r"\.\./shared/\S*", "", line)
                for path in CITED.findall(line):
                    if not exists(path, f):
                        missing.append("%s:%d: %s" % (f, number, path))
                for name in BARE_MD.findall(line):
                    if name not in names and not exists(name, f):
                        missing.append("%s:%d: %s" % (f, number, name))
    for m in missing:
        print(m)
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())
