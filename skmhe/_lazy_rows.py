"""Optimizers that update only the rows present in a sparse row gradient: what they share."""

from __future__ import annotations

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


def row_buffers(
    scratch: dict, param: torch.Tensor, n_rows: int, count: int = 2, purpose: str = "rows"
) -> tuple[torch.Tensor, ...]:
    """``count`` blocks of ``(n_rows, ...)`` buffers kept between steps for ``param``'s gathered rows.

    They grow to the most rows a step has had (a fresh block costs its page faults every step:
    about as much as the update of the rows in it). ``purpose`` keeps apart the buffers of
    different uses of one parameter.
    """
    key = (id(param), purpose)
    held = scratch.get(key)
    fits = held is not None and len(held) == count and held[0].shape[0] >= n_rows
    if not fits or held[0].dtype != param.dtype or held[0].device != param.device:
        size = max(n_rows, 0 if held is None else held[0].shape[0])
        held = scratch[key] = tuple(param.new_empty((size, *param.shape[1:])) for _ in range(count))
    return tuple(block[:n_rows] for block in held)


class LazyRowOptimizer(torch.optim.Optimizer):
    """A lazy optimizer's loop: for each parameter with a sparse row gradient, its rows and values.

    Subclasses give the state of a fresh parameter (:meth:`init_state`) and the update of the
    rows present (:meth:`update`); the step count of a parameter counts every step it had a
    gradient in. Buffers kept between steps live in ``self._scratch`` (see :func:`row_buffers`).
    """

    def __init__(self, params, defaults: dict):
        super().__init__(params, defaults)
        self._scratch: dict = {}

    def __setstate__(self, state):
        super().__setstate__(state)
        self.__dict__.setdefault("_scratch", {})

    def init_state(self, param: torch.Tensor) -> dict:
        """The state tensors of a parameter seen for the first time."""
        raise NotImplementedError

    def update(self, param, rows: torch.Tensor, values: torch.Tensor, state: dict, group: dict) -> None:
        """Move ``param``'s ``rows`` by their gradient ``values`` (coalesced, may be written to)."""
        raise NotImplementedError

    @torch.no_grad()
    def step(self, closure=None):
        """One update of every parameter that has a gradient."""
        loss = None if closure is None else closure()
        for group in self.param_groups:
            for param in group["params"]:
                if param.grad is None:
                    continue
                if not param.grad.is_sparse:
                    raise RuntimeError(f"{type(self).__name__} takes sparse gradients only")
                state = self.state[param]
                if not state:
                    state.update(step=0, **self.init_state(param))
                state["step"] += 1
                rows, values = coalesced_rows(param.grad)
                if rows.numel():
                    self.update(param, rows, values.reshape(rows.shape[0], *param.shape[1:]), state, group)
        return loss
