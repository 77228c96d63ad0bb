"""Multi-head softmax cross-entropy (torch reference implementation)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from ._checks import check_factors, check_logits, check_targets, compute_dtype

_REDUCTIONS = ("mean", "sum", "none")


def multi_head_cross_entropy(
    logits: torch.Tensor,
    targets: torch.Tensor,
    factors: Sequence[int],
    reduction: str = "mean",
) -> torch.Tensor:
    """Sum over heads of each head's softmax cross-entropy.

    For ``n_classes == prod(factors)`` this equals ``F.cross_entropy`` of the
    dense outer-sum logits ``D[y] = sum_h logits_h[y_h]`` over the whole
    product space, since the product space's log-partition is the sum of the
    heads' log-partitions.

    Parameters
    ----------
    logits : Tensor of shape (n, sum(factors))
        Concatenated head logits, head 0 first. Any float dtype; half
        precision is computed in float32.
    targets : Tensor of int, shape (n, H)
        Local labels, ``0 <= targets[:, h] < factors[h]``
        (see :meth:`skmhe.LabelCodec.encode`).
    factors : sequence of int
        Head sizes ``(C_1, ..., C_H)``.
    reduction : {"mean", "sum", "none"}, default="mean"
        ``"none"`` returns the per-row loss of shape ``(n,)``.

    Returns
    -------
    loss : Tensor
        Scalar (or ``(n,)`` for ``reduction="none"``), differentiable with
        respect to ``logits``.
    """
    factors = check_factors(factors)
    check_logits(logits, factors)
    check_targets(targets, factors, logits.shape[0])
    if reduction not in _REDUCTIONS:
        raise ValueError(f"reduction must be one of {_REDUCTIONS}, got {reduction!r}")
    x = logits.to(compute_dtype(logits))
    n, h = x.shape[0], len(factors)
    t = targets.long()
    if len(set(factors)) == 1:  # equal heads: plain CE over (n*H, C)
        per_row = F.cross_entropy(
            x.reshape(n * h, factors[0]), t.reshape(-1), reduction="none"
        ).view(n, h).sum(dim=1)
    else:
        parts = torch.split(x, list(factors), dim=1)
        per_row = sum(
            F.cross_entropy(part, t[:, i], reduction="none") for i, part in enumerate(parts)
        )
        if not isinstance(per_row, torch.Tensor):  # pragma: no cover - H >= 1 always
            raise AssertionError
    if reduction == "none":
        return per_row
    if reduction == "sum":
        return per_row.sum()
    return per_row.mean() if n else per_row.sum() * float("nan")
