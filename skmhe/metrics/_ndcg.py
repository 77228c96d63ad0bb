"""nDCG@k."""

from __future__ import annotations

import numpy as np

from ._hits import prepare

__all__ = ["ndcg_at_k"]


def ndcg_at_k(y_true, y_pred_topk, k: int = 5) -> float:
    """Normalised discounted cumulative gain at ``k`` (pyxclib's ``ndcg``, value at ``k``).

    Per row, ``DCG = sum_{j<k} hit_j / log2(j + 2)`` divided by the ideal DCG with
    ``min(k, |true|)`` hits, then averaged over all rows. Rows without true labels
    score 0 and stay in the mean, as in pyxclib.

    Parameters
    ----------
    y_true : {array-like, sparse matrix} of shape (n_samples, n_labels)
        0/1 ground-truth indicator.
    y_pred_topk : array-like of int, shape (n_samples, k_pred)
        Label column indices ranked best first, ``k_pred >= k``; ``-1`` never hits.
    k : int, default=5
        Cut-off rank.

    Returns
    -------
    float

    Examples
    --------
    >>> import numpy as np
    >>> round(ndcg_at_k(np.array([[0, 1, 0]]), np.array([[0, 1]]), k=2), 4)
    0.6309
    """
    y, _, hits, k = prepare(y_true, y_pred_topk, k)
    discounts = 1.0 / np.log2(np.arange(k) + 2.0)
    dcg = hits @ discounts
    ideal = np.concatenate([[1.0], np.cumsum(discounts)])  # ideal[m]: IDCG with m >= 1 hits
    n_ideal = np.minimum(np.diff(y.indptr), k)
    per_row = np.where(n_ideal > 0, dcg / ideal[np.maximum(n_ideal, 1)], 0.0)
    return float(per_row.mean())
