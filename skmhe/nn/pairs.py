"""A per-label linear model over the input's columns, in one hashed table (label-column pairs)."""

from __future__ import annotations

import torch
from torch import nn

from ..ops.hashed_pairs import hashed_pair_scores
from .layers import Batch, SparseBatch
from .pieces import concat_in_pieces

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
    the gradient is dense, and the whole table is updated by Adagrad
    (:meth:`adagrad_parameters`): a table of a few million values is cheaper
    to pass over whole than a sparse gradient of a million entries a step is
    to coalesce.

    Parameters
    ----------
    n_buckets : int
        Size of the table, >= 1.
    """

    def __init__(self, n_buckets: int):
        super().__init__()
        self.n_buckets = int(n_buckets)
        self.weight = nn.Parameter(torch.zeros(self.n_buckets, 1))

    def adagrad_parameters(self) -> list[nn.Parameter]:
        """The table: updated by Adagrad (see :func:`skmhe._training.make_optimizer`)."""
        return [self.weight]

    def forward(self, inputs: Batch, codes: torch.Tensor) -> torch.Tensor:
        """Scores of each row's codes, ``codes.shape`` ``(n, K)``, in the table's dtype.

        ``inputs``: the batch (dense ``(n, d)`` or a :class:`SparseBatch`). Without
        autograd, many codes a row are scored a few columns of ``codes`` at a time.
        """
        x = as_sparse_batch(inputs)
        if torch.is_grad_enabled() or codes.shape[1] == 0:
            return hashed_pair_scores(*x, codes, self.weight)
        step = max(1, _INFERENCE_ENTRIES // max(1, x.indices.shape[0]))
        return concat_in_pieces(
            codes.shape[1], step, lambda part: hashed_pair_scores(*x, codes[:, part], self.weight), dim=1
        )

    def extra_repr(self) -> str:
        return f"n_buckets={self.n_buckets}"
