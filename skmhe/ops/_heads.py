"""Per-head views of concatenated multi-head logits (torch reference path)."""

from __future__ import annotations

import torch

from ._checks import compute_dtype


def head_log_softmax(logits: torch.Tensor, factors: tuple[int, ...]) -> list[torch.Tensor]:
    """Log-softmax of each head's slice, in the compute dtype.

    Returns a list of ``H`` tensors of shape ``(n, C_h)``.
    """
    x = logits.to(compute_dtype(logits))
    n, h = x.shape[0], len(factors)
    if len(set(factors)) == 1:  # equal heads: one call over an (n, H, C) view
        return list(x.reshape(n, h, factors[0]).log_softmax(dim=-1).unbind(1))
    return [part.log_softmax(dim=-1) for part in torch.split(x, list(factors), dim=1)]
