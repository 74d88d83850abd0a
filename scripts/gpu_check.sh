#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# For any machine with an NVIDIA GPU, in one command: build with CUDA, run the CUDA tests, verify
# both bundled models on cpu vs cuda over the full Fashion-MNIST test set in fp32 and int8, run the
# CUDA tests under compute-sanitizer, and print CPU and CUDA throughput. Writes results/gpu/.
set -euo pipefail
cd "$(dirname "$0")/.."
NVCC=${NVCC:-$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)}
DATA=${DATA:-/usr/share/datasets/fashion-mnist}
T=${T:-32}
./scripts/install_deps.sh
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee /dev/stderr > /dev/null
cmake -S . -B build-cuda -G Ninja -DCMAKE_BUILD_TYPE=Release -DNEUROCUDA_WITH_CUDA=ON -DCMAKE_CUDA_COMPILER="$NVCC" > build-cuda.log
cmake --build build-cuda -j "$(nproc)" >> build-cuda.log
TOOL=./build-cuda/tools/neurocuda/neurocuda
mkdir -p results/gpu
echo "== CUDA tests"
(cd build-cuda && ctest -L cuda --output-on-failure)
for m in vgg_small resnet_small; do
  $TOOL convert models/$m.pt --calib "$DATA" -o build-cuda/$m.snn > /dev/null
  for p in fp32 int8; do
    echo "== verify $m $p (cpu vs cuda, full test set, T=$T)"
    $TOOL verify build-cuda/$m.snn --data "$DATA" --backends cpu,cuda --precision $p -T "$T" --batch 500 \
      --report results/gpu/verify_${m}_$p.json
  done
  for b in cpu cuda; do
    echo "== throughput $m $b fp32 (T=$T, full test set)"
    $TOOL eval build-cuda/$m.snn --data "$DATA" -T "$T" --backend $b --skip-ann --report results/gpu/eval_${m}_$b.json | tail -1
  done
done
SAN=$(command -v compute-sanitizer || echo /usr/local/cuda/bin/compute-sanitizer)
echo "== compute-sanitizer on the CUDA tests"
"$SAN" --error-exitcode 1 ./build-cuda/tests/neurocuda_unit_tests --gtest_filter='*cuda*'
echo "gpu_check: all steps passed"
