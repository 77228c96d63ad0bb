"""Checks shared by every layer (plain Python and NumPy: the metrics import it too)."""

from __future__ import annotations

from numbers import Integral

import numpy as np
from sklearn.utils._param_validation import InvalidParameterError

__all__ = ["check_k"]


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
