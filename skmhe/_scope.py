"""The process-wide settings an estimator call holds for its own duration."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TypeVar

from ._heap import kept_heap
from ._threads import torch_threads

F = TypeVar("F", bound=Callable)


def scoped_call(method: F) -> F:
    """Decorate an estimator method to run under :func:`~skmhe._threads.torch_threads` of
    ``self.n_jobs`` and :func:`~skmhe._heap.kept_heap`; both are undone when it returns or raises."""

    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        with torch_threads(self.n_jobs), kept_heap():
            return method(self, *args, **kwargs)

    return wrapper  # type: ignore[return-value]
