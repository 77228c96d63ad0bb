"""Data-parallel training across processes with ``torch.distributed`` (DDP).

An ordinary ``fit`` called in every process of an initialised process group
(for instance a script started by ``torchrun --nproc_per_node=N``) trains
data-parallel: every rank holds the whole ``(X, y)``, draws the same
permutation of the rows each epoch and trains on its strided share of it
(``torch.utils.data.DistributedSampler`` semantics), dense gradients are
averaged by :class:`~torch.nn.parallel.DistributedDataParallel`, sparse ones
(lazy input layers, large label tables) by an all-gather of their rows, and
the epoch loss, the validation score and the stopping decision are
all-reduced, so that every rank ends with the same fitted estimator.

Nothing here runs without an initialised process group of two or more ranks:
:func:`data_parallel` then returns None and training is single-process.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel


def process_group() -> tuple[int, int] | None:
    """``(rank, world_size)`` of the default process group, None for a single process.

    A group of one rank counts as a single process.
    """
    if not (dist.is_available() and dist.is_initialized()):
        return None
    world_size = dist.get_world_size()
    return (dist.get_rank(), world_size) if world_size > 1 else None


def agreed_seed(seed: int) -> int:
    """Rank 0's ``seed`` on every rank (``seed`` itself for a single process).

    Every rank then builds the same initial network, draws the same epoch
    permutations and the same validation split, whatever ``random_state``
    (``None`` included) each process was given.
    """
    if process_group() is None:
        return seed
    value = torch.tensor([seed], dtype=torch.int64, device=_collective_device())
    dist.broadcast(value, src=0)
    return int(value.item())


def training_device(device: torch.device) -> torch.device:
    """The CUDA device of this rank (``LOCAL_RANK``) when ``device`` is an unnumbered CUDA device.

    With one GPU per process (``torchrun --nproc_per_node=<GPUs>``), ``"auto"``
    and ``"cuda"`` mean each rank's own GPU; any other device is kept.
    """
    if process_group() is None or device.type != "cuda" or device.index is not None:
        return device
    local_rank = int(os.environ.get("LOCAL_RANK", dist.get_rank()))
    return torch.device("cuda", local_rank % torch.cuda.device_count())


def shard_order(order: np.ndarray, rank: int, world_size: int) -> np.ndarray:
    """This rank's share of an epoch's row order, as ``DistributedSampler`` takes it.

    ``order`` (the same on every rank) is padded by repeating its start to a
    multiple of ``world_size``, then rank ``r`` takes rows ``r, r + world_size,
    ...``: every rank gets ``ceil(len(order) / world_size)`` rows, so all run
    the same number of steps.

    Parameters
    ----------
    order : ndarray of shape (n_rows,)
        Row indices of the epoch, in training order.
    rank, world_size : int
        This process's rank and the number of processes.

    Returns
    -------
    shard : ndarray of shape (ceil(n_rows / world_size),)
    """
    total = math.ceil(len(order) / world_size) * world_size
    return np.resize(order, total)[rank::world_size]


def _collective_device() -> torch.device:
    """Where the tensors of a collective must live: CUDA for NCCL, the CPU otherwise."""
    if dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


class _NetworkLoss(nn.Module):
    """``network.loss`` as a ``forward``, the call DistributedDataParallel wraps."""

    def __init__(self, network: nn.Module):
        super().__init__()
        self.network = network

    def forward(self, batch, targets, sample_weight=None) -> torch.Tensor:
        return self.network.loss(batch, targets, sample_weight)


class DataParallel:
    """One rank's side of a data-parallel fit of ``network``.

    Parameters
    ----------
    network : nn.Module
        Has ``loss(batch, targets)``; identical on every rank when wrapped
        (DistributedDataParallel also broadcasts rank 0's dense parameters).
    sparse : dict of int to bool
        ``id`` of each parameter with sparse gradients (see
        :func:`skmhe._training.sparse_gradient_parameters`). These are left
        out of DistributedDataParallel, whose NCCL reducer does not take sparse
        gradients, and averaged by :meth:`average_sparse_gradients` instead.
    rank, world_size : int
        This process's place in the default process group.

    Attributes
    ----------
    module : DistributedDataParallel
        The wrapped loss; calling it runs ``network.loss`` and arms the
        gradient all-reduce of the following ``backward``.
    """

    def __init__(self, network: nn.Module, sparse: dict[int, bool], rank: int, world_size: int):
        self.network, self.rank, self.world_size = network, rank, world_size
        device = next(network.parameters()).device
        if dist.get_backend() == "nccl" and device.type != "cuda":
            raise ValueError(
                f"the process group uses NCCL, which cannot train a network on {device}: "
                "initialise it with backend='gloo' for CPU training, or train on CUDA"
            )
        wrapper = _NetworkLoss(network)
        self.sparse_parameters = [p for p in network.parameters() if id(p) in sparse]
        ignored = [f"network.{name}" for name, p in network.named_parameters() if id(p) in sparse]
        if ignored:
            DistributedDataParallel._set_params_and_buffers_to_ignore_for_model(wrapper, ignored)
        self.module = DistributedDataParallel(wrapper)
        self._broadcast(self.sparse_parameters)

    def local_batch_size(self, batch_size: int) -> int:
        """Rows per step on this rank for a global minibatch of ``batch_size`` rows."""
        return max(1, math.ceil(batch_size / self.world_size))

    def shard(self, order: np.ndarray) -> np.ndarray:
        """This rank's share of the epoch's row order (see :func:`shard_order`)."""
        return shard_order(order, self.rank, self.world_size)

    def loss(self, batch, targets, sample_weight=None) -> torch.Tensor:
        """The network's training loss of this rank's batch (rows weighted when given), through DDP."""
        return self.module(batch, targets, sample_weight)

    @torch.no_grad()
    def average_sparse_gradients(self) -> None:
        """Replace every sparse gradient by its mean over the ranks (after ``backward``).

        The rows each rank touched are all-gathered, so a row's gradient is
        the sum of the ranks' gradients divided by ``world_size``, exactly as
        DDP averages a dense one, and the result is identical on every rank.
        """
        for param in self.sparse_parameters:
            grad = param.grad.coalesce() if param.grad is not None else _empty_rows(param)
            indices = self._gather_rows(grad.indices(), dim=1)
            values = self._gather_rows(grad.values(), dim=0)
            # the gathered rows are valid indices of ``param`` (each rank's own gradient's)
            total = torch.sparse_coo_tensor(
                indices, values, param.shape, check_invariants=False
            ).coalesce()
            param.grad = torch.sparse_coo_tensor(
                total.indices(),
                total.values() / self.world_size,
                param.shape,
                check_invariants=False,
                is_coalesced=True,
            )

    def _gather_rows(self, tensor: torch.Tensor, dim: int) -> torch.Tensor:
        """Every rank's ``tensor`` concatenated along ``dim`` in rank order (sizes may differ)."""
        size = torch.tensor([tensor.shape[dim]], device=tensor.device)
        sizes = [torch.empty_like(size) for _ in range(self.world_size)]
        dist.all_gather(sizes, size)
        longest = int(max(s.item() for s in sizes))
        padding = [0, 0] * (tensor.dim() - 1 - dim) + [0, longest - tensor.shape[dim]]
        padded = torch.nn.functional.pad(tensor, padding)
        parts = [torch.empty_like(padded) for _ in range(self.world_size)]
        dist.all_gather(parts, padded)
        return torch.cat([p.narrow(dim, 0, int(s.item())) for p, s in zip(parts, sizes)], dim=dim)

    def _broadcast(self, params: Sequence[torch.Tensor]) -> None:
        """Rank 0's values of ``params`` on every rank."""
        for param in params:
            dist.broadcast(param.data, src=0)

    def sum(self, values: Sequence[float]) -> list[float]:
        """Sums over the ranks of ``values`` (float64), the same on every rank."""
        return _all_reduce([float(v) for v in values], dist.ReduceOp.SUM, torch.float64)

    def any(self, flag: bool) -> bool:
        """True on every rank when ``flag`` is True on any rank."""
        return self.sum([float(bool(flag))])[0] > 0

    def mean_over_shards(self, score: Callable[[np.ndarray], float], n_rows: int) -> float:
        """Mean of a per-row ``score`` over ``n_rows`` rows, each rank scoring its share.

        ``score(rows)`` is the mean over ``rows``; ranks score ``rows[rank::world_size]``
        (no padding) and their means are weighted by their row counts.
        """
        rows = np.arange(n_rows)[self.rank :: self.world_size]
        local = score(rows) * len(rows) if len(rows) else 0.0
        total, count = self.sum([local, len(rows)])
        return total / count


def _all_reduce(values: Sequence[float], op, dtype: torch.dtype) -> list:
    """``values`` reduced with ``op`` over the ranks, the same list on every rank."""
    tensor = torch.tensor(list(values), dtype=dtype, device=_collective_device())
    dist.all_reduce(tensor, op=op)
    return tensor.tolist()


def check_same_rows(n_rows: int) -> None:
    """Raise ValueError unless every rank trains on ``n_rows`` rows.

    Each rank must be given the whole, identical training set: ranks with
    different row counts would run different numbers of steps and wait on
    each other forever.
    """
    high, neg_low = _all_reduce([n_rows, -n_rows], dist.ReduceOp.MAX, torch.int64)
    if high != -neg_low:
        raise ValueError(
            "a data-parallel fit needs the same (X, y) on every rank; the ranks have "
            f"between {-neg_low} and {high} rows (this rank, {dist.get_rank()}: {n_rows})"
        )


def _empty_rows(param: torch.Tensor) -> torch.Tensor:
    """A coalesced sparse gradient of ``param`` with no rows (a rank whose batch touched none)."""
    indices = torch.zeros((1, 0), dtype=torch.int64, device=param.device)
    values = param.new_zeros((0, *param.shape[1:]))
    return torch.sparse_coo_tensor(
        indices, values, param.shape, check_invariants=False, is_coalesced=True
    )


def data_parallel(network: nn.Module, sparse: dict[int, bool], n_rows: int) -> DataParallel | None:
    """A :class:`DataParallel` for ``network`` inside a process group of two or more ranks, else None.

    Checks first that every rank trains on ``n_rows`` rows.
    """
    group = process_group()
    if group is None:
        return None
    check_same_rows(n_rows)
    return DataParallel(network, sparse, *group)
