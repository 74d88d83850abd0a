#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The Loihi 2 rows of the README (they were run with the same commands on the lent GPU machine's CPU, from
# scripts/gpu_bundle.sh's LibTorch-free build): both bundled models converted with default settings but IF neurons (--neuron if: Loihi 2 has no graded neuron), on the loihi2
# backend over the full Fashion-MNIST test set at T = 8, 16, 32 (--reset-mode subtract), and on the first
# 2,000 test images with --reset-mode zero. Writes results/loihi2/.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${DATA:-/usr/share/datasets/fashion-mnist}
TOOL=./build/tools/neurocuda/neurocuda
mkdir -p results/loihi2
for m in vgg_small resnet_small; do
  [ -f build/${m}_if.snn ] || $TOOL convert models/$m.pt --calib "$DATA" --neuron if -o build/${m}_if.snn > /dev/null
  $TOOL eval build/${m}_if.snn --data "$DATA" -T 8,16,32 --backend loihi2 --report results/loihi2/${m}_loihi2.json |
    tee results/loihi2/${m}_loihi2.txt
done
for m in vgg_small resnet_small; do
  $TOOL eval build/${m}_if.snn --data "$DATA" -T 32 --limit 2000 --backend loihi2 --reset-mode zero \
    --report results/loihi2/${m}_loihi2_zero_2000.json | tee results/loihi2/${m}_loihi2_zero_2000.txt
done
