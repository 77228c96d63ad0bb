"""Multi-Head Cascade (MHC): levels of a label tree cut from the mixed-radix code.

Level 0 is a linear head over the ``C_1`` top-level groups (code prefixes
of one digit). Level ``h >= 1`` scores the ``C_{h+1}`` children of chosen
prefixes through a query projection of the features and a table of prefix
embeddings, so only candidate labels are ever scored. The groups are
contiguous ranges of codes: no label clustering.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .._radix import valid_prefixes
from ..ops.candidates import best_codes, child_codes
from .contract import Head, SingleLabelHead, row_mean
from .layers import Batch, SparseLinear
from .pieces import concat_in_pieces
from .precision import exact, precise
from .tables import EmbeddingTable


#: :meth:`CascadeLevels.code_logits` gathers at most this many embedding values at a time
_GATHERED_VALUES = 1 << 22


class CascadeLevels(Head):
    """The layers of a cascade, shared by its softmax and sigmoid forms.

    Parameters
    ----------
    in_features : int
        Width of the backbone features.
    factors : sequence of int
        Radix of each level: ``C_1`` groups at the top, ``C_H`` labels in each
        last-level group.
    n_classes : int
        Valid codes are ``< n_classes``; other prefixes are masked out.
    embedding_size : int
        Size of the queries and of the prefix embeddings.
    n_candidate_groups : int
        Prefixes kept per level when searching (the beam width).
    init_gain : float, default=6.0
        Glorot numerator of the linear layers (see :class:`SparseLinear`).
    generator : torch.Generator, optional
        Source of randomness for the initialisation.
    sparse_grad : bool, default=False
        Sparse input-layer gradients, for a head fed the sparse input directly.
    """

    def __init__(
        self,
        in_features: int,
        factors: Sequence[int],
        n_classes: int,
        embedding_size: int,
        n_candidate_groups: int,
        *,
        init_gain: float = 6.0,
        generator: torch.Generator | None = None,
        sparse_grad: bool = False,
    ):
        super().__init__()
        self.factors = tuple(int(f) for f in factors)
        self.n_classes = int(n_classes)
        self.n_candidate_groups = int(n_candidate_groups)
        self.valid = valid_prefixes(self.factors, self.n_classes)
        kwargs = dict(init_gain=init_gain, generator=generator, sparse_grad=sparse_grad)
        self.root = SparseLinear(in_features, self.factors[0], **kwargs)
        if embedding_size is None:  # the features themselves are the queries
            embedding_size = in_features
            self.queries = nn.ModuleList(nn.Identity() for _ in self.factors[1:])
        else:
            self.queries = nn.ModuleList(
                SparseLinear(in_features, embedding_size, **kwargs) for _ in self.factors[1:]
            )
        self.tables = nn.ModuleList(
            EmbeddingTable(math.prod(self.factors[: h + 1]), embedding_size, generator=generator)
            for h in range(1, len(self.factors))
        )

    @property
    def n_levels(self) -> int:
        return len(self.factors)

    def root_logits(self, features: Batch) -> torch.Tensor:
        """Level-0 logits ``(n, C_1)``, ``-inf`` on groups holding only padding."""
        logits = self.root(features)
        if self.valid[0] < self.factors[0]:
            logits = logits.clone()
            logits[:, self.valid[0] :] = float("-inf")
        return logits

    def inference_logits(self, logits: torch.Tensor, level: int) -> torch.Tensor:
        """A level's logits as inference scores them: as they are here (see the softmax cascade)."""
        return logits

    def queries_of(self, features: Batch) -> list[torch.Tensor]:
        """The query of every level ``h >= 1`` (index ``h - 1``)."""
        return [query(features) for query in self.queries]

    def child_logits(self, level: int, query: torch.Tensor, parents: torch.Tensor):
        """Codes and logits of the children of ``parents`` at ``level >= 1``.

        Returns ``(codes, logits)``, both ``(n, k * C_{level+1})``; logits of
        padding codes are ``-inf``.
        """
        return child_codes(parents, self.factors[level]), self.children_logits(level, query, parents)

    def children_logits(self, level: int, query: torch.Tensor, parents: torch.Tensor) -> torch.Tensor:
        """The logits of :meth:`child_logits` without their codes (no ``(n, k * C)`` code tensor)."""
        c = self.factors[level]
        logits = self.tables[level - 1].score_children(query, parents, c)
        n_valid = (self.valid[level] - parents * c).clamp_(0, c)  # valid children of each parent
        if bool((n_valid < c).any()):
            local = torch.arange(c, device=parents.device)
            padding = (local >= n_valid.unsqueeze(2)).view(logits.shape)
            logits = logits.masked_fill(padding, float("-inf"))
        return logits

    def code_logits(self, features: Batch, codes: torch.Tensor) -> torch.Tensor:
        """The last level's logits of the given codes (valid ones), ``codes.shape`` ``(n, m)``.

        A few rows at a time: each row's ``m`` embeddings are gathered (``(rows, m, d)``
        values), and at 1e4 labels with the features as queries (``d`` = 1,024, float64 at
        inference) 5,000 rows of 50 codes held 2 GB at once.
        """
        if self.n_levels == 1:
            return self.root_logits(features).gather(1, codes)
        query, table = self.queries[-1](features), self.tables[-1]
        step = max(1, _GATHERED_VALUES // max(1, codes.shape[1] * table.dim))
        def score(rows: slice) -> torch.Tensor:
            return table.score(query[rows], codes[rows])

        return concat_in_pieces(codes.shape[0], step, score, dim=0)

    def all_child_logits(self, level: int, query: torch.Tensor) -> torch.Tensor:
        """Logits of every child of every valid parent, ``(n, valid[level-1], C)``."""
        c = self.factors[level]
        n_parents = self.valid[level - 1]
        logits = self.tables[level - 1].score_all(query, n_parents * c).view(-1, n_parents, c)
        codes = torch.arange(n_parents * c, device=logits.device).view(n_parents, c)
        return logits.masked_fill(codes >= self.valid[level], float("-inf"))

    def beam_search(
        self, features: Batch, k: int, log_score, width: int | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Best ``k`` codes by summed per-level log-scores, keeping a beam per level.

        Each level's log-scores are weighted by :meth:`weigh_level` (one for every
        level unless a subclass says otherwise).

        ``log_score(logits)`` turns a level's logits (``(n, groups, C)``) into
        log-scores: a log-softmax over the last axis (softmax cascade) or a
        log-sigmoid (sigmoid cascade). The beam keeps ``width`` prefixes per
        level above the last (default ``max(k, n_candidate_groups)``).
        """
        width = max(k, self.n_candidate_groups) if width is None else int(width)
        features = precise(features)
        root = log_score(self.inference_logits(self.root_logits(features), 0).unsqueeze(1)).squeeze(1)
        root = self.weigh_level(root, 0)
        n = root.shape[0]
        codes = torch.arange(root.shape[1], device=root.device).expand(n, -1)
        last = self.n_levels - 1
        values, codes = best_codes(root, codes, k if last == 0 else min(width, self.valid[0]))
        for h, query in enumerate(self.queries_of(features), start=1):
            codes, order = torch.sort(codes, dim=1)  # ascending prefixes: ascending children, no sort of them
            values = values.gather(1, order)
            child, logits = self.child_logits(h, query, codes)
            logits = self.inference_logits(logits, h)
            scores = self.weigh_level(log_score(logits.view(n, codes.shape[1], self.factors[h])), h)
            scores = scores + values.unsqueeze(2)
            keep = k if h == last else min(width, self.valid[h])
            values, codes = best_codes(scores.flatten(1), child, keep, ascending=True)
        return values, codes

    def expand_all(self, features: Batch, log_score, last_logits=None) -> torch.Tensor:
        """Summed log-scores of every valid code, ``(n, n_classes)``, weighted as in :meth:`beam_search`.

        ``last_logits(logits)``, where given, changes the last level's logits
        (``(n, codes)``, column ``j`` the code ``j``) before they are scored.
        """
        features = precise(features)
        root = self.inference_logits(self.root_logits(features), 0)
        if last_logits is not None and self.n_levels == 1:
            root = last_logits(root)
        values = self.weigh_level(log_score(root.unsqueeze(1)).squeeze(1)[:, : self.valid[0]], 0)
        for h, query in enumerate(self.queries_of(features), start=1):
            logits = self.inference_logits(self.all_child_logits(h, query), h)
            if last_logits is not None and h == self.n_levels - 1:
                logits = last_logits(logits.flatten(1)).view(logits.shape)
            scores = self.weigh_level(log_score(logits.to(values.dtype)), h)
            values = (scores + values.unsqueeze(2)).flatten(1)[:, : self.valid[h]]
        return values

    def weigh_level(self, log_scores: torch.Tensor, level: int) -> torch.Tensor:
        """A level's log-scores as they count in a code's score: unweighted here."""
        return log_scores

    def inference_width(self, k: int) -> int:
        """The beam's children, plus the query a row scores them with."""
        query = self.tables[0].dim if len(self.tables) else 0
        return max(self.factors) * max(k, self.n_candidate_groups) + query


def _log_softmax(logits: torch.Tensor) -> torch.Tensor:
    return F.log_softmax(precise(logits), dim=-1)


class SoftmaxCascadeHead(CascadeLevels, SingleLabelHead):
    """Single-label Multi-Head Cascade: ``p(y) = prod_h p(y_h | y_1..y_{h-1}, x)``.

    Level 0 is a softmax over the ``C_1`` groups; each later level a softmax
    over the children of the previous prefix, scored through label
    embeddings. Training scores only the ground-truth path (cost
    ``O(sum_h C_h * d)`` a row); the model is normalised, so perplexity is
    exact. Prediction is a beam search keeping ``n_candidate_groups``
    prefixes per level. With one factor it is the dense softmax classifier.
    Parameters as :class:`CascadeLevels`; one temperature per level
    (``log_temperature``, see :class:`~skmhe.nn.contract.SingleLabelHead`).
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._init_temperatures(self.n_levels)

    def inference_logits(self, logits: torch.Tensor, level: int) -> torch.Tensor:
        """The level's logits divided by its temperature."""
        return self.tempered(logits, level)

    def _path_nll(self, features: Batch, codes: torch.Tensor, tempered: bool = False) -> torch.Tensor:
        scale = self.tempered if tempered else (lambda logits, level: logits)
        nll = F.cross_entropy(scale(self.root_logits(features), 0), codes[:, 0], reduction="none")
        prefix = codes[:, :1]
        for h, query in enumerate(self.queries_of(features), start=1):
            _, logits = self.child_logits(h, query, prefix)
            nll = nll + F.cross_entropy(scale(logits, h), codes[:, h], reduction="none")
            prefix = prefix * self.factors[h] + codes[:, h : h + 1]
        return nll

    def loss(
        self, features: Batch, codes: torch.Tensor, sample_weight: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Mean over rows of the summed per-level cross-entropy on the true path (:func:`row_mean`)."""
        return row_mean(self._path_nll(features, codes), sample_weight)

    def topk(self, features: Batch, k: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Best ``k`` codes found by the beam search, with their log-probabilities."""
        return self.beam_search(features, k, _log_softmax)

    def log_proba(self, features: Batch) -> torch.Tensor:
        """Log-probabilities of every valid code, ``(n, n_classes)``."""
        return self.expand_all(features, lambda x: F.log_softmax(exact(x), dim=-1))

    def log_likelihood(self, features: Batch, codes: torch.Tensor) -> torch.Tensor:
        """``log p(code | x)``, shape ``(n,)``."""
        return -exact(self._path_nll(features, codes, tempered=True))
