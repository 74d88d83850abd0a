#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The README's CI example: convert a checkpoint and fail the pipeline when the SNN loses more than
# MAX_DROP percentage points of accuracy at T=32 (exit 4), or on any error (exit 1-3).
set -euo pipefail
MAX_DROP=${MAX_DROP:-1.0}
NEUROCUDA=${NEUROCUDA:-./build/tools/neurocuda/neurocuda}
DATA=/usr/share/datasets/fashion-mnist
$NEUROCUDA convert models/vgg_small.pt --calib "$DATA" -o vgg_small.snn
$NEUROCUDA eval vgg_small.snn --data "$DATA" --limit 1000 -T 32 \
  --max-accuracy-drop "$MAX_DROP" --report eval-report.json --quiet
