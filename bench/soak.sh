#!/usr/bin/env bash
# Soak test: N real 100x100 photos (copies of the held-out Fruits-360 ones; 1% of them corrupt: empty, truncated,
# not an image) through cam_engine, sampling its
# resident memory (and, with BACKEND=cuda, its device memory from nvidia-smi) every second. Checks: memory flat
# after warm-up (growth bound GROWTH_MB), one JSONL line per image, every bad image reported once, every good
# image's overlay present and decodable.
#   N=100000 bench/soak.sh            # CPU backend, the shipped Fruits-360 model; BACKEND=cuda on a GPU machine
# Environment: N, BACKEND, GROWTH_MB, PYTHON, CAM_ENGINE (the binary; default build/cam_engine).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
n=${N:-100000}
backend=${BACKEND:-cpu}
growth_mb=${GROWTH_MB:-64}
python=${PYTHON:-/usr/bin/python3}
work=$(mktemp -d)
echo "soak: $n images in $work" >&2
ROOT="$root" "$python" - "$work" "$n" <<'PY'
import glob, os, sys
work, n = sys.argv[1], int(sys.argv[2])
photos = sorted(glob.glob(os.path.join(os.environ.get("ROOT", "."), "tests", "data", "fruits360_heldout", "*", "*.jpg")))
if not photos:
    sys.exit("soak: no photos in tests/data/fruits360_heldout")
blobs = [open(p, "rb").read() for p in photos]  # real Fruits-360 Test photos, 100x100 JPEG
bad = 0
with open(os.path.join(work, "list.txt"), "w") as lst:
    for i in range(n):
        name = "in/%02d/img%07d.jpg" % (i % 100, i)
        os.makedirs(os.path.join(work, os.path.dirname(name)), exist_ok=True)
        data = blobs[i % len(blobs)]
        if i % 100 == 37:
            data = [b"", data[: len(data) // 3], b"not an image"][(i // 100) % 3]
            bad += 1
        with open(os.path.join(work, name), "wb") as f:
            f.write(data)
        lst.write(name + "\n")
open(os.path.join(work, "bad_count"), "w").write(str(bad))
PY
start=$(date +%s)
"${CAM_ENGINE:-$root/build/cam_engine}" --weights "$root/weights/fruits360_r50.safetensors" --backend "$backend" --batch 32 --quiet \
  --out "$work/out" "$work/list.txt" 2> "$work/stderr.txt" &
pid=$!
: > "$work/rss.csv"
: > "$work/gpu.csv"
while kill -0 "$pid" 2>/dev/null; do
  rss=$(ps -o rss= -p "$pid" 2>/dev/null || true)
  [ -n "$rss" ] && echo "$(( $(date +%s) - start )),$rss" >> "$work/rss.csv"
  if [ "$backend" = cuda ] && command -v nvidia-smi >/dev/null; then
    used=$(nvidia-smi --query-compute-apps=pid,used_memory --format=csv,noheader,nounits 2>/dev/null |
      awk -F', *' -v p="$pid" '$1 == p {print $2}')
    [ -n "$used" ] && echo "$(( $(date +%s) - start )),$used" >> "$work/gpu.csv"
  fi
  sleep 1
done
wait "$pid" && status=0 || status=$?
elapsed=$(( $(date +%s) - start ))
if [ "$status" -gt 1 ]; then
  echo "soak: cam_engine exited with status $status; its stderr, bad-image lines left out:"
  grep -v "not a decodable image\|empty file\|corrupt\|truncated" "$work/stderr.txt" | tail -20
fi
"$python" - "$work" "$n" "$status" "$elapsed" "$growth_mb" <<'PY'
import json, os, sys
from PIL import Image
work, n, status, elapsed, growth = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])
bad = int(open(os.path.join(work, "bad_count")).read())
rss = [int(l.split(",")[1]) / 1024 for l in open(os.path.join(work, "rss.csv")) if l.strip()]
gpu = [float(l.split(",")[1]) for l in open(os.path.join(work, "gpu.csv")) if l.strip()]  # MiB
# Warm-up: the first 10% of the samples (one a second), at least 5 s (model load, first plans).
warm = rss[max(len(rss) // 10, 5):]
gpu_warm = gpu[max(len(gpu) // 10, 5):]
records = [json.loads(l) for l in open(os.path.join(work, "out", "predictions.jsonl"))]
errors = [r for r in records if "error" in r]
stderr_lines = [l for l in open(os.path.join(work, "stderr.txt")) if l.strip()]
missing = 0
for r in records:
    if "error" in r:
        continue
    try:
        Image.open(os.path.join(work, "out", r["maps"][0]["file"])).verify()
    except Exception:
        missing += 1
checks = {
    "exit status 1 (some images bad)": status == 1,
    "one JSONL line per image": len(records) == n and len({r["path"] for r in records}) == n,
    "every bad image reported once (JSONL and stderr)": len(errors) == bad and len(stderr_lines) == bad,
    "every good overlay present and decodable": missing == 0,
}
if len(warm) < 10:
    print("soak: %d s is too short to judge memory growth (needs 10 s after a 5 s warm-up); use a larger N" % elapsed)
    warm = gpu_warm = []
if warm:
    checks["RSS growth after warm-up <= %g MB" % growth] = max(warm) - warm[0] <= growth
if gpu_warm:
    checks["device memory growth after warm-up <= %g MB" % growth] = max(gpu_warm) - gpu_warm[0] <= growth
print("soak: %d images (%d bad) in %d s, %.1f img/s" % (n, bad, elapsed, n / max(elapsed, 1)))
if warm:
    print("  RSS after warm-up %.0f -> %.0f MB (min %.0f, max %.0f)" % (warm[0], warm[-1], min(warm), max(warm)))
step = max(1, len(rss) // 40)
print("  RSS MB by second: " + " ".join("%d:%.0f" % (i, rss[i]) for i in range(0, len(rss), step)))
if gpu:
    print("  device MiB by second: " + " ".join("%d:%.0f" % (i, gpu[i]) for i in range(0, len(gpu), step)))
if gpu_warm:
    print("  device memory after warm-up %.0f -> %.0f MiB (min %.0f, max %.0f)"
          % (gpu_warm[0], gpu_warm[-1], min(gpu_warm), max(gpu_warm)))
for name, ok in checks.items():
    print("  %-52s %s" % (name, "ok" if ok else "FAILED"))
sys.exit(0 if all(checks.values()) else 1)
PY
