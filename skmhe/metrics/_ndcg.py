"""nDCG@k."""

from __future__ import annotations

import numpy as np

from ._hits import at_k, prepare

__all__ = ["ndcg_at_k"]


def ndcg_at_k(y_true, y_pred_topk, k: int = 5, *, all_k: bool = False):
    """Normalised discounted cumulative gain at ``k`` (pyxclib's ``ndcg``, value at ``k``).

    Per row, ``DCG = sum_{j<k} hit_j / log2(j + 2)`` divided by the ideal DCG with
    ``min(k, |true|)`` hits, then averaged over all rows. Rows without true labels
    score 0 and stay in the mean, as in pyxclib.

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
    all_k : bool, default=False
        Return the metric at every cut-off ``1, ..., k`` (as napkinXC's and pyxclib's
        measures do) instead of at ``k`` only.

    Returns
    -------
    float, or ndarray of float64 of shape (k,) when ``all_k``

    Examples
    --------
    >>> import numpy as np
    >>> round(ndcg_at_k(np.array([[0, 1, 0]]), np.array([[0, 1]]), k=2), 4)
    0.6309
    """
    ranking = prepare(y_true, y_pred_topk, k)
    cutoffs = np.arange(1, ranking.k + 1)
    discounts = 1.0 / np.log2(cutoffs + 1.0)
    dcg = np.cumsum(ranking.hits * discounts, axis=1)  # (n, k): DCG at each cut-off
    ideal = np.concatenate([[1.0], np.cumsum(discounts)])  # ideal[m]: IDCG with m >= 1 hits
    n_ideal = np.minimum(np.diff(ranking.y_true.indptr)[:, None], cutoffs)
    per_row = np.where(n_ideal > 0, dcg / ideal[np.maximum(n_ideal, 1)], 0.0)
    return at_k(per_row.mean(axis=0), all_k)
