#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Installs neurocuda's build and test dependencies from Debian's packages (skips what is present).
set -euo pipefail
PACKAGES=(
  g++ cmake ninja-build pkg-config python3
  libtorch-dev libopenblas0-openmp python3-torch      # LibTorch (+ a fast BLAS) and PyTorch for test fixtures
  libcli11-dev libspdlog-dev libfmt-dev nlohmann-json3-dev libgtest-dev
  zlib1g-dev libzip-dev libstb-dev                    # gzip IDX, .npz, PNG/JPEG
  libhdf5-dev python3-venv                            # NIR export; a venv with PyPI's nir for its read-back test
  dataset-fashion-mnist                               # reference data under /usr/share/datasets/fashion-mnist
)
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install_deps: all ${#PACKAGES[@]} packages present"
  exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "install_deps: installing ${missing[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
