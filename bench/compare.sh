#!/usr/bin/env bash
# One command for the side-by-side benchmark: the engine (cam_bench) and its peers on the same random full-size
# ResNet-50 weights, batches, sizes and threads, in one run: Debian's PyTorch and, from .venv (tools/setup.sh),
# PyPI's current PyTorch (fp32, and bf16 autocast), ONNX Runtime and OpenVINO (pytorch_cam.py, onnxruntime_cam.py,
# openvino_cam.py); the engine's bf16 rows where the CPU has bf16 instructions; prints a Markdown table with
# ratios of engine to peer and the engine against the fastest peer.
# Adds the CUDA rows by itself when a GPU is usable (cam_bench built with CUDA and torch.cuda available).
#
#   bench/compare.sh                        # CPU here: batches 1,16 at 224 and 100
#   BUILD=build-gpu GPU_BATCHES=1,64,256 bench/compare.sh > table.md
# Environment: BUILD (build folder), PYTHON, PEERS_PYTHON (default .venv/bin/python), BATCHES, GPU_BATCHES, SIZES, REPS, THREADS, CLASSES, OUTDIR (keeps JSON),
# WEIGHTS (where the random weights are made or found), CPU_ROWS=0 (GPU rows only), TORCH_CUDA_MODES (default eager,amp-cl,compile,gradcam).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
build=${BUILD:-$root/build}
batches=${BATCHES:-1,16}
gpu_batches=${GPU_BATCHES:-1,64,256}
sizes=${SIZES:-224,100}
reps=${REPS:-10}
threads=${THREADS:-$(nproc)}
classes=${CLASSES:-131}
if [ -z "${PYTHON:-}" ]; then
  PYTHON=python3
  if /usr/bin/python3 -c 'import torch' 2>/dev/null; then PYTHON=/usr/bin/python3; fi
fi
peers_python=${PEERS_PYTHON:-$root/.venv/bin/python}
torch_origin() { case "$1" in /usr/bin/*) echo Debian ;; *) echo "$1" ;; esac; }
out=${OUTDIR:-$(mktemp -d)}
mkdir -p "$out"
weights=${WEIGHTS:-$out/resnet50_random.safetensors}
[ -f "$weights" ] || "$PYTHON" "$here/make_bench_weights.py" "$weights" --classes "$classes"

if [ "${CPU_ROWS:-1}" != 0 ]; then
  echo "== engine, CPU ($threads threads)" >&2
  "$build/cam_bench" --weights "$weights" --backend cpu --threads "$threads" --batch "$batches" --size "$sizes" \
    --reps "$reps" --json "$out/engine_cpu.json" >&2
  if "$build/cam_bench" --weights "$weights" --backend cpu --precision bf16 --batch 1 --size 100 --reps 1 --warmup 0 \
    >/dev/null 2>&1; then
    echo "== engine, CPU bf16 ($threads threads)" >&2
    "$build/cam_bench" --weights "$weights" --backend cpu --precision bf16 --threads "$threads" --batch "$batches" \
      --size "$sizes" --reps "$reps" --json "$out/engine_cpu_bf16.json" >&2
  else
    echo "== engine, CPU bf16: refused here (no AVX512-BF16 or AMX); fp32 rows only" >&2
  fi
  echo "== PyTorch, CPU ($threads threads)" >&2
  "$PYTHON" "$here/pytorch_cam.py" --weights "$weights" --device cpu --threads "$threads" --batch "$batches" \
    --size "$sizes" --reps "$reps" --modes eager,eager-cl --label "$(torch_origin "$PYTHON")" \
    --json "$out/torch_cpu.json" >&2
  if [ -x "$peers_python" ] && [ "$peers_python" != "$PYTHON" ]; then
    echo "== PyTorch from PyPI (.venv), CPU ($threads threads)" >&2
    "$peers_python" "$here/pytorch_cam.py" --weights "$weights" --device cpu --threads "$threads" --batch "$batches" \
      --size "$sizes" --reps "$reps" --modes eager,eager-cl,bf16-cl --label PyPI --json "$out/torch_pypi_cpu.json" >&2
    echo "== ONNX Runtime, CPU ($threads threads)" >&2
    "$peers_python" "$here/onnxruntime_cam.py" --weights "$weights" --threads "$threads" --batch "$batches" \
      --size "$sizes" --reps "$reps" --json "$out/onnxruntime_cpu.json" >&2
    echo "== OpenVINO, CPU ($threads threads): f32 and its default precision here" >&2
    "$peers_python" "$here/openvino_cam.py" --weights "$weights" --threads "$threads" --batch "$batches" \
      --size "$sizes" --reps "$reps" --json "$out/openvino_cpu.json" >&2
  else
    echo "== no .venv (bash tools/setup.sh): PyPI PyTorch and ONNX Runtime rows left out" >&2
  fi
fi

if "$PYTHON" -c 'import torch,sys; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null &&
   "$build/cam_bench" --weights "$weights" --backend cuda --batch 1 --size 100 --reps 1 --warmup 0 >/dev/null 2>&1; then
  for precision in fp32 tf32 fp16 bf16; do
    echo "== engine, CUDA $precision" >&2
    "$build/cam_bench" --weights "$weights" --backend cuda --precision "$precision" --batch "$gpu_batches" \
      --size "$sizes" --reps "$reps" --json "$out/engine_cuda_$precision.json" >&2
  done
  echo "== PyTorch, CUDA" >&2
  "$PYTHON" "$here/pytorch_cam.py" --weights "$weights" --device cuda --batch "$gpu_batches" --size "$sizes" \
    --reps "$reps" --modes "${TORCH_CUDA_MODES:-eager,amp-cl,compile,gradcam}" --json "$out/torch_cuda.json" >&2
else
  echo "== no usable GPU: CPU rows only" >&2
fi
"$PYTHON" "$here/compare_table.py" "$out"/engine_*.json "$out"/torch_*.json $(ls "$out"/onnxruntime_*.json "$out"/openvino_*.json 2>/dev/null)
