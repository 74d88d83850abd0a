#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Converts the bundled models (MODELS, default: vgg_small resnet_small) with default settings and
# evaluates them over the full Fashion-MNIST test set at T = 8, 16, 32, 64 (one run per model and
# precision) in fp32 and int8 mode; writes $RESULTS/<model>_<precision>.{json,txt} (RESULTS=results). Extra
# arguments go to convert: the IF-neuron tables in results/if/ are RESULTS=results/if ... --neuron if.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${DATA:-/usr/share/datasets/fashion-mnist}
TOOL=${TOOL:-./build/tools/neurocuda/neurocuda}
RESULTS=${RESULTS:-results}
mkdir -p "$RESULTS"
for m in ${MODELS:-vgg_small resnet_small}; do
  $TOOL convert models/$m.pt --calib "$DATA" -o build/$m.snn "$@" | tee "$RESULTS"/${m}_convert.txt
  for p in fp32 int8; do
    $TOOL eval build/$m.snn --data "$DATA" --timesteps 8,16,32,64 --precision $p \
      --report "$RESULTS"/${m}_$p.json | tee "$RESULTS"/${m}_$p.txt
  done
done
