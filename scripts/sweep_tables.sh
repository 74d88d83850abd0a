#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The README's sweep tables: each bundled model swept over the full Fashion-MNIST test set at
# T = 4..64, in fp32 and int8 mode, calibration methods = percentiles x bias corrections (the default,
# p99 without correction, first). Writes results/sweeps/<model>_<precision>/sweep.{csv,json,svg,txt}
# and, where Debian's rsvg-convert is installed, sweep.png. MODELS / PRECISIONS narrow it down.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${DATA:-/usr/share/datasets/fashion-mnist}
TOOL=./build/tools/neurocuda/neurocuda
for m in ${MODELS:-vgg_small resnet_small qcfs_cnn}; do
  case $m in
    qcfs_cnn) methods=(--percentiles 99 --bias-corrections 0,8) ;;  # fixed thresholds: percentile unused
    *) methods=(--percentiles 99,99.9 --bias-corrections 0,32) ;;
  esac
  for p in ${PRECISIONS:-fp32 int8}; do
    out=results/sweeps/${m}_$p
    mkdir -p "$out"
    $TOOL sweep models/$m.pt --calib "$DATA" --data "$DATA" -T 4,8,16,32,64 --precision $p \
      "${methods[@]}" --correction-rounds 3 -o "$out" | tee "$out/sweep.txt"
    if command -v rsvg-convert >/dev/null; then rsvg-convert "$out/sweep.svg" -o "$out/sweep.png"; fi
  done
done
