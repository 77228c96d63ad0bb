"""The Multi-Head Product output head (the interface every head keeps: :mod:`skmhe.nn.contract`)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from ..ops import kronecker_log_mass, kronecker_log_proba, kronecker_topk, multi_head_cross_entropy
from .contract import SingleLabelHead, row_mean
from .layers import Batch, SparseLinear
from .precision import exact, precise


class ProductHead(SingleLabelHead):
    """Multi-Head Product (MHP) output layer: ``H`` short softmax heads.

    One linear map to ``sum(factors)`` logits, read as ``H`` concatenated
    heads. The joint distribution over codes is the Kronecker product of the
    heads' softmaxes, renormalised over the ``n_classes`` valid codes; with a
    single factor this is the ordinary dense softmax classifier. Output-layer
    parameters: ``(in_features + 1) * sum(factors)`` instead of
    ``(in_features + 1) * prod(factors)``.

    Parameters
    ----------
    in_features : int
        Width of the features fed to the head.
    factors : sequence of int
        Head sizes.
    n_classes : int, optional
        Valid codes are ``< n_classes``; default ``prod(factors)``.
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
        n_classes: int | None = None,
        *,
        init_gain: float = 6.0,
        generator: torch.Generator | None = None,
        sparse_grad: bool = False,
    ):
        super().__init__()
        self.factors = tuple(int(f) for f in factors)
        self.n_classes = math.prod(self.factors) if n_classes is None else int(n_classes)
        self.linear = SparseLinear(
            in_features,
            sum(self.factors),
            init_gain=init_gain,
            generator=generator,
            sparse_grad=sparse_grad,
        )
        self._init_temperatures(len(self.factors))

    def forward(self, features: Batch) -> torch.Tensor:
        """Concatenated head logits, shape ``(n, sum(factors))``."""
        return self.linear(features)

    def loss(
        self, features: Batch, codes: torch.Tensor, sample_weight: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Mean over rows of the summed per-head cross-entropy (weighted: :func:`row_mean`)."""
        if sample_weight is None:
            return multi_head_cross_entropy(self(features), codes, self.factors)
        return row_mean(multi_head_cross_entropy(self(features), codes, self.factors, "none"), sample_weight)

    def tempered_logits(self, features: Batch) -> torch.Tensor:
        """The logits with head ``h``'s divided by its temperature, ``(n, sum(factors))``."""
        logits = self(features)
        sizes = torch.as_tensor(self.factors, device=logits.device)
        temperatures = self.log_temperature.exp().to(logits.dtype)
        return logits / temperatures.repeat_interleave(sizes, output_size=logits.shape[1])

    def topk(self, features: Batch, k: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Exact top-``k`` valid codes and their renormalised log-probabilities."""
        logits = precise(self.tempered_logits(features))
        values, codes = kronecker_topk(logits, self.factors, k, self.n_classes)
        log_mass = kronecker_log_mass(exact(logits), self.factors, self.n_classes)
        return exact(values) - log_mass[:, None], codes

    def log_proba(self, features: Batch) -> torch.Tensor:
        """Log-probabilities of the valid codes, shape ``(n, n_classes)``."""
        return kronecker_log_proba(exact(self.tempered_logits(features)), self.factors, self.n_classes)

    def log_likelihood(self, features: Batch, codes: torch.Tensor) -> torch.Tensor:
        """``log p(code | x)`` renormalised over the valid codes, shape ``(n,)``."""
        logits = exact(self.tempered_logits(features))
        nll = multi_head_cross_entropy(logits, codes, self.factors, "none")
        return -nll - kronecker_log_mass(logits, self.factors, self.n_classes)

    def inference_width(self, k: int) -> int:
        """The logits, or the ``(k + H)`` kept prefixes times the widest head."""
        return max(sum(self.factors), max(self.factors) * (k + len(self.factors)))
