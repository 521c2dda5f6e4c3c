#!/usr/bin/env bash
# Run ON THE GPU MACHINE in one call (after bench/gpu_bundle.sh here; carry .carry): finds CUDA, cuDNN (also inside
# PyTorch's nvidia-cudnn-cu13 package) and cuBLAS, runs every test, compute-sanitizer memcheck and racecheck over
# the GPU kernels and a small end-to-end CLI run, the resource usage of each kernel, and the side-by-side
# benchmark; writes everything under $OUT (or ./gpu_out) and prints a short summary table last.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=${OUT:-$root/gpu_out}
mkdir -p "$out"
log=$out/suite.log
exec > >(tee "$log") 2>&1
cd "$root"
status=()
record() { status+=("$(printf '%-34s %s' "$1" "$2")"); }

echo "== machine"
date -u
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv,noheader || true
command -v nvcc && nvcc --version | tail -2
python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda, "cudnn", torch.backends.cudnn.version())' || true
nproc

work=/tmp/cam_gpu
rm -rf "$work" && mkdir -p "$work"
tar -C "$work" -xJf .carry/gpu_bundle.tar.xz
bin=$work/gpu/bin
pydir() { python3 -c "import $1, os; print(os.path.dirname($1.__file__))" 2>/dev/null; }
cudnn_dir=$(pydir nvidia.cudnn)
cublas_dir=$(pydir nvidia.cublas)
for d in "$cudnn_dir/lib" "$cublas_dir/lib" /usr/local/cuda/lib64 /usr/local/cuda/lib; do
  [ -d "$d" ] && export LD_LIBRARY_PATH="$d:${LD_LIBRARY_PATH:-}"
done
export LD_LIBRARY_PATH="$work/gpu/lib:$LD_LIBRARY_PATH"
echo "LD_LIBRARY_PATH=$LD_LIBRARY_PATH"

if ! "$bin/cam_engine" --version; then
  echo "== prebuilt binaries do not start here; rebuilding from source"
  export CUDNN_ROOT=${cudnn_dir:-/usr/local/cuda}
  cmake -S . -B "$work/build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCAM_CUDA_ARCHITECTURES=90 \
    -DCMAKE_PREFIX_PATH="$work/gpu" -DCMAKE_INCLUDE_PATH="$work/gpu/include;$work/gpu/include/stb" \
    -DCMAKE_LIBRARY_PATH="$work/gpu/lib" && cmake --build "$work/build" -j"$(nproc)" || { record build FAILED; }
  mkdir -p "$work/rebuilt"
  cp "$work/build/cam_engine" "$work/build/cam_bench" "$work/build"/tests/test_* "$work/rebuilt/" 2>/dev/null
  bin=$work/rebuilt
fi
"$bin/cam_engine" --version && record "binaries start" ok || record "binaries start" FAILED

export CAM_TEST_DATA=$root/tests/data CAM_SOURCE_DIR=$root CAM_ENGINE_BIN=$bin/cam_engine
echo "== tests"
for t in "$bin"/test_*; do
  name=$(basename "$t")
  if "$t" > "$out/$name.txt" 2>&1; then record "$name" passed; else record "$name" FAILED; fi
  tail -3 "$out/$name.txt"
done
grep -h "SKIPPED" "$out"/test_*.txt | sort | uniq -c

# The golden fixture images as PNG files, for the CLI runs below.
python3 - "$work/imgs" <<'PY'
import sys, os, numpy as np
sys.path.insert(0, "tools")
import safetensors_io
t, _ = safetensors_io.load("tests/data/golden_r50w16_expected.safetensors")
os.makedirs(sys.argv[1], exist_ok=True)
import cv2
for i, im in enumerate(t["images"]):
  cv2.imwrite(os.path.join(sys.argv[1], "fruit%d.png" % i), im[:, :, ::-1])
PY

