"""Propensity-scored precision@k."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from ._hits import at_k, prepare

__all__ = ["psp_at_k"]


def _best_weights(indptr: np.ndarray, weights: np.ndarray, k: int) -> np.ndarray:
    """Summed over rows, the ``j`` largest true-label weights of each row, for ``j = 1..k``."""
    n = len(indptr) - 1
    rows = np.repeat(np.arange(n), np.diff(indptr))
    order = np.lexsort((-weights, rows))  # by row, then by weight descending
    rank = np.arange(len(order)) - indptr[rows[order]]
    keep = rank < k
    return np.cumsum(np.bincount(rank[keep], weights=weights[order[keep]], minlength=k))


def _column_weights(inv_propensity, n_labels: int, labels: list | None) -> np.ndarray:
    """Inverse propensities as one weight per column of the ranking's indicator."""
    if isinstance(inv_propensity, Mapping):
        if labels is None:
            raise ValueError(
                "inv_propensity is a mapping of label values but y_true is an indicator; "
                f"pass an array of shape ({n_labels},)"
            )
        missing = [label for label in labels if label not in inv_propensity]
        if missing:
            raise ValueError(f"inv_propensity has no weight for the true label {missing[0]!r}")
        w = np.array([inv_propensity[label] for label in labels], dtype=np.float64)
    elif labels is not None:
        raise ValueError(
            "with label values, pass inv_propensity as a mapping {label: weight}, e.g. "
            "dict(zip(classes, inverse_propensity(Y_train)))"
        )
    else:
        w = np.asarray(inv_propensity, dtype=np.float64)
        if w.ndim != 1 or w.shape[0] != n_labels:
            raise ValueError(
                f"inv_propensity must have shape ({n_labels},) to match y_true, got {w.shape}"
            )
    if not np.all(np.isfinite(w)) or np.any(w < 0):
        raise ValueError("inv_propensity must be finite and non-negative")
    return w


def psp_at_k(y_true, y_pred_topk, inv_propensity, k: int = 5, *, all_k: bool = False):
    """Propensity-scored precision at ``k``, normalised as in pyxclib's ``psprecision``.

    ``sum_i sum_{j<k} w[topk[i, j]] * hit_ij`` divided by ``sum_i`` (the sum of the
    ``min(k, |true_i|)`` largest ``w`` among row ``i``'s true labels), where ``w`` are
    the inverse propensities: a ratio of row sums (equivalently of row means), not a
    mean of per-row ratios. 1.0 means the best achievable ranking. pyxclib returns NaN
    when no row has a true label; this returns 0.0.

    Parameters
    ----------
    y_true : {array-like, sparse matrix} of shape (n_samples, n_labels), list of label lists \
or array-like of shape (n_samples,)
        0/1 ground-truth indicator, or the true label values of each row (label lists,
        or one label per row).
    y_pred_topk : array-like of shape (n_samples, k_pred)
        Ranked best first, ``k_pred >= k``: column indices of an indicator ``y_true``
        (``-1`` never hits), or label values when ``y_true`` holds label values (the
        ``labels`` of ``predict_topk``).
    inv_propensity : array-like of shape (n_labels,) or mapping
        Inverse propensities, e.g. from :func:`inverse_propensity` on the training labels:
        one per column of an indicator ``y_true``, or a mapping ``{label: weight}``
        covering every true label when ``y_true`` holds label values.
    k : int, default=5
        Cut-off rank.
    all_k : bool, default=False
        Return the metric at every cut-off ``1, ..., k`` (as napkinXC's and pyxclib's
        measures do) instead of at ``k`` only.

    Returns
    -------
    float, or ndarray of float64 of shape (k,) when ``all_k``

    Examples
    --------
    >>> import numpy as np
    >>> psp_at_k(np.array([[1, 1, 0]]), np.array([[1]]), np.array([1.0, 3.0, 2.0]), k=1)
    1.0
    """
    ranking = prepare(y_true, y_pred_topk, k)
    y = ranking.y_true
    w = _column_weights(inv_propensity, y.shape[1], ranking.labels)
    ranked = np.append(w, 0.0)[ranking.topk]  # -1 (no prediction) weighs 0
    gained = np.cumsum((ranked * ranking.hits).sum(axis=0))
    best = _best_weights(y.indptr, w[y.indices], ranking.k)
    safe = np.where(best > 0, best, 1.0)
    return at_k(np.where(best > 0, gained / safe, 0.0), all_k)
