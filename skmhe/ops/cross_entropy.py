"""Multi-head softmax cross-entropy: torch reference path and fused Triton kernel."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch.autograd.function import once_differentiable

from ._checks import check_factors, check_logits, check_targets, compute_dtype
from ._dispatch import kernel_module, select_backend

_REDUCTIONS = ("mean", "sum", "none")


class _FusedMultiHeadCrossEntropy(torch.autograd.Function):
    """Forward: one kernel launch computes the losses and ``softmax - onehot``.

    The gradient (already scaled by ``1/n`` for the mean) is kept from the
    forward and, in backward, only multiplied in place by ``grad_output``:
    nothing is recomputed and no second ``(n, sum(C_h))`` buffer is made.
    Consequently backward can run once per forward (no ``retain_graph``
    re-use) and is not differentiable twice.
    """

    @staticmethod
    def forward(ctx, logits, targets, factors, reduction):
        n = logits.shape[0]
        ce = kernel_module("cross_entropy")
        loss, grad = ce.fused_cross_entropy(
            logits,
            targets,
            factors,
            grad_scale=1.0 / n if reduction == "mean" else 1.0,
            compute_grad=bool(ctx.needs_input_grad[0]),
        )
        ctx.reduction = reduction
        ctx.grad = grad  # consumed (scaled in place) by backward
        if reduction == "none":
            return loss.sum(dim=1)
        total = loss.sum()
        return total / n if reduction == "mean" else total

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_output):
        grad, ctx.grad = ctx.grad, None
        if grad is None:
            raise RuntimeError(
                "multi_head_cross_entropy(backend='triton') keeps one gradient buffer per forward "
                "and scales it in place: backward can run once (no retain_graph re-use); "
                "use backend='torch' to backpropagate through the same graph twice"
            )
        if ctx.reduction == "none":
            grad.mul_(grad_output[:, None])
        else:
            grad.mul_(grad_output)
        return grad, None, None, None


def multi_head_cross_entropy(
    logits: torch.Tensor,
    targets: torch.Tensor,
    factors: Sequence[int],
    reduction: str = "mean",
    backend: str = "auto",
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
    backend : {"auto", "triton", "torch"}, default="auto"
        ``"auto"``: the fused Triton kernel for CUDA tensors (float32,
        bfloat16, float16) when triton imports, the torch path otherwise.
        ``"triton"``: the kernel (CPU tensors need ``TRITON_INTERPRET=1``);
        its backward reuses the gradient computed in the forward, so it runs
        once per forward. ``"torch"``: the reference path below.

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
    if select_backend(backend, logits, op="multi_head_cross_entropy") == "triton" and logits.shape[0]:
        if targets.device != logits.device:
            raise ValueError(f"targets are on {targets.device} but logits on {logits.device}")
        return _FusedMultiHeadCrossEntropy.apply(logits, targets, factors, reduction)
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
