"""Scorers for model selection (``GridSearchCV(scoring=...)``) from top-k metrics."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import scipy.sparse as sp

from ._labels import is_indicator, label_indicator, label_positions, label_rows
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


def _indicator(y, classes: np.ndarray, index: dict) -> sp.csr_matrix:
    """``y`` as a 0/1 indicator whose first ``len(classes)`` columns follow ``classes``.

    Labels of ``y`` missing from ``classes`` get extra columns after them: they count as
    true labels (for recall and nDCG) but can never be predicted.
    """
    n_classes = len(classes)
    if is_indicator(y):
        n_columns = y.shape[1] if sp.issparse(y) else np.shape(y)[1]
        if n_columns != n_classes:
            raise ValueError(f"indicator y has {n_columns} columns but classes_ has {n_classes}")
        return sp.csr_matrix(y)
    return label_indicator(label_rows(y), dict(index))


def _final_estimator(estimator, X):
    """The estimator that ranks, and ``X`` as it sees it.

    A fitted search (``GridSearchCV``, ...) ranks through its ``best_estimator_``; a
    ``Pipeline`` transforms ``X`` through its earlier steps (``pipeline[:-1]``) and ranks
    with its last step. Anything else must have ``predict_topk``.
    """
    while not hasattr(estimator, "predict_topk"):
        if hasattr(estimator, "best_estimator_"):
            estimator = estimator.best_estimator_
        elif getattr(estimator, "steps", None):
            if len(estimator.steps) > 1:
                X = estimator[:-1].transform(X)
            estimator = estimator.steps[-1][1]
        else:
            hint = (
                " (a search fit with refit=False has no best_estimator_)"
                if hasattr(estimator, "cv_results_") else ""
            )
            raise AttributeError(
                f"{type(estimator).__name__} has no predict_topk, and is neither a Pipeline "
                f"nor a fitted search with a best_estimator_{hint}"
            )
    return estimator, X


def make_topk_scorer(metric: str | Callable[..., float], k: int = 5, **metric_kwargs) -> Callable:
    """Scorer ``scorer(estimator, X, y) -> float`` from a top-k ranking metric.

    The scorer calls ``estimator.predict_topk(X, k)`` (taking the first element when it
    returns a tuple such as ``(labels, probabilities)``), maps the returned labels (values
    of ``estimator.classes_``) to their positions in ``classes_``, builds a 0/1
    indicator from ``y`` with the same column order and applies ``metric``. Higher is
    better, so it can be passed as ``scoring=`` to ``GridSearchCV``.

    Meta-estimators without ``predict_topk`` work too: a ``Pipeline`` is scored by
    transforming ``X`` through ``pipeline[:-1]`` and ranking with its last step, a fitted
    search (``GridSearchCV``, ``RandomizedSearchCV``) through its ``best_estimator_``.

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
    if "all_k" in metric_kwargs:
        raise ValueError("a scorer returns one number: all_k is not accepted here")
    if func is psp_at_k and "inv_propensity" not in metric_kwargs:
        raise ValueError("metric 'psp' needs inv_propensity=... (see inverse_propensity)")

    def scorer(estimator, X, y) -> float:
        ranker, X = _final_estimator(estimator, X)
        classes = np.asarray(ranker.classes_)
        index = {label: pos for pos, label in enumerate(classes.tolist())}
        predicted = ranker.predict_topk(X, k)
        if isinstance(predicted, tuple):
            predicted = predicted[0]
        topk = label_positions(np.asarray(predicted), index, "predict_topk output")
        y_true = _indicator(y, classes, index)
        if func is psp_at_k and y_true.shape[1] != len(classes):
            raise ValueError("y holds labels not in classes_; psp has no propensity for them")
        return float(func(y_true, topk, k=k, **metric_kwargs))

    scorer.__name__ = f"{getattr(func, '__name__', 'metric')}_scorer"
    return scorer
