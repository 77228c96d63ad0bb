"""Optimizers that update only the rows present in a sparse row gradient: what they share."""

from __future__ import annotations

import math

import torch

#: on the CPU the lazy optimizers update a table this many values at a time: every pass over a
#: chunk stays in the cache, and the buffers are a chunk's, not the table's. 1 thread, beside other
#: work, best of 5 steps: lazy Adam's whole-table route on 1e6 x 128 (83 % of the rows) 0.40 s a
#: step in chunks of 2**18 values against 0.56 to 0.63 in one piece (2**16: 0.54, 2**17: 0.45,
#: 2**19: 0.51, 2**20: 0.63, 2**22: 0.53), and it no longer holds a table-sized gradient and saved
#: rows (0.8 GB); row-wise Adagrad on 131,072 x 1,024 (111,000 rows) 0.22 s against 0.34, without
#: its gathered copy of the rows (454 MB; ``benchmarks/RESULTS.md``, "Scale")
CHUNK_ELEMENTS = 2**18


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


def chunk_rows(param: torch.Tensor) -> int:
    """Rows of ``param`` a lazy update takes at a time.

    :data:`CHUNK_ELEMENTS` values' worth on the CPU; every row on other devices, where
    each operation of a chunk is a kernel launch and the cache argument does not hold.
    """
    if param.device.type != "cpu":
        return max(1, param.shape[0])
    return max(1, CHUNK_ELEMENTS // max(1, math.prod(param.shape[1:])))


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
