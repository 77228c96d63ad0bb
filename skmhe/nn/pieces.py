"""Scoring a large request a slice at a time, to bound the memory held at once."""

from __future__ import annotations

from collections.abc import Callable

import torch


def concat_in_pieces(n: int, step: int, score: Callable[[slice], torch.Tensor], dim: int) -> torch.Tensor:
    """``score(slice(a, a + step))`` for ``a`` in ``range(0, n, step)``, concatenated along ``dim``.

    One call over everything (``slice(None)``) when ``step >= n``: no copy.
    """
    if step >= n:
        return score(slice(None))
    return torch.cat([score(slice(a, a + step)) for a in range(0, n, step)], dim=dim)
