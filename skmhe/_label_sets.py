"""Multi-label targets: every accepted form of ``Y`` to a CSR indicator and back."""

from __future__ import annotations

import warnings

import numpy as np
import scipy.sparse as sp
from sklearn.exceptions import DataConversionWarning
from sklearn.utils.multiclass import check_classification_targets

#: the forms of ``Y`` that ``fit`` accepts, as remembered in ``y_format_``
FORMATS = ("sparse", "dense", "lists", "multiclass")


def _is_label_lists(y) -> bool:
    """Whether ``y`` is a sequence of label collections (not a nested-list indicator).

    Rows that are tuples, sets or frozensets are label collections. A list of
    lists is read the scikit-learn way, as a 2-D indicator, when its rows have
    equal lengths and hold only 0 and 1; otherwise as label lists.
    """
    if not isinstance(y, (list, tuple)) or len(y) == 0:
        return False
    if not all(isinstance(row, (list, tuple, set, frozenset)) for row in y):
        return False
    if any(isinstance(row, (tuple, set, frozenset)) for row in y):
        return True
    width = len(y[0])
    rectangular = width > 0 and all(len(row) == width for row in y)
    binary = all(
        isinstance(v, (bool, int, float, np.integer, np.floating)) and v in (0, 1)
        for row in y
        for v in row
    )
    return not (rectangular and binary)


def _binary_csr(Y, what: str) -> sp.csr_matrix:
    Y = sp.csr_matrix(Y)
    Y.sum_duplicates()
    Y.eliminate_zeros()
    if Y.nnz and not (np.issubdtype(Y.dtype, np.number) or Y.dtype == bool):
        raise ValueError(f"{what} must be numeric or boolean, got dtype {Y.dtype}")
    if Y.nnz and not np.all(Y.data == 1):
        bad = Y.data[Y.data != 1][:5]
        raise ValueError(f"{what} must hold only 0 and 1, found {bad.tolist()}")
    return Y


def encode_label_sets(y, n_samples: int) -> tuple[sp.csr_matrix, np.ndarray, str]:
    """Canonical training targets for ``y`` in any accepted form.

    Parameters
    ----------
    y : sparse matrix, 2-D array-like of 0/1, list of label lists, or 1-D labels
        A 2-D indicator (sparse or dense), the label sets of each sample
        (``MultiLabelBinarizer`` semantics), or one label per sample
        (multiclass). A list of equal-length lists of 0/1 is an indicator,
        as in scikit-learn; give label sets as tuples or sets when they could
        be read that way.
    n_samples : int
        Rows of ``X``.

    Returns
    -------
    Y : csr_matrix of int64, shape (n_samples, n_labels)
        Sorted indices; ``Y.indices`` are the label ids of each row.
    classes : ndarray of shape (n_labels,)
        Column ``j`` stands for ``classes[j]`` (``arange`` for indicators).
    form : {"sparse", "dense", "lists", "multiclass"}
        How ``y`` was given, so that predictions come back the same way.

    Raises
    ------
    ValueError
        Wrong number of rows, values other than 0/1, or no positive label.
    """
    if y is None:
        raise ValueError("requires y to be passed, but the target y is None")
    if sp.issparse(y):
        Y, classes, form = _binary_csr(y, "sparse Y"), None, "sparse"
    elif _is_label_lists(y):
        labels = sorted({label for row in y for label in row})
        classes = np.array(labels) if labels else np.array([])
        index = {label: i for i, label in enumerate(labels)}
        indptr = np.cumsum([0] + [len(set(row)) for row in y])
        cols = [col for row in y for col in sorted(index[label] for label in set(row))]
        Y = sp.csr_matrix(
            (np.ones(len(cols), dtype=np.int64), cols, indptr), shape=(len(y), len(labels))
        )
        form = "lists"
    else:
        arr = np.asarray(y)
        if arr.ndim == 2 and arr.shape[1] == 1:
            warnings.warn(
                "A column-vector y was passed when a 1d array was expected: it is read as "
                "one label per sample (multiclass), not as a one-label indicator. Please "
                "change the shape of y to (n_samples,), for example using ravel(), or pass "
                "a sparse indicator.",
                DataConversionWarning,
                stacklevel=3,
            )
            arr = arr.ravel()
        if arr.ndim == 1:
            check_classification_targets(arr)
            classes, idx = np.unique(arr, return_inverse=True)
            Y = sp.csr_matrix(
                (np.ones(len(idx), dtype=np.int64), idx, np.arange(len(idx) + 1)),
                shape=(len(idx), len(classes)),
            )
            form = "multiclass"
        elif arr.ndim == 2:
            if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
                raise ValueError(f"a dense Y must be a numeric 0/1 indicator, got dtype {arr.dtype}")
            if not np.all(np.isfinite(arr)):
                raise ValueError("Y contains NaN or infinity")
            Y, classes, form = _binary_csr(arr, "dense Y"), None, "dense"
        else:
            raise ValueError(f"Y must be 1-D labels or a 2-D indicator, got shape {arr.shape}")
    if Y.shape[0] != n_samples:
        raise ValueError(f"Y has {Y.shape[0]} rows but X has {n_samples} samples")
    if Y.nnz == 0:
        raise ValueError("Y has no positive label at all: nothing to learn")
    if classes is None:
        classes = np.arange(Y.shape[1])
    Y = Y.astype(np.int64)
    Y.sort_indices()
    return Y, classes, form


