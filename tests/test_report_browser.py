#!/usr/bin/env python3
"""The HTML report in a real browser (Debian's headless Chromium): cam_engine runs over real Fruits-360 photos
(plus a file whose name needs URL-encoding, a broken one and one filed under the wrong class) with --report, then tests/report_harness.html loads
the report in a frame and reports what a person would see. Checked: the page loads, the cards and the "showing"
count equal the successful records of predictions.jsonl, no image or image link is broken, "wrong only" shows
exactly the misclassified records, a confusion cell shows its count of images. A screenshot is written for a
person to look at (--screenshot).

  test_report_browser.py --engine build/cam_engine [--weights W] [--keep DIR] [--screenshot PNG]
  test_report_browser.py --engine build/cam_engine --cards 10000   # load time of a 10,000-card report (no checks)

Exit 77 (skipped) when chromium is not installed.
"""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")


def chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


def browse(browser, url, *extra, wait="--virtual-time-budget=60000"):
    cmd = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--allow-file-access-from-files", wait] + list(
        extra) + [url]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300)


def harness_result(browser, out, wait="--virtual-time-budget=60000"):
    """wait: virtual time makes the checks independent of the machine's speed; real time (--timeout) for
    measuring the load time."""
    shutil.copy(os.path.join(ROOT, "tests", "report_harness.html"), out)
    dom = browse(browser, "file://" + os.path.abspath(os.path.join(out, "report_harness.html")), "--dump-dom",
                 wait=wait).stdout
    m = re.search(r'<pre id="result">([^<]*)</pre>', dom)
    if not m or m.group(1) == "pending":
        raise SystemExit("FAIL: the harness did not finish (page did not load?)\n" + dom[:2000])
    return json.loads(m.group(1).replace("&quot;", '"').replace("&amp;", "&"))


def check(cond, what):
    print(("ok    " if cond else "FAIL  ") + what)
    return cond


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--engine", required=True)
    ap.add_argument("--weights", default=os.path.join(ROOT, "weights", "fruits360_r50.safetensors"))
    ap.add_argument("--keep", help="write the run here instead of a temporary folder")
    ap.add_argument("--screenshot", help="also save a screenshot of the report")
    ap.add_argument("--cards", type=int, default=0, help="measure the load time of a report with this many cards")
    args = ap.parse_args()
    browser = chromium()
    if not browser:
        print("SKIPPED: chromium is not installed (apt-get install chromium)")
        return 77
    work = args.keep or tempfile.mkdtemp(prefix="cam_report_")
    os.makedirs(work, exist_ok=True)
    inputs, out = os.path.join(work, "in"), os.path.join(work, "out")
    shutil.rmtree(inputs, ignore_errors=True)
    shutil.rmtree(out, ignore_errors=True)
    shutil.copytree(os.path.join(ROOT, "tests", "data", "fruits360_heldout"), inputs,
                    ignore=shutil.ignore_patterns("*.md"))
    first_class = sorted(d for d in os.listdir(inputs))[0]
    first = sorted(os.listdir(os.path.join(inputs, first_class)))[0]
    shutil.copy(os.path.join(inputs, first_class, first), os.path.join(inputs, first_class, "odd #1 100%.jpg"))
    second_class = sorted(d for d in os.listdir(inputs))[1]  # a photo filed under the wrong class: an error card
    shutil.copy(os.path.join(inputs, first_class, first), os.path.join(inputs, second_class, "mislabeled.jpg"))
    with open(os.path.join(inputs, first_class, "broken.jpg"), "wb") as f:
        f.write(b"\xff\xd8\xff not a jpeg")
    run = subprocess.run([args.engine, "--weights", args.weights, "--backend", "cpu", "--quiet", "--topk", "3",
                          "--panel", "--report", "--labels-from-folders", "--object-mask", "white", "--out", out,
                          inputs], capture_output=True, text=True)
    if run.returncode != 1:  # the broken file makes it 1
        print("FAIL: cam_engine exited %d: %s" % (run.returncode, run.stderr))
        return 1
    records = [json.loads(line) for line in open(os.path.join(out, "predictions.jsonl"))]
    if args.cards:
        good = [r for r in records if "error" not in r]
        # copies of the real records (same files), each with its own name so --resume keeps them all
        many = [dict(good[i % len(good)], name="%s~copy%d" % (good[i % len(good)]["name"], i)) for i in range(args.cards)]
        with open(os.path.join(out, "predictions.jsonl"), "w") as f:
            f.write("".join(json.dumps(r) + "\n" for r in many))
        subprocess.run([args.engine, "--weights", args.weights, "--backend", "cpu", "--quiet", "--report",
                        "--resume", "--topk", "3", "--panel", "--labels-from-folders", "--object-mask", "white",
                        "--out", out, inputs], capture_output=True)
        result = harness_result(browser, out, wait="--timeout=120000")
        print("report with %d cards (%.1f MB): loaded in %.0f ms in headless Chromium; %d image URLs, %d broken" % (
            result["cards"], os.path.getsize(os.path.join(out, "index.html")) / 1e6, result["load_ms"],
            result["images"], len(result["broken"])))
        return 0
    good = [r for r in records if "error" not in r]
    wrong = [r for r in good if "truth" in r and not r.get("truth_unknown") and r["top"][0]["label"] != r["truth"]]
    result = harness_result(browser, out)
    print("harness: %s" % json.dumps({k: v for k, v in result.items() if k != "broken"}))
    ok = check(result["cards"] == len(good), "cards %d == successful records %d" % (result["cards"], len(good)))
    ok &= check(result["shown"] == str(len(good)), "'showing' says %s" % result["shown"])
    ok &= check(result["images"] > len(good), "%d image URLs on the page" % result["images"])
    ok &= check(not result["broken"], "no broken image or image link %s" % result["broken"][:3])
    ok &= check(result["wrong_only"] == len(wrong) and result["wrong_only_shown"] == str(len(wrong)),
                "wrong only: %d cards shown, %d records misclassified" % (result["wrong_only"], len(wrong)))
    ok &= check(len(wrong) >= 1, "%d misclassified (the mislabeled photo among them)" % len(wrong))
    if wrong:
        ok &= check(str(result.get("first_pair")) == result.get("first_pair_count"),
                    "a confusion cell shows its %s images" % result.get("first_pair_count"))
    html = open(os.path.join(out, "index.html")).read()
    ok &= check("odd%20%231%20100%25.jpg.top1.png" in html, "the odd name is URL-encoded")
    ok &= check("broken.jpg" in html, "the failed image is listed")
    if args.screenshot:
        browse(browser, "file://" + os.path.abspath(os.path.join(out, "index.html")), "--window-size=1280,1600",
               "--screenshot=" + os.path.abspath(args.screenshot))
        ok &= check(os.path.getsize(args.screenshot) > 10000, "screenshot %s" % args.screenshot)
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
