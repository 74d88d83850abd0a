#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Converts both bundled models with default settings and evaluates them over the full
# Fashion-MNIST test set at T = 8, 16, 32, 64 (one run per model); writes results/*.json and .txt.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${DATA:-/usr/share/datasets/fashion-mnist}
TOOL=./build/tools/neurocuda/neurocuda
mkdir -p results
for m in vgg_small resnet_small; do
  $TOOL convert models/$m.pt --calib "$DATA" -o build/$m.snn "$@" | tee results/${m}_convert.txt
  $TOOL eval build/$m.snn --data "$DATA" --timesteps 8,16,32,64 --report results/${m}_fp32.json | tee results/${m}_fp32.txt
done
