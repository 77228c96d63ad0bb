"""Exact top-k and log-probabilities over the Kronecker product of head softmaxes.

Torch reference implementation. Codes follow :class:`skmhe.LabelCodec`: head 0
is the most significant digit, so code ``c`` has prefix ``c // strides[h]``
over heads ``0..h``. Codes ``>= n_classes`` are padding and never returned.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch.autograd.function import once_differentiable

from .._radix import codes_to_digits, valid_prefixes
from .._validation import check_k
from ._checks import check_factors, check_logits, check_n_classes
from ._dispatch import kernel_module, select_backend
from ._heads import head_log_softmax

#: the Triton top-k packs codes into 32 bits
_TRITON_MAX_CODES = 2**32 - 1


def _select(values: torch.Tensor, codes: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Top-``k`` per row by value (descending), ties to the smaller code.

    ``codes`` must be ascending along each row. ``torch.topk`` finds the
    ``k``-th value (it breaks ties arbitrarily); every entry above it is kept,
    then the leftmost entries equal to it, and the ``k`` kept ones are sorted
    stably, so equal values keep the smaller code first. Linear in the row
    length, where a full sort is not.
    """
    n, m = values.shape
    if k < m and k > 0 and n > 0:
        kth = torch.topk(values, k, dim=1, sorted=False).values.amin(dim=1, keepdim=True)
        above = values > kth
        needed = k - above.sum(dim=1, keepdim=True)  # entries equal to the k-th value to take
        at = values == kth
        kept = (above | (at & (torch.cumsum(at, dim=1) <= needed))).nonzero()
        if kept.shape[0] == n * k:  # always, unless a NaN upsets the order
            return _sorted_subset(values, codes, kept[:, 1].view(n, k))  # columns ascending
    order = torch.sort(values, dim=1, descending=True, stable=True).indices[:, :k]
    return values.gather(1, order), codes.gather(1, order)


def _sorted_subset(values, codes, columns):
    """The entries at ``columns`` (ascending in each row), sorted by value, ties kept in order."""
    picked = values.gather(1, columns)
    order = torch.sort(picked, dim=1, descending=True, stable=True).indices
    columns = columns.gather(1, order)
    return picked.gather(1, order), codes.gather(1, columns)


class _TritonKroneckerTopK(torch.autograd.Function):
    """The Triton top-k, with the reference path's gradient for the values.

    ``values[i, j] = sum_h log_softmax(logits_h)[i, y_h]`` for the selected
    codes ``y``, so ``d values / d logits_h = onehot(y_h) - softmax(logits_h)``.
    """

    @staticmethod
    def forward(ctx, logits, factors, k, n_classes):
        values, codes = kernel_module("topk").kronecker_topk(logits, factors, k, n_classes)
        ctx.mark_non_differentiable(codes)
        ctx.save_for_backward(logits, codes)
        ctx.factors = factors
        return values, codes

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_values, grad_codes):
        logits, codes = ctx.saved_tensors
        factors = ctx.factors
        g = grad_values.to(torch.float32)
        g_total = g.sum(dim=1, keepdim=True)
        parts = []
        for digits, part in zip(codes_to_digits(codes, factors), torch.split(logits, list(factors), dim=1)):
            onehot = torch.zeros(part.shape, dtype=torch.float32, device=part.device)
            onehot.scatter_add_(1, digits, g)
            parts.append(onehot - torch.softmax(part.to(torch.float32), dim=1) * g_total)
        return torch.cat(parts, dim=1).to(logits.dtype), None, None, None


