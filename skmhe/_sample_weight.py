"""``sample_weight``: checking the weights, scaling them for training, weighting a score."""

from __future__ import annotations

import numpy as np
from sklearn.utils.validation import _check_sample_weight


def check_sample_weight(sample_weight, X) -> np.ndarray | None:
    """``sample_weight`` as float64 of shape ``(n_samples,)``, or None when not given.

    Parameters
    ----------
    sample_weight : array-like of shape (n_samples,) or None
    X : {ndarray, sparse matrix} of shape (n_samples, n_features)
        The validated input, for the number of rows.

    Raises
    ------
    ValueError
        For a wrong length, a NaN or infinite weight, a negative weight, or
        weights that are all zero (scikit-learn's messages).
    """
    if sample_weight is None:
        return None
    return _check_sample_weight(sample_weight, X, dtype=np.float64, ensure_non_negative=True)


def mean_one_weights(sample_weight: np.ndarray | None) -> np.ndarray | None:
    """The training rows' weights scaled to a mean of one (see :func:`skmhe.nn.contract.row_mean`).

    Raises
    ------
    ValueError
        When every training row weighs zero (e.g. after the validation split).
    """
    if sample_weight is None:
        return None
    total = float(sample_weight.sum())
    if not total > 0:
        raise ValueError(
            f"sample_weight is zero on all {len(sample_weight)} training rows (after the "
            "validation split, if any): nothing to learn"
        )
    return sample_weight * (len(sample_weight) / total)


def weighted_mean(values, sample_weight: np.ndarray | None) -> float:
    """Mean of ``values`` weighted by ``sample_weight``; unweighted for None or all-zero weights."""
    values = np.asarray(values, dtype=np.float64)
    if sample_weight is None or not float(np.sum(sample_weight)) > 0:
        return float(np.mean(values))
    return float(np.average(values, weights=sample_weight))
