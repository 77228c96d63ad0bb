"""Epoch history and stopping criteria, kept apart from the model (as in skorch)."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

import torch
from torch import nn

from ._spill import SpilledState, spillable


@dataclass
class History:
    """Per-epoch records of a training run.

    Attributes
    ----------
    epochs : list of dict
        One dict per epoch with at least ``"loss"`` and, when a validation
        set is used, ``"val_score"``.
    """

    epochs: list[dict] = field(default_factory=list)

    def record(self, **values) -> None:
        """Append one epoch's values."""
        self.epochs.append(dict(values))

    def column(self, key: str) -> list:
        """All recorded values of ``key``, in epoch order."""
        return [e[key] for e in self.epochs if key in e]


def fits_into(held: dict, state: dict) -> bool:
    """Whether ``state`` (a module's ``state_dict``) can be copied into the tensors of ``held``.

    Same names, and every tensor of the same shape, dtype, device and layout.
    """
    return held.keys() == state.keys() and all(_same_layout(held[k], v) for k, v in state.items())


def copy_into(held: dict, state: dict) -> dict:
    """Write ``state`` into ``held`` (see :func:`fits_into`) in place; return ``held``."""
    with torch.no_grad():
        for name, value in state.items():
            if isinstance(value, torch.Tensor):
                held[name].copy_(value)
            else:
                held[name] = copy.deepcopy(value)
    return held


def _same_layout(a, b) -> bool:
    if not isinstance(b, torch.Tensor):
        return not isinstance(a, torch.Tensor)
    return (
        isinstance(a, torch.Tensor)
        and (a.shape, a.dtype, a.device, a.layout) == (b.shape, b.dtype, b.device, b.layout)
        and a.is_contiguous()
    )


@dataclass
class NoImprovementStopping:
    """Stop after ``patience`` consecutive epochs without a ``tol`` improvement.

    The same rule as scikit-learn's MLP: on the training loss (minimised)
    when no validation set is used, otherwise on the validation score
    (maximised), in which case the best parameters are kept and restored.
    A copy of :data:`~skmhe._spill.SPILL_MIN_BYTES` or more of CPU tensors is
    kept in a temporary file instead of memory (:class:`~skmhe._spill.SpilledState`).

    Parameters
    ----------
    monitor : {"loss", "val_score"}
        Which history column to watch.
    tol : float
        Minimal improvement.
    patience : int
        Number of epochs without improvement tolerated (``n_iter_no_change``).
    """

    monitor: str
    tol: float
    patience: int
    best: float = field(init=False)
    no_improvement: int = field(init=False, default=0)
    best_state: dict | None = field(init=False, default=None)
    spilled: SpilledState | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        self.best = float("inf") if self.monitor == "loss" else -float("inf")

    def _sign(self) -> float:
        return 1.0 if self.monitor == "loss" else -1.0

    def on_epoch_end(self, history: History, module: nn.Module) -> bool:
        """Update the counters from the last epoch; return True to stop."""
        value = history.epochs[-1][self.monitor] * self._sign()
        best = self.best * self._sign()
        if value > best - self.tol:
            self.no_improvement += 1
        else:
            self.no_improvement = 0
        if value < best:
            self.best = value * self._sign()
            if self.monitor == "val_score":
                self._keep(module.state_dict())
        return self.no_improvement > self.patience

    def _keep(self, state: dict) -> None:
        """Copy ``state`` as the best one, into the tensors of the last best one where it fits.

        One copy of the weights is held at a time: a fresh copy beside the old one
        would hold two at its peak (at 1e6 labels a copy is over a gigabyte). A large
        one goes to a temporary file (memory when the file cannot be written).
        """
        if spillable(state):
            self.best_state = None
            self.spilled = self.spilled or SpilledState()
            try:
                self.spilled.write(state)
                return
            except OSError:
                pass  # kept in memory instead
        self._drop_spilled()
        if self.best_state is not None and fits_into(self.best_state, state):
            copy_into(self.best_state, state)
            return
        self.best_state = None  # the old copy goes before the new one is made
        self.best_state = copy.deepcopy(state)

    def on_train_end(self, module: nn.Module) -> None:
        """Restore the best parameters seen (validation monitoring only)."""
        if self.spilled is not None and self.spilled.written:
            self.spilled.restore(module)
        elif self.best_state is not None:
            module.load_state_dict(self.best_state)
        self._drop_spilled()

    def _drop_spilled(self) -> None:
        if self.spilled is not None:
            self.spilled.close()
            self.spilled = None
