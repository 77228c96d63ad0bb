"""Input checks shared by the top-k ranking metrics."""

from __future__ import annotations


import numpy as np
import scipy.sparse as sp

from .._validation import check_k  # the cut-off rank: an int >= 1

__all__ = ["check_k", "check_true_labels", "check_topk"]


def check_true_labels(y_true, name: str = "y_true") -> sp.csr_matrix:
    """Canonical CSR copy of a 0/1 label-indicator matrix.

    Parameters
    ----------
    y_true : {array-like, sparse matrix} of shape (n_samples, n_labels)
        Binary indicator; sparse matrices are never densified.
    name : str, default="y_true"
        Argument name used in error messages.

    Returns
    -------
    scipy.sparse.csr_matrix
        Sorted, duplicate-free indices with explicit zeros removed and ``data`` all ones
        (float64).
    """
    if sp.issparse(y_true):
        if y_true.ndim != 2:
            raise ValueError(f"{name} must be 2-D, got shape {y_true.shape}")
        y = sp.csr_matrix(y_true, copy=True)
        y.sum_duplicates()
    else:
        arr = np.asarray(y_true)
        if arr.ndim != 2:
            raise ValueError(f"{name} must be a 2-D indicator matrix, got shape {arr.shape}")
        if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
            raise ValueError(f"{name} must be numeric or boolean, got dtype {arr.dtype}")
        y = sp.csr_matrix(arr)
    y.eliminate_zeros()
    if y.nnz and not np.all(y.data == 1):
        raise ValueError(f"{name} must be a 0/1 indicator matrix; found values other than 0 and 1")
    y = sp.csr_matrix((np.ones(y.nnz), y.indices, y.indptr), shape=y.shape)
    y.sort_indices()
    return y


def check_topk(y_pred_topk, n_samples: int, n_labels: int, k: int) -> np.ndarray:
    """Validate ranked predictions and return their first ``k`` columns.

    Parameters
    ----------
    y_pred_topk : array-like of int, shape (n_samples, k_pred)
        Label column indices ranked best first; ``-1`` means "no prediction". Columns
        beyond ``k`` are ignored.
    n_samples, n_labels : int
        Shape of the ground-truth matrix.
    k : int
        Cut-off rank; ``k_pred`` must be at least ``k``.

    Returns
    -------
    ndarray of int64, shape (n_samples, k)
    """
    topk = np.asarray(y_pred_topk)
    if topk.ndim != 2:
        raise ValueError(f"y_pred_topk must be 2-D (n_samples, k), got shape {topk.shape}")
    if topk.shape[0] != n_samples:
        raise ValueError(
            f"y_pred_topk has {topk.shape[0]} rows but y_true has {n_samples}"
        )
    if topk.shape[1] < k:
        raise ValueError(f"y_pred_topk has {topk.shape[1]} columns, fewer than k={k}")
    if topk.size and not np.issubdtype(topk.dtype, np.integer):
        raise ValueError(f"y_pred_topk must hold integer label indices, got dtype {topk.dtype}")
    topk = topk[:, :k].astype(np.int64, copy=False)
    if topk.size:
        if topk.min() < -1:
            raise ValueError(f"y_pred_topk entries must be >= -1, found {topk.min()}")
        if topk.max() >= n_labels:
            raise ValueError(
                f"y_pred_topk entries must be < n_labels={n_labels}, found {topk.max()}"
            )
        ordered = np.sort(topk, axis=1)
        repeated = (ordered[:, 1:] == ordered[:, :-1]) & (ordered[:, 1:] >= 0)
        if repeated.any():
            row = int(np.flatnonzero(repeated.any(axis=1))[0])
            raise ValueError(f"y_pred_topk row {row} ranks the same label more than once")
    return topk
