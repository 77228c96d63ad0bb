"""Scorers for model selection (``GridSearchCV(scoring=...)``) from top-k metrics."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import scipy.sparse as sp

from ._ndcg import ndcg_at_k
from ._precision import precision_at_k
from ._psp import psp_at_k
from ._recall import recall_at_k
from ._validation import check_k

__all__ = ["make_topk_scorer"]

METRICS: dict[str, Callable[..., float]] = {
    "precision": precision_at_k,
    "recall": recall_at_k,
    "ndcg": ndcg_at_k,
    "psp": psp_at_k,
}


def _positions(values: np.ndarray, index: dict, what: str) -> np.ndarray:
    """Positions of ``values`` (any shape) in ``classes_`` through ``index``."""
    uniques, inverse = np.unique(values, return_inverse=True)
    try:
        pos = np.array([index[v] for v in uniques.tolist()], dtype=np.int64)
    except KeyError as err:
        raise ValueError(f"{what} contains a label not in the estimator's classes_: {err}") from None
    return pos[inverse].reshape(values.shape)


def _is_label_lists(y) -> bool:
    return isinstance(y, (list, tuple)) and any(
        isinstance(row, (list, tuple, set, frozenset, np.ndarray)) for row in y
    )


def _indicator(y, classes: np.ndarray, index: dict) -> sp.csr_matrix:
    """``y`` as a 0/1 indicator whose first ``len(classes)`` columns follow ``classes``.

    Labels of ``y`` missing from ``classes`` get extra columns after them: they count as
    true labels (for recall and nDCG) but can never be predicted.
    """
    n_classes = len(classes)
    if sp.issparse(y):
        if y.shape[1] != n_classes:
            raise ValueError(f"indicator y has {y.shape[1]} columns but classes_ has {n_classes}")
        return sp.csr_matrix(y)
    if _is_label_lists(y):
        rows = [[row] if isinstance(row, str) or np.ndim(row) == 0 else list(row) for row in y]
    else:
        arr = np.asarray(y)
        if arr.ndim == 2:
            if arr.shape[1] != n_classes:
                raise ValueError(
                    f"indicator y has {arr.shape[1]} columns but classes_ has {n_classes}"
                )
            return sp.csr_matrix(arr)
        if arr.ndim != 1:
            raise ValueError(f"y must be 1-D labels, label lists or a 2-D indicator, got {arr.shape}")
        rows = [[label] for label in arr.tolist()]
    extra: dict = {}
    indices, indptr = [], [0]
    for row in rows:
        cols = set()
        for label in row:
            col = index.get(label)
            if col is None:
                col = extra.setdefault(label, n_classes + len(extra))
            cols.add(col)
        indices.extend(sorted(cols))
        indptr.append(len(indices))
    shape = (len(rows), n_classes + len(extra))
    return sp.csr_matrix((np.ones(len(indices)), indices, indptr), shape=shape)


def make_topk_scorer(metric: str | Callable[..., float], k: int = 5, **metric_kwargs) -> Callable:
    """Scorer ``scorer(estimator, X, y) -> float`` from a top-k ranking metric.

    The scorer calls ``estimator.predict_topk(X, k)`` (taking the first element when it
    returns a tuple such as ``(labels, probabilities)``), maps the returned labels (values
    of ``estimator.classes_``) to their positions in ``classes_``, builds a 0/1
    indicator from ``y`` with the same column order and applies ``metric``. Higher is
    better, so it can be passed as ``scoring=`` to ``GridSearchCV``.

    ``y`` may be

    - a 1-D array of labels (one per row),
    - a list of label lists (several per row, possibly empty), or
    - a 0/1 indicator matrix (dense or sparse) whose columns follow ``classes_``.

    Labels in ``y`` absent from ``classes_`` count as true labels that can never be
    ranked.

    Parameters
    ----------
    metric : {"precision", "recall", "ndcg", "psp"} or callable
        A metric name or a function ``metric(y_true, y_pred_topk, k=k, **metric_kwargs)``.
    k : int, default=5
        Cut-off rank; also the number of predictions requested.
    **metric_kwargs
        Extra keyword arguments of the metric, e.g. ``inv_propensity=`` for ``"psp"``
        (its length must then equal ``len(classes_)`` and ``y`` may not hold unseen labels).

    Returns
    -------
    callable
        ``scorer(estimator, X, y) -> float``.

    Examples
    --------
    >>> from sklearn.model_selection import GridSearchCV  # doctest: +SKIP
    >>> search = GridSearchCV(model, grid, scoring=make_topk_scorer("precision", k=3))  # doctest: +SKIP
    """
    k = check_k(k)
    if isinstance(metric, str):
        if metric not in METRICS:
            raise ValueError(f"unknown metric {metric!r}; expected one of {sorted(METRICS)}")
        func = METRICS[metric]
    elif callable(metric):
        func = metric
    else:
        raise ValueError(f"metric must be a name or a callable, got {metric!r}")
    if func is psp_at_k and "inv_propensity" not in metric_kwargs:
        raise ValueError("metric 'psp' needs inv_propensity=... (see inverse_propensity)")

    def scorer(estimator, X, y) -> float:
        classes = np.asarray(estimator.classes_)
        index = {label: pos for pos, label in enumerate(classes.tolist())}
        predicted = estimator.predict_topk(X, k)
        if isinstance(predicted, tuple):
            predicted = predicted[0]
        topk = _positions(np.asarray(predicted), index, "predict_topk output")
        y_true = _indicator(y, classes, index)
        if func is psp_at_k and y_true.shape[1] != len(classes):
            raise ValueError("y holds labels not in classes_; psp has no propensity for them")
        return float(func(y_true, topk, k=k, **metric_kwargs))

    scorer.__name__ = f"{getattr(func, '__name__', 'metric')}_scorer"
    return scorer
