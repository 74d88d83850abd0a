#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Packs what scripts/gpu_check.sh needs on a GPU machine that has the CUDA driver but none of Debian's
# packages: a LibTorch-free runtime build with the CUDA backend (NEUROCUDA_WITH_TORCH=OFF), its unit tests,
# the shared libraries they load (not glibc, not the driver), the Fashion-MNIST test split, and both
# bundled models converted here by the full build. Usage: scripts/gpu_bundle.sh [DIR]   (default .gpu)
set -euo pipefail
cd "$(dirname "$0")/.."
DIR=${1:-.gpu}
NVCC=${NVCC:-$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)}
DATA=${DATA:-/usr/share/datasets/fashion-mnist}
[ -x build/tools/neurocuda/neurocuda ] || ./scripts/build.sh > /dev/null
cmake -S . -B build-runtime -G Ninja -DCMAKE_BUILD_TYPE=Release -DNEUROCUDA_WITH_TORCH=OFF \
  -DNEUROCUDA_WITH_CUDA=ON -DCMAKE_CUDA_COMPILER="$NVCC" > /dev/null
cmake --build build-runtime -j "$(nproc)" > /dev/null
rm -rf "$DIR" && mkdir -p "$DIR"/bin "$DIR"/lib "$DIR"/data
cp build-runtime/tools/neurocuda/neurocuda build-runtime/tests/neurocuda_unit_tests "$DIR"/bin/
for b in "$DIR"/bin/*; do ldd "$b"; done | awk '$3 ~ /^\// {print $3}' | sort -u |
  grep -Ev '/(libc|libm|libdl|libpthread|librt|libresolv|libutil|ld-linux[^/]*)\.so' | xargs -I{} cp -L {} "$DIR"/lib/
cp "$DATA"/t10k-* "$DIR"/data/
for m in vgg_small resnet_small; do
  build/tools/neurocuda/neurocuda convert models/$m.pt --calib "$DATA" -o "$DIR"/$m.snn > /dev/null
  build/tools/neurocuda/neurocuda convert models/$m.pt --calib "$DATA" --neuron if -o "$DIR"/${m}_if.snn > /dev/null
done
du -sh "$DIR"
