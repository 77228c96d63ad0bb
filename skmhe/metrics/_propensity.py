"""Inverse label propensities (Jain et al., 2016)."""

from __future__ import annotations

import numbers

import numpy as np

from ._validation import check_true_labels

__all__ = ["inverse_propensity"]


def inverse_propensity(y_train, A: float = 0.55, B: float = 1.5) -> np.ndarray:
    """Inverse propensity of every label, estimated from training label frequencies.

    Jain, Prabhu & Varma (KDD 2016): ``p_l = 1 / (1 + C * (N_l + B) ** -A)`` with
    ``C = (log N - 1) * (B + 1) ** A``, ``N`` the number of training rows and ``N_l``
    the number of rows having label ``l``. Returns ``1 / p_l`` (as pyxclib's
    ``compute_inv_propesity``); rare labels get large weights.

    Parameters
    ----------
    y_train : {array-like, sparse matrix} of shape (n_samples, n_labels)
        0/1 training label indicator.
    A, B : float, default=0.55, 1.5
        Data-set constants, ``B > 0``; the paper uses (0.5, 0.4) for Wikipedia, (0.6, 2.6) for
        Amazon and (0.55, 1.5) otherwise.

    Returns
    -------
    ndarray of float64, shape (n_labels,)
        Inverse propensities, each >= 1 when ``N > e``.

    Examples
    --------
    >>> import numpy as np
    >>> w = inverse_propensity(np.eye(4)[[0, 0, 0, 1, 2, 3] * 5])
    >>> bool(w[0] < w[1])
    True
    """
    for name, value in (("A", A), ("B", B)):
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or not np.isfinite(value):
            raise ValueError(f"{name} must be a finite real number, got {value!r}")
    if B <= 0:
        raise ValueError(f"B must be > 0 (labels absent from y_train need N_l + B > 0), got {B}")
    y = check_true_labels(y_train, name="y_train")
    n = y.shape[0]
    if n == 0:
        raise ValueError("y_train has no rows")
    freqs = np.bincount(y.indices, minlength=y.shape[1]).astype(np.float64)
    c = (np.log(n) - 1.0) * (B + 1.0) ** A
    return 1.0 + c * (freqs + B) ** (-A)