echo "== compute-sanitizer"
if command -v compute-sanitizer >/dev/null; then
  cs() { compute-sanitizer --error-exitcode 99 --tool "$@"; }
  cs memcheck "$bin/test_cuda_ops" -tc='GPU bn_act*,GPU max pool*,GPU softmax*,GPU CAM*,GPU overlay*,GPU preprocess*' \
    > "$out/memcheck_ops.txt" 2>&1 && record "memcheck kernels" clean || record "memcheck kernels" ERRORS
  cs racecheck "$bin/test_cuda_ops" -tc='GPU softmax*,GPU CAM*,GPU overlay*' > "$out/racecheck_ops.txt" 2>&1 &&
    record "racecheck kernels" clean || record "racecheck kernels" ERRORS
  cs memcheck "$bin/cam_engine" --weights tests/data/golden_r50w16.safetensors --backend cuda --topk 2 --raw \
    --out "$work/cli_out" "$work/imgs" > "$out/memcheck_cli.txt" 2>&1 && record "memcheck CLI end-to-end" clean ||
    record "memcheck CLI end-to-end" ERRORS
  tail -4 "$out"/memcheck_*.txt "$out"/racecheck_*.txt
else
  record compute-sanitizer "NOT FOUND"
fi

echo "== resource usage"
bash bench/resource_usage.sh sm_90 > "$out/resource_usage.txt" 2>&1 && record "resource usage" written || record "resource usage" FAILED
cat "$out/resource_usage.txt"

echo "== benchmark"
BUILD=$bin OUTDIR=$work/bench REPS=${REPS:-20} BATCHES=${BATCHES:-1,16} GPU_BATCHES=${GPU_BATCHES:-1,64,256} \
  PYTHON=python3 bash bench/compare.sh > "$out/compare.md" 2> "$out/compare.log" && record benchmark done || record benchmark FAILED
cp "$work"/bench/*.json "$out/" 2>/dev/null
cat "$out/compare.md"

echo "== phase split, per-layer times, end-to-end (CUDA fp16, batch 256, 224)"
"$bin/cam_bench" --weights "$work/bench/resnet50_random.safetensors" --backend cuda --precision fp16 --batch 256 \
  --size 224 --reps 10 --split --layers --e2e --json "$out/split_fp16.json" > "$out/split_fp16.txt" 2>&1 &&
  record "split + layers + e2e" done || record "split + layers + e2e" FAILED
head -8 "$out/split_fp16.txt"
"$bin/cam_bench" --weights "$work/bench/resnet50_random.safetensors" --backend cuda --precision fp16 --batch 256 \
  --size 224 --reps 10 --conv-fusion off --json "$out/fusion_off_fp16.json" > "$out/fusion_off_fp16.txt" 2>&1 &&
  record "fp16 b256 with --conv-fusion off" "$(awk '$5 == "cam" {print $8 " img/s"}' "$out/fusion_off_fp16.txt")" ||
  record "fp16 b256 with --conv-fusion off" FAILED

echo "== determinism across runs (CUDA fp16, CLI): with a tuning file (must be identical), and without"
for run in 1 2 3; do  # --verbose: the algorithm and fusion chosen per layer go to determinism.txt
  tuning=(--tuning "$work/tuning.json")
  [ "$run" = 3 ] && tuning=()
  "$bin/cam_engine" --weights tests/data/golden_r50w16.safetensors --backend cuda --precision fp16 --topk 2 --raw \
    --verbose "${tuning[@]}" --out "$work/det$run" "$work/imgs" 2>> "$out/determinism.txt"
done
cp "$work/tuning.json" "$out/" 2>/dev/null || true
diff -r "$work/det1" "$work/det2" >> "$out/determinism.txt" 2>&1 && record "GPU outputs identical, --tuning" yes ||
  record "GPU outputs identical, --tuning" NO
diff -r "$work/det1" "$work/det3" >> "$out/determinism.txt" 2>&1 && record "GPU outputs identical, no tuning" yes ||
  record "GPU outputs identical, no tuning" "no (choices re-measured)"

echo "== soak (CUDA, ${SOAK_N:-20000} images)"
N=${SOAK_N:-20000} BACKEND=cuda CAM_ENGINE="$bin/cam_engine" PYTHON=python3 bash bench/soak.sh > "$out/soak.txt" 2>&1 &&
  record "soak" passed || record "soak" FAILED
cat "$out/soak.txt"

echo
echo "== summary"
printf '%s\n' "${status[@]}"
