"""Shared set-up of the Triton kernel test modules (test helper, not a test module).

``conftest.py`` sets ``TRITON_INTERPRET=1`` when there is no CUDA before any
test module is imported (triton fixes compiled vs interpreted for its own
library when it is first imported in the process), so the test modules may
import in any order; this module repeats the default for a script that imports
it outside pytest. It only imports triton lazily, through
``kernels.triton_available()``. ``bash run.sh test`` exports the variable for
the whole run as well.
"""

from __future__ import annotations

import os

import torch

if not torch.cuda.is_available():  # conftest.py already did, under pytest
    os.environ.setdefault("TRITON_INTERPRET", "1")

import subprocess  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

from skmhe import kernels  # noqa: E402

__all__ = [
    "CUDA",
    "DEVICE",
    "DTYPES",
    "HEAD_SIZES",
    "LAYOUTS",
    "TRITON_MARKS",
    "AOT_PRELUDE",
    "forbid_kernel_launch",
    "run_aot_script",
]

CUDA = torch.cuda.is_available()
DEVICE = torch.device("cuda" if CUDA else "cpu")
#: logits dtypes the kernels take
DTYPES = (torch.float32, torch.bfloat16, torch.float16)
#: head sizes the property tests draw often (with small random ones)
HEAD_SIZES = (1, 3, 17, 100, 1000)
LAYOUTS = ("contiguous", "transposed", "slice")

#: module ``pytestmark`` of the kernel tests
TRITON_MARKS = [
    pytest.mark.triton,
    pytest.mark.skipif(not kernels.triton_available(), reason="triton is not available"),
    pytest.mark.skipif(
        not CUDA and not kernels.interpret_mode(),
        reason="no CUDA and TRITON_INTERPRET is disabled: the kernels cannot run",
    ),
]


def forbid_kernel_launch(monkeypatch) -> None:
    """For tests of ``backend="auto"`` on CPU tensors: skip on CUDA (auto picks
    Triton there), and make any attempt to load a kernel module fail the test."""
    if CUDA:
        pytest.skip("auto picks Triton on CUDA")

    def boom(name):  # pragma: no cover - must not be reached
        raise AssertionError("auto must not launch a kernel on CPU tensors")

    monkeypatch.setattr(kernels, "load", boom)


#: start of an ahead-of-time compilation script: imports (exit 3 where triton
#: lacks the AOT API) and ``compile_sm90(fn, sig, consts, num_warps)``
AOT_PRELUDE = r'''
import sys
try:
    import triton
    from triton.backends.compiler import GPUTarget
    from triton.compiler import ASTSource
except ImportError as exc:
    print("unavailable:", exc)
    sys.exit(3)
from skmhe import kernels


def compile_sm90(fn, sig, consts, num_warps):
    """Compile ``fn`` for an H100 (sm_90) with the ``consts`` as constexprs."""
    sig = dict(sig, **{name: "constexpr" for name in consts})
    try:
        src = ASTSource(fn=fn, signature=sig, constexprs=consts)
    except TypeError as exc:  # another triton's AOT API
        print("unavailable:", exc)
        sys.exit(3)
    kernel = triton.compile(src, target=GPUTarget("cuda", 90, 32), options={"num_warps": num_warps})
    assert kernel.asm["cubin"]
'''


def run_aot_script(script: str) -> str:
    """Run ``AOT_PRELUDE + script`` in a fresh process with ``TRITON_INTERPRET`` unset.

    In a fresh process because triton's mode (compiled or interpreted) is
    fixed when it is imported. Skips the calling test where this triton has
    no usable ahead-of-time API (exit status 3); returns the script's stdout.
    """
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    proc = subprocess.run(
        [sys.executable, "-c", AOT_PRELUDE + script], env=env, capture_output=True, text=True, timeout=600,
        cwd=Path(__file__).resolve().parents[1],
    )
    if proc.returncode == 3:
        pytest.skip(f"ahead-of-time compilation API unavailable: {proc.stdout.strip()}")
    assert proc.returncode == 0, proc.stdout + proc.stderr[-4000:]
    return proc.stdout
