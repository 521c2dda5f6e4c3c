#!/usr/bin/env bash
# Run HERE (no GPU needed) before a device run: builds for sm_90 into build-gpu/ and packs what the GPU machine
# lacks into .carry/gpu_bundle.tar.xz (git-ignored, under the 64 MiB carry limit): the executables, the shared
# libraries they need besides CUDA/cuDNN/cuBLAS (oneDNN, stb, libjpeg-turbo, libdeflate, OpenMP, libstdc++), and the dependency headers so the
# suite can rebuild there if the prebuilt binaries cannot start. Then: device run `bash bench/gpu_suite.sh`, carry .carry
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
cmake -S . -B build-gpu -G Ninja -DCMAKE_BUILD_TYPE=Release -DCAM_WITH_CUDA=ON -DCAM_CUDA_ARCHITECTURES=90 >/dev/null
cmake --build build-gpu -j"$(nproc)"
stage=$(mktemp -d)/gpu
mkdir -p "$stage/bin" "$stage/lib" "$stage/include"
cp build-gpu/cam_engine build-gpu/cam_bench build-gpu/tests/test_* "$stage/bin/"
for lib in libdnnl.so.2 libstb.so.0 libjpeg.so.62 libdeflate.so.0 libgomp.so.1 libstdc++.so.6 libOpenCL.so.1; do
  cp -L "$(ldconfig -p | awk -v l="$lib" '$1 == l && /x86-64/ {print $NF; exit}')" "$stage/lib/$lib"
done
ln -s libdnnl.so.2 "$stage/lib/libdnnl.so"
ln -s libstb.so.0 "$stage/lib/libstb.so"
ln -s libjpeg.so.62 "$stage/lib/libjpeg.so"
ln -s libdeflate.so.0 "$stage/lib/libdeflate.so"
cp /usr/include/jpeglib.h /usr/include/jerror.h /usr/include/jmorecfg.h /usr/include/x86_64-linux-gnu/jconfig.h \
  /usr/include/libdeflate.h "$stage/include/"
cp -r /usr/include/oneapi /usr/include/nlohmann /usr/include/doctest "$stage/include/"
mkdir -p "$stage/include/stb" && cp /usr/include/stb/stb_image*.h /usr/include/stb/stb_easy_font.h "$stage/include/stb/"
cp /usr/include/dnnl*.h* "$stage/include/" 2>/dev/null || true
mkdir -p .carry
tar -C "$(dirname "$stage")" -cJf .carry/gpu_bundle.tar.xz gpu
rm -rf "$(dirname "$stage")"
ls -la .carry/gpu_bundle.tar.xz
