#!/usr/bin/env bash
# skmhe's two entry points, each setting up what it needs on a fresh machine:
#   bash run.sh demo [--data PATH] [demo options]   MHE vs the dense softmax baseline
#   bash run.sh test [pytest options]               the whole test suite
#   bash run.sh suite [--quick] [suite options]     every benchmark (benchmarks/suite.py)
#   bash run.sh gpu-check [--out DIR] [--quick]     the GPU check (benchmarks/gpu_check.py)
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
    setup demo  # only what the demo needs: skmhe and matplotlib for its plot
    exec "$VENV/bin/python" -m benchmarks.demo "$@"
    ;;
  suite)
    setup test,bench
    exec "$VENV/bin/python" -m benchmarks.suite "$@"
    ;;
  gpu-check)
    # For a GPU machine without a package registry: no venv and nothing downloaded. The
    # machine's python runs it; where skmhe.kernels is not importable at all, this tree is
    # installed editable without its dependencies. An skmhe installed from elsewhere is left
    # alone (the check reports where skmhe.kernels comes from).
    py=${PYTHON:-python3}
    if ! "$py" -c "import skmhe.kernels" >/dev/null 2>&1; then
      pip_install=("$py" -m pip install -q --disable-pip-version-check --no-deps --no-build-isolation --no-index -e .)
      "${pip_install[@]}" || "${pip_install[@]}" --break-system-packages || "${pip_install[@]}" --user || \
        echo "run.sh: could not install skmhe editable; skmhe.kernels will not import" >&2
    fi
    unset TRITON_INTERPRET
    args=("$@")
    [[ " $* " == *" --out "* || " $* " == *" --out="* ]] || args+=(--out benchmarks/out/gpu_check)
    exec "$py" -m benchmarks.gpu_check "${args[@]}"
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
    echo "usage: bash run.sh demo [--data PATH] [options] | bash run.sh test [pytest options] | bash run.sh suite [--quick] | bash run.sh gpu-check [--out DIR] [--quick]" >&2
    exit 2
    ;;
esac
