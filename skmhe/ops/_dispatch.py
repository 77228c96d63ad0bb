"""Backend selection for the ops: the Triton kernels or the torch reference path.

``backend="auto"`` takes the Triton kernels for CUDA tensors of a dtype they
handle when triton imports, and the torch reference path everywhere else
(CPU, MPS, float64, no triton). ``backend="triton"`` insists: it runs CUDA
tensors natively and CPU tensors through Triton's interpreter when
``TRITON_INTERPRET=1`` is set, and raises otherwise. ``backend="torch"``
always takes the reference path.

Triton is never imported before a Triton backend is chosen, so ``import
skmhe`` works where triton is absent.
"""

from __future__ import annotations

import torch

from ..kernels._common import KERNEL_DTYPES  # plain torch: imports no triton

BACKENDS = ("auto", "triton", "torch")


def check_backend(backend: str) -> str:
    """``backend`` must be one of :data:`BACKENDS`."""
    if not isinstance(backend, str) or backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    return backend


def triton_available() -> bool:
    """Whether triton imports here (with what the kernels need)."""
    from .. import kernels  # skmhe.kernels: imports triton lazily, never fails

    return kernels.triton_available()


def interpret_mode() -> bool:
    """Whether ``TRITON_INTERPRET`` asks Triton to interpret kernels on the CPU."""
    from .. import kernels

    return kernels.interpret_mode()


def select_backend(backend: str, logits: torch.Tensor, *, op: str) -> str:
    """Resolve ``backend`` to ``"triton"`` or ``"torch"`` for these ``logits``.

    Raises
    ------
    RuntimeError
        ``backend="triton"`` where the kernels cannot run: triton missing, or
        tensors neither on CUDA nor on the CPU with ``TRITON_INTERPRET=1``.
    TypeError
        ``backend="triton"`` with a dtype the kernels do not take (float64).
    """
    backend = check_backend(backend)
    if backend == "torch":
        return "torch"
    device = logits.device
    if backend == "auto":
        if device.type == "cuda" and logits.dtype in KERNEL_DTYPES and triton_available():
            return "triton"
        return "torch"
    if not triton_available():
        from .. import kernels

        raise RuntimeError(
            f"{op}(backend='triton') needs triton, which is unavailable here "
            f"({kernels.triton_import_error()}); use backend='torch' or 'auto'"
        )
    if logits.dtype not in KERNEL_DTYPES:
        raise TypeError(
            f"{op}(backend='triton') takes float32, bfloat16 or float16 logits, got {logits.dtype}; "
            "use backend='torch' (or 'auto') for it"
        )
    if device.type == "cuda":
        return "triton"
    if device.type == "cpu" and interpret_mode():
        return "triton"
    raise RuntimeError(
        f"{op}(backend='triton') needs CUDA tensors, or CPU tensors with TRITON_INTERPRET=1 set "
        f"(Triton's CPU interpreter, slow: for tests); got a tensor on {device} and "
        f"TRITON_INTERPRET {'set' if interpret_mode() else 'unset'}. "
        "Use backend='auto' or 'torch' to run the torch reference path instead."
    )


def kernel_module(name: str):
    """The ``skmhe.kernels`` module ``name``, built for the current interpreter mode."""
    from .. import kernels

    return kernels.load(name)
