"""Expected calibration error of the top-1 prediction."""

from __future__ import annotations

from numbers import Integral

import numpy as np

__all__ = ["expected_calibration_error"]


def _first_column(a, name: str) -> np.ndarray:
    """``a`` as a 1-D array: itself, or the first column (the best) of a top-k array."""
    a = np.asarray(a)
    if a.ndim == 2:
        a = a[:, 0]
    if a.ndim != 1:
        raise ValueError(f"{name} must be 1-D (n_samples,) or top-k 2-D (n_samples, k), got shape {a.shape}")
    return a


def expected_calibration_error(y_true, y_pred, y_prob, *, n_bins: int = 15) -> float:
    """Expected calibration error (ECE) of the top-1 confidence (Guo et al., 2017).

    The confidences are split into ``n_bins`` equal-width bins
    ``(b / n_bins, (b + 1) / n_bins]`` (the first one also holds 0); the ECE is
    ``sum_b (n_b / n) * |accuracy_b - mean confidence_b|`` over the non-empty
    bins, where ``accuracy_b`` is the share of rows of bin ``b`` whose
    prediction is right. Needs only each row's best label and its probability,
    never the ``(n_samples, n_classes)`` matrix.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        True labels.
    y_pred : array-like of shape (n_samples,) or (n_samples, k)
        Predicted labels; of a top-k array (``predict_topk``) the first column.
    y_prob : array-like of shape (n_samples,) or (n_samples, k)
        Probability of each predicted label, in ``[0, 1]``; of a top-k array
        the first column.
    n_bins : int, default=15
        Number of confidence bins.

    Returns
    -------
    float
        In ``[0, 1]``; 0 for a perfectly calibrated model.

    Examples
    --------
    Sure of both predictions, right about one of them:

    >>> expected_calibration_error([0, 1], [0, 0], [1.0, 1.0])
    0.5
    """
    if not isinstance(n_bins, Integral) or isinstance(n_bins, bool) or n_bins < 1:
        raise ValueError(f"n_bins must be an int >= 1, got {n_bins!r}")
    y_true = _first_column(y_true, "y_true")
    y_pred = _first_column(y_pred, "y_pred")
    y_prob = _first_column(y_prob, "y_prob").astype(np.float64)
    if not y_true.shape[0] == y_pred.shape[0] == y_prob.shape[0]:
        raise ValueError(
            f"y_true, y_pred and y_prob must have the same length, got "
            f"{y_true.shape[0]}, {y_pred.shape[0]} and {y_prob.shape[0]}"
        )
    if y_true.shape[0] == 0:
        raise ValueError("expected_calibration_error needs at least one sample")
    if not np.all((y_prob >= 0) & (y_prob <= 1)):  # NaN fails too
        raise ValueError("y_prob must hold probabilities in [0, 1]")
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    bins = np.searchsorted(edges[1:-1], y_prob, side="left")  # value on an edge: the lower bin
    correct = (y_true == y_pred).astype(np.float64)
    gap = np.bincount(bins, weights=correct - y_prob, minlength=n_bins)  # n_b * (acc_b - conf_b)
    return float(np.abs(gap).sum() / y_true.shape[0])