def kronecker_topk(
    logits: torch.Tensor,
    factors: Sequence[int],
    k: int,
    n_classes: int | None = None,
    backend: str = "auto",
) -> tuple[torch.Tensor, torch.Tensor]:
    """Exact top-k codes of the joint multi-head log-probability.

    The joint score of code ``y`` is ``sum_h log_softmax(logits_h)[y_h]``,
    the log-probability of the Kronecker product of the heads' softmaxes.
    The product space is never materialised: heads are merged one at a time,
    keeping the best ``k + H - 1 - h`` prefixes after head ``h`` (one spare
    per remaining head covers the single prefix whose completions are
    partly padding), so memory is ``O(n * (k + H) * max C_h)``.

    Parameters
    ----------
    logits : Tensor of shape (n, sum(factors))
        Concatenated head logits.
    factors : sequence of int
        Head sizes.
    k : int
        Number of codes to return, ``1 <= k <= n_classes``.
    n_classes : int, optional
        Only codes ``< n_classes`` are candidates. Defaults to
        ``prod(factors)``.
    backend : {"auto", "triton", "torch"}, default="auto"
        ``"auto"``: the Triton kernel (one program per row) for CUDA tensors
        (float32, bfloat16, float16; ``n_classes < 2**32``) when triton
        imports, the torch path otherwise. ``"triton"``: the kernel (CPU
        tensors need ``TRITON_INTERPRET=1``). ``"torch"``: the path below.

    Returns
    -------
    values : Tensor of shape (n, k)
        Joint log-probabilities (not renormalised over the valid codes),
        sorted descending; float64 for float64 logits, float32 otherwise.
    indices : Tensor of int64, shape (n, k)
        The codes; among equal values the smaller code comes first.
    """
    factors = check_factors(factors)
    check_logits(logits, factors)
    n_classes = check_n_classes(n_classes, factors)
    k = check_k(k, n_classes)
    if select_backend(backend, logits, op="kronecker_topk") == "triton" and logits.shape[0]:
        if n_classes <= _TRITON_MAX_CODES:
            return _TritonKroneckerTopK.apply(logits, factors, k, n_classes)
        if backend == "triton":
            raise ValueError(
                f"kronecker_topk(backend='triton') packs codes into 32 bits: n_classes must be "
                f"<= {_TRITON_MAX_CODES}, got {n_classes}; use backend='torch'"
            )
    logp = head_log_softmax(logits, factors)
    limits = valid_prefixes(factors, n_classes)
    n_heads, device = len(factors), logits.device

    # level 0: prefixes are head-0 labels; those >= limit have no valid completion
    limit = limits[0]
    values = logp[0][:, :limit]
    codes = torch.arange(limit, device=device).expand(values.shape[0], limit)
    values, codes = _select(values, codes, min(k + n_heads - 1, limit))
    for h in range(1, n_heads):
        c_h = factors[h]
        limit = limits[h]
        codes, order = torch.sort(codes, dim=1)  # ascending prefixes -> ascending candidates
        values = values.gather(1, order)
        cand_values = (values[:, :, None] + logp[h][:, None, :]).flatten(1)
        cand_codes = (codes[:, :, None] * c_h + torch.arange(c_h, device=device)).flatten(1)
        cand_values = cand_values.masked_fill(cand_codes >= limit, float("-inf"))
        values, codes = _select(cand_values, cand_codes, min(k + n_heads - 1 - h, limit))
    return values[:, :k], codes[:, :k]


def kronecker_log_mass(
    logits: torch.Tensor, factors: Sequence[int], n_classes: int | None = None
) -> torch.Tensor:
    """Log of the joint probability mass on the valid codes ``< n_classes``.

    Computed digit by digit in ``O(n * sum(factors))``:
    ``P(c < N) = sum_h prod_{j<h} p_j(N_j) * sum_{a < N_h} p_h(a)`` where
    ``N_h`` are the digits of ``N = n_classes``. Subtract it from
    :func:`kronecker_topk` values to renormalise them over the valid codes.

    Returns
    -------
    log_mass : Tensor of shape (n,)
        Zero when ``n_classes == prod(factors)``.
    """
    factors = check_factors(factors)
    check_logits(logits, factors)
    n_classes = check_n_classes(n_classes, factors)
    logp = head_log_softmax(logits, factors)
    n = logits.shape[0]
    if n_classes == math.prod(factors):
        return logp[0].new_zeros(n)
    digits = codes_to_digits(n_classes, factors)
    terms, prefix = [], logp[0].new_zeros(n)
    for h, d in enumerate(digits):
        if d > 0:
            terms.append(prefix + torch.logsumexp(logp[h][:, :d], dim=1))
        prefix = prefix + logp[h][:, d]
    return torch.logsumexp(torch.stack(terms, dim=1), dim=1)


def kronecker_log_proba(
    logits: torch.Tensor, factors: Sequence[int], n_classes: int | None = None
) -> torch.Tensor:
    """Dense log-probabilities over the valid codes.

    Equals ``log_softmax`` of the outer-sum logits ``D`` restricted to codes
    ``< n_classes``. Materialises ``(n, prod(factors))``: meant for small
    label spaces and tests; use :func:`kronecker_topk` for large ones.

    Returns
    -------
    log_proba : Tensor of shape (n, n_classes)
        Rows are log-probabilities that sum (in probability) to one.
    """
    factors = check_factors(factors)
    check_logits(logits, factors)
    n_classes = check_n_classes(n_classes, factors)
    logp = head_log_softmax(logits, factors)
    joint = logp[0]
    for part in logp[1:]:
        joint = (joint[:, :, None] + part[:, None, :]).flatten(1)
    joint = joint[:, :n_classes]
    return joint - torch.logsumexp(joint, dim=1, keepdim=True)
