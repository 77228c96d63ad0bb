"""Input checks and error-message helpers shared by every layer (plain Python, NumPy and
SciPy only: the ops and the metrics import it too)."""

from __future__ import annotations

import warnings
from numbers import Integral

import numpy as np
import scipy.sparse as sp
from sklearn.utils._param_validation import InvalidParameterError
from sklearn.utils.multiclass import check_classification_targets

__all__ = [
    "check_k",
    "check_float32_range",
    "format_bytes",
    "describe_label_change",
    "refuse_sparse_labels",
    "check_class_labels",
]

#: the start of ``type_of_target``'s warning for labels with more classes than half the rows
_MANY_CLASSES_WARNING = "The number of unique classes is greater than 50%"

#: the largest finite float32: the networks compute in float32, so larger inputs become inf
FLOAT32_MAX = float(np.finfo(np.float32).max)


def check_float32_range(X, feature_names=None) -> None:
    """Refuse a float64 ``X`` holding values that float32 cannot represent.

    Parameters
    ----------
    X : ndarray or sparse matrix of shape (n_samples, n_features)
        Finite values (already checked by scikit-learn's validation).
    feature_names : ndarray of str, default=None
        Names of the columns, used in the message when given.

    Raises
    ------
    ValueError
        Naming the first offending column, one of its values and the limit.
    """
    if X.dtype != np.float64 or X.size == 0:
        return
    if sp.issparse(X):
        data = X.data
        bad = (data > FLOAT32_MAX) | (data < -FLOAT32_MAX)
        if not bad.any():
            return
        columns, values = X.indices[bad], data[bad]
        first = int(np.argmin(columns))
        column, value = int(columns[first]), float(values[first])
    else:
        bad_columns = (X.max(axis=0) > FLOAT32_MAX) | (X.min(axis=0) < -FLOAT32_MAX)
        if not bad_columns.any():
            return
        column = int(np.flatnonzero(bad_columns)[0])
        values = X[:, column]
        value = float(values[np.abs(values) > FLOAT32_MAX][0])
    name = f" ({feature_names[column]!r})" if feature_names is not None else ""
    raise ValueError(
        f"X has a value beyond the float32 range in column {column}{name}: {value!r} "
        f"(the limit is +-{FLOAT32_MAX:.8g}, float32 computation would turn it into "
        "infinity); scale the features"
    )


def format_bytes(n_bytes: float) -> str:
    """``n_bytes`` in the largest unit of B, KiB, MiB, GiB, TiB that keeps it >= 1."""
    value = float(n_bytes)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(value) < 1024:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.2f} {unit}"
        value /= 1024
    return f"{value:.2f} TiB"


def describe_label_change(old: np.ndarray, new: np.ndarray, *, shown: int = 10) -> str:
    """Where two sorted label arrays differ: the labels added and removed.

    Parameters
    ----------
    old, new : ndarray
        Unique sorted labels (as from :func:`numpy.unique`).
    shown : int, default=10
        Labels listed at most per kind; the count is always given.

    Returns
    -------
    message : str
        E.g. ``"2 labels added: [7, 9]; 1 label removed: [3]"``, or a note on
        the order when the sets are equal.
    """
    parts = []
    for what, labels in (("added", np.setdiff1d(new, old)), ("removed", np.setdiff1d(old, new))):
        if labels.size:
            more = ", ..." if labels.size > shown else ""
            listed = ", ".join(repr(v) for v in labels[:shown].tolist())
            plural = "label" if labels.size == 1 else "labels"
            parts.append(f"{labels.size} {plural} {what}: [{listed}{more}]")
    return "; ".join(parts) if parts else "the same labels with different types or order"


def check_k(k, n_max: int | None = None) -> int:
    """``k`` for a top-k query, an int in ``[1, n_max]`` (``n_max=None``: no upper bound).

    A non-int ``k`` raises sklearn's ``InvalidParameterError`` (both a ``TypeError``
    and a ``ValueError``); an int out of range a ``ValueError``.
    """
    if isinstance(k, (bool, np.bool_)) or not isinstance(k, (Integral, np.integer)):
        raise InvalidParameterError(f"k must be an int, got {k!r}")
    if n_max is None:
        if k < 1:
            raise ValueError(f"k must be an int >= 1, got {k!r}")
    elif not 1 <= k <= n_max:
        raise ValueError(f"k must be in [1, n_classes={n_max}], got {k}")
    return int(k)


def refuse_sparse_labels(y, estimator: str) -> None:
    """Refuse a sparse ``y`` for a single-label estimator, pointing to the multi-label one.

    Raises
    ------
    TypeError
        When ``y`` is a scipy sparse matrix (a label indicator).
    """
    if sp.issparse(y):
        raise TypeError(
            f"{estimator} takes one label per sample (1-D y), but y is a sparse "
            f"{y.shape[0]}x{y.shape[1]} matrix: for a label indicator (multi-label targets) "
            "use MHEMultiLabelClassifier, which takes sparse Y as it is"
        )


def check_class_labels(y, *, classes_known: bool = False) -> np.ndarray:
    """``y`` as an array of classification labels (scikit-learn's ``check_classification_targets``).

    Parameters
    ----------
    y : array-like of shape (n_samples,)
    classes_known : bool, default=False
        The caller already knows the set of classes (``partial_fit``): the
        warning that more than half the samples have a class of their own
        (``y`` "could represent a regression problem") is silenced, as a
        chunk of an extreme label space is expected to look like that.

    Raises
    ------
    ValueError
        For continuous or multi-output targets.
    """
    with warnings.catch_warnings():
        if classes_known:
            warnings.filterwarnings("ignore", message=_MANY_CLASSES_WARNING, category=UserWarning)
        check_classification_targets(y)
    return np.asarray(y)
