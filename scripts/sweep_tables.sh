#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The README's sweep tables: each bundled model swept over the full Fashion-MNIST test set at
# T = 4..64, in fp32 and int8 mode, calibration methods = percentiles x bias corrections (the default,
# p99 without correction, first), then for the VGG- and ResNet-style models in fp32 the bias
# correction tuned for T = 16, and the ResNet-style model (fp32, int8; bias corrections measured in the
# swept mode) with the readout delayed by 8 timesteps (T = 16..64), and (part neurons) every model with IF
# against graded neurons. Writes results/sweeps/<model>_<precision>[_bc16|_d8|_neurons]/sweep.{csv,json,svg,txt}
# and, where Debian's rsvg-convert is installed, sweep.png. MODELS / PRECISIONS / PARTS (main, bc16, d8,
# neurons) narrow it down; parts main, bc16 and d8 were measured with IF neurons (then the default) and pass
# --neuron if to stay comparable.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${DATA:-/usr/share/datasets/fashion-mnist}
TOOL=${TOOL:-./build/tools/neurocuda/neurocuda}

sweep() {  # sweep OUT_DIR MODEL PRECISION METHOD_FLAGS...
  local out=$1 m=$2 p=$3
  shift 3
  mkdir -p "$out"
  $TOOL sweep models/$m.pt --calib "$DATA" --data "$DATA" -T "${TS:-4,8,16,32,64}" --precision $p "$@" \
    --correction-rounds 3 -o "$out" | tee "$out/sweep.txt"
  if command -v rsvg-convert >/dev/null; then rsvg-convert "$out/sweep.svg" -o "$out/sweep.png"; fi
}

for part in ${PARTS:-neurons main bc16 d8}; do
  for m in ${MODELS:-vgg_small resnet_small qcfs_cnn}; do
    for p in ${PRECISIONS:-fp32 int8}; do
      case $part:$m:$p in
        neurons:qcfs_cnn:*) sweep results/sweeps/${m}_${p}_neurons $m $p --neurons if,graded --percentiles 99 ;;
        neurons:*:int8) sweep results/sweeps/${m}_${p}_neurons $m $p --neurons if,graded --percentiles 99 ;;
        neurons:*) sweep results/sweeps/${m}_${p}_neurons $m $p --neurons if,graded --percentiles 99,99.9 ;;
        main:qcfs_cnn:*) sweep results/sweeps/${m}_$p $m $p --neurons if --percentiles 99 --bias-corrections 0,8 ;;  # fixed thresholds
        main:*) sweep results/sweeps/${m}_$p $m $p --neurons if --percentiles 99,99.9 --bias-corrections 0,32 ;;
        bc16:qcfs_cnn:* | bc16:*:int8) ;;
        bc16:*) sweep results/sweeps/${m}_${p}_bc16 $m $p --neurons if --percentiles 99 --bias-corrections 16 ;;
        d8:resnet_small:*) TS=16,24,32,64 sweep results/sweeps/${m}_${p}_d8 $m $p --neurons if --percentiles 99 \
          --bias-corrections 0,32 --correction-precision $p --readout-delay 8 ;;
        d8:*) ;;
      esac
    done
  done
done
