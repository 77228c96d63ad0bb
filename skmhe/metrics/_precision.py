"""Precision@k."""

from __future__ import annotations

import numpy as np

from ._hits import at_k, prepare

__all__ = ["precision_at_k"]


def precision_at_k(y_true, y_pred_topk, k: int = 5, *, all_k: bool = False):
    """Precision at ``k`` (pyxclib's ``precision``, value at ``k``).

    The mean over all rows of ``#hits in the first k ranks / k``. A ``-1`` entry
    ("no prediction") never hits but still counts in the denominator ``k``.

    Parameters
    ----------
    y_true : {array-like, sparse matrix} of shape (n_samples, n_labels), list of label lists \
or array-like of shape (n_samples,)
        0/1 ground-truth indicator (CSR recommended; never densified), or the true
        label values of each row (label lists, or one label per row).
    y_pred_topk : array-like of shape (n_samples, k_pred)
        Ranked best first, ``k_pred >= k`` (extra columns are ignored): column indices
        of an indicator ``y_true``, or label values when ``y_true`` holds label values
        (the ``labels`` of ``predict_topk``).
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
    >>> precision_at_k(np.array([[1, 0, 1], [0, 1, 0]]), np.array([[0, 1], [2, 1]]), k=2)
    0.5
    >>> precision_at_k([["cat", "dog"], ["fish"]], [["dog", "cow"], ["cow", "fish"]], k=2,
    ...                all_k=True).tolist()
    [0.5, 0.5]
    """
    ranking = prepare(y_true, y_pred_topk, k)
    per_k = np.cumsum(ranking.hits, axis=1).mean(axis=0) / np.arange(1, ranking.k + 1)
    return at_k(per_k, all_k)
