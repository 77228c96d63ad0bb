"""Propensity-scored precision@k."""

from __future__ import annotations

import numpy as np

from ._hits import prepare

__all__ = ["psp_at_k"]


def _best_weights(indptr: np.ndarray, weights: np.ndarray, k: int) -> np.ndarray:
    """Per row, the sum of the ``k`` largest of its true labels' weights."""
    n = len(indptr) - 1
    rows = np.repeat(np.arange(n), np.diff(indptr))
    order = np.lexsort((-weights, rows))  # by row, then by weight descending
    rank = np.arange(len(order)) - indptr[rows[order]]
    keep = order[rank < k]
    return np.bincount(rows[keep], weights=weights[keep], minlength=n)


def psp_at_k(y_true, y_pred_topk, inv_propensity, k: int = 5) -> float:
    """Propensity-scored precision at ``k``, normalised as in pyxclib's ``psprecision``.

    ``sum_i sum_{j<k} w[topk[i, j]] * hit_ij`` divided by ``sum_i`` (the sum of the
    ``min(k, |true_i|)`` largest ``w`` among row ``i``'s true labels), where ``w`` are
    the inverse propensities: a ratio of row sums (equivalently of row means), not a
    mean of per-row ratios. 1.0 means the best achievable ranking. pyxclib returns NaN
    when no row has a true label; this returns 0.0.

    Parameters
    ----------
    y_true : {array-like, sparse matrix} of shape (n_samples, n_labels)
        0/1 ground-truth indicator.
    y_pred_topk : array-like of int, shape (n_samples, k_pred)
        Label column indices ranked best first, ``k_pred >= k``; ``-1`` never hits.
    inv_propensity : array-like of shape (n_labels,)
        Inverse propensities, e.g. from :func:`inverse_propensity` on the training labels.
    k : int, default=5
        Cut-off rank.

    Returns
    -------
    float

    Examples
    --------
    >>> import numpy as np
    >>> psp_at_k(np.array([[1, 1, 0]]), np.array([[1]]), np.array([1.0, 3.0, 2.0]), k=1)
    1.0
    """
    y, topk, hits, k = prepare(y_true, y_pred_topk, k)
    w = np.asarray(inv_propensity, dtype=np.float64)
    if w.ndim != 1 or w.shape[0] != y.shape[1]:
        raise ValueError(
            f"inv_propensity must have shape ({y.shape[1]},) to match y_true, got {w.shape}"
        )
    if not np.all(np.isfinite(w)) or np.any(w < 0):
        raise ValueError("inv_propensity must be finite and non-negative")
    gained = float(np.sum(w[np.maximum(topk, 0)] * hits))
    best = float(_best_weights(y.indptr, w[y.indices], k).sum())
    return gained / best if best > 0 else 0.0
