"""The training loop shared by every estimator and method."""

from __future__ import annotations

import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import torch
from torch import nn

from ._batching import rows_to_batch, rows_to_targets
from ._callbacks import History, NoImprovementStopping
from ._distributed import DataParallel
from ._lazy_adam import LazyAdam
from ._row_adagrad import RowAdagrad
from ._schedule import INPUT_RATE_SCALE, PAIRS_RATE_SCALE
from .nn import SparseLinear


class AdamWithSparseRows:
    """Adam for dense parameters, lazy updates for sparse-gradient ones.

    Parameters with sparse gradients are updated lazily: only the rows present
    in the batch change, and their L2 penalty is applied to those rows only
    (coupled, as Adam's ``weight_decay``). Label tables go to
    :class:`~skmhe._lazy_adam.LazyAdam` (``SparseAdam``'s update), sparse input
    layers to :class:`~skmhe._row_adagrad.RowAdagrad` (see
    :func:`make_optimizer`). A lazy group's rate is its ``"rate_scale"`` times
    the dense parameters'. Exposes the ``zero_grad``/``step`` an optimizer has.
    """

    def __init__(self, dense: torch.optim.Optimizer, lazy: dict[str, torch.optim.Optimizer], decay: float):
        self.dense, self.lazy, self.decay = dense, dict(lazy), decay

    def _all(self) -> list[torch.optim.Optimizer]:
        return [self.dense, *self.lazy.values()]

    def set_learning_rate(self, lr: float) -> None:
        """Set the dense parameters' rate for the next steps (a lazy group's: times its ``rate_scale``)."""
        for optimizer in self._all():
            for group in optimizer.param_groups:
                group["lr"] = lr * group.get("rate_scale", 1.0)

    def state_dict(self) -> dict:
        """The optimizers' state and settings, every tensor on the CPU (for pickling)."""
        return {
            "dense": _to_cpu(self.dense.state_dict()),
            "lazy": {name: _to_cpu(opt.state_dict()) for name, opt in self.lazy.items()},
            "decay": self.decay,
        }

    def load_state_dict(self, state: dict) -> None:
        """Put back a :meth:`state_dict` (tensors move to the parameters' device)."""
        if set(state.get("lazy", ())) != set(self.lazy):
            raise ValueError("the optimizer state does not match the network's sparse parameters")
        self.dense.load_state_dict(state["dense"])
        for name, optimizer in self.lazy.items():
            optimizer.load_state_dict(state["lazy"][name])
        self.decay = state["decay"]

    def zero_grad(self, set_to_none: bool = True) -> None:
        for optimizer in self._all():
            optimizer.zero_grad(set_to_none=set_to_none)

    @torch.no_grad()
    def step(self) -> None:
        for optimizer in self.lazy.values():
            for group in optimizer.param_groups:  # coupled L2 on the rows a step updates
                group["weight_decay"] = self.decay if group["l2"] else 0.0
            optimizer.step()
        self.dense.step()


