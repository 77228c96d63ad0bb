"""Multi-label Multi-Head Cascade: sigmoid levels with forced candidates."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .._radix import strides as radix_strides
from ..ops.candidates import select_candidates
from .cascade import CascadeLevels
from .contract import row_mean
from .layers import Batch, SparseBatch
from .pairs import HashedPairTable
from .precision import exact, precise

#: the label-column pairs' term (``pair_buckets``) learns on each training row's labels of the
#: best path scores, this many, and on its true labels; prediction re-ranks the best
#: ``max(k, RERANK)`` labels of the beam with it. 1e5 labels: P@1 0.868, 0.866 and 0.867 with
#: 10, 20 and 40 labels a row, P@5 0.369, 0.372 and 0.372; 10 costs 13 % less than 40; re-ranking
#: 5, 20, 50 or 200 labels: P@1 0.868 each, P@5 0.364, 0.3695, 0.3694, 0.3694, top-5 of 10,000
#: rows in 2.2, 2.5, 3.2, 6.3 CPU-s (``benchmarks/RESULTS.md``, "Scale")
RERANK_TRAIN, RERANK = 10, 20
#: a code's score is its last level's log-sigmoid plus this weight times the levels' above:
#: a group's sigmoid (trained against every other group) is surer than its labels' order
#: warrants. Post hoc on fitted defaults, the test rows' top 20 re-ranked (P@1 / P@5):
#: 1e5 labels 0.8877 / 0.3935 at 1, 0.8911 / 0.4012 at 0.5 (0.8747 / 0.3844 against
#: 0.8773 / 0.3957 without the pairs' term); 1e4 labels 0.9925 / 0.6265 against
#: 0.9938 / 0.6355; three levels at 1e5 labels 0.8702 / 0.3703 against 0.8741 / 0.3853
#: (``benchmarks/RESULTS.md``, "Scale")
GROUP_WEIGHT = 0.5
#: in the ranking a label's pairs' term counts this many times what it learned: the term learns on
#: training rows, as the residual of a cascade that is surer of them than of new rows. Post hoc on
#: fitted defaults, the test rows' top 20 re-ranked, 1.0 / 1.2 / 1.5 (P@1, P@5): 1e5 labels, three
#: draws, mean 0.8965 / 0.4114, **0.8985 / 0.4105**, 0.8991 / 0.4081 (P@1 up on each draw at 1.2:
#: +0.22, +0.25, +0.14); 1e4 labels 0.9933 / 0.6437, 0.9942 / 0.6441, 0.9942 / 0.6415
#: (``benchmarks/RESULTS.md``, "Scale")
PAIR_WEIGHT = 1.2


def _check_inputs(inputs: Batch | None) -> None:
    if inputs is None:
        raise ValueError("the pairs' term needs the input batch: pass inputs=")


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
    of the sigmoids along its path, those above the last level raised to
    ``group_weight`` (in log-scores: the levels above the last weighted by
    it; training is unweighted). With one factor it is the flat one-vs-all
    (binary cross-entropy) output layer.

    With ``pair_buckets > 0`` a label's last-level logit also gets a linear
    model of its own over the input's columns, hashed into one table
    (:class:`~skmhe.nn.pairs.HashedPairTable`, the "wide" term ``t``): the
    last sigmoid is ``sigmoid(z + t)``. ``t`` learns as a residual of the
    cascade (``z`` held fixed) with binary cross-entropy on each training
    row's :data:`RERANK_TRAIN` labels of the best path scores and its true
    labels; :meth:`topk` re-ranks the beam's best ``max(k, RERANK)`` with
    it, and :meth:`log_scores` adds it to every label, both as
    ``sigmoid(z + pair_weight * t)``. Those methods and :meth:`loss` then
    need the input batch (``inputs=``; see :attr:`takes_inputs`).
    ``group_weight`` (default :data:`GROUP_WEIGHT`): the weight of the levels
    above the last in a code's log-score, in ``(0, 1]``. ``pair_weight``
    (default :data:`PAIR_WEIGHT`): the weight of ``t`` in the ranking, ``> 0``
    (training is unweighted). Other parameters as :class:`CascadeLevels`.
    """

    def __init__(
        self,
        *args,
        pair_buckets: int = 0,
        group_weight: float = GROUP_WEIGHT,
        pair_weight: float = PAIR_WEIGHT,
        **kwargs,
    ):
        super().__init__(*args, **kwargs)
        if not 0 < group_weight <= 1:
            raise ValueError(f"group_weight must be in (0, 1], got {group_weight!r}")
        if not 0 < pair_weight < float("inf"):
            raise ValueError(f"pair_weight must be positive and finite, got {pair_weight!r}")
        self.group_weight = float(group_weight)
        self.pair_weight = float(pair_weight)
        self.pairs = HashedPairTable(pair_buckets) if pair_buckets else None

    def weigh_level(self, log_scores: torch.Tensor, level: int) -> torch.Tensor:
        """The levels above the last weighted by ``group_weight`` (see the class)."""
        if level == self.n_levels - 1 or self.group_weight == 1:
            return log_scores
        return log_scores * self.group_weight

    @property
    def takes_inputs(self) -> bool:
        """Whether :meth:`loss`, :meth:`topk` and :meth:`log_scores` need the input batch."""
        return self.pairs is not None

    def loss(
        self,
        features: Batch,
        labels: SparseBatch,
        sample_weight: torch.Tensor | None = None,
        inputs: Batch | None = None,
    ) -> torch.Tensor:
        """Summed per-level BCE; ``labels`` holds each row's true label ids (rows weighted: ``row_mean``).

        With the pairs' term, plus its BCE (see the class); ``inputs``: the input batch.
        """
        strides = radix_strides(self.factors)
        root = self.root_logits(features)
        n, n_groups = root.shape
        counts = torch.diff(labels.offsets, append=labels.offsets.new_tensor([labels.indices.shape[0]]))
        rows = torch.repeat_interleave(torch.arange(n, device=root.device), counts)
        positions = torch.unique(rows * n_groups + labels.indices // strides[0])
        total = _binary_cross_entropy(root, positions, sample_weight)
        scores, parents, width = root, None, n_groups
        # the summed log-sigmoids along each candidate's path, for the pairs' term only
        path = F.logsigmoid(root.detach()) if self.pairs is not None else None
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
            if path is not None:
                children = F.logsigmoid(logits.detach()).view(n, k, c)
                path = (path.gather(1, columns).unsqueeze(2) + children).flatten(1)
            scores = logits
        if path is None:
            return total
        return total + self._pairs_loss(inputs, scores, path, parents, positions, sample_weight)

    def _pairs_loss(self, inputs, logits, path, parents, positions, sample_weight) -> torch.Tensor:
        """BCE of ``z + t`` (``z`` fixed) on each row's best paths and true labels (see the class).

        ``logits``/``path``: the last level's ``(n, width)`` logits and path scores, over the
        children of ``parents`` (None with one level: the codes are the columns); ``positions``:
        the sorted flat positions of the true labels among them.
        """
        _check_inputs(inputs)
        n, width = logits.shape
        c = self.factors[-1]
        best = path.topk(min(RERANK_TRAIN, width), dim=1).indices
        keep = torch.isfinite(path.gather(1, best))  # a row may have fewer valid labels
        flat_best = torch.arange(n, device=best.device).unsqueeze(1) * width + best
        # the true labels outside the best, one row's after another: padded columns
        extra = positions[~torch.isin(positions, flat_best[keep])]
        extra_rows = extra // width
        per_row = torch.bincount(extra_rows, minlength=n)
        n_extra = int(per_row.max()) if n else 0
        first = torch.cumsum(per_row, 0) - per_row  # each row's first extra
        rank = torch.arange(extra.shape[0], device=extra.device) - first[extra_rows]
        extra_columns = best.new_zeros(n, n_extra)
        extra_columns[extra_rows, rank] = extra % width
        extra_keep = torch.zeros(n, n_extra, dtype=torch.bool, device=best.device)
        extra_keep[extra_rows, rank] = True
        columns, keep = torch.cat([best, extra_columns], 1), torch.cat([keep, extra_keep], 1)
        flat = torch.arange(n, device=best.device).unsqueeze(1) * width + columns
        target = (torch.isin(flat, positions) & keep).to(logits.dtype)
        codes = columns if parents is None else parents.gather(1, columns // c) * c + columns % c
        z = logits.detach().gather(1, columns).masked_fill(~keep, 0.0)
        z = z + self.pairs(inputs, codes).to(z.dtype)
        per_pair = F.binary_cross_entropy_with_logits(z, target, reduction="none")
        return row_mean(per_pair.masked_fill(~keep, 0.0).sum(dim=1), sample_weight)

    def _ranked_pairs(self, inputs: Batch, codes: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
        """The pairs' term of ``codes`` as the ranking counts it: ``pair_weight * t``."""
        return self.pairs(inputs, codes).to(dtype) * self.pair_weight

    def topk(self, features: Batch, k: int, inputs: Batch | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Best ``k`` labels by the beam search, with their log-scores.

        With the pairs' term the beam's best ``max(k, RERANK)`` labels (its width
        above the last level as for ``k``) are re-scored with it (``inputs``: the
        input batch) and the best ``k`` of them kept.
        """
        if self.pairs is None:
            return self.beam_search(features, k, _log_sigmoid)
        _check_inputs(inputs)
        features = precise(features)
        wide = min(max(k, RERANK), self.n_classes)
        values, codes = self.beam_search(features, wide, _log_sigmoid, width=max(k, self.n_candidate_groups))
        z = exact(self.code_logits(features, codes))
        t = self._ranked_pairs(inputs, codes, z.dtype)
        # a code the beam could not fill (-inf) stays last
        values = torch.where(torch.isfinite(values), values - F.logsigmoid(z) + F.logsigmoid(z + t), values)
        values, order = values.topk(min(k, values.shape[1]), dim=1)
        return values, codes.gather(1, order)

    def log_scores(self, features: Batch, inputs: Batch | None = None) -> torch.Tensor:
        """Log-score of every valid label, ``(n, n_classes)`` in float64 (``inputs``: as :meth:`topk`)."""
        if self.pairs is None:
            return self.expand_all(features, lambda x: F.logsigmoid(exact(x)))
        _check_inputs(inputs)

        def add_pairs(logits: torch.Tensor) -> torch.Tensor:
            n, m = logits.shape
            codes = torch.arange(self.n_classes, device=logits.device).expand(n, -1)
            t = self._ranked_pairs(inputs, codes, logits.dtype)
            return logits + F.pad(t, (0, m - self.n_classes))

        return self.expand_all(features, lambda x: F.logsigmoid(exact(x)), add_pairs)
