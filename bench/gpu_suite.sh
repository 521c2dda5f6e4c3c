#!/usr/bin/env bash
# Run ON THE GPU MACHINE in one call (after bench/gpu_bundle.sh here; carry .carry): finds CUDA, cuDNN and cuBLAS
# (also inside PyTorch's nvidia-* wheels), then runs, most important first and each under its own time limit so the
# whole fits SUITE_SECONDS (default 520): the GPU tests, compute-sanitizer memcheck/racecheck over the kernels, the
# CUDA benchmark beside PyTorch, the phase split and per-layer times, a --conv-fusion off row, determinism across
# runs, a short soak, an end-to-end CLI run under memcheck, and the remaining (CPU) tests. Everything is written
# into $OUT (or ./gpu_out) as it finishes: suite.log, and every other log and JSON in results.tar.gz, refreshed after
# each step (the device tool brings back only a few files). A short summary table is printed last.
# Environment: SUITE_SECONDS, REPS, GPU_BATCHES, SOAK_N, TORCH_CUDA_MODES.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=${OUT:-$root/gpu_out}
work=/tmp/cam_gpu
res=$work/results
rm -rf "$work" && mkdir -p "$out" "$res/bench"
exec > >(tee "$out/suite.log") 2>&1
cd "$root"
suite_start=$(date +%s)
suite_seconds=${SUITE_SECONDS:-520}
status=()
record() { status+=("$(printf '%-36s %s' "$1" "$2")"); }
# step NAME MAX_SECONDS LOG COMMAND...: runs COMMAND into LOG under min(MAX, time left - 20 s); records the outcome.
step() {
  local name=$1 max=$2 log=$3; shift 3
  local left=$((suite_seconds - ($(date +%s) - suite_start) - 20))
  [ "$left" -lt "$max" ] && max=$left
  if [ "$max" -lt 10 ]; then record "$name" "skipped (out of time)"; return 1; fi
  echo "== $name (limit ${max}s)"
  local t0=$(date +%s) rc=0
  timeout -k 5 "$max" "$@" > "$log" 2>&1 || rc=$?
  local took=$(($(date +%s) - t0))
  case $rc in
    0) record "$name" "ok (${took}s)" ;;
    124|137) record "$name" "TIMED OUT at ${max}s" ;;
    *) record "$name" "FAILED rc=$rc (${took}s)" ;;
  esac
  tail -4 "$log"
  tar -C "$res" -czf "$out/results.tar.gz" .
  return "$rc"
}

echo "== machine"
date -u
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.max.sm,temperature.gpu,power.draw \
  --format=csv || true
command -v nvcc && nvcc --version | tail -2
command -v compute-sanitizer || true
python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda, "cudnn", torch.backends.cudnn.version())' || true
echo "cores $(nproc)"; uname -r; head -2 /etc/os-release

