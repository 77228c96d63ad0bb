#!/usr/bin/env bash
# skmhe's two entry points, each setting up what it needs on a fresh machine:
#   bash run.sh demo [--data PATH] [demo options]   MHE vs the dense softmax baseline
#   bash run.sh test [pytest options]               the whole test suite
#   bash run.sh suite [--quick] [suite options]     every benchmark (benchmarks/suite.py)
# The environment lives in .venv (it sees the system's site-packages, so a torch
# already installed there, e.g. a CUDA build, is used as is).
set -euo pipefail
cd "$(dirname "$0")"
if [ -z "${SKMHE_DATA:-}" ] && [ -d ../shared/data ]; then export SKMHE_DATA="$(cd ../shared/data && pwd)"; fi  # the data home
PY=${PYTHON:-python3}
VENV=.venv

setup() {
  local extras=${1:-test}
  if [ ! -x "$VENV/bin/python" ]; then
    "$PY" -m venv --system-site-packages "$VENV"
  fi
  local py="$VENV/bin/python"
  # torch: keep any importable one; otherwise the pinned CPU build
  if ! "$py" -c "import torch" >/dev/null 2>&1; then
    "$py" -m pip install -q --disable-pip-version-check "torch==2.13.0"
  fi
  # the package and its extras; skipped when pyproject.toml and the extras are unchanged
  local stamp="$VENV/.skmhe-installed-${extras//,/-}"
  local want
  want=$(sha256sum pyproject.toml | cut -d' ' -f1)
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    "$py" -m pip install -q --disable-pip-version-check -e ".[$extras]"
    echo "$want" > "$stamp"
  fi
}

cmd=${1:-}
[ $# -gt 0 ] && shift
case "$cmd" in
  demo)
    setup
    exec "$VENV/bin/python" -m benchmarks.demo "$@"
    ;;
  suite)
    setup test,bench
    exec "$VENV/bin/python" -m benchmarks.suite "$@"
    ;;
  test)
    setup
    # Triton kernels run on the CPU through the interpreter unless a GPU is present
    if ! "$VENV/bin/python" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)"; then
      export TRITON_INTERPRET=1
    fi
    exec "$VENV/bin/python" -m pytest -q -p no:cacheprovider "$@"
    ;;
  *)
    echo "usage: bash run.sh demo [--data PATH] [options] | bash run.sh test [pytest options] | bash run.sh suite [--quick]" >&2
    exit 2
    ;;
esac
