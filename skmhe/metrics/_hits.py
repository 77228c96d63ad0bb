"""Which ranked predictions are relevant, without a dense (n, L) matrix."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from ._validation import check_k, check_topk, check_true_labels

__all__ = ["hit_matrix", "prepare"]


def hit_matrix(y_true: sp.csr_matrix, topk: np.ndarray) -> np.ndarray:
    """Boolean (n, k) matrix: ``topk[i, j]`` is a true label of row ``i``.

    Parameters
    ----------
    y_true : scipy.sparse.csr_matrix of shape (n_samples, n_labels)
        Canonical indicator from :func:`check_true_labels` (sorted indices).
    topk : ndarray of int64, shape (n_samples, k)
        Validated ranks; ``-1`` never hits.

    Returns
    -------
    ndarray of bool, shape (n_samples, k)
    """
    n, n_labels = y_true.shape
    rows = np.repeat(np.arange(n, dtype=np.int64), np.diff(y_true.indptr))
    keys = rows * n_labels + y_true.indices.astype(np.int64)  # sorted: canonical CSR
    queries = np.arange(n, dtype=np.int64)[:, None] * n_labels + topk
    if keys.size == 0:
        return np.zeros(topk.shape, dtype=bool)
    pos = np.minimum(np.searchsorted(keys, queries), keys.size - 1)
    return (keys[pos] == queries) & (topk >= 0)


def prepare(y_true, y_pred_topk, k) -> tuple[sp.csr_matrix, np.ndarray, np.ndarray, int]:
    """Validate metric inputs.

    Returns
    -------
    y_true : scipy.sparse.csr_matrix
        Canonical indicator.
    topk : ndarray of int64, shape (n_samples, k)
    hits : ndarray of bool, shape (n_samples, k)
    k : int
    """
    k = check_k(k)
    y = check_true_labels(y_true)
    if y.shape[0] == 0:
        raise ValueError("y_true has no rows")
    topk = check_topk(y_pred_topk, y.shape[0], y.shape[1], k)
    return y, topk, hit_matrix(y, topk), k
