"""Hashed per-label linear scores over the input's columns (the "wide" term of a label).

A label (code) ``l`` gets a linear model over the input's columns whose weight
for column ``j`` is one value of a shared hashed table, ``w[bucket(l, j)]``
(the hashing trick of Vowpal Wabbit, on label-column pairs): a per-label
linear classifier, as Parabel or DiSMEC train for each label, in a fixed
memory whatever the number of labels. Only the pairs asked for are scored:

    score(r, l) = sum_{j in row r} x[r, j] * w[bucket(l, j)]

One ``embedding_bag`` over the pairs' entries: the gradient of ``w`` is sparse
(the buckets the pairs touched), for a lazy optimizer. The torch path only:
no Triton kernel yet.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

#: the hash's prime modulus (2**31 - 1) and its three odd multipliers (each below 2**31, so that
#: no product of an id below 2**31 by one of them leaves int64)
_PRIME = 2**31 - 1
_CODE_MUL, _COLUMN_MUL, _MIX_MUL = 0x5BD1E995, 0x27D4EB2F, 0x165667B1
#: ids (codes and columns) the hash takes: below 2**31
MAX_ID = 2**31


def pair_buckets(codes: torch.Tensor, columns: torch.Tensor, n_buckets: int) -> torch.Tensor:
    """Bucket of each (code, column) pair, in ``[0, n_buckets)``.

    ``(a * code + b * column) mod p``, its high bits folded into its low ones by
    a shift and xor, times ``c mod p``, modulo ``n_buckets``: linear in the ids
    but for the fold, so that shifted ids do not collide in a pattern.

    Parameters
    ----------
    codes, columns : Tensor of int64, shapes that broadcast together
        Ids in ``[0, 2**31)`` (:data:`MAX_ID`).
    n_buckets : int
        Number of buckets, in ``[1, 2**31 - 1]``.

    Returns
    -------
    buckets : Tensor of int64, the broadcast shape
    """
    mixed = torch.add((codes * _CODE_MUL).remainder_(_PRIME), (columns * _COLUMN_MUL).remainder_(_PRIME))
    mixed.remainder_(_PRIME)
    mixed.bitwise_xor_(mixed >> 15)
    return mixed.mul_(_MIX_MUL).remainder_(_PRIME).remainder_(int(n_buckets))


def _pair_entries(offsets: torch.Tensor, nnz: int, rows: torch.Tensor):
    """The stored entries of each pair's row, pair after pair: ``(entry ids, pair starts)``."""
    ends = torch.cat([offsets[1:], offsets.new_tensor([nnz])])
    starts_of_row = offsets[rows]
    counts = ends[rows] - starts_of_row
    pair_starts = torch.cumsum(counts, 0) - counts
    total = int(counts.sum()) if counts.numel() else 0
    pairs = torch.arange(rows.shape[0], device=rows.device)
    pair_of = torch.repeat_interleave(pairs, counts, output_size=total)
    within = torch.arange(total, device=rows.device) - pair_starts[pair_of]
    return starts_of_row[pair_of] + within, pair_starts, pair_of


def hashed_pair_scores(
    indices: torch.Tensor,
    offsets: torch.Tensor,
    values: torch.Tensor,
    rows: torch.Tensor,
    codes: torch.Tensor,
    weight: torch.Tensor,
) -> torch.Tensor:
    """``sum_{j in row rows[p]} x[rows[p], j] * weight[bucket(codes[p], j)]`` for each pair ``p``.

    Parameters
    ----------
    indices, offsets, values : Tensor
        The input rows in CSR form (a :class:`~skmhe.nn.SparseBatch`'s three
        tensors): ``indices`` (nnz,) int64 columns below 2**31, ``offsets``
        (n_rows,) int64 start of each row, ``values`` (nnz,) float.
    rows : Tensor of int64, shape (m,)
        Row of each pair, in ``[0, n_rows)``.
    codes : Tensor of int64, shape (m,)
        Label code of each pair, in ``[0, 2**31)``.
    weight : Tensor of shape (n_buckets, 1)
        The hashed table. Its gradient is sparse (the buckets the pairs touched).

    Returns
    -------
    scores : Tensor of shape (m,), in ``weight``'s dtype
        0 for a pair whose row stores nothing.

    Raises
    ------
    ValueError
        If ``rows`` and ``codes`` differ in shape or are not 1-D int64, or
        ``weight`` is not ``(n_buckets, 1)``.
    """
    for name, t in (("rows", rows), ("codes", codes)):
        if t.dim() != 1 or t.dtype != torch.int64:
            raise ValueError(f"{name} must be a 1-D int64 tensor, got {t.dtype} of shape {tuple(t.shape)}")
    if rows.shape != codes.shape:
        raise ValueError(
            f"rows and codes must have one entry a pair, got {rows.shape[0]} and {codes.shape[0]}"
        )
    if weight.dim() != 2 or weight.shape[1] != 1:
        raise ValueError(f"weight must be (n_buckets, 1), got {tuple(weight.shape)}")
    entries, pair_starts, pair_of = _pair_entries(offsets, indices.shape[0], rows)
    buckets = pair_buckets(codes[pair_of], indices[entries], weight.shape[0])
    scores = F.embedding_bag(
        buckets,
        weight,
        pair_starts,
        mode="sum",
        per_sample_weights=values[entries].to(weight.dtype),
        sparse=True,
    )
    return scores[:, 0]
