"""A per-label linear model over the input's columns, in one hashed table (label-column pairs)."""

from __future__ import annotations

import torch
from torch import nn

from ..ops.hashed_pairs import hashed_pair_scores
from .layers import Batch, SparseBatch

#: pairs' stored entries scored at a time without autograd (inference over many labels a row)
_INFERENCE_ENTRIES = 1 << 22


def as_sparse_batch(x: Batch) -> SparseBatch:
    """``x`` as a :class:`SparseBatch`: a dense ``(n, d)`` tensor's non-zeros, row by row."""
    if isinstance(x, SparseBatch):
        return x
    rows, columns = x.nonzero(as_tuple=True)  # row-major order
    counts = torch.bincount(rows, minlength=x.shape[0])
    return SparseBatch(columns, torch.cumsum(counts, 0) - counts, x[rows, columns])


class HashedPairTable(nn.Module):
    """``score(r, l) = sum_j x[r, j] * w[bucket(l, j)]``: a linear model per label, hashed.

    A label ``l`` (code) weighs column ``j`` of the input by one value of a
    shared table of ``n_buckets`` (see :mod:`skmhe.ops.hashed_pairs`): the
    per-label linear classifiers of Parabel or DiSMEC, in a memory fixed
    whatever the number of labels, at the price of collisions. Starts at
    zero (adds nothing until trained). Only the pairs asked for are scored;
    the gradient is sparse, updated lazily (row-wise Adagrad on rows of one
    value, :data:`lazy_kind`).

    Parameters
    ----------
    n_buckets : int
        Size of the table, >= 1.
    """

    #: which lazy optimizer updates the table (see :func:`skmhe._training.make_optimizer`)
    lazy_kind = "pairs"

    def __init__(self, n_buckets: int):
        super().__init__()
        self.n_buckets = int(n_buckets)
        self.weight = nn.Parameter(torch.zeros(self.n_buckets, 1))

    def sparse_parameters(self) -> list[tuple[nn.Parameter, bool]]:
        """The table, with sparse gradients, without L2."""
        return [(self.weight, False)]

    def forward(self, inputs: Batch, rows: torch.Tensor, codes: torch.Tensor) -> torch.Tensor:
        """Scores of the pairs ``(rows[p], codes[p])``, shape ``(m,)`` in the table's dtype.

        ``inputs``: the batch (dense ``(n, d)`` or a :class:`SparseBatch`) whose rows
        ``rows`` index. Without autograd, long lists of pairs are scored in pieces.
        """
        x = as_sparse_batch(inputs)
        if torch.is_grad_enabled() or rows.shape[0] == 0:
            return hashed_pair_scores(*x, rows, codes, self.weight)
        per_row = max(1, x.indices.shape[0] // max(1, x.n_rows))
        step = max(1, _INFERENCE_ENTRIES // per_row)
        return torch.cat(
            [
                hashed_pair_scores(*x, rows[a : a + step], codes[a : a + step], self.weight)
                for a in range(0, rows.shape[0], step)
            ]
        )

    def extra_repr(self) -> str:
        return f"n_buckets={self.n_buckets}"
