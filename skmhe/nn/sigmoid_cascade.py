"""Multi-label Multi-Head Cascade: sigmoid levels with forced candidates."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .._radix import strides as radix_strides
from ..ops.candidates import select_candidates
from .cascade import CascadeLevels
from .contract import row_mean
from .layers import Batch, SparseBatch
from .precision import exact, precise


def _log_sigmoid(logits: torch.Tensor) -> torch.Tensor:
    return F.logsigmoid(precise(logits))


def _binary_cross_entropy(
    logits: torch.Tensor, positions: torch.Tensor, sample_weight: torch.Tensor | None = None
) -> torch.Tensor:
    """Binary cross-entropy summed over the finite logits of a row, mean over rows.

    ``positions``: the distinct flat indices (``row * m + column``) of the true entries
    of the ``(n, m)`` logits; every other entry is a negative. The loss of a row is
    ``sum softplus(x) - sum_{true} x``, so no ``(n, m)`` target is formed, and a
    ``-inf`` logit (padding) adds nothing and gets no gradient. Summing (not averaging)
    over a row's decisions gives every group and every label decision the same weight,
    so the few group decisions do not outweigh the many label decisions in the shared
    backbone. Rows weighted as in :func:`~skmhe.nn.contract.row_mean`.
    """
    n, m = logits.shape
    per_row = F.softplus(logits).sum(dim=1)
    per_row = per_row.index_add(0, positions // max(1, m), logits.reshape(-1)[positions], alpha=-1)
    if sample_weight is None:
        return per_row.sum() / max(1, n)
    return row_mean(per_row, sample_weight)


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
        n, n_groups = root.shape
        counts = torch.diff(labels.offsets, append=labels.offsets.new_tensor([labels.indices.shape[0]]))
        rows = torch.repeat_interleave(torch.arange(n, device=root.device), counts)
        positions = torch.unique(rows * n_groups + labels.indices // strides[0])
        total = _binary_cross_entropy(root, positions, sample_weight)
        scores, parents, width = root, None, n_groups
        for h, query in enumerate(self.queries_of(features), start=1):
            forced = torch.zeros(n * width, dtype=torch.bool, device=root.device)
            forced[positions] = True
            columns = select_candidates(scores, self.n_candidate_groups, forced=forced.view(n, width))
            if parents is None:
                parents = columns
            else:  # the codes of the chosen children of the previous level's parents
                c_prev = self.factors[h - 1]
                chosen = parents.gather(1, torch.div(columns, c_prev, rounding_mode="floor"))
                parents = chosen * c_prev + columns % c_prev
            logits = self.children_logits(h, query, parents)
            c, k = self.factors[h], parents.shape[1]
            true_codes = labels.indices // strides[h]
            # the candidate slot of each true label's parent (forced in, so always there)
            slot = (parents[rows] == (true_codes // c).unsqueeze(1)).to(torch.int8).argmax(dim=1)
            width = k * c
            positions = torch.unique(rows * width + slot * c + true_codes % c)
            total = total + _binary_cross_entropy(logits, positions, sample_weight)
            scores = logits
        return total

    def topk(self, features: Batch, k: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Best ``k`` labels by the beam search, with their log-scores."""
        return self.beam_search(features, k, _log_sigmoid)

    def log_scores(self, features: Batch) -> torch.Tensor:
        """Log-score of every valid label, ``(n, n_classes)`` in float64."""
        return self.expand_all(features, lambda x: F.logsigmoid(exact(x)))
