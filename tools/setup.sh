#!/usr/bin/env bash
# Installs what cam_engine builds and tests with, from Debian's packages (run as root or with sudo), then the
# Python package cam_engine into .venv (PyPI's nanobind, scikit-build-core and oneDNN 3.2, pinned in
# tools/requirements-package.txt; `pip install .` builds it from the same CMake targets as the CLI, and CMake
# takes .venv's oneDNN over Debian's 2.6 for every build: bench/results/2026-12-08-onednn-versions-epyc-avx2.md).
# The CUDA toolkit with cuDNN 9 is not a Debian package: when /usr/local/cuda exists the CUDA backend is built too.
# chromium (headless) checks the HTML report in the tests; python3-torch and python3-pil are the oracles of the
# shipped model and the converters. Then the peer libraries the tests compare with (Keras, ONNX Runtime,
# pytorch-grad-cam, torchcam, timm, current PyTorch) go into .venv from PyPI, pinned (tools/requirements-peers.txt);
# CAM_SKIP_PEERS=1 skips that step (the tests that need them then skip with the reason).
set -euo pipefail
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends \
  build-essential cmake ninja-build pkg-config \
  libdnnl-dev libstb-dev libjpeg62-turbo-dev libdeflate-dev nlohmann-json3-dev doctest-dev \
  python3 python3-dev python3-venv python3-numpy python3-torch python3-torchvision python3-opencv python3-pil python3-h5py python3-onnx \
  clang-14 libclang-rt-14-dev \
  chromium fonts-dejavu-core

root=$(cd "$(dirname "$0")/.." && pwd)
venv=$root/.venv
if ! "$venv/bin/python" -c 'import sys; sys.exit(0 if sys.prefix != sys.base_prefix else 1)' 2>/dev/null; then
  rm -rf "$venv"
  /usr/bin/python3 -m venv "$venv"
fi
pip=("$venv/bin/pip" install -q --disable-pip-version-check)
start=$(date +%s)
"${pip[@]}" -r "$root/tools/requirements-package.txt" -c "$root/tools/constraints-package.txt"
"${pip[@]}" --no-build-isolation --force-reinstall --no-deps "$root"
"$venv/bin/python" -c "import cam_engine"
echo "setup.sh: the cam_engine package in $venv ($(( $(date +%s) - start )) s)"

if [ "${CAM_SKIP_PEERS:-0}" != 1 ]; then
  start=$(date +%s)
  "${pip[@]}" -r "$root/tools/requirements-peers.txt" -c "$root/tools/constraints-peers.txt"
  echo "setup.sh: peer libraries in $venv ($(( $(date +%s) - start )) s)"
fi
