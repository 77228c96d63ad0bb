"""Multi-head operations: loss, exact Kronecker top-k and log-probabilities.

These functions are the specification of the method: every Triton kernel is
tested against them and against the dense float64 one-hot baseline.

``multi_head_cross_entropy`` and ``kronecker_topk`` take
``backend="auto" | "triton" | "torch"`` (see :mod:`skmhe.ops._dispatch`):
``"auto"`` runs the Triton kernels of :mod:`skmhe.kernels` on CUDA tensors
when triton imports, and the torch reference path everywhere else.
"""

from ._dispatch import BACKENDS
from .cross_entropy import multi_head_cross_entropy
from .topk import kronecker_log_mass, kronecker_log_proba, kronecker_topk

__all__ = [
    "BACKENDS",
    "multi_head_cross_entropy",
    "kronecker_topk",
    "kronecker_log_proba",
    "kronecker_log_mass",
]