def check_label_space(classes) -> np.ndarray:
    """``classes`` of ``partial_fit`` as distinct sorted labels.

    Raises
    ------
    ValueError
        When ``classes`` is empty, not 1-D, or lists a label twice.
    """
    arr = np.asarray(classes)
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(f"classes must be a non-empty 1-D array of labels, got shape {arr.shape}")
    unique = np.unique(arr)
    if unique.size != arr.size:
        raise ValueError(f"classes lists {arr.size - unique.size} label(s) more than once")
    return unique


def within_label_space(Y: sp.csr_matrix, labels: np.ndarray, form: str, classes: np.ndarray) -> sp.csr_matrix:
    """Targets from :func:`encode_label_sets` over a label space fixed earlier.

    Parameters
    ----------
    Y : csr_matrix of shape (n_samples, n_seen)
        As returned by :func:`encode_label_sets`.
    labels : ndarray of shape (n_seen,)
        Its ``classes``: the label of each column of ``Y``.
    form : {"sparse", "dense", "lists", "multiclass"}
        Its ``form``.
    classes : ndarray of shape (n_labels,)
        The fixed label space (sorted, distinct). Column ``j`` of an
        indicator stands for ``classes[j]``.

    Returns
    -------
    Y : csr_matrix of int64, shape (n_samples, n_labels)

    Raises
    ------
    ValueError
        An indicator whose width is not ``n_labels``, or label lists (1-D
        labels) holding a label outside ``classes``.
    """
    n_labels = len(classes)
    if form in ("sparse", "dense"):
        if Y.shape[1] != n_labels:
            raise ValueError(
                f"Y has {Y.shape[1]} columns but the label space has {n_labels} labels "
                "(fixed by the first call to partial_fit)"
            )
        return Y
    try:
        pos = np.clip(np.searchsorted(classes, labels), 0, n_labels - 1)
        unseen = classes[pos] != labels
    except TypeError:  # labels of another type than classes: none of them is known
        pos, unseen = np.zeros(len(labels), dtype=np.int64), np.ones(len(labels), dtype=bool)
    if np.any(unseen):
        raise ValueError(f"y contains labels not seen in classes_: {labels[unseen][:10].tolist()}")
    Y = sp.csr_matrix((Y.data, pos[Y.indices], Y.indptr), shape=(Y.shape[0], n_labels))
    Y.sort_indices()
    return Y


def indicator_dtype(y) -> np.dtype:
    """The dtype of an indicator ``y`` (sparse or dense 2-D), int64 for any other form.

    Predictions come back in it, so a boolean ``Y`` gives a boolean prediction.
    """
    dtype = getattr(y, "dtype", None)
    if dtype is None or not (np.issubdtype(dtype, np.number) or dtype == bool):
        return np.dtype(np.int64)
    return np.dtype(dtype)


def decode_label_sets(Y: sp.csr_matrix, classes: np.ndarray, form: str, dtype=np.int64):
    """Predictions (a boolean CSR indicator) in the form the targets were given.

    ``"sparse"`` -> CSR of 0/1 in ``dtype``; ``"dense"`` -> ndarray of 0/1 in
    ``dtype`` (the indicator's own, see :func:`indicator_dtype`); ``"lists"``
    -> list of tuples of labels; ``"multiclass"`` -> 1-D labels (the row's
    only column).
    """
    Y = sp.csr_matrix(Y, dtype=dtype)
    if form == "sparse":
        return Y
    if form == "dense":
        return Y.toarray()
    if form == "lists":
        return [tuple(classes[Y.indices[a:b]].tolist()) for a, b in zip(Y.indptr[:-1], Y.indptr[1:])]
    return classes[Y.indices]
