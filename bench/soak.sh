#!/usr/bin/env bash
# Soak test: N real 100x100 photos (copies of the held-out Fruits-360 ones, in their class folders; 1% of them
# corrupt: empty, truncated, not an image) through cam_engine, sampling its resident memory (and, with
# BACKEND=cuda, its device memory from nvidia-smi) every second. Checks: memory flat after warm-up (growth bound
# GROWTH_MB), one JSONL line per image, every bad image reported once, every good image's overlay present and
# decodable. By default every output the run can keep per image is on (labels from the folders, localisation
# against the white background, top-3 maps, the report), the run users make most on their class folders.
#   N=200000 bench/soak.sh            # CPU backend, the shipped Fruits-360 model; BACKEND=cuda on a GPU machine
# Environment: N, BACKEND, INPUT (folder: the class folders' parent, the default; list: a list file of the same
# photos), OPTIONS (cam_engine options), BATCH, GROWTH_MB, PYTHON, CAM_ENGINE (the binary; default
# build/cam_engine), CURVE (also write the RSS curve, seconds and images done against MB, to this CSV file).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
n=${N:-100000}
backend=${BACKEND:-cpu}
input=${INPUT:-folder}
batch=${BATCH:-16}
options=${OPTIONS:---labels-from-folders --object-mask white --topk 3 --report}
growth_mb=${GROWTH_MB:-64}
python=${PYTHON:-/usr/bin/python3}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "soak: $n images in $work, input $input, options: --batch $batch $options" >&2
ROOT="$root" "$python" - "$work" "$n" <<'PY'
import glob, os, sys
work, n = sys.argv[1], int(sys.argv[2])
photos = sorted(glob.glob(os.path.join(os.environ.get("ROOT", "."), "tests", "data", "fruits360_heldout", "*", "*.jpg")))
if not photos:
    sys.exit("soak: no photos in tests/data/fruits360_heldout")
blobs = [(os.path.basename(os.path.dirname(p)), open(p, "rb").read()) for p in photos]  # real Test photos, 100x100 JPEG
bad = 0
with open(os.path.join(work, "list.txt"), "w") as lst:
    for i in range(n):
        label, data = blobs[i % len(blobs)]
        name = "in/%s/img%07d.jpg" % (label, i)
        os.makedirs(os.path.join(work, os.path.dirname(name)), exist_ok=True)
        if i % 100 == 37:
            data = [b"", data[: len(data) // 3], b"not an image"][(i // 100) % 3]
            bad += 1
        with open(os.path.join(work, name), "wb") as f:
            f.write(data)
        lst.write(name + "\n")
open(os.path.join(work, "bad_count"), "w").write(str(bad))
PY
source_arg="$work/in"
[ "$input" = list ] && source_arg="$work/list.txt"
start=$(date +%s)
"${CAM_ENGINE:-$root/build/cam_engine}" --weights "$root/weights/fruits360_r50.safetensors" --backend "$backend" --batch "$batch" \
  --quiet $options --out "$work/out" "$source_arg" > "$work/stdout.txt" 2> "$work/stderr.txt" &
pid=$!
: > "$work/rss.csv"
: > "$work/gpu.csv"
while kill -0 "$pid" 2>/dev/null; do
  rss=$(ps -o rss= -p "$pid" 2>/dev/null | tr -d " " || true)
  done_count=$({ wc -l < "$work/out/predictions.jsonl"; } 2>/dev/null || echo 0)
  [ -n "$rss" ] && echo "$(( $(date +%s) - start )),$rss,$done_count" >> "$work/rss.csv"
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
if [ -n "${CURVE:-}" ]; then
  { echo "seconds,rss_kib,images_done"; cat "$work/rss.csv"; } > "$CURVE"
fi
"$python" - "$work" "$n" "$status" "$elapsed" "$growth_mb" "$options" <<'PY'
import json, os, sys
from PIL import Image
work, n, status, elapsed, growth = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])
bad = int(open(os.path.join(work, "bad_count")).read())
rss = [int(l.split(",")[1]) / 1024 for l in open(os.path.join(work, "rss.csv")) if l.strip()]
gpu = [float(l.split(",")[1]) for l in open(os.path.join(work, "gpu.csv")) if l.strip()]  # MiB
# Warm-up: the first 10% of the samples (one a second), at least 5 s (model load, first plans).
warm = rss[max(len(rss) // 10, 5):]
gpu_warm = gpu[max(len(gpu) // 10, 5):]
count, errors, missing, paths = 0, 0, 0, set()
for line in open(os.path.join(work, "out", "predictions.jsonl")):  # streamed: 200k records need not fit
    r = json.loads(line)
    count += 1
    paths.add(r["path"])
    if "error" in r:
        errors += 1
        continue
    try:
        Image.open(os.path.join(work, "out", r["maps"][0]["file"])).verify()
    except Exception:
        missing += 1
stderr_lines = [l for l in open(os.path.join(work, "stderr.txt")) if l.strip()]
report_ok = "--report" not in sys.argv[6] or os.path.getsize(os.path.join(work, "out", "index.html")) > 0
checks = {
    "exit status 1 (some images bad)": status == 1,
    "one JSONL line per image": count == n and len(paths) == n,
    "every bad image reported once (JSONL and stderr)": errors == bad and len(stderr_lines) == bad,
    "every good overlay present and decodable": missing == 0,
    "the report written (with --report)": report_ok,
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
done = [int(l.split(",")[2]) for l in open(os.path.join(work, "rss.csv")) if l.strip()]
print("  RSS MB by images done: " + " ".join("%d:%.0f" % (done[i], rss[i]) for i in range(0, len(rss), step)))
if gpu:
    print("  device MiB by second: " + " ".join("%d:%.0f" % (i, gpu[i]) for i in range(0, len(gpu), step)))
if gpu_warm:
    print("  device memory after warm-up %.0f -> %.0f MiB (min %.0f, max %.0f)"
          % (gpu_warm[0], gpu_warm[-1], min(gpu_warm), max(gpu_warm)))
for name, ok in checks.items():
    print("  %-52s %s" % (name, "ok" if ok else "FAILED"))
sys.exit(0 if all(checks.values()) else 1)
PY