tar -C "$work" -xJf .carry/gpu_bundle.tar.xz
bin=$work/gpu/bin
# CUDA 13 wheels keep their libraries in nvidia/<name>/lib or nvidia/cu13/lib: every such folder joins the path.
for site in $(python3 -c 'import site; print(" ".join(site.getsitepackages()))' 2>/dev/null); do
  for d in "$site"/nvidia/*/lib; do [ -d "$d" ] && LD_LIBRARY_PATH="$d:${LD_LIBRARY_PATH:-}"; done
done
for d in /usr/local/cuda/lib64 /usr/local/cuda/lib; do [ -d "$d" ] && LD_LIBRARY_PATH="${LD_LIBRARY_PATH:-}:$d"; done
export LD_LIBRARY_PATH="$work/gpu/lib:${LD_LIBRARY_PATH:-}"
echo "LD_LIBRARY_PATH=$LD_LIBRARY_PATH"
ldd "$bin/cam_engine" | grep -E "cudnn|cublas|cudart|not found"

if ! "$bin/cam_engine" --version; then
  echo "== prebuilt binaries do not start here; rebuilding from source"
  export CUDNN_ROOT=$(python3 -c 'import nvidia.cudnn, os; print(os.path.dirname(nvidia.cudnn.__file__))' 2>/dev/null)
  step "rebuild on the device" 240 "$res/rebuild.txt" bash -c "cmake -S . -B '$work/build' -G Ninja \
    -DCMAKE_BUILD_TYPE=Release -DCAM_WITH_CUDA=ON -DCAM_CUDA_ARCHITECTURES=90 -DCMAKE_PREFIX_PATH='$work/gpu' \
    -DCMAKE_INCLUDE_PATH='$work/gpu/include;$work/gpu/include/stb' -DCMAKE_LIBRARY_PATH='$work/gpu/lib' &&
    cmake --build '$work/build' -j$(nproc)"
  mkdir -p "$work/rebuilt"
  cp "$work/build/cam_engine" "$work/build/cam_bench" "$work/build"/tests/test_* "$work/rebuilt/" 2>/dev/null
  bin=$work/rebuilt
fi
"$bin/cam_engine" --version && record "binaries start" ok || record "binaries start" FAILED

export CAM_TEST_DATA=$root/tests/data CAM_SOURCE_DIR=$root CAM_ENGINE_BIN=$bin/cam_engine
step test_cuda_ops 150 "$res/test_cuda_ops.txt" "$bin/test_cuda_ops" -tce='graph path*'
step "test_cuda_ops graph path" 120 "$res/test_cuda_ops_graph.txt" "$bin/test_cuda_ops" -tc='graph path*'
step test_cuda_methods 150 "$res/test_cuda_methods.txt" "$bin/test_cuda_methods"
step test_engine 60 "$res/test_engine.txt" "$bin/test_engine"
grep -h "SKIPPED\|MESSAGE\|a CUDA device" "$res"/test_cuda_ops.txt "$res"/test_cuda_methods.txt "$res"/test_engine.txt |
  sort | uniq -c | head

# The golden fixture images as PNG files, for the CLI runs below.
python3 - "$work/imgs" <<'PY'
import sys, os, cv2
sys.path.insert(0, "tools")
import safetensors_io
t, _ = safetensors_io.load("tests/data/golden_r50w16_expected.safetensors")
os.makedirs(sys.argv[1], exist_ok=True)
for i, im in enumerate(t["images"]):
  cv2.imwrite(os.path.join(sys.argv[1], "fruit%d.png" % i), im[:, :, ::-1])
PY

if command -v compute-sanitizer >/dev/null; then
  step "memcheck kernels" 90 "$res/memcheck_ops.txt" compute-sanitizer --error-exitcode 99 --tool memcheck "$bin/test_cuda_ops" \
    -tc='GPU bn_act*,GPU max pool*,GPU softmax*,GPU CAM*,GPU overlay*,GPU preprocess*'
  step "memcheck method kernels" 120 "$res/memcheck_methods.txt" compute-sanitizer --error-exitcode 99 --tool memcheck \
    "$bin/test_cuda_methods" -tc='GPU Score-CAM*,GPU perturbed*,GPU Eigen-CAM*,GPU Grad-CAM++*'
  step "racecheck kernels" 60 "$res/racecheck_ops.txt" compute-sanitizer --error-exitcode 99 --tool racecheck "$bin/test_cuda_ops" \
    -tc='GPU softmax*,GPU CAM*,GPU overlay*'
  # The method kernels' shared memory (Eigen-CAM's noisy image iterates long: a step of its own).
  step "racecheck method kernels" 120 "$res/racecheck_methods.txt" compute-sanitizer --error-exitcode 99 \
    --tool racecheck "$bin/test_cuda_methods" -tc='GPU Score-CAM*,GPU Eigen-CAM*'
  # Batches in flight on two streams: their buffers must never be touched by another batch's copies.
  step "memcheck overlapped batches" 90 "$res/memcheck_overlap.txt" compute-sanitizer --error-exitcode 99 --tool memcheck \
    "$bin/test_cuda_ops" -tc='overlapped batches*'
else
  record compute-sanitizer "NOT FOUND"
fi

bench=$work/bench
mkdir -p "$bench"
python3 bench/make_bench_weights.py "$bench/resnet50_random.safetensors" --classes 131 > /dev/null
step "benchmark beside PyTorch" 200 "$res/compare.md" env BUILD="$bin" OUTDIR="$res/bench" \
  WEIGHTS="$bench/resnet50_random.safetensors" CPU_ROWS=0 REPS="${REPS:-10}" GPU_BATCHES="${GPU_BATCHES:-1,64,256}" \
  TORCH_CUDA_MODES="${TORCH_CUDA_MODES:-eager,amp-cl,gradcam}" PYTHON=python3 bash bench/compare.sh
cat "$res/compare.md"

step "split + layers + e2e fp16 b256" 60 "$res/split_fp16.txt" "$bin/cam_bench" \
  --weights "$bench/resnet50_random.safetensors" --backend cuda --precision fp16 --batch 256 --size 224 --reps 10 \
  --split --layers --e2e --json "$res/bench/split_fp16.json"
step "fp16 b256 --conv-fusion off" 40 "$res/fusion_off_fp16.txt" "$bin/cam_bench" \
  --weights "$bench/resnet50_random.safetensors" --backend cuda --precision fp16 --batch 256 --size 224 --reps 10 \
  --conv-fusion off --json "$res/bench/fusion_off_fp16.json"
grep -E " cam " "$res/fusion_off_fp16.txt" "$res/split_fp16.txt" | head -4
# The experimental cuDNN graph-API path (--conv-fusion graph) beside the rows above.
for precision in fp16 tf32; do
  step "$precision --conv-fusion graph" 90 "$res/graph_$precision.txt" "$bin/cam_bench" \
    --weights "$bench/resnet50_random.safetensors" --backend cuda --precision "$precision" --batch 1,64,256 \
    --size 224,100 --reps 10 --conv-fusion graph --json "$res/bench/graph_$precision.json"
  grep -E " cam " "$res/graph_$precision.txt"
done

# Map methods on the device (Score-CAM over all 2048 channels, masks made on the device) beside pytorch-grad-cam
# and torchcam on the same card: full-size ResNet-50, fp32, batch 4, 64 masked inputs per forward on both sides,
# 224 and 100.
step "methods engine" 120 "$res/methods_engine.txt" "$bin/cam_bench" --weights "$bench/resnet50_random.safetensors" \
  --backend cuda --precision fp32 --batch 4 --perturbed-batch 64 --size 224,100 --reps 1 --warmup 1 \
  --methods gradcam++,eigencam,scorecam --metrics --json "$res/bench/methods_engine.json"
step "methods pytorch-grad-cam" 150 "$res/methods_pytorch.txt" python3 bench/methods_pytorch.py \
  --weights "$bench/resnet50_random.safetensors" --device cuda --batch 4 --perturbed-batch 64 --size 224,100 \
  --reps 1 --json "$res/bench/methods_pytorch.json"

# Determinism: two runs sharing a tuning file must be identical; a third re-measures its choices.
for run in 1 2 3; do
  tuning=(--tuning "$work/tuning.json")
  [ "$run" = 3 ] && tuning=()
  step "CLI fp16 run $run" 40 "$res/determinism$run.txt" "$bin/cam_engine" \
    --weights tests/data/golden_r50w16.safetensors --backend cuda --precision fp16 --topk 2 --raw --verbose \
    "${tuning[@]}" --out "$work/det$run" "$work/imgs"
done
cp "$work/tuning.json" "$res/" 2>/dev/null
[ -s "$work/det1/predictions.jsonl" ] && diff -r "$work/det1" "$work/det2" > "$res/determinism_diff.txt" 2>&1 && record "identical outputs, --tuning" yes ||
  record "identical outputs, --tuning" NO
[ -s "$work/det1/predictions.jsonl" ] && diff -r "$work/det1" "$work/det3" >> "$res/determinism_diff.txt" 2>&1 && record "identical outputs, no tuning" yes ||
  record "identical outputs, no tuning" "no (choices re-measured)"

step "soak ${SOAK_N:-40000} images" 100 "$res/soak.txt" env N="${SOAK_N:-40000}" BACKEND=cuda CAM_ENGINE="$bin/cam_engine" \
  PYTHON=python3 bash bench/soak.sh
tail -9 "$res/soak.txt"

if command -v compute-sanitizer >/dev/null; then
  step "memcheck CLI end-to-end" 90 "$res/memcheck_cli.txt" compute-sanitizer --error-exitcode 99 --tool memcheck "$bin/cam_engine" \
    --weights tests/data/golden_r50w16.safetensors --backend cuda --topk 2 --raw --batch 2 --out "$work/cli_out" \
    "$work/imgs"
fi
for t in "$bin"/test_*; do
  name=$(basename "$t")
  case $name in test_cuda_ops|test_cuda_methods|test_engine) continue ;; esac
  step "$name" 60 "$res/$name.txt" "$t"
done

# The conv algorithms (legacy search, then cuDNN graphs) picked for a 64-image fp16 batch at 224 (CLI --verbose).
mkdir -p "$work/b64"
for i in $(seq 0 63); do cp "$work/imgs/fruit$((i % 3)).png" "$work/b64/img$i.png"; done
for fusion in auto graph; do
  step "fp16 b64 choices, --conv-fusion $fusion" 60 "$res/algorithms_fp16_b64_$fusion.txt" "$bin/cam_engine" \
    --weights "$bench/resnet50_random.safetensors" --backend cuda --precision fp16 --batch 64 --input-size 224x224 \
    --conv-fusion "$fusion" --verbose --out "$work/b64_$fusion" "$work/b64"
done
# torch.compile last: it compiles for minutes; the rows it finishes are kept.
step "PyTorch torch.compile rows" 150 "$res/bench/torch_compile.txt" python3 bench/pytorch_cam.py \
  --weights "$bench/resnet50_random.safetensors" --device cuda --batch 64,256 --size 224 --reps 10 --modes compile \
  --json "$res/bench/torch_cuda_compile.json"
cat "$res/bench/torch_compile.txt"
tar -C "$res" -czf "$out/results.tar.gz" .
echo
echo "== summary ($(($(date +%s) - suite_start)) s)"
printf '%s\n' "${status[@]}"
grep '^| cuda' "$res/compare.md" | cut -d'|' -f3-9 | sed 's/  */ /g'
