"""A table of label (or prefix) embeddings scored only at candidate rows."""

from __future__ import annotations

import math

import torch
from torch import nn

from ..ops.candidates import score_candidates, score_children


class EmbeddingTable(nn.Module):
    """``N`` embeddings of size ``d`` with a bias each, scored against queries.

    The cascade's label embeddings and Multi-Head Sampling's full classifier.
    Training scores only candidate rows (:meth:`score`), whose gradients are
    sparse so that a lazy optimizer updates only those rows; inference may
    score every row (:meth:`score_all`).

    Parameters
    ----------
    n_rows : int
        Number of embeddings (labels or prefixes, padding included).
    dim : int
        Embedding size.
    generator : torch.Generator, optional
        Source of randomness for the initialisation.
    sparse_grad : bool or "auto", default="auto"
        Sparse gradients for :meth:`score` (see
        :func:`skmhe.ops.candidates.score_candidates`), updated lazily.
        ``"auto"``: for tables of at least 65536 rows; a smaller table is
        cheaper to update densely than to coalesce a sparse gradient for.
    """

    def __init__(
        self, n_rows: int, dim: int, *, generator: torch.Generator | None = None, sparse_grad="auto"
    ):
        super().__init__()
        self.n_rows, self.dim = int(n_rows), int(dim)
        self.sparse_grad = self.n_rows >= 65536 if sparse_grad == "auto" else bool(sparse_grad)
        bound = math.sqrt(6.0 / (dim + min(n_rows, 4 * dim)))  # Glorot, fan-out capped
        self.weight = nn.Parameter(torch.empty(n_rows, dim).uniform_(-bound, bound, generator=generator))
        self.bias = nn.Parameter(torch.zeros(n_rows, 1))  # a column: sparse gradients

    def sparse_parameters(self) -> list[tuple[nn.Parameter, bool]]:
        """Parameters with sparse gradients, each with whether L2 applies to it."""
        return [(self.weight, True), (self.bias, False)] if self.sparse_grad else []

    def score(self, query: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
        """``query[i] . weight[ids[i, j]] + bias[ids[i, j]]``, shape ``ids.shape``."""
        return score_candidates(query, self.weight, ids, self.bias, sparse=self.sparse_grad)

    def score_children(self, query: torch.Tensor, parents: torch.Tensor, n_children: int) -> torch.Tensor:
        """Scores of every child of ``parents`` (see :func:`~skmhe.ops.candidates.score_children`).

        Row ``p * n_children + j`` of the table is child ``j`` of prefix ``p``;
        the result is ``(n, k * n_children)`` in :func:`~skmhe.ops.candidates.child_codes` order.
        """
        return score_children(query, self.weight, parents, n_children, self.bias, sparse=self.sparse_grad)

    def score_all(self, query: torch.Tensor, n_rows: int | None = None) -> torch.Tensor:
        """Scores of the first ``n_rows`` embeddings (default all), shape ``(n, n_rows)``."""
        n_rows = self.n_rows if n_rows is None else n_rows
        weight, bias = self.weight[:n_rows], self.bias[:n_rows, 0]
        return torch.addmm(bias.to(query.dtype), query, weight.to(query.dtype).t())

    def extra_repr(self) -> str:
        return f"n_rows={self.n_rows}, dim={self.dim}, sparse_grad={self.sparse_grad}"
