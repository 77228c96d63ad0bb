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
    "assert_topk_close",
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
    d = dense_logits(logits, factors)
    y = torch.as_tensor(codec.decode(targets.cpu().numpy()), dtype=torch.int64, device=d.device)
    return F.cross_entropy(d, y, reduction=reduction)


def dense_topk(logits: torch.Tensor, factors, k: int, n_classes: int | None = None):
    """``torch.topk`` of the dense joint log-probabilities over codes ``< n_classes``."""
    return torch.topk(dense_log_proba(logits, factors, n_classes), k, dim=1)


def assert_topk_matches(values, indices, base_logp: torch.Tensor, k: int, atol: float) -> None:
    """Check a top-k answer against the dense joint log-probabilities ``base_logp``.

    ``base_logp`` is ``(n, n_classes)`` float64 (on the CPU when the answer
    is elsewhere). :func:`assert_topk_close` against the baseline's own
    top-k, and every returned code's baseline value must match the returned
    value within ``atol``.
    """
    n, n_classes = base_logp.shape
    assert values.shape == (n, k), (values.shape, (n, k))
    assert indices.shape == (n, k), (indices.shape, (n, k))
    if n == 0:
        assert indices.dtype == torch.int64
        return
    base_v, base_i = torch.topk(base_logp, k, dim=1)
    if k < n_classes:  # the baseline's (k+1)-th value
        next_best = base_logp.scatter(1, base_i, -math.inf).max(dim=1).values
    else:
        next_best = torch.full((n,), -math.inf, dtype=torch.float64)
    assert_topk_close(values, indices, base_v, base_i, next_best, n_classes, atol)
    v = values.detach().to(torch.float64).cpu()
    torch.testing.assert_close(base_logp.gather(1, indices.cpu()), v, atol=atol, rtol=0)


def assert_topk_close(values, indices, ref_values, ref_indices, next_best, n_classes: int, atol: float) -> None:
    """Tie-robust check of a top-k answer against a reference top-k ``(ref_values, ref_indices)``.

    The reference is ``(n, k)``, sorted descending; ``next_best[r]`` is its
    (k+1)-th value (``-inf`` where there is none). Values must match the
    reference's within ``atol`` and be sorted descending (exactly, as
    returned); every code must be valid (``0 <= code < n_classes``) and
    distinct; where the reference's k-th and (k+1)-th values are more than
    ``4 * atol`` apart, the returned set of codes must equal the
    reference's, and where a reference value is that far from both its
    neighbours, its code must stand at the same position.
    """
    n, k = ref_values.shape
    assert values.shape == (n, k), (values.shape, (n, k))
    assert indices.shape == (n, k), (indices.shape, (n, k))
    assert indices.dtype == torch.int64
    v = values.detach().to(torch.float64).cpu()
    idx = indices.cpu()
    ref_v = ref_values.detach().to(torch.float64).cpu()
    ref_i = ref_indices.cpu()
    next_best = next_best.detach().to(torch.float64).cpu()
    assert torch.isfinite(v).all(), v
    assert ((idx >= 0) & (idx < n_classes)).all(), idx
    assert (values[:, :-1] >= values[:, 1:]).all(), values
    torch.testing.assert_close(v, ref_v, atol=atol, rtol=0)
    sep = 4 * atol
    for r in range(n):
        assert len(set(idx[r].tolist())) == k, idx[r]
        if ref_v[r, -1].item() - next_best[r].item() > sep:
            assert set(idx[r].tolist()) == set(ref_i[r].tolist()), (idx[r], ref_i[r])
        for j in range(k):
            hi = ref_v[r, j - 1].item() if j > 0 else math.inf
            lo = ref_v[r, j + 1].item() if j + 1 < k else next_best[r].item()
            if hi - ref_v[r, j].item() > sep and ref_v[r, j].item() - lo > sep:
                assert idx[r, j].item() == ref_i[r, j].item(), (r, j, idx[r], ref_i[r])


def make_logits(
    rng: np.random.Generator,
    n: int,
    width: int,
    dtype: torch.dtype = torch.float64,
    layout: str = "contiguous",
    scale: float = 1.0,
    quantize: bool = False,
    *,
    saturate: bool = False,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """Random ``(n, width)`` logits with a chosen memory layout.

    ``layout``: ``"contiguous"``; ``"transposed"`` (the ``.t()`` of a
    contiguous ``(width, n)`` buffer); ``"slice"`` (a column slice of a wider
    tensor). ``saturate`` (extreme inputs for the kernels): with
    ``scale >= 1e3``, about 30% of the logits are set to exactly ``+-1e4``.
    ``quantize`` rounds to a coarse grid so that many joint scores tie or
    nearly tie.
    """
    a = rng.standard_normal((n, width)) * scale
    if saturate and scale >= 1e3:
        a = np.where(rng.random((n, width)) < 0.3, np.sign(a) * 1e4, a)
    if quantize:
        a = np.round(a * 2) / 2
    if layout == "contiguous":
        t = torch.tensor(a, dtype=dtype, device=device)
    elif layout == "transposed":
        t = torch.tensor(np.ascontiguousarray(a.T), dtype=dtype, device=device).t()
    elif layout == "slice":
        wide = torch.tensor(rng.standard_normal((n, width + 5)), dtype=dtype, device=device)
        wide[:, 3 : 3 + width] = torch.tensor(a, dtype=dtype, device=device)
        t = wide[:, 3 : 3 + width]
    else:  # pragma: no cover
        raise ValueError(layout)
    assert t.shape == (n, width)
    return t
