"""Candidate gathering and scoring, shared by every cascade and by sampling.

The cascade (single- and multi-label) and Multi-Head Sampling never score the
whole label space while training: they pick a few groups (prefixes of the
mixed-radix code), list the labels inside them, and score only those labels
against a table of label embeddings. These functions are the one
implementation of each step:

* :func:`select_candidates` -- the top-``k`` entries of a score matrix, with
  forced entries (ground truth during training) always kept;
* :func:`child_codes` -- the codes of the children of the given prefixes;
* :func:`score_candidates` -- ``<query_i, table[id]> + bias[id]`` for the
  listed ids only, differentiable (sparse gradients optional);
* :func:`score_children` -- the same for whole groups (all children of a
  prefix), the form every cascade level and sampled slice takes;
* :func:`sample_groups` -- the ground-truth group plus distinct random ones;
* :func:`best_codes` -- one step of a beam search over codes.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ._group_scores import GroupScores
from .topk import _select


#: score the distinct ids of a batch with one matrix product when there are at most this
#: many times the candidates of a row (a dense product is ~20x faster per value than
#: gathering one embedding per candidate)
_SHARED_ROUTE_RATIO = 8

#: :func:`score_children` scores the groups of each row (one small product per group, see
#: :class:`~skmhe.ops._group_scores.GroupScores`) unless the batch has at most this many times a
#: row's groups distinct groups, where one product over all of them is as cheap (815 rows, 10
#: groups a row of 128 or 489 labels, d = 128, 1 thread: equal at 2x, the grouped route 2.8x and
#: 5.4x cheaper at 4x and 8x)
_SHARED_GROUPS_RATIO = 2


def _check_2d_int(name: str, t: torch.Tensor) -> None:
    if not isinstance(t, torch.Tensor) or t.dim() != 2 or t.dtype != torch.int64:
        shape = tuple(t.shape) if isinstance(t, torch.Tensor) else type(t).__name__
        raise ValueError(f"{name} must be a 2-D int64 tensor, got {shape}")


def select_candidates(
    scores: torch.Tensor, k: int, forced: torch.Tensor | None = None
) -> torch.Tensor:
    """Columns of the ``k`` best scores of each row, forced columns always in.

    Parameters
    ----------
    scores : Tensor of shape (n, m)
        Any real scores (only their order matters; gradients are not kept).
        ``-inf`` marks a column that may only be taken when forced.
    k : int
        Number of columns to keep, ``1 <= k``; capped at ``m``.
    forced : Tensor of bool, shape (n, m), optional
        Columns that must be kept (the ground truth while training). When a
        row forces more than ``k`` columns, every row gets
        ``max(forced per row)`` columns so that none is dropped.

    Returns
    -------
    columns : Tensor of int64, shape (n, k')
        Forced columns first, then by decreasing score (ties to the smaller
        column); ``k' = min(m, max(k, forced.sum(1).max()))``.
    """
    if scores.dim() != 2:
        raise ValueError(f"scores must be 2-D, got shape {tuple(scores.shape)}")
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    n, m = scores.shape
    s = scores.detach()
    width = min(m, k)
    if forced is not None:
        if forced.shape != scores.shape or forced.dtype != torch.bool:
            raise ValueError(f"forced must be a bool tensor of shape {tuple(scores.shape)}")
        if n:
            width = min(m, max(width, int(forced.sum(dim=1).max())))
    if n == 0 or width == 0:
        return torch.zeros((n, width), dtype=torch.int64, device=s.device)
    # linear in m (no sort of the whole row): the best `width` columns by score, plus the
    # forced ones; only those few are then ordered
    columns = torch.arange(m, device=s.device).expand(n, m)
    picked = _select(s, columns, width)[1]
    if forced is not None:
        n_forced = int(forced.sum(dim=1).max())
        if n_forced:
            picked = torch.cat([picked, torch.topk(forced.to(torch.int8), n_forced, dim=1).indices], dim=1)
    picked = torch.sort(picked, dim=1).values
    rank = torch.zeros(picked.shape, dtype=torch.int8, device=s.device)
    if forced is not None:
        rank = forced.gather(1, picked).to(torch.int8)
    rank[:, 1:][picked[:, 1:] == picked[:, :-1]] = -1  # a column listed twice: its copy goes last
    order = torch.sort(s.gather(1, picked), dim=1, descending=True, stable=True).indices
    order = order.gather(1, torch.sort(rank.gather(1, order), dim=1, descending=True, stable=True).indices)
    return picked.gather(1, order)[:, :width]


def child_codes(parents: torch.Tensor, n_children: int) -> torch.Tensor:
    """Codes of all children of each prefix: ``parent * n_children + j``.

    Parameters
    ----------
    parents : Tensor of int64, shape (n, k)
        Prefix codes.
    n_children : int
        Radix of the next level.

    Returns
    -------
    codes : Tensor of int64, shape (n, k * n_children)
        Children of ``parents[:, 0]`` first, each block in ascending order.
    """
    _check_2d_int("parents", parents)
    local = torch.arange(n_children, device=parents.device)
    return (parents.unsqueeze(2) * n_children + local).reshape(parents.shape[0], parents.shape[1] * n_children)


def _check_scoring(query: torch.Tensor, table: torch.Tensor, rows: int) -> None:
    if query.dim() != 2 or table.dim() != 2 or query.shape[1] != table.shape[1]:
        raise ValueError(
            f"query (n, d) and table (N, d) must agree on d, got {tuple(query.shape)} "
            f"and {tuple(table.shape)}"
        )
    if rows != query.shape[0]:
        raise ValueError(f"ids has {rows} rows, query {query.shape[0]}")


def _bias_column(bias: torch.Tensor | None, sparse: bool) -> tuple[torch.Tensor | None, bool]:
    """The bias as an ``(N, 1)`` column, and whether its gradient can be sparse."""
    if bias is None:
        return None, sparse
    # a sparse gradient cannot flow back through a view: only an (N, 1) bias gets one
    return (bias if bias.dim() == 2 else bias.unsqueeze(1)), sparse and bias.dim() == 2


def _score_shared(query, table, column, unique, inverse, sparse, bias_sparse) -> torch.Tensor:
    """Score the distinct ids ``unique`` with one matrix product, then pick ``inverse``."""
    shared = F.embedding(unique, table, sparse=sparse).to(query.dtype)  # (u, d)
    scores = (query @ shared.t()).gather(1, inverse)
    if column is not None:
        scores = scores + F.embedding(unique, column, sparse=bias_sparse).squeeze(1).to(query.dtype)[inverse]
    return scores


def _score_gathered(query, table, column, ids, sparse, bias_sparse) -> torch.Tensor:
    """Gather one embedding per candidate, ``(n, m, d)``, and take its dot product with the query."""
    gathered = F.embedding(ids, table, sparse=sparse)  # (n, m, d)
    scores = torch.bmm(gathered.to(query.dtype), query.unsqueeze(2)).squeeze(2)
    if column is not None:
        scores = scores + F.embedding(ids, column, sparse=bias_sparse).squeeze(2).to(query.dtype)
    return scores


def score_candidates(
    query: torch.Tensor,
    table: torch.Tensor,
    ids: torch.Tensor,
    bias: torch.Tensor | None = None,
    *,
    sparse: bool = False,
) -> torch.Tensor:
    """Scores of the listed labels only: ``query[i] . table[ids[i, j]] + bias[ids[i, j]]``.

    Costs ``O(n * m * d)`` for ``m`` candidates per row, whatever the table
    size; the gradient reaches only the gathered rows of ``table`` and
    ``bias`` (as sparse tensors when ``sparse=True``). When the batch's rows
    share most of their candidates (at most ``8 * m`` distinct ids), the
    distinct ids are scored by one matrix product instead, which gives the same
    values much faster.

    Parameters
    ----------
    query : Tensor of shape (n, d)
    table : Tensor of shape (N, d)
        One embedding per label (or prefix).
    ids : Tensor of int64, shape (n, m)
        Rows of ``table`` to score for each query, in ``[0, N)``.
    bias : Tensor of shape (N,) or (N, 1), optional
        Only an ``(N, 1)`` bias gets a sparse gradient; an ``(N,)`` one a dense one.
    sparse : bool, default=False
        Sparse gradients for ``table`` and ``bias``.

    Returns
    -------
    scores : Tensor of shape (n, m)

    See Also
    --------
    score_children : the same for the children of prefixes (whole groups), faster.
    """
    _check_2d_int("ids", ids)
    _check_scoring(query, table, ids.shape[0])
    if ids.numel() and (int(ids.min()) < 0 or int(ids.max()) >= table.shape[0]):
        raise ValueError(f"ids must lie in [0, {table.shape[0]})")
    column, bias_sparse = _bias_column(bias, sparse)
    unique, inverse = torch.unique(ids, return_inverse=True)
    if unique.numel() <= _SHARED_ROUTE_RATIO * ids.shape[1]:
        return _score_shared(query, table, column, unique, inverse, sparse, bias_sparse)
    return _score_gathered(query, table, column, ids, sparse, bias_sparse)


def score_children(
    query: torch.Tensor,
    table: torch.Tensor,
    parents: torch.Tensor,
    n_children: int,
    bias: torch.Tensor | None = None,
    *,
    sparse: bool = False,
) -> torch.Tensor:
    """Scores of all children of the given prefixes (whole groups of labels).

    The same values as ``score_candidates(query, table, child_codes(parents,
    n_children), bias, sparse=sparse)``, computed faster: the children of a
    prefix are ``n_children`` consecutive rows of ``table`` (a group), so the
    rows that picked a group are scored against it by one small matrix product
    (:class:`~skmhe.ops._group_scores.GroupScores`), which reads each group once
    per slot of rows instead of once per row, and sums its gradient per group.
    Rows sharing most of their groups (at most ``32 * k`` distinct ones) take one
    matrix product over the distinct groups instead (see :func:`score_candidates`).

    Parameters
    ----------
    query : Tensor of shape (n, d)
    table : Tensor of shape (N, d)
        ``N`` a multiple of ``n_children``: row ``p * n_children + j`` is
        child ``j`` of prefix ``p``.
    parents : Tensor of int64, shape (n, k)
        Prefixes of each row, in ``[0, N / n_children)``.
    n_children : int
        Children per prefix (the next level's radix).
    bias : Tensor of shape (N,) or (N, 1), optional
    sparse : bool, default=False
        Sparse gradients for ``table`` and an ``(N, 1)`` bias.

    Returns
    -------
    scores : Tensor of shape (n, k * n_children)
        In the order of :func:`child_codes`.
    """
    _check_2d_int("parents", parents)
    _check_scoring(query, table, parents.shape[0])
    n_groups, rest = divmod(table.shape[0], n_children)
    if n_children < 1 or rest:
        raise ValueError(f"table rows ({table.shape[0]}) must be a multiple of n_children ({n_children})")
    if parents.numel() and (int(parents.min()) < 0 or int(parents.max()) >= n_groups):
        raise ValueError(f"parents must lie in [0, {n_groups})")
    column, bias_sparse = _bias_column(bias, sparse)
    n, k = parents.shape
    unique, inverse = torch.unique(parents, return_inverse=True)
    if unique.numel() <= _SHARED_GROUPS_RATIO * k:
        local = torch.arange(n_children, device=parents.device)
        columns = (inverse.unsqueeze(2) * n_children + local).reshape(n, k * n_children)
        ids = child_codes(unique.unsqueeze(0), n_children).squeeze(0)
        return _score_shared(query, table, column, ids, columns, sparse, bias_sparse)
    scores = GroupScores.apply(query, table, column, parents, n_children, sparse, bias_sparse)
    return scores


def sample_groups(
    true_groups: torch.Tensor, n_groups: int, n_sampled: int, generator: torch.Generator | None = None
) -> torch.Tensor:
    """The true group of each row followed by distinct, uniformly drawn other groups.

    Parameters
    ----------
    true_groups : Tensor of int64, shape (n,)
        Ground-truth group of each row, in ``[0, n_groups)``.
    n_groups : int
        Number of groups to draw from.
    n_sampled : int
        Groups per row, the true one included; capped at ``n_groups``.
    generator : torch.Generator, optional
        Source of the draws (CPU); the global RNG is untouched.

    Returns
    -------
    groups : Tensor of int64, shape (n, min(n_sampled, n_groups))
        Column 0 is ``true_groups``; the other columns are distinct, differ
        from column 0, and are a uniform draw without replacement.
    """
    if true_groups.dim() != 1:
        raise ValueError(f"true_groups must be 1-D, got shape {tuple(true_groups.shape)}")
    if n_sampled < 1:
        raise ValueError(f"n_sampled must be >= 1, got {n_sampled}")
    n = true_groups.shape[0]
    width = min(n_sampled, n_groups)
    if width == 1:
        return true_groups.unsqueeze(1)
    # distinct draws from the n_groups - 1 other groups: random keys, smallest width - 1
    keys = torch.rand((n, n_groups - 1), generator=generator)
    others = torch.topk(keys, width - 1, dim=1, largest=False).indices.to(true_groups.device)
    others = others + (others >= true_groups.unsqueeze(1)).long()  # skip the true group
    return torch.cat([true_groups.unsqueeze(1), others], dim=1)


def best_codes(
    values: torch.Tensor, codes: torch.Tensor, k: int, *, ascending: bool = False
) -> tuple[torch.Tensor, torch.Tensor]:
    """The ``k`` best ``(value, code)`` pairs of each row, ties to the smaller code.

    Parameters
    ----------
    values : Tensor of shape (n, m)
    codes : Tensor of int64, shape (n, m)
        In any order.
    ascending : bool, default=False
        The codes are already ascending along each row (the children of sorted
        prefixes): no sort is needed.
    k : int
        Capped at ``m``.

    Returns
    -------
    values, codes : Tensors of shape (n, min(k, m)), best first.
    """
    if not ascending:
        codes, order = torch.sort(codes, dim=1)
        values = values.gather(1, order)
    return _select(values, codes, min(k, codes.shape[1]))
