"""Labels given as values (label lists, 1-D labels) to the column indices the metrics count on."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

__all__ = [
    "check_not_topk_tuple",
    "is_indicator",
    "label_indicator",
    "label_positions",
    "label_rows",
]


def _is_label_lists(y) -> bool:
    """Whether ``y`` is a sequence of label collections, read the scikit-learn way.

    Rows that are tuples, sets, frozensets or arrays are label collections. A list
    of lists is a 2-D indicator when its rows have equal lengths and hold only 0 and
    1 (as ``MHEMultiLabelClassifier.fit`` reads it), otherwise label lists.
    """
    if not isinstance(y, (list, tuple)) or len(y) == 0:
        return False
    collections = (list, tuple, set, frozenset, np.ndarray)
    if not all(isinstance(row, collections) for row in y):
        return False
    if any(not isinstance(row, list) for row in y):
        return True
    width = len(y[0])
    rectangular = width > 0 and all(len(row) == width for row in y)
    binary = all(
        isinstance(v, (bool, int, float, np.integer, np.floating)) and v in (0, 1)
        for row in y
        for v in row
    )
    return not (rectangular and binary)


def is_indicator(y) -> bool:
    """Whether ``y`` is a 2-D label indicator (sparse, or dense 2-D) rather than labels.

    Parameters
    ----------
    y : sparse matrix, array-like of shape (n_samples, n_labels), list of label lists
        or array-like of shape (n_samples,)

    Returns
    -------
    bool
        False for label lists and 1-D labels (label values).
    """
    if sp.issparse(y):
        return True
    if _is_label_lists(y):
        return False
    return np.ndim(y) == 2


def label_rows(y) -> list[list]:
    """The labels of each row of label lists or of 1-D labels (one per row).

    Parameters
    ----------
    y : list of label collections or array-like of shape (n_samples,)

    Returns
    -------
    list of list
        One list of label values per row.
    """
    if _is_label_lists(y):
        return [[row] if isinstance(row, str) or np.ndim(row) == 0 else list(row) for row in y]
    arr = np.asarray(y)
    if arr.ndim != 1:
        raise ValueError(
            f"labels must be 1-D labels, label lists or a 2-D indicator, got shape {arr.shape}"
        )
    return [[label] for label in arr.tolist()]


def label_indicator(rows: list[list], index: dict) -> sp.csr_matrix:
    """0/1 indicator of label ``rows`` with ``index[label]`` as each label's column.

    Labels missing from ``index`` are added to it (in place) with the next free
    columns, in order of first appearance.

    Parameters
    ----------
    rows : list of list
        The labels of each row (duplicates count once).
    index : dict
        Label value -> column; extended in place.

    Returns
    -------
    scipy.sparse.csr_matrix of shape (len(rows), len(index))
        Sorted indices, ``data`` all ones.
    """
    indices, indptr = [], [0]
    for row in rows:
        cols = {index.setdefault(label, len(index)) for label in row}
        indices.extend(sorted(cols))
        indptr.append(len(indices))
    shape = (len(rows), len(index))
    return sp.csr_matrix((np.ones(len(indices)), indices, indptr), shape=shape)


def label_positions(values: np.ndarray, index: dict, what: str, *, unknown: int | None = None):
    """Columns of label ``values`` (any shape) through ``index``.

    Parameters
    ----------
    values : ndarray
        Label values.
    index : dict
        Label value -> column.
    what : str
        What ``values`` are, for error messages.
    unknown : int, default=None
        The column of a label absent from ``index``; None raises a ValueError.

    Returns
    -------
    ndarray of int64, same shape as ``values``
    """
    if values.size == 0:
        return np.zeros(values.shape, dtype=np.int64)
    try:
        uniques, inverse = np.unique(values, return_inverse=True)
    except TypeError:
        raise ValueError(f"{what} mixes label types that cannot be compared") from None
    found = [index.get(v) for v in uniques.tolist()]
    if unknown is None and None in found:
        missing = uniques.tolist()[found.index(None)]
        raise ValueError(f"{what} contains a label not in the estimator's classes_: {missing!r}")
    pos = np.array([unknown if col is None else col for col in found], dtype=np.int64)
    return pos[inverse.reshape(-1)].reshape(values.shape)


def check_not_topk_tuple(y_pred_topk) -> None:
    """Refuse ``predict_topk``'s whole ``(labels, scores)`` tuple passed as the ranking."""
    if (
        isinstance(y_pred_topk, tuple)
        and len(y_pred_topk) == 2
        and all(np.ndim(part) == 2 for part in y_pred_topk)
    ):
        raise ValueError(
            "y_pred_topk looks like predict_topk's (labels, scores) tuple; pass the labels "
            "only: labels, scores = model.predict_topk(X, k); metric(y_true, labels, k)"
        )
