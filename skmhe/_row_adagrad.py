"""Row-wise Adagrad for the rows of a sparse input layer: one accumulator a row, lazy updates."""

from __future__ import annotations

import torch

from ._lazy_rows import LazyRowOptimizer, chunk_rows, row_buffers


class RowAdagrad(LazyRowOptimizer):
    """Adagrad with one squared-gradient accumulator per row, updating only the rows present.

    The optimizer of embedding tables in recommender systems (FBGEMM's
    ``rowwise_adagrad``), for a sparse input layer whose row ``j`` is the weight
    vector of column ``j`` of ``X``. For each row ``r`` of a step's gradient
    ``g_r`` (duplicates summed; ``g_r + weight_decay * w_r`` with coupled L2)::

        s_r += mean(g_r ** 2)
        w_r -= lr * g_r / (sqrt(s_r) + eps)

    Rows absent from the gradient, and their accumulators, stay. A row's steps
    shrink with the number of steps that held it, not with the steps taken, so
    a rare column's row moves fast where lazy Adam moves it once in a while at
    the rate, without momentum (``benchmarks/RESULTS.md``, "Scale"). The state
    is one value a row, not Adam's two moments of the row's size. A step
    writes into the gradient's values (used once; a fresh block would cost
    its page faults every step). The rows are updated a cache-sized chunk at a time
    (:func:`~skmhe._lazy_rows.chunk_rows`).

    Parameters
    ----------
    params : iterable of parameters or dicts
        Parameters of shape ``(rows, ...)`` whose gradients are sparse COO
        tensors over rows; extra group keys are kept.
    lr : float, default=1e-2
    eps : float, default=1e-10
        Added to ``sqrt(s_r)``.
    weight_decay : float, default=0.0
        Coupled L2, on the rows a step updates only.
    """

    def __init__(self, params, lr: float = 1e-2, eps: float = 1e-10, weight_decay: float = 0.0):
        super().__init__(params, dict(lr=lr, eps=eps, weight_decay=weight_decay))

    def init_state(self, param: torch.Tensor) -> dict:
        return {"sum": param.new_zeros(param.shape[0])}

    def update(self, param, rows, values, state, group) -> None:
        values = values.view(rows.shape[0], -1)
        flat = param.view(param.shape[0], -1)
        decay, step = group.get("weight_decay", 0.0), chunk_rows(param)
        if decay:  # a chunk's rows of the weights, for the L2 term
            (weights,) = row_buffers(self._scratch, param, min(step, rows.shape[0]), count=1)
            weights = weights.view(-1, flat.shape[1])
        for a in range(0, rows.shape[0], step):  # the rows are distinct: chunk by chunk is the same update
            chunk, grad = rows[a : a + step], values[a : a + step]
            if decay:  # the gradient's own values take the coupled L2 (they are used once)
                grad.add_(torch.index_select(flat, 0, chunk, out=weights[: chunk.shape[0]]), alpha=decay)
            squares = torch.linalg.vector_norm(grad, dim=1).square_().div_(grad.shape[1])
            state["sum"].index_add_(0, chunk, squares)  # the rows' mean squared gradients
            scale = state["sum"].index_select(0, chunk).sqrt_().add_(group["eps"]).reciprocal_()
            # in place: a fresh block costs its page faults
            flat.index_add_(0, chunk, grad.mul_(scale.unsqueeze(1)), alpha=-group["lr"])
