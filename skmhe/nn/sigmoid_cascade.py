"""Multi-label Multi-Head Cascade: sigmoid levels with forced candidates."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .._radix import strides as radix_strides
from ..ops.candidates import candidate_targets, select_candidates
from .cascade import CascadeLevels
from .contract import row_mean
from .layers import Batch, SparseBatch
from .precision import exact, precise


def _log_sigmoid(logits: torch.Tensor) -> torch.Tensor:
    return F.logsigmoid(precise(logits))


def _masked_bce(
    logits: torch.Tensor, targets: torch.Tensor, sample_weight: torch.Tensor | None = None
) -> torch.Tensor:
    """Binary cross-entropy summed over the finite (non-padding) logits of a row, mean over rows.

    Summing (not averaging) over a row's decisions gives every group and every
    label decision the same weight, so the few group decisions do not outweigh
    the many label decisions in the shared backbone. Rows weighted as in
    :func:`~skmhe.nn.contract.row_mean`.
    """
    valid = torch.isfinite(logits)
    safe = torch.where(valid, logits, torch.zeros_like(logits))
    loss = F.binary_cross_entropy_with_logits(safe, targets.to(safe.dtype), reduction="none")
    if sample_weight is None:
        return (loss * valid).sum() / max(1, logits.shape[0])
    return row_mean((loss * valid).sum(dim=1), sample_weight)


class SigmoidCascadeHead(CascadeLevels):
    """Multi-label Multi-Head Cascade (the paper's MHC for XMC).

    Level 0 scores the ``C_1`` groups of labels with sigmoids. While
    training, the candidates of each level are the top ``n_candidate_groups``
    prefixes by score plus every prefix holding a true label (forced in, so
    all true labels are scored); the next level scores only the children of
    the candidates. Loss: binary cross-entropy over every level-0 group and
    over each later level's candidates. The score of a label is the product
    of the sigmoids along its path. With one factor it is the flat one-vs-all
    (binary cross-entropy) output layer. Parameters as :class:`CascadeLevels`.
    """

    def loss(
        self, features: Batch, labels: SparseBatch, sample_weight: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Summed per-level BCE; ``labels`` holds each row's true label ids (rows weighted: ``row_mean``)."""
        strides = radix_strides(self.factors)
        root = self.root_logits(features)
        n = root.shape[0]
        true_groups = labels.indices // strides[0]
        counts = torch.diff(labels.offsets, append=labels.offsets.new_tensor([labels.indices.shape[0]]))
        rows = torch.repeat_interleave(torch.arange(n, device=root.device), counts)
        target = torch.zeros(root.shape, dtype=torch.bool, device=root.device)
        target[rows, true_groups] = True
        total = _masked_bce(root, target, sample_weight)
        scores, codes = root, None
        for h, query in enumerate(self.queries_of(features), start=1):
            columns = select_candidates(scores, self.n_candidate_groups, forced=target)
            parents = columns if codes is None else codes.gather(1, columns)
            codes, logits = self.child_logits(h, query, parents)
            target = candidate_targets(codes, labels.indices // strides[h], labels.offsets)
            total = total + _masked_bce(logits, target, sample_weight)
            scores = logits
        return total

    def topk(self, features: Batch, k: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Best ``k`` labels by the beam search, with their log-scores."""
        return self.beam_search(features, k, _log_sigmoid)

    def log_scores(self, features: Batch) -> torch.Tensor:
        """Log-score of every valid label, ``(n, n_classes)`` in float64."""
        return self.expand_all(features, lambda x: F.logsigmoid(exact(x)))
