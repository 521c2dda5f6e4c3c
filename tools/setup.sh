#!/usr/bin/env bash
# Installs what cam_engine builds and tests with, from Debian's packages (run as root or with sudo).
# The CUDA toolkit with cuDNN 9 is not a Debian package: when /usr/local/cuda exists the CUDA backend is built too.
# chromium (headless) checks the HTML report in the tests; python3-torch and python3-pil are the oracles of the
# shipped model and the converters.
set -euo pipefail
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends \
  build-essential cmake ninja-build pkg-config \
  libdnnl-dev libstb-dev nlohmann-json3-dev doctest-dev \
  python3 python3-numpy python3-torch python3-torchvision python3-opencv python3-pil python3-h5py python3-onnx \
  clang-14 libclang-rt-14-dev \
  chromium fonts-dejavu-core
