"""Argument validation shared by the ops (cheap checks, before any heavy work)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch

from ..codec import _check_factors


def check_factors(factors: Sequence[int]) -> tuple[int, ...]:
    """Validate head sizes and return them as a tuple of ints."""
    return _check_factors(factors)


def check_logits(logits: torch.Tensor, factors: tuple[int, ...]) -> None:
    """``logits`` must be a 2-D floating tensor of width ``sum(factors)``."""
    if not isinstance(logits, torch.Tensor):
        raise TypeError(f"logits must be a torch.Tensor, got {type(logits).__name__}")
    if not logits.is_floating_point():
        raise TypeError(f"logits must be a floating tensor, got dtype {logits.dtype}")
    if logits.dim() != 2:
        raise ValueError(f"logits must be 2-D (n, sum(factors)), got shape {tuple(logits.shape)}")
    if logits.shape[1] != sum(factors):
        raise ValueError(
            f"logits has {logits.shape[1]} columns but factors {factors} sum to {sum(factors)}"
        )


def check_targets(targets: torch.Tensor, factors: tuple[int, ...], n_rows: int) -> None:
    """``targets`` must be an integer ``(n, H)`` tensor of local labels in range."""
    if not isinstance(targets, torch.Tensor):
        raise TypeError(f"targets must be a torch.Tensor, got {type(targets).__name__}")
    if targets.dtype not in (torch.int64, torch.int32, torch.int16, torch.int8, torch.uint8):
        raise TypeError(f"targets must be an integer tensor, got dtype {targets.dtype}")
    if targets.dim() != 2 or targets.shape != (n_rows, len(factors)):
        raise ValueError(
            f"targets must have shape (n, H) = ({n_rows}, {len(factors)}), got {tuple(targets.shape)}"
        )
    if targets.numel():
        bounds = torch.as_tensor(factors, device=targets.device)
        if bool(((targets < 0) | (targets >= bounds)).any()):
            raise ValueError(f"targets hold local labels outside [0, C_h) for factors {factors}")


def check_n_classes(n_classes: int | None, factors: tuple[int, ...]) -> int:
    """Resolve ``n_classes`` (default ``prod(factors)``) and check it fits the codes."""
    n_codes = math.prod(factors)
    if n_classes is None:
        return n_codes
    if isinstance(n_classes, (bool, np.bool_)) or not isinstance(n_classes, (int, np.integer)):
        raise TypeError(f"n_classes must be an int, got {n_classes!r}")
    if not 1 <= n_classes <= n_codes:
        raise ValueError(f"n_classes must be in [1, prod(factors)={n_codes}], got {n_classes}")
    return int(n_classes)


def compute_dtype(logits: torch.Tensor) -> torch.dtype:
    """float64 stays float64; every other float type is computed in float32."""
    return torch.float64 if logits.dtype == torch.float64 else torch.float32
