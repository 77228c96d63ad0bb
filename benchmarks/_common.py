"""Helpers shared by the benchmark scripts: measurement in a child process, tables, machine info."""

from __future__ import annotations

import datetime as _dt
import multiprocessing as mp
import os
import platform
import queue as _queue
import resource
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Sequence


def rss_mib() -> float:
    """Current resident set size of this process, MiB (Linux)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:  # pragma: no cover - non-Linux
        return float("nan")


def peak_rss_mib() -> float:
    """Peak resident set size of this process's own address space so far, MiB.

    Reads ``VmHWM`` (Linux), not ``getrusage``'s ``ru_maxrss``: Linux carries
    that across fork + exec, so a spawned child would report at least its
    parent's RSS at spawn time. Falls back to ``ru_maxrss`` elsewhere.
    """
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:  # pragma: no cover - non-Linux
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # pragma: no cover


def _child(fn, args, queue):
    try:
        queue.put(("ok", fn(*args)))
    except BaseException as exc:  # report, do not hang the parent
        queue.put(("error", f"{type(exc).__name__}: {exc}"[:500]))


def run_isolated(fn: Callable, *args, start_method: str = "spawn", preload: Sequence[str] = ()):
    """Run ``fn(*args)`` in a process of its own, so its peak memory is its own.

    ``start_method="spawn"`` starts a fresh interpreter (which pays the imports each
    time); ``"forkserver"`` forks from a server that imported ``preload`` once. A
    child that dies without reporting (killed for memory, crashed) gives an
    ``{"error": ...}`` result instead of hanging the parent; so does an exception.
    """
    ctx = mp.get_context(start_method)
    if start_method == "forkserver" and preload:
        ctx.set_forkserver_preload(list(preload))
    results = ctx.Queue()
    proc = ctx.Process(target=_child, args=(fn, args, results))
    proc.start()
    while True:
        try:
            status, value = results.get(timeout=1.0)
            break
        except _queue.Empty:
            if not proc.is_alive():
                try:  # it may have reported just before exiting
                    status, value = results.get(timeout=1.0)
                    break
                except _queue.Empty:
                    proc.join()
                    return {"error": f"child process died without a result (exit code {proc.exitcode})"}
    proc.join()
    return value if status == "ok" else {"error": value}


class Timer:
    """Context manager measuring wall-clock seconds (``seconds``) and this process's CPU seconds
    (``cpu_seconds``, every thread: ``time.process_time``)."""

    def __enter__(self):
        self.start, self.cpu_start = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc):
        self.seconds = time.perf_counter() - self.start
        self.cpu_seconds = time.process_time() - self.cpu_start


def machine_info() -> dict:
    """Machine, versions and date for result files."""
    import numpy
    import sklearn
    import torch

    return {
        "date": _dt.date.today().isoformat(),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.system()}",
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": numpy.__version__,
        "scikit-learn": sklearn.__version__,
        "torch_threads": torch.get_num_threads(),
    }


def markdown_table(rows: list[dict], columns: list[tuple[str, str, str]]) -> str:
    """Rows as a markdown table; ``columns`` holds (key, header, format)."""
    head = "| " + " | ".join(h for _, h, _ in columns) + " |"
    sep = "| " + " | ".join("---" for _ in columns) + " |"
    body = []
    for row in rows:
        cells = []
        for key, _, fmt in columns:
            value = row.get(key)
            cells.append("n/a" if value is None else (fmt.format(value) if fmt else str(value)))
        body.append("| " + " | ".join(cells) + " |")
    return "\n".join([head, sep, *body])


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free now (for a torchrun rendezvous)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run_with_timeout(command: list[str], timeout: float, *, env=None, cwd=None) -> tuple[int | None, str]:
    """Run ``command`` in a session of its own, stdout and stderr merged.

    Returns ``(returncode, output)``; past ``timeout`` seconds the whole process
    group (torchrun and its workers included) is killed and ``returncode`` is None.
    """
    proc = subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True)
    try:
        output, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        output, _ = proc.communicate()
        return None, output
    return proc.returncode, output
