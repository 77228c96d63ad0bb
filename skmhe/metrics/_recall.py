"""Recall@k."""

from __future__ import annotations

import numpy as np

from ._hits import prepare

__all__ = ["recall_at_k"]


def recall_at_k(y_true, y_pred_topk, k: int = 5, *, ignore_empty: bool = False) -> float:
    """Recall at ``k``: ``#hits in the first k ranks / #true labels``, averaged over rows.

    Rows without true labels follow pyxclib's ``recall``: they score 0 and stay in the
    mean (pyxclib divides by ``max(|true|, 1)``). Pass ``ignore_empty=True`` to average
    over rows with at least one true label only (pyxclib's ``fast_recall``); if no row
    has a label the result is then 0.0.

    Parameters
    ----------
    y_true : {array-like, sparse matrix} of shape (n_samples, n_labels)
        0/1 ground-truth indicator.
    y_pred_topk : array-like of int, shape (n_samples, k_pred)
        Label column indices ranked best first, ``k_pred >= k``; ``-1`` never hits.
    k : int, default=5
        Cut-off rank.
    ignore_empty : bool, default=False
        Leave rows without true labels out of the mean instead of counting them as 0.

    Returns
    -------
    float

    Examples
    --------
    >>> import numpy as np
    >>> recall_at_k(np.array([[1, 0, 1], [0, 0, 0]]), np.array([[0, 1], [2, 1]]), k=2)
    0.25
    >>> recall_at_k(np.array([[1, 0, 1], [0, 0, 0]]), np.array([[0, 1], [2, 1]]), k=2,
    ...             ignore_empty=True)
    0.5
    """
    y, _, hits, _ = prepare(y_true, y_pred_topk, k)
    n_true = np.diff(y.indptr)
    per_row = hits.sum(axis=1) / np.maximum(n_true, 1)
    if ignore_empty:
        per_row = per_row[n_true > 0]
        return float(per_row.mean()) if per_row.size else 0.0
    return float(per_row.mean())
