"""Hashed per-label linear scores over the input's columns (the "wide" term of a label).

A label (code) ``l`` gets a linear model over the input's columns whose weight
for column ``j`` is one value of a shared hashed table, ``w[bucket(l, j)]``
(the hashing trick of Vowpal Wabbit, on label-column pairs): a per-label
linear classifier, as Parabel or DiSMEC train for each label, in a fixed
memory whatever the number of labels. Only the pairs asked for are scored:

    score(r, l) = sum_{j in row r} x[r, j] * w[bucket(l, j)]

Each row scores its own list of codes (a ``(n, K)`` matrix): one gather of
``w`` and one sum per row forward, one scatter-add into a zeroed table
backward (the gradient of ``w`` is dense). The torch path only: no Triton
kernel yet.
"""

from __future__ import annotations

import torch

#: the hash's prime modulus (2**31 - 1) and its three odd multipliers (each below 2**31, so that
#: no product of an id below 2**31, or of a sum of two parts below 2**32, by one leaves int64)
_PRIME = 2**31 - 1
_CODE_MUL, _COLUMN_MUL, _MIX_MUL = 0x5BD1E995, 0x27D4EB2F, 0x165667B1
#: the sum's high bits folded into its low ones by this shift (an xor: not linear, so that ids
#: in arithmetic progression, whose parts are too, do not land on a lattice); the bits of the
#: final product that make a bucket start at ``_MIX_SHIFT``
_FOLD, _MIX_SHIFT = 15, 16
#: ids (codes and columns) the hash takes: below 2**31
MAX_ID = 2**31


def _code_part(codes: torch.Tensor) -> torch.Tensor:
    return (codes * _CODE_MUL).remainder_(_PRIME)


def _column_part(columns: torch.Tensor) -> torch.Tensor:
    return (columns * _COLUMN_MUL).remainder_(_PRIME)


def _mix(code_part: torch.Tensor, column_part: torch.Tensor, n_buckets: int) -> torch.Tensor:
    """The buckets of the pairs whose id parts (each in ``[0, p)``) are given."""
    mixed = torch.add(code_part, column_part)
    mixed.bitwise_xor_(mixed >> _FOLD).mul_(_MIX_MUL).bitwise_right_shift_(_MIX_SHIFT)
    n_buckets = int(n_buckets)
    if n_buckets & (n_buckets - 1) == 0:  # a power of two: its low bits
        return mixed.bitwise_and_(n_buckets - 1)
    return mixed.remainder_(n_buckets)


def pair_buckets(codes: torch.Tensor, columns: torch.Tensor, n_buckets: int) -> torch.Tensor:
    """Bucket of each (code, column) pair, in ``[0, n_buckets)``.

    ``v = (a * code) mod p + (b * column) mod p`` (``p = 2**31 - 1``), its
    high bits folded into its low ones (``v ^ (v >> 15)``: not linear, so
    that ids in arithmetic progression do not land on a lattice), times ``c``
    (below 2**63), shifted right by 16 bits, modulo ``n_buckets`` (its low
    bits for a power of two): multiplicative hashing of the folded sum. Only
    the sum and what follows are computed per pair; the id parts once per
    code and per column.

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
    return _mix(_code_part(codes), _column_part(columns), n_buckets)


def hashed_pair_scores(
    indices: torch.Tensor,
    offsets: torch.Tensor,
    values: torch.Tensor,
    codes: torch.Tensor,
    weight: torch.Tensor,
) -> torch.Tensor:
    """``scores[r, k] = sum_{j in row r} x[r, j] * weight[bucket(codes[r, k], j)]``.

    Parameters
    ----------
    indices, offsets, values : Tensor
        The input rows in CSR form (a :class:`~skmhe.nn.SparseBatch`'s three
        tensors): ``indices`` (nnz,) int64 columns below 2**31, ``offsets``
        (n_rows,) int64 start of each row, ``values`` (nnz,) float.
    codes : Tensor of int64, shape (n_rows, K)
        The label codes each row scores, in ``[0, 2**31)``.
    weight : Tensor of shape (n_buckets, 1)
        The hashed table; its gradient is dense.

    Returns
    -------
    scores : Tensor of shape (n_rows, K), in ``weight``'s dtype
        0 in a row that stores nothing.

    Raises
    ------
    ValueError
        If ``codes`` is not a 2-D int64 tensor of one row a row of the batch,
        or ``weight`` is not ``(n_buckets, 1)``.
    """
    n = offsets.shape[0]
    if codes.dim() != 2 or codes.dtype != torch.int64 or codes.shape[0] != n:
        raise ValueError(
            f"codes must be a 2-D int64 tensor of {n} rows (one a row of the batch), "
            f"got {codes.dtype} of shape {tuple(codes.shape)}"
        )
    if weight.dim() != 2 or weight.shape[1] != 1:
        raise ValueError(f"weight must be (n_buckets, 1), got {tuple(weight.shape)}")
    nnz = indices.shape[0]
    counts = torch.diff(offsets, append=offsets.new_tensor([nnz]))
    row_of = torch.repeat_interleave(torch.arange(n, device=offsets.device), counts, output_size=nnz)
    # each id's part of the hash once, then the (entry, code) sums: (nnz, K)
    buckets = _mix(_code_part(codes)[row_of], _column_part(indices).unsqueeze(1), weight.shape[0])
    return _BucketSums.apply(weight, buckets, values.to(weight.dtype), row_of, n)


class _BucketSums(torch.autograd.Function):
    """``out[r, k] = sum_{e in row r} values[e] * weight[buckets[e, k], 0]``; a dense gradient.

    Forward a gather and a sum per row, backward one scatter-add into a zeroed
    table: no sort of the entries (``embedding_bag``'s dense backward sorts them,
    which cost more than the rest of the pairs' step on the CPU).
    """

    @staticmethod
    def forward(ctx, weight, buckets, values, row_of, n_rows):
        ctx.save_for_backward(buckets, values, row_of)
        ctx.n_buckets = weight.shape[0]
        products = weight.view(-1).index_select(0, buckets.view(-1)).view(buckets.shape)
        products.mul_(values.unsqueeze(1))
        return products.new_zeros(n_rows, buckets.shape[1]).index_add_(0, row_of, products)

    @staticmethod
    def backward(ctx, grad_out):
        buckets, values, row_of = ctx.saved_tensors
        grad = None
        if ctx.needs_input_grad[0]:
            per_entry = grad_out.index_select(0, row_of).mul_(values.unsqueeze(1))
            grad = per_entry.new_zeros(ctx.n_buckets)
            grad.index_add_(0, buckets.reshape(-1), per_entry.reshape(-1))
            grad = grad.unsqueeze(1)
        return grad, None, None, None, None
