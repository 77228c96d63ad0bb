"""Multi-Head Sampling (MHS): a full classifier trained on sampled groups."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F

from .._radix import digits_to_codes
from ..ops import kronecker_topk
from ..ops.candidates import child_codes, sample_groups
from .contract import SingleLabelHead, row_mean
from .layers import Batch, SparseBatch
from .precision import exact, precise
from .tables import EmbeddingTable

SAMPLING_MODES = ("random", "batch")


class SamplingHead(SingleLabelHead):
    """Full softmax classifier over all codes, trained on a few groups a step.

    The classifier is a ``(prod(factors), d)`` weight, i.e. ``(C_1, C_2, d)``
    for two factors: group ``g`` is the block of the last factor's
    ``C_H`` codes sharing the prefix ``g``. A training step computes the
    softmax only over the codes of the row's ground-truth group and
    ``n_sampled_groups - 1`` other groups, with the target re-indexed into
    that slice (``mode="random"``: other groups drawn uniformly and
    independently for each row; ``mode="batch"``: one shared slice, the union
    of the batch's ground-truth groups). A step costs
    ``O(n_sampled_groups * C_H * d)`` a row instead of ``O(C * d)``. At test
    time the whole classifier is used: an exact softmax over the valid
    codes.

    Parameters
    ----------
    in_features : int
        Width of the backbone features (dense; the head needs a hidden layer
        in front of sparse inputs).
    factors : sequence of int
        The code; the last factor is the group size.
    n_classes : int
        Valid codes are ``< n_classes``.
    n_sampled_groups : int
        Groups per row in a training softmax (the true one included).
    mode : {"random", "batch"}, default="random"
        How the groups are chosen, see above.
    generator : torch.Generator, optional
        Source of the initialisation and of the sampled groups.
    """

    def __init__(
        self,
        in_features: int,
        factors: Sequence[int],
        n_classes: int,
        n_sampled_groups: int,
        *,
        mode: str = "random",
        generator: torch.Generator | None = None,
    ):
        super().__init__()
        if mode not in SAMPLING_MODES:
            raise ValueError(f"mode must be one of {SAMPLING_MODES}, got {mode!r}")
        self.factors = tuple(int(f) for f in factors)
        self.n_classes = int(n_classes)
        self.n_sampled_groups = int(n_sampled_groups)
        self.mode = mode
        self.group_size = self.factors[-1]
        self.n_groups = -(-self.n_classes // self.group_size)
        n_codes = math.prod(self.factors)
        self.classifier = EmbeddingTable(n_codes, in_features, generator=generator)
        seed = int(torch.randint(2**31 - 1, (1,), generator=generator)) if generator else 0
        self.sampler = torch.Generator().manual_seed(seed)
        self._init_temperatures(1)  # one softmax over every code


    def _single_softmax(self) -> bool:
        return True

    def _check_dense(self, features: Batch) -> None:
        if isinstance(features, SparseBatch):
            raise ValueError(
                "method='sampling' needs dense features: give the model at least one hidden layer"
            )

    def sampled_groups(self, codes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Groups of each row's slice and the position of its true code in the slice.

        Returns ``(groups, target)``: ``groups`` of shape ``(n, g)`` (``(1, g)``
        in ``"batch"`` mode, shared by all rows), ``target`` of shape ``(n,)``.
        """
        true_group = codes // self.group_size
        local = codes % self.group_size
        if self.mode == "batch":
            groups, position = torch.unique(true_group, return_inverse=True)
            return groups.unsqueeze(0), position * self.group_size + local
        return sample_groups(true_group, self.n_groups, self.n_sampled_groups, self.sampler), local

    def loss(
        self, features: Batch, codes: torch.Tensor, sample_weight: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Mean cross-entropy over each row's sampled slice of codes (weighted: :func:`row_mean`).

        ``codes`` are the label digits ``(n, H)``, as for the other heads.
        """
        self._check_dense(features)
        flat = self._flat(codes)
        groups, target = self.sampled_groups(flat)
        candidates = child_codes(groups, self.group_size)
        if self.mode == "batch":
            table = self.classifier
            ids = candidates[0]
            weight = F.embedding(ids, table.weight, sparse=table.sparse_grad)
            bias = F.embedding(ids, table.bias, sparse=table.sparse_grad).squeeze(1)
            logits = torch.addmm(bias.to(features.dtype), features, weight.to(features.dtype).t()).masked_fill(ids >= self.n_classes, float("-inf"))
        else:
            logits = self.classifier.score_children(features, groups, self.group_size)
            logits = logits.masked_fill(candidates >= self.n_classes, float("-inf"))
        if sample_weight is None:
            return F.cross_entropy(logits, target)
        return row_mean(F.cross_entropy(logits, target, reduction="none"), sample_weight)

    def _flat(self, codes: torch.Tensor) -> torch.Tensor:
        return digits_to_codes(codes, self.factors)

    def logits(self, features: Batch) -> torch.Tensor:
        """Logits of every valid code divided by the temperature, ``(n, n_classes)``."""
        self._check_dense(features)
        return self.tempered(self.classifier.score_all(precise(features), self.n_classes))

    def topk(self, features: Batch, k: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Exact top-``k`` codes of the full softmax and their log-probabilities."""
        logits = precise(self.logits(features))
        values, codes = kronecker_topk(logits, (self.n_classes,), k, self.n_classes)
        return exact(values), codes

    def log_proba(self, features: Batch) -> torch.Tensor:
        """Log-probabilities of every valid code, ``(n, n_classes)``."""
        return F.log_softmax(exact(self.logits(features)), dim=1)

    def log_likelihood(self, features: Batch, codes: torch.Tensor) -> torch.Tensor:
        """``log p(code | x)`` under the full softmax, shape ``(n,)``."""
        log_proba = self.log_proba(features)
        return log_proba.gather(1, self._flat(codes).unsqueeze(1)).squeeze(1)

    def inference_width(self, k: int) -> int:
        """Every code: the whole classifier is scored."""
        return math.prod(self.factors)
