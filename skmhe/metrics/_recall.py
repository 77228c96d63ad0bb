"""Recall@k."""

from __future__ import annotations

import numpy as np

from ._hits import at_k, prepare

__all__ = ["recall_at_k"]


def recall_at_k(y_true, y_pred_topk, k: int = 5, *, ignore_empty: bool = False, all_k: bool = False):
    """Recall at ``k``: ``#hits in the first k ranks / #true labels``, averaged over rows.

    Rows without true labels follow pyxclib's ``recall``: they score 0 and stay in the
    mean (pyxclib divides by ``max(|true|, 1)``). Pass ``ignore_empty=True`` to average
    over rows with at least one true label only (pyxclib's ``fast_recall``); if no row
    has a label the result is then 0.0.

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
    k : int, default=5
        Cut-off rank.
    ignore_empty : bool, default=False
        Leave rows without true labels out of the mean instead of counting them as 0.
    all_k : bool, default=False
        Return the metric at every cut-off ``1, ..., k`` (as napkinXC's and pyxclib's
        measures do) instead of at ``k`` only.

    Returns
    -------
    float, or ndarray of float64 of shape (k,) when ``all_k``

    Examples
    --------
    >>> import numpy as np
    >>> recall_at_k(np.array([[1, 0, 1], [0, 0, 0]]), np.array([[0, 1], [2, 1]]), k=2)
    0.25
    >>> recall_at_k(np.array([[1, 0, 1], [0, 0, 0]]), np.array([[0, 1], [2, 1]]), k=2,
    ...             ignore_empty=True)
    0.5
    """
    ranking = prepare(y_true, y_pred_topk, k)
    n_true = np.diff(ranking.y_true.indptr)
    per_row = np.cumsum(ranking.hits, axis=1) / np.maximum(n_true, 1)[:, None]
    if ignore_empty:
        per_row = per_row[n_true > 0]
        if not per_row.size:
            return at_k(np.zeros(ranking.k), all_k)
    return at_k(per_row.mean(axis=0), all_k)
