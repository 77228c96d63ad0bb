"""Lazy Adam on dense row blocks: ``torch.optim.SparseAdam``'s update, several times cheaper on the CPU."""

from __future__ import annotations

import math

import torch


def coalesced_rows(grad: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Row ids and value rows of a sparse row gradient, duplicates summed.

    Autograd drops the coalesced flag of a gradient built coalesced (the
    input layer's and the label table's are); strictly increasing row ids
    are taken as they are instead of being sorted and copied again.
    """
    rows = grad._indices()[0]
    if grad.is_coalesced() or rows.numel() < 2 or bool((rows[1:] > rows[:-1]).all()):
        return rows, grad._values()
    grad = grad.coalesce()
    return grad.indices()[0], grad.values()


#: a gradient over at least this share of a table's rows updates the whole table with
#: Adam's fused kernel, then puts the untouched rows back. Both routes with their buffers
#: kept, 1 thread, 1e6 x 128 and 131,072 x 1,024 tables: rows route 0.39 / 0.54 / 0.61 /
#: 0.73 s at 30 / 50 / 70 / 90 % of the rows, whole-table route 1.28 / 1.14 / 0.80 / 0.46 s
#: (the same within 10 % on the wider table; ``benchmarks/RESULTS.md``, "Scale")
DENSE_SHARE = 0.8


def row_buffers(scratch: dict, param: torch.Tensor, n_rows: int, count: int = 2) -> tuple[torch.Tensor, ...]:
    """``count`` blocks of ``(n_rows, ...)`` buffers kept between steps for ``param``'s gathered rows.

    They grow to the most rows a step has had (a fresh block costs its page faults every step:
    about as much as the update of the rows in it).
    """
    key = (id(param), "rows")
    held = scratch.get(key)
    fits = held is not None and len(held) == count and held[0].shape[0] >= n_rows
    if not fits or held[0].dtype != param.dtype or held[0].device != param.device:
        size = max(n_rows, 0 if held is None else held[0].shape[0])
        held = scratch[key] = tuple(param.new_empty((size, *param.shape[1:])) for _ in range(count))
    return tuple(block[:n_rows] for block in held)


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
    ``SparseAdam``'s ``(sqrt(v) + eps) / sqrt(1 - beta2**t)``. The dense gradient lives
    in ``scratch`` (one table-sized buffer kept between steps: a fresh one costs its page
    faults every step, more than the update itself).
    """
    untouched = torch.ones(param.shape[0], dtype=torch.bool, device=param.device)
    untouched[rows] = False
    others = untouched.nonzero().squeeze(1)
    tensors = (param, state["exp_avg"], state["exp_avg_sq"])
    kept = [t.index_select(0, others) for t in tensors]
    if others.numel() == 0:  # every row: the coalesced values are the dense gradient
        grad = values.contiguous()
    else:
        grad = scratch.get(id(param))
        if grad is None or (grad.shape, grad.dtype, grad.device) != (param.shape, param.dtype, param.device):
            grad = scratch[id(param)] = torch.empty_like(param)
        grad.zero_().index_copy_(0, rows, values)
    correction = math.sqrt(1 - beta2**step)
    torch._fused_adam_(
        [param], [grad], [state["exp_avg"]], [state["exp_avg_sq"]], [],
        [torch.tensor(float(step), dtype=torch.float32, device=param.device)],
        lr=lr, beta1=beta1, beta2=beta2, weight_decay=decay, eps=eps / correction,
        amsgrad=False, maximize=False,
    )
    for t, saved in zip(tensors, kept):
        t.index_copy_(0, others, saved)


class LazyAdam(torch.optim.Optimizer):
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
        self._scratch: dict[int, torch.Tensor] = {}

    def __setstate__(self, state):
        super().__setstate__(state)
        self.__dict__.setdefault("_scratch", {})

    @torch.no_grad()
    def step(self, closure=None):
        """One update of every parameter that has a gradient."""
        loss = None if closure is None else closure()
        for group in self.param_groups:
            beta1, beta2 = group["betas"]
            for param in group["params"]:
                if param.grad is None:
                    continue
                if not param.grad.is_sparse:
                    raise RuntimeError("LazyAdam takes sparse gradients only; use Adam for dense ones")
                state = self.state[param]
                if not state:
                    state["step"] = 0
                    state["exp_avg"] = torch.zeros_like(param)
                    state["exp_avg_sq"] = torch.zeros_like(param)
                state["step"] += 1
                rows, values = coalesced_rows(param.grad)
                if rows.numel() == 0:
                    continue
                values = values.reshape(rows.shape[0], *param.shape[1:])
                step = state["step"]
                settings = (group["lr"], beta1, beta2, group["eps"], group.get("weight_decay", 0.0), step)
                if rows.numel() >= DENSE_SHARE * param.shape[0] and hasattr(torch, "_fused_adam_"):
                    _update_most_rows(param, rows, values, state, self._scratch, *settings)
                else:
                    _update_rows(param, rows, values, state, self._scratch, *settings)
        return loss