def _to_cpu(value):
    """``value`` (a state dict: nested dicts and lists) with every tensor copied to the CPU."""
    if isinstance(value, torch.Tensor):
        return value.detach().to("cpu", copy=True)
    if isinstance(value, dict):
        return {k: _to_cpu(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_to_cpu(v) for v in value)
    return value


def restore_optimizer(network: nn.Module, state: dict) -> AdamWithSparseRows:
    """The optimizer of ``network`` as it was when ``state`` (:meth:`AdamWithSparseRows.state_dict`) was taken."""
    optimizer = make_optimizer(network, 1.0, 0.0, 1)  # rates and decay come from ``state``
    optimizer.load_state_dict(state)
    return optimizer


def sparse_gradient_parameters(network: nn.Module) -> dict[int, bool]:
    """``id`` of every parameter with sparse gradients, mapped to whether L2 applies to it.

    Listed by the modules' ``sparse_parameters()``: input layers fed sparse
    batches, label-embedding tables.
    """
    sparse_l2: dict[int, bool] = {}
    for module in network.modules():
        if hasattr(module, "sparse_parameters"):
            sparse_l2.update((id(p), l2) for p, l2 in module.sparse_parameters())
    return sparse_l2


def make_optimizer(network: nn.Module, learning_rate: float, alpha: float, batch_size: int):
    """Adam with scikit-learn's L2 penalty: ``alpha / batch_size`` on weights, none on biases.

    Parameters with sparse gradients (see :func:`sparse_gradient_parameters`)
    are updated lazily (see :class:`AdamWithSparseRows`): those of sparse
    input layers (:class:`~skmhe.nn.SparseLinear` fed sparse batches) by
    :class:`~skmhe._row_adagrad.RowAdagrad` at
    :data:`~skmhe._schedule.INPUT_RATE_SCALE` times ``learning_rate``, label
    tables by :class:`~skmhe._lazy_adam.LazyAdam` at the rate itself. The
    parameters a module lists in
    ``adagrad_parameters()`` (the hashed label-column pairs,
    :class:`~skmhe.nn.pairs.HashedPairTable`) go to Adagrad, whole, at
    :data:`~skmhe._schedule.PAIRS_RATE_SCALE` times the rate, without L2.
    """
    decay = alpha / batch_size
    sparse_l2 = sparse_gradient_parameters(network)
    layers = [m for m in network.modules() if isinstance(m, SparseLinear)]
    inputs = {id(p) for layer in layers for p, _ in layer.sparse_parameters()}
    adagrad = [p for m in network.modules() if hasattr(m, "adagrad_parameters") for p in m.adagrad_parameters()]
    whole = {id(p) for p in adagrad}
    weights, biases = [], []
    lazy_groups: dict[str, dict[bool, list]] = {}  # kind -> whether L2 applies -> parameters
    for name, param in network.named_parameters():
        if id(param) in whole:
            continue
        if id(param) in sparse_l2:
            kind = "input_rows" if id(param) in inputs else "tables"
            lazy_groups.setdefault(kind, {}).setdefault(sparse_l2[id(param)], []).append(param)
        else:
            (biases if name.endswith("bias") else weights).append(param)
    dense = torch.optim.Adam(
        [{"params": weights, "weight_decay": decay}, {"params": biases, "weight_decay": 0.0}],
        lr=learning_rate,
        fused=True,  # one kernel for all parameters (CPU and CUDA): much less per-step overhead
    )
    kinds = {"input_rows": (RowAdagrad, INPUT_RATE_SCALE), "tables": (LazyAdam, 1.0)}
    lazy = {}
    for kind, by_l2 in lazy_groups.items():
        optimizer, scale = kinds[kind]
        groups = [
            {"params": params, "l2": l2, "rate_scale": scale, "lr": learning_rate * scale}
            for l2, params in by_l2.items()
        ]
        lazy[kind] = optimizer(groups, lr=learning_rate * scale)
    if adagrad:  # dense gradients of tables small enough to update whole: Adagrad, no L2
        group = {"params": adagrad, "l2": False, "rate_scale": PAIRS_RATE_SCALE}
        lr, on_cpu = learning_rate * PAIRS_RATE_SCALE, all(p.device.type == "cpu" for p in adagrad)
        # fused on the CPU: one pass over the table, 11x faster than the default on 2**22 values
        lazy["adagrad"] = torch.optim.Adagrad([group], lr=lr, eps=1e-10, fused=True if on_cpu else None)
    return AdamWithSparseRows(dense, lazy, decay)


@dataclass
class Trainer:
    """Minibatch training of an :class:`~skmhe.nn.MHENetwork`.

    Parameters
    ----------
    network : nn.Module
        Has ``loss(batch, targets)`` (see :class:`~skmhe.nn.MHENetwork`).
    optimizer : AdamWithSparseRows or torch.optim.Optimizer
        Anything with ``zero_grad(set_to_none)`` and ``step()``; with
        ``learning_rate``, also ``set_learning_rate(lr)``.
    device : torch.device
    batch_size : int
    shuffle : bool
        Draw a new permutation of the rows each epoch.
    generator : torch.Generator
        Source of the permutations (CPU generator; global RNG untouched).
    verbose : int
        0: silent. 1 or more: a progress bar over the epochs (loss, validation
        score, rows/s), one inside each long epoch, and a line per epoch.
    sparse_batches : bool
        Feed every training batch as a :class:`~skmhe.nn.SparseBatch` (an
        input layer with sparse gradients needs one).
    replica : DataParallel or None
        Train data-parallel (see :mod:`skmhe._distributed`): this rank takes
        its share of each epoch's rows, ``batch_size`` is the global minibatch
        (split over the ranks), gradients are averaged, and the epoch loss and
        stopping decision are agreed over the ranks. None: a single process.
    learning_rate : callable or None
        ``learning_rate(step)``: the rate of optimizer step ``step`` (counted
        from ``first_step``), see :func:`skmhe._schedule.lr_schedule`. None
        leaves the optimizer's rate alone.
    first_step : int
        Steps already taken by earlier calls (``warm_start``, ``partial_fit``).
    """

    network: nn.Module
    optimizer: AdamWithSparseRows
    device: torch.device
    batch_size: int
    shuffle: bool
    generator: torch.Generator
    verbose: int = 0
    sparse_batches: bool = False
    replica: DataParallel | None = None
    learning_rate: Callable[[int], float] | None = None
    first_step: int = 0

    def __post_init__(self) -> None:
        self.step = self.first_step

    @property
    def _talks(self) -> bool:
        return bool(self.verbose) and (self.replica is None or self.replica.rank == 0)

    def train_epoch(self, X, targets, sample_weight: torch.Tensor | None = None) -> float:
        """One pass over ``X``; returns the mean training loss per row.

        ``targets``: an int64 tensor (one row of codes per sample) or a CSR
        matrix (the label ids of each sample), see :func:`rows_to_targets`.
        ``sample_weight``: a float tensor of one weight a row (scaled to a
        mean of one, see :func:`~skmhe.nn.contract.row_mean`), or None.
        Data-parallel, this rank's share of the rows, and the mean over the
        rows of every rank.
        """
        n = targets.shape[0]
        order = (
            torch.randperm(n, generator=self.generator).numpy()
            if self.shuffle
            else np.arange(n)
        )
        replica = self.replica
        step_rows, loss_of = self.batch_size, self.network.loss
        if replica is not None:
            order = replica.shard(order)
            step_rows, loss_of = replica.local_batch_size(self.batch_size), replica.loss
        self.network.train()
        total = torch.zeros((), dtype=torch.float64, device=self.device)
        starts = range(0, len(order), step_rows)
        bar = _progress(len(starts), "steps", self._talks and len(starts) >= _BAR_MIN_STEPS, leave=False)
        for start in starts:
            rows = order[start : start + step_rows]
            batch = rows_to_batch(X, rows, self.device, as_sparse=self.sparse_batches)
            batch_targets = rows_to_targets(targets, rows, self.device)
            if self.learning_rate is not None:
                self.optimizer.set_learning_rate(self.learning_rate(self.step))
            self.optimizer.zero_grad(set_to_none=True)
            if sample_weight is None:
                loss = loss_of(batch, batch_targets)
            else:
                loss = loss_of(batch, batch_targets, rows_to_targets(sample_weight, rows, self.device))
            loss.backward()
            if replica is not None:
                replica.average_sparse_gradients()
            self.optimizer.step()
            self.step += 1
            total += loss.detach().double() * len(rows)
            if bar is not None:
                bar.update()
        if bar is not None:
            bar.close()
        if replica is None:
            return float(total.item()) / n
        total_loss, total_rows = replica.sum([total.item(), len(order)])
        return total_loss / total_rows

    def fit(
        self,
        X,
        targets,
        *,
        max_epochs: int,
        stopper: NoImprovementStopping | None,
        history: History,
        score: Callable[[], float] | None = None,
        sample_weight: np.ndarray | None = None,
    ) -> bool:
        """Train up to ``max_epochs`` epochs; returns True when the stopper fired.

        ``sample_weight`` (one float a row, mean one, or None) weights each
        row's loss (see :meth:`train_epoch`).

        ``score`` (validation accuracy) is evaluated after every epoch when
        given. A ``KeyboardInterrupt`` ends training as scikit-learn's MLP
        does: a warning, the epochs completed so far kept in ``history``, and
        the best parameters restored when a validation score is monitored.
        """
        targets_t = targets if sp.issparse(targets) else torch.from_numpy(
            np.ascontiguousarray(targets, dtype=np.int64)
        )
        weights_t = None if sample_weight is None else torch.from_numpy(
            np.ascontiguousarray(sample_weight, dtype=np.float32)
        )
        stopped = False
        bar = _progress(max_epochs, "epochs", self._talks and max_epochs > 1)
        try:
            for _ in range(max_epochs):
                started = time.perf_counter()
                weighted = () if weights_t is None else (weights_t,)  # train_epoch(X, targets) unweighted
                loss = self.train_epoch(X, targets_t, *weighted)
                seconds = time.perf_counter() - started
                if not np.isfinite(loss):
                    raise FloatingPointError(
                        f"training loss became {loss} at epoch {len(history.epochs) + 1}; "
                        "lower learning_rate_init or scale the features"
                    )
                record = {"loss": loss, "seconds": seconds}
                if score is not None:
                    record["val_score"] = score()
                history.record(**record)
                if self._talks:
                    self._report(history, targets_t.shape[0], bar)
                if stopper is not None and self._agree(stopper.on_epoch_end(history, self.network)):
                    stopped = True
                    break
        except KeyboardInterrupt:
            warnings.warn(
                f"Training interrupted by the user after {len(history.epochs)} complete epochs.",
                stacklevel=4,
            )
        finally:
            if bar is not None:
                bar.close()
        if stopper is not None:
            stopper.on_train_end(self.network)
        return stopped

    def _report(self, history: History, n_rows: int, bar) -> None:
        """One line per epoch: loss, validation score, seconds and rows/s."""
        last = history.epochs[-1]
        rows_per_s = n_rows / max(last["seconds"], 1e-9)
        extra = f", validation score = {last['val_score']:.6f}" if "val_score" in last else ""
        line = (
            f"Iteration {len(history.epochs)}, loss = {last['loss']:.8f}{extra}, "
            f"{last['seconds']:.1f} s, {rows_per_s:,.0f} rows/s"
        )
        if bar is None:
            print(line, flush=True)
            return
        postfix = {"loss": f"{last['loss']:.4g}", "rows/s": f"{rows_per_s:,.0f}"}
        if "val_score" in last:
            postfix["val"] = f"{last['val_score']:.4f}"
        bar.set_postfix(postfix, refresh=False)
        bar.update()
        bar.write(line, file=sys.stdout)

    def _agree(self, stop: bool) -> bool:
        """Stop on every rank as soon as one rank would (the single-process ``stop``)."""
        return stop if self.replica is None else self.replica.any(stop)


#: an epoch of at least this many steps gets its own progress bar (verbose)
_BAR_MIN_STEPS = 200


def _progress(total: int, unit: str, enabled: bool, leave: bool = True):
    """A tqdm bar on stderr when ``enabled``, else None."""
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, unit=unit, leave=leave, dynamic_ncols=True, file=sys.stderr)
