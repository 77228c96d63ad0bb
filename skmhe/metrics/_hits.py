"""Which ranked predictions are relevant, without a dense (n, L) matrix."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import scipy.sparse as sp

from ._labels import check_not_topk_tuple, is_indicator, label_indicator, label_positions, label_rows
from ._validation import check_k, check_topk, check_true_labels

__all__ = ["Ranking", "at_k", "hit_matrix", "prepare"]


class Ranking(NamedTuple):
    """Validated metric inputs, as column indices.

    Attributes
    ----------
    y_true : scipy.sparse.csr_matrix of shape (n_samples, n_labels)
        Canonical 0/1 indicator.
    topk : ndarray of int64, shape (n_samples, k)
        Column indices ranked best first; ``-1`` never hits.
    hits : ndarray of bool, shape (n_samples, k)
    k : int
    labels : list or None
        The label value of each column when the inputs were label values, else None.
    """

    y_true: sp.csr_matrix
    topk: np.ndarray
    hits: np.ndarray
    k: int
    labels: list | None


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


def _label_values(y_true, y_pred_topk) -> tuple[sp.csr_matrix, np.ndarray, list]:
    """Label values (lists or 1-D truth, ranked values) to an indicator and columns."""
    pred = np.asarray(y_pred_topk)
    if pred.ndim != 2:
        raise ValueError(f"y_pred_topk must be 2-D (n_samples, k), got shape {pred.shape}")
    index: dict = {}
    y = label_indicator(label_rows(y_true), index)
    topk = label_positions(pred, index, "y_pred_topk", unknown=-1)  # never a true label
    return y, topk, list(index)


def prepare(y_true, y_pred_topk, k) -> Ranking:
    """Validate metric inputs given as an indicator and columns, or as label values.

    ``y_true`` is a 2-D 0/1 indicator (dense or sparse) with ``y_pred_topk`` holding
    its column indices (``-1``: no prediction), or label lists / 1-D labels with
    ``y_pred_topk`` holding label values (a value that is no true label never hits).

    Returns
    -------
    Ranking
    """
    k = check_k(k)
    check_not_topk_tuple(y_pred_topk)
    labels = None
    if is_indicator(y_true):
        y = check_true_labels(y_true)
        topk = y_pred_topk
    else:
        y, topk, labels = _label_values(y_true, y_pred_topk)
    if y.shape[0] == 0:
        raise ValueError("y_true has no rows")
    topk = check_topk(topk, y.shape[0], y.shape[1], k)
    return Ranking(y, topk, hit_matrix(y, topk), k, labels)


def at_k(per_k: np.ndarray, all_k: bool):
    """The metric at ``k`` (the last of ``per_k``), or at every ``1..k`` when ``all_k``."""
    if not isinstance(all_k, (bool, np.bool_)):
        raise ValueError(f"all_k must be a bool, got {all_k!r}")
    return per_k.astype(np.float64) if all_k else float(per_k[-1])
