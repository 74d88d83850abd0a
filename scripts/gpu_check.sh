#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Everything that needs an NVIDIA GPU, in one command: the CUDA tests, `verify` of both bundled models on
# cpu vs cuda over the full Fashion-MNIST test set in fp32 and int8 (and int16 on the ResNet), with graded
# neurons (the default) and with IF neurons, the CUDA tests
# under compute-sanitizer, and CPU vs CUDA throughput side by side. Results go to $RESULTS (results/gpu).
#   scripts/gpu_check.sh           build here (Debian packages installed, nvcc present) and check
#   scripts/gpu_check.sh .gpu      check from a bundle made by scripts/gpu_bundle.sh (no packages needed)
# BEFORE=path/to/older/neurocuda adds that binary's cuda throughput as a column (A/B in one run).
set -euo pipefail
cd "$(dirname "$0")/.."
T=${T:-32}
RESULTS=${RESULTS:-results/gpu}
if [ $# -ge 1 ]; then
  B=$(cd "$1" && pwd)
  export LD_LIBRARY_PATH="$B/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  TOOL=$B/bin/neurocuda UNIT=$B/bin/neurocuda_unit_tests DATA=$B/data NETS=$B
else
  NVCC=${NVCC:-$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)}
  DATA=${DATA:-/usr/share/datasets/fashion-mnist}
  ./scripts/install_deps.sh
  cmake -S . -B build-cuda -G Ninja -DCMAKE_BUILD_TYPE=Release -DNEUROCUDA_WITH_CUDA=ON \
    -DCMAKE_CUDA_COMPILER="$NVCC" > build-cuda.log
  cmake --build build-cuda -j "$(nproc)" >> build-cuda.log
  TOOL=./build-cuda/tools/neurocuda/neurocuda UNIT=./build-cuda/tests/neurocuda_unit_tests NETS=build-cuda
  for m in vgg_small resnet_small; do
    $TOOL convert models/$m.pt --calib "$DATA" -o $NETS/$m.snn > /dev/null
    $TOOL convert models/$m.pt --calib "$DATA" --neuron if -o $NETS/${m}_if.snn > /dev/null
  done
fi
mkdir -p "$RESULTS"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
echo "== CUDA tests (cross-backend cpu vs cuda, fp32/int8/int16)"
$UNIT --gtest_filter='*cuda*:*Cuda*:*CUDA*' --gtest_brief=1
for m in vgg_small resnet_small; do
  precisions="fp32 int8"; [ $m = resnet_small ] && precisions="fp32 int8 int16"
  for p in $precisions; do
    echo "== verify $m $p (cpu vs cuda, full test set, T=$T)"
    $TOOL verify $NETS/$m.snn --data "$DATA" --backends cpu,cuda --precision $p -T "$T" --batch 200 \
      --report "$RESULTS/verify_${m}_$p.json" | tail -3
  done
  for p in fp32 int8; do
    for b in cpu cuda; do
      $TOOL eval $NETS/$m.snn --data "$DATA" -T "$T" --backend $b --precision $p --skip-ann --batch 1000 \
        --report "$RESULTS/eval_${m}_${b}_$p.json" --quiet
    done
    if [ -n "${BEFORE:-}" ]; then
      "$BEFORE" eval $NETS/$m.snn --data "$DATA" -T "$T" --backend cuda --precision $p --skip-ann --batch 1000 \
        --report "$RESULTS/eval_${m}_before_$p.json" --quiet
    fi
  done
done
for m in vgg_small_if resnet_small_if; do  # the same models with IF neurons (convert --neuron if)
  for p in fp32 int8; do
    echo "== verify $m $p (cpu vs cuda, full test set, T=$T)"
    $TOOL verify $NETS/$m.snn --data "$DATA" --backends cpu,cuda --precision $p -T "$T" --batch 200 \
      --report "$RESULTS/verify_${m}_$p.json" | tail -3
  done
done
echo "== throughput, full test set, T=$T, --batch 1000 ($(nproc) CPU threads)"
RESULTS="$RESULTS" python3 - <<'PY'
import json, os
r = os.environ["RESULTS"]
before = lambda m, p: f"{r}/eval_{m}_before_{p}.json"
ab = os.path.exists(before("vgg_small", "fp32"))
print(f"{'model':14}{'mode':6}{'cpu img/s':>11}{'cuda img/s':>12}{'cuda/cpu':>10}{'acc cpu':>9}{'acc cuda':>10}"
      + (f"{'before img/s':>14}{'speedup':>9}" if ab else ""))
for m in ("vgg_small", "resnet_small"):
    for p in ("fp32", "int8"):
        c, g = (json.load(open(f"{r}/eval_{m}_{b}_{p}.json")) for b in ("cpu", "cuda"))
        ips = lambda j: j["timing"]["snn_images_per_second"]
        acc = lambda j: j["snn_accuracy"]
        row = f"{m:14}{p:6}{ips(c):11.0f}{ips(g):12.0f}{ips(g)/ips(c):10.1f}{acc(c):9.4f}{acc(g):10.4f}"
        if ab:
            o = json.load(open(before(m, p)))
            row += f"{ips(o):14.0f}{ips(g)/ips(o):9.2f}"
        print(row)
PY
SAN=$(command -v compute-sanitizer || echo /usr/local/cuda/bin/compute-sanitizer)
echo "== compute-sanitizer (memcheck) on the CUDA tests"
"$SAN" --error-exitcode 1 --print-limit 10 $UNIT --gtest_filter='*cuda*:*Cuda*:*CUDA*' --gtest_brief=1
echo "gpu_check: all steps passed"
