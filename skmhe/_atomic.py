"""All-or-nothing fitting: a fit that raises leaves the estimator as it was."""

from __future__ import annotations

import copy
import functools
from collections.abc import Callable
from typing import TypeVar

from ._base import resolve_device

F = TypeVar("F", bound=Callable)


def fitted_state(estimator) -> dict:
    """Every attribute of ``estimator`` except its constructor parameters.

    That is the fitted attributes (``classes_``, ``network_``, ...) and the
    private fitted state (``_optimizer``), by reference.
    """
    params = estimator.get_params(deep=False)
    return {k: v for k, v in vars(estimator).items() if k not in params}


def restore_state(estimator, state: dict) -> None:
    """Put ``state`` back: attributes it lacks are deleted, the others reset."""
    params = estimator.get_params(deep=False)
    for name in [k for k in vars(estimator) if k not in params and k not in state]:
        delattr(estimator, name)
    for name, value in state.items():
        setattr(estimator, name, value)


def _continues(estimator, incremental: bool) -> bool:
    """Whether this fit updates the existing network in place (warm start, partial_fit)."""
    return hasattr(estimator, "network_") and (incremental or bool(estimator.warm_start))


def atomic_fit(*, incremental: bool) -> Callable[[F], F]:
    """Decorate ``fit`` (``incremental=False``) or ``partial_fit`` (``True``) to be atomic.

    Before anything is built the ``device`` parameter is checked. The fitted
    state is then snapshot; if the fit raises anything (a refused ``y``,
    ``FloatingPointError``, a ``KeyboardInterrupt`` escaping the training
    loop, ...) the snapshot is restored and the exception re-raised: a
    refit that fails leaves the previous model exactly as it was, a first
    fit that fails leaves the estimator unfitted. A fit that returns stands,
    including one the training loop cut short itself.

    A fresh fit builds a new network, so the snapshot is only references. A
    fit that continues on the existing network (``warm_start`` or a later
    ``partial_fit``) updates its weights and the optimizer's moments in
    place; it first deep-copies them (and the rest of the fitted state),
    which costs one extra copy of the weights and the Adam moments, on the
    network's device, for the duration of the call.
    """

    def decorate(fit: F) -> F:
        @functools.wraps(fit)
        def wrapper(self, *args, **kwargs):
            resolve_device(self.device)
            state = fitted_state(self)
            if _continues(self, incremental):
                state = copy.deepcopy(state)  # one memo: the optimizer keeps the copied weights
            try:
                return fit(self, *args, **kwargs)
            except BaseException:
                restore_state(self, state)
                raise

        return wrapper  # type: ignore[return-value]

    return decorate
