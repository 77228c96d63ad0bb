"""Dense float64 baseline for the multi-head ops (test helper, not a test module).

Everything here materialises the full product space: the outer-sum logits
``D[:, y] = sum_h logits_h[:, y_h]`` over the ``prod(factors)`` codes in
``np.kron`` order (head 0 most significant), and plain one-head softmax
operations on ``D``. Only meant for small label spaces.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from skmhe import LabelCodec

__all__ = [
    "dense_logits",
    "dense_log_proba",
    "dense_cross_entropy",
    "dense_topk",
    "assert_topk_matches",
    "make_logits",
]


def dense_logits(logits: torch.Tensor, factors) -> torch.Tensor:
    """Outer-sum logits ``D`` of shape ``(n, prod(factors))`` in float64, kron order."""
    factors = tuple(int(f) for f in factors)
    x = logits.to(torch.float64)
    parts = torch.split(x, list(factors), dim=1)
    d = parts[0]
    for part in parts[1:]:
        d = (d[:, :, None] + part[:, None, :]).flatten(1)
    assert d.shape == (x.shape[0], math.prod(factors))
    return d


def dense_log_proba(logits: torch.Tensor, factors, n_classes: int | None = None) -> torch.Tensor:
    """Joint log-probabilities ``log_softmax(D)`` over all codes, cut to ``n_classes``.

    Not renormalised over the kept codes (that is what ``kronecker_topk``
    returns).
    """
    d = dense_logits(logits, factors)
    n_classes = d.shape[1] if n_classes is None else n_classes
    return d.log_softmax(dim=1)[:, :n_classes]


def dense_cross_entropy(logits: torch.Tensor, targets: torch.Tensor, factors, reduction: str = "mean"):
    """``F.cross_entropy`` of ``D`` against the global labels ``decode(targets)``."""
    codec = LabelCodec(factors)
    y = torch.as_tensor(codec.decode(targets.cpu().numpy()), dtype=torch.int64)
    return F.cross_entropy(dense_logits(logits, factors), y, reduction=reduction)


def dense_topk(logits: torch.Tensor, factors, k: int, n_classes: int | None = None):
    """``torch.topk`` of the dense joint log-probabilities over codes ``< n_classes``."""
    return torch.topk(dense_log_proba(logits, factors, n_classes), k, dim=1)


def assert_topk_matches(values, indices, base_logp: torch.Tensor, k: int, atol: float) -> None:
    """Check a top-k answer against the dense joint log-probabilities ``base_logp``.

    ``base_logp`` is ``(n, n_classes)`` float64. Tie-robust: values must match
    the baseline's top-k values within ``atol``; every returned code must be a
    valid, distinct code whose baseline value matches the returned value; and
    where the baseline's k-th and (k+1)-th values are more than ``4 * atol``
    apart, the returned set of codes must equal the baseline's. Where
    consecutive baseline values are well separated the order must match too.
    """
    n, n_classes = base_logp.shape
    assert values.shape == (n, k), (values.shape, (n, k))
    assert indices.shape == (n, k), (indices.shape, (n, k))
    assert indices.dtype == torch.int64
    if n == 0:
        return
    v = values.detach().to(torch.float64).cpu()
    idx = indices.cpu()
    assert torch.isfinite(v).all(), v
    assert (idx >= 0).all() and (idx < n_classes).all(), idx
    # sorted descending (exactly, as returned)
    assert (values[:, :-1] >= values[:, 1:]).all(), values
    base_v, base_i = torch.topk(base_logp, k, dim=1)
    torch.testing.assert_close(v, base_v, atol=atol, rtol=0)
    torch.testing.assert_close(base_logp.gather(1, idx), v, atol=atol, rtol=0)
    for r in range(n):
        assert len(set(idx[r].tolist())) == k, idx[r]
        sep = 4 * atol
        if k < n_classes:
            kth = base_v[r, -1].item()
            nxt = base_logp[r].clone()
            nxt[base_i[r]] = -math.inf
            if kth - nxt.max().item() > sep:
                assert set(idx[r].tolist()) == set(base_i[r].tolist()), (idx[r], base_i[r])
        for j in range(k):
            lo = base_v[r, j + 1].item() if j + 1 < k else -math.inf
            if j == k - 1 and k < n_classes:
                lo = nxt.max().item()
            hi = base_v[r, j - 1].item() if j > 0 else math.inf
            if hi - base_v[r, j].item() > sep and base_v[r, j].item() - lo > sep:
                assert idx[r, j].item() == base_i[r, j].item(), (r, j, idx[r], base_i[r])


def make_logits(
    rng: np.random.Generator,
    n: int,
    width: int,
    dtype: torch.dtype = torch.float64,
    layout: str = "contiguous",
    scale: float = 1.0,
    quantize: bool = False,
) -> torch.Tensor:
    """Random ``(n, width)`` logits with a chosen memory layout.

    ``layout``: ``"contiguous"``; ``"transposed"`` (the ``.t()`` of a
    contiguous ``(width, n)`` buffer); ``"slice"`` (a column slice of a wider
    tensor). ``quantize`` rounds to a coarse grid so that many joint scores
    tie or nearly tie.
    """
    a = rng.standard_normal((n, width)) * scale
    if quantize:
        a = np.round(a * 2) / 2
    if layout == "contiguous":
        t = torch.tensor(a, dtype=dtype)
    elif layout == "transposed":
        t = torch.tensor(np.ascontiguousarray(a.T), dtype=dtype).t()
    elif layout == "slice":
        wide = torch.tensor(rng.standard_normal((n, width + 5)), dtype=dtype)
        wide[:, 3 : 3 + width] = torch.tensor(a, dtype=dtype)
        t = wide[:, 3 : 3 + width]
    else:  # pragma: no cover
        raise ValueError(layout)
    assert t.shape == (n, width)
    return t
