#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The ecosystem's own readers for the export read-back tests, from PyPI, in a virtual environment that keeps
# Debian's python3-torch and numpy (--system-site-packages). Usage: scripts/test_python_env.sh [DIR] (build/pyenv)
set -euo pipefail
cd "$(dirname "$0")/.."
DIR=${1:-build/pyenv}
if [ ! -x "$DIR/bin/python" ]; then
  /usr/bin/python3 -m venv --system-site-packages "$DIR"
fi
"$DIR/bin/python" -c "import nir, h5py" 2>/dev/null ||
  "$DIR/bin/python" -m pip install -q --disable-pip-version-check "nir==1.0.8" "h5py>=3.8"
"$DIR/bin/python" -c "import nir, h5py; print(f'test_python_env: nir {nir.version}, h5py {h5py.__version__} in $DIR')"
