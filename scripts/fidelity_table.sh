#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Converts the bundled models (MODELS, default: vgg_small resnet_small) with default settings and
# evaluates them over the full Fashion-MNIST test set at T = 8, 16, 32, 64 (one run per model and
# precision) in fp32 and int8 mode; writes results/<model>_<precision>.{json,txt}. Extra arguments go to
# convert.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${DATA:-/usr/share/datasets/fashion-mnist}
TOOL=./build/tools/neurocuda/neurocuda
mkdir -p results
for m in ${MODELS:-vgg_small resnet_small}; do
  $TOOL convert models/$m.pt --calib "$DATA" -o build/$m.snn "$@" | tee results/${m}_convert.txt
  for p in fp32 int8; do
    $TOOL eval build/$m.snn --data "$DATA" --timesteps 8,16,32,64 --precision $p \
      --report results/${m}_$p.json | tee results/${m}_$p.txt
  done
done
