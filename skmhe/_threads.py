"""``n_jobs``: torch's process-wide thread count, scoped to one estimator call.

Torch's intra-op thread count is global to the process
(:func:`torch.get_num_threads` / :func:`torch.set_num_threads`). An estimator
call sets it for its own duration and puts the previous value back when it
returns or raises, so that nothing outside the call sees a change.

The count a call asks for never exceeds the count the process already allows:
``OMP_NUM_THREADS``, an earlier :func:`torch.set_num_threads` and
``threadpoolctl.threadpool_limits`` (which limits the OpenMP runtime torch
runs on) all lower :func:`torch.get_num_threads`, and that is the ceiling.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from numbers import Integral

import numpy as np
import torch
from sklearn.utils._param_validation import Interval

#: the ``_parameter_constraints`` entry of ``n_jobs``: None, a positive int or a negative one
N_JOBS_CONSTRAINT = [
    Interval(Integral, 1, None, closed="left"),
    Interval(Integral, None, -1, closed="right"),
    None,
]


def available_cores() -> int:
    """CPU cores this process may run on (its affinity mask where the OS has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - macOS, Windows
        return os.cpu_count() or 1


def others_running_now(proc: str = "/proc") -> int | None:
    """Threads of other processes running or runnable at this instant (Linux), else None.

    ``/proc/loadavg``'s count of runnable threads, less this process's own
    (``/proc/self/task/*/stat`` in state ``R``, the reading thread among them).
    ``proc``: where procfs is mounted.
    """
    try:
        with open(os.path.join(proc, "loadavg")) as f:
            running = int(f.read().split()[3].split("/")[0])
        tasks = os.listdir(os.path.join(proc, "self", "task"))
    except (OSError, ValueError, IndexError):
        return None
    own = 0
    for task in tasks:
        try:
            with open(os.path.join(proc, "self", "task", task, "stat")) as f:
                stat = f.read()
        except OSError:  # the thread ended meanwhile
            continue
        own += stat[stat.rindex(")") + 2 :].startswith("R")
    return max(0, running - own)


def idle_cores(cores: int | None = None, load: float | None = None) -> int:
    """Cores left by the other processes: ``cores - round(load)``, at least 1.

    Parameters
    ----------
    cores : int, default=None
        Cores to share; default :func:`available_cores`.
    load : float, default=None
        Runnable threads of other processes; default the smaller of the 1-minute
        load average (:func:`os.getloadavg`, 0 where the OS has none) and the
        threads of other processes running now (:func:`others_running_now`,
        where the OS tells). The load average also counts this process's own
        recent work (the data loading just before ``fit`` in the same script, an
        earlier fit in a notebook), which would take cores from the call it
        precedes; the count now alone would be thrown by a passing process.
    """
    cores = available_cores() if cores is None else int(cores)
    if load is None:
        try:
            load = os.getloadavg()[0]
        except (AttributeError, OSError):  # pragma: no cover - Windows
            load = 0.0
        now = others_running_now()
        if now is not None:
            load = min(load, now)
    return max(1, cores - int(round(load)))


def resolve_n_jobs(n_jobs, ceiling: int | None = None) -> int:
    """The thread count ``n_jobs`` stands for, at most ``ceiling``.

    Parameters
    ----------
    n_jobs : int or None
        ``None``: the idle cores (:func:`idle_cores`); ``-1``: every core;
        ``n > 0``: ``n``; ``n < -1``: every core but ``-n - 1``, at least 1
        (joblib's convention).
    ceiling : int, default=None
        The most threads allowed; default :func:`torch.get_num_threads`.

    Returns
    -------
    n_threads : int
        Between 1 and ``ceiling``.

    Raises
    ------
    ValueError
        For ``0`` and for anything that is not an int or None.
    """
    if isinstance(n_jobs, (bool, np.bool_)) or not (n_jobs is None or isinstance(n_jobs, Integral)):
        raise ValueError(f"n_jobs must be an int or None, got {n_jobs!r}")
    if n_jobs == 0:
        raise ValueError("n_jobs == 0 has no meaning: use None, -1 (every core) or a positive int")
    ceiling = torch.get_num_threads() if ceiling is None else int(ceiling)
    if n_jobs is None:
        wanted = idle_cores()
    elif n_jobs < 0:
        wanted = available_cores() + 1 + int(n_jobs)
    else:
        wanted = int(n_jobs)
    return max(1, min(wanted, ceiling))


@contextlib.contextmanager
def torch_threads(n_jobs) -> Iterator[int]:
    """Run the body with torch's intra-op thread count set from ``n_jobs``; restore it after.

    Yields the count in force. The previous count comes back on exit, also
    when the body raises.
    """
    before = torch.get_num_threads()
    n_threads = resolve_n_jobs(n_jobs, before)
    if n_threads == before:
        yield n_threads
        return
    torch.set_num_threads(n_threads)
    try:
        yield n_threads
    finally:
        torch.set_num_threads(before)
