#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Installs dependencies, builds, makes the Python environment with the ecosystem readers (nir), and runs
# the whole test suite (unit, frontend, errors, e2e, export).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install_deps.sh
./scripts/build.sh > build.log 2>&1 || { tail -50 build.log; exit 1; }
./scripts/test_python_env.sh build/pyenv
cd build
ctest --output-on-failure -j 2 "$@"
