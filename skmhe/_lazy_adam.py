"""Lazy Adam on dense row blocks: ``torch.optim.SparseAdam``'s update, several times cheaper on the CPU."""

from __future__ import annotations

import math

import torch

from ._lazy_rows import LazyRowOptimizer, chunk_rows, row_buffers


#: a gradient over at least this share of a table's rows updates the whole table with
#: Adam's fused kernel, then puts the untouched rows back. Both routes with their buffers
#: kept, 1 thread, 1e6 x 128 and 131,072 x 1,024 tables: rows route 0.39 / 0.54 / 0.61 /
#: 0.73 s at 30 / 50 / 70 / 90 % of the rows, whole-table route 1.28 / 1.14 / 0.80 / 0.46 s
#: (the same within 10 % on the wider table; ``benchmarks/RESULTS.md``, "Scale")
DENSE_SHARE = 0.8


def _update_rows(param, rows, values, state, scratch, lr, beta1, beta2, eps, decay, step) -> None:
    """``SparseAdam``'s update of ``rows`` on their gathered ``(rows, d)`` blocks."""
    exp_avg, exp_avg_sq = row_buffers(scratch, param, rows.shape[0])
    if decay:  # the gradient's own values take the coupled L2 (they are used once)
        values.add_(torch.index_select(param, 0, rows, out=exp_avg), alpha=decay)
    torch.index_select(state["exp_avg"], 0, rows, out=exp_avg)
    torch.index_select(state["exp_avg_sq"], 0, rows, out=exp_avg_sq)
    exp_avg.lerp_(values, 1 - beta1)
    exp_avg_sq.mul_(beta2).addcmul_(values, values, value=1 - beta2)
    state["exp_avg"].index_copy_(0, rows, exp_avg)
    state["exp_avg_sq"].index_copy_(0, rows, exp_avg_sq)
    step_size = lr * math.sqrt(1 - beta2**step) / (1 - beta1**step)
    exp_avg.div_(exp_avg_sq.sqrt_().add_(eps))
    param.index_add_(0, rows, exp_avg, alpha=-step_size)


def _update_most_rows(param, rows, values, state, scratch, lr, beta1, beta2, eps, decay, step) -> None:
    """The same update as :func:`_update_rows`, for a gradient over most rows of ``param``.

    Adam's fused kernel runs over the whole table (a zero gradient on the other rows), then
    the rows the gradient does not hold get their weights and moments back. ``eps`` is
    scaled so that the kernel's denominator ``sqrt(v / (1 - beta2**t)) + eps'`` is
    ``SparseAdam``'s ``(sqrt(v) + eps) / sqrt(1 - beta2**t)``. The table is taken a chunk
    at a time (:func:`~skmhe._lazy_rows.chunk_rows`; ``rows`` ascending, as coalesced): the
    chunk's dense gradient and its saved untouched rows live in buffers of a chunk's size
    kept in ``scratch`` (a fresh block costs its page faults every step), not of the table's.
    """
    table = param.view(param.shape[0], -1)
    moments = (state["exp_avg"].view_as(table), state["exp_avg_sq"].view_as(table))
    step_rows = chunk_rows(param)
    grad, *kept = row_buffers(scratch, param, min(step_rows, table.shape[0]), count=4, purpose="chunk")
    grad, kept = grad.view(-1, table.shape[1]), [k.view(-1, table.shape[1]) for k in kept]
    starts = torch.arange(0, table.shape[0] + step_rows, step_rows, device=rows.device)
    bounds = torch.searchsorted(rows, starts.clamp_(max=table.shape[0])).tolist()
    values = values.reshape(rows.shape[0], -1)
    untouched = torch.ones(table.shape[0], dtype=torch.bool, device=param.device)
    untouched[rows] = False
    counter = [torch.tensor(float(step), dtype=torch.float32, device=param.device)]
    correction = math.sqrt(1 - beta2**step)
    for i, first in enumerate(range(0, table.shape[0], step_rows)):
        last = min(first + step_rows, table.shape[0])
        present = rows[bounds[i] : bounds[i + 1]] - first
        tensors = (table[first:last], moments[0][first:last], moments[1][first:last])
        others = untouched[first:last].nonzero().squeeze(1)
        saved = [torch.index_select(t, 0, others, out=k[: others.shape[0]]) for t, k in zip(tensors, kept)]
        chunk_grad = grad[: last - first].zero_().index_copy_(0, present, values[bounds[i] : bounds[i + 1]])
        torch._fused_adam_(
            [tensors[0]], [chunk_grad], [tensors[1]], [tensors[2]], [], counter,
            lr=lr, beta1=beta1, beta2=beta2, weight_decay=decay, eps=eps / correction,
            amsgrad=False, maximize=False,
        )
        for t, k in zip(tensors, saved):
            t.index_copy_(0, others, k)


class LazyAdam(LazyRowOptimizer):
    """Adam that updates only the rows present in a sparse gradient.

    The same update as :class:`torch.optim.SparseAdam` (the moments and the
    weights of the gradient's rows move, the other rows and their moments
    stay; bias corrections count every step of the parameter), computed on
    the dense ``(rows, d)`` blocks of the coalesced gradient with
    ``index_select``/``index_copy_`` instead of sparse tensor arithmetic:
    on a table of 131,072 x 1,024 with 25,000 rows a step, one CPU thread,
    about 1.3 s for ``SparseAdam`` against a fraction of it here
    (``benchmarks/RESULTS.md``, "Scale").

    Parameters
    ----------
    params : iterable of parameters or dicts
        Parameters whose gradients are sparse COO tensors over rows (as from
        ``embedding_bag(sparse=True)``); extra group keys are kept.
    lr : float, default=1e-3
    betas : tuple of float, default=(0.9, 0.999)
    eps : float, default=1e-8
    weight_decay : float, default=0.0
        Coupled L2 (as Adam's ``weight_decay``), on the rows a step updates only.
    """

    def __init__(
        self, params, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8, weight_decay: float = 0.0
    ):
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay))

    def init_state(self, param: torch.Tensor) -> dict:
        return {"exp_avg": torch.zeros_like(param), "exp_avg_sq": torch.zeros_like(param)}

    def update(self, param, rows, values, state, group) -> None:
        beta1, beta2 = group["betas"]
        settings = (group["lr"], beta1, beta2, group["eps"], group.get("weight_decay", 0.0), state["step"])
        if rows.numel() >= DENSE_SHARE * param.shape[0] and hasattr(torch, "_fused_adam_"):
            _update_most_rows(param, rows, values, state, self._scratch, *settings)
        else:
            _update_rows(param, rows, values, state, self._scratch, *settings)
