"""Ranking metrics for extreme multi-label classification (pyxclib semantics).

All metrics take a 0/1 ground-truth indicator ``y_true`` (dense or, preferably, CSR;
never densified) and ``y_pred_topk``, an int array ``(n_samples, k_pred)`` of label column
indices ranked best first (``-1``: no prediction, never a hit); or label values on both
sides: label lists (or 1-D labels) for ``y_true`` and the labels ``predict_topk`` returns.
They return a float, or the metric at every cut-off ``1..k`` with ``all_k=True``.

- :func:`precision_at_k`, :func:`recall_at_k`, :func:`ndcg_at_k`
- :func:`inverse_propensity`, :func:`psp_at_k`: propensity-scored precision (Jain et al. 2016)
- :func:`make_topk_scorer`: a ``scorer(estimator, X, y)`` for ``GridSearchCV`` and
  ``cross_val_score``; it also scores a ``Pipeline`` and a fitted search
- :func:`expected_calibration_error`: ECE of single-label top-1 probabilities

Only NumPy and SciPy are used here.
"""

from ._calibration import expected_calibration_error
from ._ndcg import ndcg_at_k
from ._precision import precision_at_k
from ._propensity import inverse_propensity
from ._psp import psp_at_k
from ._recall import recall_at_k
from ._scorer import make_topk_scorer

__all__ = [
    "expected_calibration_error",
    "inverse_propensity",
    "make_topk_scorer",
    "ndcg_at_k",
    "precision_at_k",
    "psp_at_k",
    "recall_at_k",
]
