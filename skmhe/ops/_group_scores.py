"""Whole groups of a label table scored against the rows that picked them: one small GEMM a group.

A cascade level (and a sampled slice) scores, for each row ``i`` and each of its ``k``
parents ``p``, the ``C`` children ``table[p * C : (p + 1) * C]``. Gathering those
``C x d`` blocks row by row reads ``n * k * C * d`` values of the table a pass: at 1e6
labels and a batch of 1,024 rows, a gigabyte, the largest cost of a training step.
Here the ``(row, parent)`` pairs are sorted by parent and cut into slots of at most
``R`` pairs of one parent; each slot is one ``(R, d) @ (d, C)`` product. A group's block is
then read once per slot, not once per row, and the table's gradient comes out summed per
group with no scatter of per-row blocks (``benchmarks/RESULTS.md``, "Scale").
"""

from __future__ import annotations

import math

import torch

#: values of the gathered ``(slots, C, d)`` table blocks materialised at once: larger ones
#: leave the cache and cost several times more per value
BLOCK_ELEMENTS = 2**22
#: most pairs a slot holds: a popular group takes several slots
MAX_SLOT_ROWS = 64


class _Slots:
    """The ``(row, parent)`` pairs of a batch, sorted by parent and cut into slots.

    Attributes
    ----------
    unique : Tensor of int64, shape (U,)
        The distinct parents, ascending.
    group : Tensor of int64, shape (S,)
        Index into ``unique`` of each slot's parent (non-decreasing).
    pairs : Tensor of int64, shape (S, R)
        The pair ids ``i * k + j`` of each slot; ``n * k`` marks an empty lane.
    rows : Tensor of int64, shape (S, R)
        ``pairs // k``; ``n`` for an empty lane (a zero query row).
    """

    def __init__(self, parents: torch.Tensor):
        n, k = parents.shape
        flat = parents.reshape(-1)
        n_pairs = flat.shape[0]
        order = torch.argsort(flat, stable=True)
        self.unique, counts = torch.unique_consecutive(flat[order], return_counts=True)
        mean = n_pairs / max(1, self.unique.shape[0])
        width = int(min(MAX_SLOT_ROWS, 2 ** max(0, math.ceil(math.log2(max(1.0, mean))))))
        per_group = (counts + width - 1) // width
        group_ids = torch.arange(self.unique.shape[0], device=flat.device)
        self.group = torch.repeat_interleave(group_ids, per_group)
        first_pair = torch.cumsum(counts, 0) - counts
        first_slot = torch.cumsum(per_group, 0) - per_group
        position = torch.arange(n_pairs, device=flat.device) - torch.repeat_interleave(first_pair, counts)
        slot = torch.repeat_interleave(first_slot, counts) + position // width
        self.pairs = torch.full((self.group.shape[0], width), n_pairs, dtype=torch.int64, device=flat.device)
        self.pairs[slot, position % width] = order
        self.rows = torch.where(self.pairs < n_pairs, self.pairs // max(1, k), n)

    def blocks(self, values_per_slot: int):
        """Consecutive slot ranges whose gathered blocks stay within :data:`BLOCK_ELEMENTS`."""
        step = max(1, BLOCK_ELEMENTS // max(1, values_per_slot))
        n_slots = self.group.shape[0]
        return [(a, min(n_slots, a + step)) for a in range(0, n_slots, step)]


def _padded(t: torch.Tensor) -> torch.Tensor:
    """``t`` with one zero row appended (the target of empty slot lanes)."""
    return torch.cat([t, t.new_zeros((1, *t.shape[1:]))])


class GroupScores(torch.autograd.Function):
    """``query[i] . table[p*C + j] + bias[p*C + j]`` for every child ``j`` of each parent ``p`` of row ``i``.

    Forward ``(query (n, d), table (N, d), bias (N, 1) or None, parents (n, k), C,
    sparse, bias_sparse)`` to scores ``(n, k * C)`` in
    :func:`~skmhe.ops.candidates.child_codes` order, in the query's dtype. The
    gradients of the table and of the bias are summed once per distinct parent into
    ``(groups, C, d)`` and ``(groups, C)`` buffers: returned as coalesced sparse
    tensors over those groups' rows (``sparse``, ``bias_sparse``), or scattered
    into dense ones.
    """

    @staticmethod
    def forward(ctx, query, table, bias, parents, n_children: int, sparse: bool, bias_sparse: bool):
        n, k = parents.shape
        c, d = n_children, table.shape[1]
        groups = table.reshape(-1, c * d)  # a group a row: a 2-D gather copies 2x faster than a 3-D one
        bias_groups = None if bias is None else bias.reshape(-1, c)
        slots = _Slots(parents)
        padded_query = _padded(query)
        out = query.new_empty((n * k + 1, c))
        gather = _Gather(groups, slots)
        for a, b in slots.blocks(c * d):
            picked, block = gather(a, b)
            block = block.to(query.dtype).view(-1, c, d)  # (s, C, d)
            # (s, C, R), then turned: a quarter cheaper than the (s, R, d) @ (s, d, C) product
            # (327 slots of 8 rows, d = 128, C = 100, 1 thread; ``benchmarks/RESULTS.md``, "Scale")
            scored = torch.bmm(block, padded_query[slots.rows[a:b]].transpose(1, 2))
            if bias_groups is not None:
                scored += bias_groups.index_select(0, picked).to(query.dtype).unsqueeze(2)
            out[slots.pairs[a:b].reshape(-1)] = scored.transpose(1, 2).reshape(-1, c)
        ctx.save_for_backward(query, table)
        ctx.slots, ctx.n_children, ctx.sparse, ctx.bias_sparse = slots, n_children, sparse, bias_sparse
        ctx.bias_shape = None if bias is None else bias.shape
        return out[: n * k].reshape(n, k * c)

    @staticmethod
    def backward(ctx, grad_scores):
        query, table = ctx.saved_tensors
        slots, c, d = ctx.slots, ctx.n_children, table.shape[1]
        n = query.shape[0]
        groups = table.reshape(-1, c * d)
        padded_grad = _padded(grad_scores.reshape(-1, c).to(query.dtype))
        padded_query = _padded(query)
        want_query, want_table, want_bias = ctx.needs_input_grad[:3]
        grad_query = query.new_zeros((n + 1, d)) if want_query else None
        summed = query.new_zeros((slots.unique.shape[0], c, d)) if want_table else None
        summed_bias = query.new_zeros((slots.unique.shape[0], c)) if want_bias else None
        gather = _Gather(groups, slots)
        blocks = slots.blocks(c * d)
        per_slot = query.new_empty((max(b - a for a, b in blocks), c, d)) if want_table and blocks else None
        for a, b in blocks:
            grad_out = padded_grad[slots.pairs[a:b]]  # (s, R, C)
            if want_query:
                block = gather(a, b)[1].to(query.dtype).view(-1, c, d)
                to_rows = torch.bmm(grad_out, block).reshape(-1, d)
                grad_query.index_add_(0, slots.rows[a:b].reshape(-1), to_rows)
            if want_table:  # into one buffer reused by every block (a fresh one costs its page faults)
                torch.bmm(grad_out.transpose(1, 2), padded_query[slots.rows[a:b]], out=per_slot[: b - a])
                summed.index_add_(0, slots.group[a:b], per_slot[: b - a])
            if want_bias:
                summed_bias.index_add_(0, slots.group[a:b], grad_out.sum(1))
        grad_table = grad_bias = None
        if want_table:
            grad_table = _per_group_gradient(summed.to(table.dtype), slots.unique, table.shape, ctx.sparse)
        if want_bias:
            grad_bias = _per_group_gradient(
                summed_bias.to(table.dtype), slots.unique, ctx.bias_shape, ctx.bias_sparse
            )
        return (grad_query[:n] if want_query else None), grad_table, grad_bias, None, None, None, None


class _Gather:
    """The groups of a range of slots (their ids, and their rows gathered into one buffer reused by
    every range)."""

    def __init__(self, groups: torch.Tensor, slots: _Slots):
        self.groups, self.slots, self.buffer = groups, slots, None

    def __call__(self, a: int, b: int) -> tuple[torch.Tensor, torch.Tensor]:
        picked = self.slots.unique[self.slots.group[a:b]]
        if self.buffer is None or self.buffer.shape[0] < b - a:
            self.buffer = self.groups.new_empty((b - a, self.groups.shape[1]))
        return picked, torch.index_select(self.groups, 0, picked, out=self.buffer[: b - a])


def _per_group_gradient(summed: torch.Tensor, unique: torch.Tensor, shape, sparse: bool) -> torch.Tensor:
    """A table's gradient from its ``(groups, C, ...)`` sums over the distinct groups ``unique``.

    Row ``p * C + j`` of the table is child ``j`` of group ``p``. Sparse: a coalesced COO
    tensor over those groups' rows; else a dense zero table with those rows filled.
    """
    c = summed.shape[1]
    values = summed.reshape(-1, *shape[1:])
    if sparse:
        rows = (unique.unsqueeze(1) * c + torch.arange(c, device=unique.device)).reshape(1, -1)
        return torch.sparse_coo_tensor(rows, values, shape, is_coalesced=True, check_invariants=False)
    dense = torch.zeros((shape[0] // c, c, *shape[1:]), dtype=summed.dtype, device=summed.device)
    return dense.index_copy_(0, unique, summed.reshape(-1, c, *shape[1:])).reshape(shape)
