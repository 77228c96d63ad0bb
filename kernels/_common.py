"""Host-side helpers shared by the kernel modules (launch checks, tables, device).

Plain torch: this module never imports triton, so importing it cannot fix
Triton's compiled vs interpreted mode (see :mod:`skmhe.kernels`).
"""

from __future__ import annotations

import contextlib

import torch

__all__ = ["KERNEL_DTYPES", "check_logits_dtype", "head_offsets", "needs_int64_columns", "on_device"]

#: logits dtypes the kernels load (upcast to float32 inside)
KERNEL_DTYPES = (torch.float32, torch.bfloat16, torch.float16)


def check_logits_dtype(logits: torch.Tensor) -> None:
    """Raise ``TypeError`` unless the kernels take ``logits``' dtype."""
    if logits.dtype not in KERNEL_DTYPES:
        raise TypeError(f"the Triton kernel takes {KERNEL_DTYPES} logits, got {logits.dtype}")


def head_offsets(factors: tuple[int, ...]) -> list[int]:
    """Column offset of each head in the concatenated logits."""
    offsets = [0]
    for c in factors[:-1]:
        offsets.append(offsets[-1] + c)
    return offsets


def needs_int64_columns(width: int, block_c: int, *col_strides: int) -> bool:
    """Whether column offsets times a column stride could overflow int32.

    A program's column offsets reach ``width + block_c`` (the last block may
    overhang); they are multiplied by each tensor's column stride.
    """
    return (width + block_c) * max([1, *(abs(s) for s in col_strides)]) >= 2**31


def on_device(device: torch.device):
    """Launch on the tensors' GPU, not the current one."""
    return torch.cuda.device(device) if device.type == "cuda" else contextlib.nullcontext()
