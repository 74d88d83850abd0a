#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The main job on the bundled default: install, build, convert models/vgg_small.pt with
# Fashion-MNIST calibration data, and evaluate it on the CPU over the full test set.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install_deps.sh
./scripts/build.sh > build.log 2>&1 || { tail -50 build.log; exit 1; }
DATA=/usr/share/datasets/fashion-mnist
./build/tools/neurocuda/neurocuda convert models/vgg_small.pt --calib "$DATA" -o build/vgg_small.snn
./build/tools/neurocuda/neurocuda eval build/vgg_small.snn --data "$DATA" --timesteps 8,16,32 --report build/vgg_small_report.json
