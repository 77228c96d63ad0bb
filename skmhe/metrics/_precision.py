"""Precision@k."""

from __future__ import annotations

from ._hits import prepare

__all__ = ["precision_at_k"]


def precision_at_k(y_true, y_pred_topk, k: int = 5) -> float:
    """Precision at ``k`` (pyxclib's ``precision``, value at ``k``).

    The mean over all rows of ``#hits in the first k ranks / k``. A ``-1`` entry
    ("no prediction") never hits but still counts in the denominator ``k``.

    Parameters
    ----------
    y_true : {array-like, sparse matrix} of shape (n_samples, n_labels)
        0/1 ground-truth indicator (CSR recommended; never densified).
    y_pred_topk : array-like of int, shape (n_samples, k_pred)
        Label column indices ranked best first, ``k_pred >= k``; extra columns are ignored.
    k : int, default=5
        Cut-off rank.

    Returns
    -------
    float

    Examples
    --------
    >>> import numpy as np
    >>> precision_at_k(np.array([[1, 0, 1], [0, 1, 0]]), np.array([[0, 1], [2, 1]]), k=2)
    0.5
    """
    _, _, hits, k = prepare(y_true, y_pred_topk, k)
    return float(hits.sum(axis=1).mean() / k)
