"""Freed memory kept in the C heap for the duration of an estimator call (glibc only).

glibc's ``malloc`` serves every block over its mmap threshold (at most 32 MiB) with a fresh
``mmap`` and gives it back to the kernel on ``free``. A training step at 1e6 labels frees and
allocates again several such blocks (a 450 MB input-layer gradient, the label tables'
per-group sums), and each new block costs a page fault per 4 KiB page touched: in a process
of 5 GB that was a fifth to a third of the step's CPU time (``benchmarks/RESULTS.md``, "Freed
memory kept in the heap"). While an estimator call runs, :func:`kept_heap` has ``malloc``
take every block from its heap (``M_MMAP_MAX = 0``) and keep what is freed there (a trim
threshold of 2 GiB, the largest ``mallopt`` takes), so that the next step reuses pages
already mapped; on exit it puts glibc's defaults back and returns the free pages to the
kernel (``malloc_trim``). The price is a higher peak of resident memory (freed blocks wait in
the heap): 17 % at 1e6 labels.

Nothing changes where the C library is not glibc, when ``SKMHE_KEPT_HEAP=0`` is set, or when
the process was started with its own ``MALLOC_MMAP_MAX_``, ``MALLOC_TRIM_THRESHOLD_`` or
``MALLOC_MMAP_THRESHOLD_``. Calls nest, also across threads: only the outermost one sets and
restores. Threads other than the main one allocate from their own arenas, where blocks over
64 MiB stay mapped blocks: they get no gain and no harm. After the first call glibc's
adaptive mmap threshold stays where it was (glibc stops adapting it once a trim threshold is
set by hand).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import sys
import threading
from collections.abc import Iterator

#: ``mallopt`` parameters (``malloc.h``) and glibc's defaults for them
_M_TRIM_THRESHOLD, _M_MMAP_MAX = -1, -4
_DEFAULT_TRIM_THRESHOLD, _DEFAULT_MMAP_MAX = 128 * 1024, 65536
#: freed memory kept in the heap while a call runs
_KEPT_TRIM_THRESHOLD = 2**31 - 1
#: environment variables by which a user or a launcher already tuned malloc
_MALLOC_ENVIRONMENT = ("MALLOC_MMAP_MAX_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_MMAP_THRESHOLD_")

_lock = threading.Lock()
_depth = 0


def _glibc() -> ctypes.CDLL | None:
    """glibc, when this process runs on it and the user has not opted out; else None."""
    if not sys.platform.startswith("linux") or os.environ.get("SKMHE_KEPT_HEAP", "1") == "0":
        return None
    if any(name in os.environ for name in _MALLOC_ENVIRONMENT):
        return None
    try:
        libc = ctypes.CDLL(None)
        libc.gnu_get_libc_version  # only glibc has it (musl has no mallopt to speak of)
        libc.mallopt, libc.malloc_trim
    except (OSError, AttributeError):
        return None
    libc.mallopt.argtypes, libc.mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    libc.malloc_trim.argtypes, libc.malloc_trim.restype = [ctypes.c_size_t], ctypes.c_int
    return libc


_LIBC = _glibc()


def heap_is_kept() -> bool:
    """Whether a :func:`kept_heap` scope is in force now."""
    return _LIBC is not None and _depth > 0


@contextlib.contextmanager
def kept_heap() -> Iterator[None]:
    """Run the body with freed memory kept in glibc's heap; glibc's defaults back on exit.

    A no-op where :data:`_LIBC` is None (not glibc, opted out, or malloc tuned by the
    environment). Also restores on an exception.
    """
    global _depth
    if _LIBC is None:
        yield
        return
    with _lock:
        _depth += 1
        if _depth == 1:
            _LIBC.mallopt(_M_TRIM_THRESHOLD, _KEPT_TRIM_THRESHOLD)
            _LIBC.mallopt(_M_MMAP_MAX, 0)
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0:
                _LIBC.mallopt(_M_MMAP_MAX, _DEFAULT_MMAP_MAX)
                _LIBC.mallopt(_M_TRIM_THRESHOLD, _DEFAULT_TRIM_THRESHOLD)
                _LIBC.malloc_trim(0)
