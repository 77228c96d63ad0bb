"""The one rule for the precision of inference, used by the estimators and every head.

* :func:`precise` -- scores are computed in float64 on the CPU, where it is cheap, so
  that a row's scores do not depend on the chunk it is computed in (float32 matrix
  products round differently for different batch shapes); other devices keep their
  dtype (float32 for the Triton kernels).
* :func:`exact` -- what a head hands out as dense scores or likelihoods is float64 on
  every device.
"""

from __future__ import annotations

import torch

from .layers import Batch, SparseBatch

__all__ = ["exact", "precise"]


def precise(x: Batch) -> Batch:
    """``x`` (dense or :class:`SparseBatch`) in float64 on the CPU; as it is elsewhere."""
    values = x.values if isinstance(x, SparseBatch) else x
    return x.double() if values.device.type == "cpu" else x


def exact(x: torch.Tensor) -> torch.Tensor:
    """``x`` in float64, on any device: dense scores, likelihoods, renormalised top-k values."""
    return x.double()
