#!/usr/bin/env bash
# Set up what rnnstudy needs.
#   bash scripts/setup.sh          create .venv and install rnnstudy (editable) with its dev tools.
#                                  On a machine without an NVIDIA GPU, install a CPU build of
#                                  torch first: plain `torch` from the package index would pull
#                                  several GB of CUDA libraries.
#   bash scripts/setup.sh system   the system packages the tests use (`make test` runs this):
#                                  PostgreSQL (distributed sweeps), Chromium (the report and the
#                                  MLflow UI in a headless browser), poppler (PDF pages). Installed
#                                  with apt-get when running as root; otherwise one line says which
#                                  tests cannot run and why (they fail, they are never skipped).
set -euo pipefail
PY=${PY:-python3}
VENV=${VENV:-.venv}
TORCH_VERSION=${TORCH_VERSION:-2.13.0}

have_postgres() { ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; }

system_packages() {
  local need=() tests=()
  command -v chromium >/dev/null 2>&1 || { need+=(chromium); tests+=("tests/test_reporting.py (headless Chromium)"); }
  command -v pdftoppm >/dev/null 2>&1 || { need+=(poppler-utils); tests+=("tests/test_reporting.py (PDF pages)"); }
  have_postgres || { need+=(postgresql); tests+=("tests/test_sweeps_distributed.py (PostgreSQL server)"); }
  if [ ${#need[@]} -eq 0 ]; then
    echo "setup: system packages present (chromium, poppler-utils, postgresql)"
    return 0
  fi
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "setup: installing ${need[*]} (apt-get)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
    return 0
  fi
  local why="not root"
  command -v apt-get >/dev/null 2>&1 || why="no apt-get"
  local pkgs which
  pkgs=$(printf '%s, ' "${need[@]}")
  which=$(printf '%s; ' "${tests[@]}")
  echo "setup: WARNING: cannot install ${pkgs%, } ($why), so these tests will fail: ${which%; } (Debian: sudo apt-get install ${need[*]})"
}

if [ "${1:-}" = system ]; then
  system_packages
  exit 0
fi

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
