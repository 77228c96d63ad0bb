"""Output heads: the Multi-Head Product classifier."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ..ops import kronecker_topk, multi_head_cross_entropy
from .layers import Batch, SparseLinear


class ProductHead(nn.Module):
    """Multi-Head Product (MHP) output layer: ``H`` short softmax heads.

    One linear map to ``sum(factors)`` logits, read as ``H`` concatenated
    heads. The joint distribution over codes is the Kronecker product of the
    heads' softmaxes; with a single factor this is the ordinary dense softmax
    classifier. Output-layer parameters: ``(in_features + 1) * sum(factors)``
    instead of ``(in_features + 1) * prod(factors)``.

    Parameters
    ----------
    in_features : int
        Width of the features fed to the head.
    factors : sequence of int
        Head sizes.
    init_gain : float, default=6.0
        See :class:`SparseLinear`.
    generator : torch.Generator, optional
        Source of randomness for the initialisation.
    sparse_grad : bool, default=False
        Sparse gradients, for a head fed the sparse input directly (no hidden
        layer); see :class:`SparseLinear`.
    """

    def __init__(
        self,
        in_features: int,
        factors: Sequence[int],
        *,
        init_gain: float = 6.0,
        generator: torch.Generator | None = None,
        sparse_grad: bool = False,
    ):
        super().__init__()
        self.factors = tuple(int(f) for f in factors)
        self.linear = SparseLinear(
            in_features,
            sum(self.factors),
            init_gain=init_gain,
            generator=generator,
            sparse_grad=sparse_grad,
        )

    def forward(self, features: Batch) -> torch.Tensor:
        """Concatenated head logits, shape ``(n, sum(factors))``."""
        return self.linear(features)

    def loss(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Mean over rows of the summed per-head cross-entropy."""
        return multi_head_cross_entropy(logits, targets, self.factors)

    def topk(
        self, logits: torch.Tensor, k: int, n_classes: int
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Exact top-k codes below ``n_classes`` and their joint log-probabilities."""
        return kronecker_topk(logits, self.factors, k, n_classes)
