#!/usr/bin/env bash
# Create the virtual environment and install rnnstudy with its dev tools.
# On a machine without an NVIDIA GPU, install a CPU build of torch first: plain `torch` from
# the package index would pull several GB of CUDA libraries.
set -euo pipefail
PY=${PY:-python3}
VENV=${VENV:-.venv}
TORCH_VERSION=${TORCH_VERSION:-2.13.0}

[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --upgrade pip
if "$VENV/bin/python" -c "import torch" 2>/dev/null; then
  echo "setup: torch already installed: $("$VENV/bin/python" -c 'import torch; print(torch.__version__)')"
elif command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
  echo "setup: GPU found, installing torch (CUDA build)"
  "$VENV/bin/pip" install -q "torch==${TORCH_VERSION}"
else
  echo "setup: no GPU, installing a CPU build of torch"
  # This team's machines resolve torch==2.13.0 to a local 2.13.0+cpu wheel. Elsewhere, point
  # TORCH_INDEX_URL at PyTorch's CPU wheel index to get the CPU build.
  if [ -n "${TORCH_INDEX_URL:-}" ]; then
    "$VENV/bin/pip" install -q "torch==${TORCH_VERSION}" --index-url "$TORCH_INDEX_URL"
  else
    "$VENV/bin/pip" install -q "torch==${TORCH_VERSION}"
  fi
fi
"$VENV/bin/pip" install -q -e '.[dev]'
echo "setup: done ($("$VENV/bin/python" -c 'import torch; print("torch", torch.__version__)'))"
