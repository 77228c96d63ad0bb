"""Timing and byte accounting shared by the kernel benchmarks (``bench_kernels``, ``gpu_parts_speed``).

Pure torch: no skmhe import. CUDA timings use CUDA events; CPU timings wall time.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence

import torch

__all__ = [
    "ce_bytes",
    "copy_bandwidth_gbps",
    "floor_ms",
    "gbps",
    "median_ms",
    "outer_sum",
    "topk_bytes",
]


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def median_ms(
    fn: Callable[[], object], device: torch.device, repeats: int, warmup: int = 3, budget_s: float = 2.0
) -> float:
    """Median time of ``fn()`` in milliseconds, after ``warmup`` calls.

    CUDA events on a GPU, wall time on the CPU. Stops early (after at least
    three repeats) once ``budget_s`` seconds have been spent.
    """
    for _ in range(warmup):
        fn()
    _sync(device)
    times = []
    start_all = time.perf_counter()
    for _ in range(repeats):
        if device.type == "cuda":
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            fn()
            end.record()
            end.synchronize()
            times.append(start.elapsed_time(end))
        else:
            t0 = time.perf_counter()
            fn()
            times.append((time.perf_counter() - t0) * 1e3)
        if len(times) >= 3 and time.perf_counter() - start_all > budget_s:
            break
    return statistics.median(times)


def copy_bandwidth_gbps(device: torch.device, quick: bool) -> float:
    """Measured device-to-device copy bandwidth (bytes read + bytes written per second), GB/s."""
    n_bytes = (16 if quick else (512 if device.type == "cuda" else 128)) * 2**20
    src = torch.empty(n_bytes // 4, dtype=torch.float32, device=device).uniform_()
    dst = torch.empty_like(src)
    ms = median_ms(lambda: dst.copy_(src), device, repeats=20)
    return 2 * n_bytes / (ms * 1e-3) / 1e9


def gbps(n_bytes: float, ms: float) -> float:
    """Achieved bandwidth, GB/s, of moving ``n_bytes`` in ``ms`` milliseconds."""
    return n_bytes / (ms * 1e-3) / 1e9


def floor_ms(n_bytes: float, bandwidth_gbps: float) -> float:
    """The byte floor: milliseconds to move ``n_bytes`` at ``bandwidth_gbps``."""
    return n_bytes / (bandwidth_gbps * 1e9) * 1e3


def ce_bytes(n: int, factors: Sequence[int], elt: int) -> int:
    """Bytes a multi-head cross-entropy forward + backward must move at least.

    Logits read and gradient written (``elt`` bytes each), int64 targets read and
    float32 per-(row, head) losses written.
    """
    return n * sum(factors) * elt * 2 + n * len(factors) * (8 + 4)


def topk_bytes(n: int, factors: Sequence[int], elt: int, k: int) -> int:
    """Bytes a Kronecker top-k must move at least: logits read, float32 values and int64 codes written."""
    return n * sum(factors) * elt + n * k * (4 + 8)


def outer_sum(x: torch.Tensor, factors: Sequence[int], log_softmax: bool = False) -> torch.Tensor:
    """The dense ``(n, prod(factors))`` outer sum of the heads' float32 logits (code order, head 0 major).

    With ``log_softmax`` each head is log-softmaxed first: the joint log-probabilities.
    """
    parts = [p.float() for p in torch.split(x, list(factors), dim=1)]
    if log_softmax:
        parts = [p.log_softmax(dim=1) for p in parts]
    d = parts[0]
    for part in parts[1:]:
        d = (d[:, :, None] + part[:, None, :]).flatten(1)
    return d
