"""GPU check, part 2: speed of the Triton kernels on CUDA (see :mod:`benchmarks.gpu_check`).

Median milliseconds (CUDA events, after warm-up; :func:`benchmarks._kernel_timing.median_ms`) of

* ``ce``: fused multi-head cross-entropy forward + backward (``backend="triton"``)
  against the torch reference path (``backend="torch"``), eager and under
  ``torch.compile``, and against dense ``F.cross_entropy`` over the outer-sum
  logits (forward + backward to the head logits) at the largest ``n`` whose
  ``n x C`` tensors fit ``DENSE_GIB`` (the fused kernel is timed again at that
  ``n`` for the ratio);
* ``topk``: Kronecker top-k (k = 10) against the torch reference path, its byte
  floor (the bytes it must move at the measured copy bandwidth) and dense
  outer-sum log-probabilities + ``torch.topk`` at the largest ``n`` that fits.

Shapes: n = 65,536 with the heads 1000x1000 (sum C_h = 2,000, C = 1e6),
100x100x100 (C = 1e6, 3 heads), 3163x3162 and 216x216x215 (C ~ 1e7); fp32 and
bf16. The target cases (1000x1000, fp32) run first. Bandwidth: the bytes the
op must move (:func:`~benchmarks._kernel_timing.ce_bytes`,
:func:`~benchmarks._kernel_timing.topk_bytes`) over its time, and as a
fraction of the measured device-to-device copy bandwidth.

Without CUDA nothing is timed, except with ``--quick``: a smoke run of the
torch paths at tiny shapes on the CPU (never reported as kernel speed; the
GPU check does not run this part without CUDA).

Usage: ``python -m benchmarks.gpu_parts_speed --out FILE --work DIR [--limit-s S] [--quick]``
"""

from __future__ import annotations

import math
import sys
import time
import traceback

import torch
import torch.nn.functional as F

from benchmarks._kernel_timing import ce_bytes, copy_bandwidth_gbps, floor_ms, gbps, median_ms, outer_sum, topk_bytes
from benchmarks.gpu_report import Deadline, PartRecord, part_parser

N = 65536
LAYOUTS = [(1000, 1000), (100, 100, 100), (3163, 3162), (216, 216, 215)]
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16}
K = 10
#: largest dense baseline, GiB of its n x C float32 tensors
DENSE_GIB = 24.0


def dense_rows(n: int, n_codes: int, tensors: int, limit_bytes: float) -> int:
    """The largest power of two ``<= n`` rows whose ``tensors`` float32 ``(rows, n_codes)`` tensors fit; 0 if none."""
    rows = 1 << max(0, int(n).bit_length() - 1)
    while rows >= 1 and rows * n_codes * 4 * tensors > limit_bytes:
        rows //= 2
    return rows


def _case(n: int, factors, dtype, device, seed: int = 0):
    g = torch.Generator(device=device).manual_seed(seed)
    x = (torch.randn(n, sum(factors), device=device, generator=g) * 2).to(dtype)
    t = torch.stack([torch.randint(0, c, (n,), device=device, generator=g) for c in factors], dim=1)
    return x, t


def ce_row(factors, dtype_name: str, n: int, device, bw: float, deadline: Deadline, use_triton: bool) -> dict:
    """Timings of one cross-entropy case (see the module docstring)."""
    from skmhe import LabelCodec
    from skmhe.ops import multi_head_cross_entropy as mhce

    dtype = DTYPES[dtype_name]
    x, t = _case(n, factors, dtype, device)
    x.requires_grad_(True)

    def step(fn):
        def run():
            x.grad = None
            fn(x, t).backward()

        return run

    row: dict = {}
    fused = (lambda a, b: mhce(a, b, factors, backend="triton")) if use_triton else None
    row["triton_ms"] = median_ms(step(fused), device, 30, budget_s=1.0) if use_triton else None
    row["ref_ms"] = median_ms(step(lambda a, b: mhce(a, b, factors, backend="torch")), device, 30, budget_s=1.0)
    if device.type != "cuda":
        row["note"] = "torch.compile: CUDA only"
    elif deadline.left() <= 60:
        row["note"] = "torch.compile skipped: under 60 s left"
    else:
        try:
            compiled = torch.compile(lambda a, b: mhce(a, b, factors, backend="torch"))
            row["compiled_ms"] = median_ms(step(compiled), device, 30, budget_s=1.0)
        except Exception as exc:  # noqa: BLE001 - report, keep the other figures
            row["note"] = f"torch.compile failed: {type(exc).__name__}: {exc}"[:300]
    elt = torch.finfo(dtype).bits // 8
    best = row["triton_ms"] or row["ref_ms"]
    row["bytes"] = ce_bytes(n, factors, elt)
    row["gbps"] = gbps(row["bytes"], best)
    row["bw_frac"] = row["gbps"] / bw
    row["x_ref"] = row["ref_ms"] / best
    row["x_compiled"] = row["compiled_ms"] / best if row.get("compiled_ms") else None
    x.grad = None
    x = None
    n_codes = math.prod(factors)
    rows = dense_rows(n, n_codes, 3, DENSE_GIB * 2**30)  # logits, softmax, gradient
    if rows and deadline.left() > 20:
        xd, td = _case(rows, factors, dtype, device, seed=1)
        xd.requires_grad_(True)
        y = torch.as_tensor(LabelCodec(factors).decode(td.cpu().numpy()), device=device)

        def dense():
            xd.grad = None
            F.cross_entropy(outer_sum(xd, factors), y).backward()

        def small():
            xd.grad = None
            mhce(xd, td, factors, backend="triton" if use_triton else "torch").backward()

        row["dense_n"] = rows
        row["dense_ms"] = median_ms(dense, device, 10, warmup=1, budget_s=1.0)
        row["x_dense"] = row["dense_ms"] / median_ms(small, device, 30, budget_s=0.5)
    return row


def topk_row(factors, dtype_name: str, n: int, device, bw: float, deadline: Deadline, use_triton: bool) -> dict:
    """Timings of one Kronecker top-k case (see the module docstring)."""
    from skmhe.ops import kronecker_topk

    dtype = DTYPES[dtype_name]
    n_codes = math.prod(factors)
    x, _ = _case(n, factors, dtype, device)
    backend = "triton" if use_triton else "torch"
    row: dict = {"k": K}
    with torch.no_grad():
        row["triton_ms"] = median_ms(lambda: kronecker_topk(x, factors, K, n_codes, backend="triton"), device, 30,
                                     budget_s=1.0) if use_triton else None
        row["ref_ms"] = median_ms(lambda: kronecker_topk(x, factors, K, n_codes, backend="torch"), device, 10,
                                  warmup=1, budget_s=1.0)
        best = row["triton_ms"] or row["ref_ms"]
        elt = torch.finfo(dtype).bits // 8
        row["bytes"] = topk_bytes(n, factors, elt, K)
        row["gbps"] = gbps(row["bytes"], best)
        row["bw_frac"] = row["gbps"] / bw
        row["floor_ms"] = floor_ms(row["bytes"], bw)
        row["x_floor"] = best / row["floor_ms"]
        row["x_ref"] = row["ref_ms"] / best
        x = None
        rows = dense_rows(n, n_codes, 3, DENSE_GIB * 2**30)  # joint log-probabilities and topk's work
        if rows and deadline.left() > 20:
            xd, _ = _case(rows, factors, dtype, device, seed=1)
            row["dense_n"] = rows
            row["dense_ms"] = median_ms(lambda: torch.topk(outer_sum(xd, factors, log_softmax=True), K, dim=1),
                                        device, 10, warmup=1, budget_s=1.0)
            small = median_ms(lambda: kronecker_topk(xd, factors, K, n_codes, backend=backend), device, 30,
                              budget_s=0.5)
            row["x_dense"] = row["dense_ms"] / small
    return row


def cases(quick: bool, cuda: bool) -> list[tuple[str, tuple, str, int]]:
    """``(op, factors, dtype, n)`` in running order: the target cases first."""
    if not cuda:  # CPU smoke run of the torch paths
        return [("ce", (10, 10), "float32", 64), ("topk", (10, 10), "float32", 64), ("ce", (5, 4, 3), "bfloat16", 64)]
    layouts = LAYOUTS[:2] if quick else LAYOUTS
    out = [("ce", LAYOUTS[0], "float32", N), ("topk", LAYOUTS[0], "float32", N)]
    for factors in layouts:
        for dtype in DTYPES:
            for op in ("ce", "topk"):
                if (op, factors, dtype, N) not in out:
                    out.append((op, factors, dtype, N))
    return out


def main(argv=None) -> int:
    args = part_parser(__doc__).parse_args(argv)
    rec, deadline = PartRecord(args.out, "speed"), Deadline(args.limit_s)
    cuda = torch.cuda.is_available()
    if not cuda and not args.quick:
        rec.check("kernel speed", "skipped", "no CUDA device: kernels are only timed natively")
        return 0
    from skmhe import kernels

    use_triton = cuda and kernels.triton_available() and not kernels.interpret_mode()
    device = torch.device("cuda" if cuda else "cpu")
    if not cuda:
        rec.note("CPU smoke run: torch paths only at tiny shapes; NOT kernel speed")
    elif not use_triton:
        rec.note(f"Triton unusable here ({kernels.triton_import_error() or 'TRITON_INTERPRET set'}): torch paths only")
    t0 = time.perf_counter()
    bw = copy_bandwidth_gbps(device, quick=not cuda)
    rec.figure("copy_bandwidth_gbps", bw)
    rec.check("copy bandwidth", "ok", f"{bw:,.0f} GB/s", time.perf_counter() - t0)
    rows: dict = {"ce": [], "topk": []}
    for op, factors, dtype, n in cases(args.quick, cuda):
        label = f"{op} n={n} {'x'.join(map(str, factors))} {dtype}"
        base = {"op": op, "n": n, "factors": "x".join(map(str, factors)), "H": len(factors),
                "sum_c": sum(factors), "n_classes": math.prod(factors), "dtype": dtype}
        if deadline.left() < 15:
            rec.check(label, "skipped", "no time left")
            continue
        t0 = time.perf_counter()
        try:
            fn = ce_row if op == "ce" else topk_row
            row = {**base, **fn(factors, dtype, n, device, bw, deadline, use_triton)}
            rec.check(label, "ok", "", time.perf_counter() - t0)
        except Exception:  # noqa: BLE001 - out of memory, compile errors: record and go on
            row = {**base, "error": traceback.format_exc().strip().splitlines()[-1][:300]}
            rec.check(label, "failed", traceback.format_exc()[-1500:], time.perf_counter() - t0)
        rows[op].append(row)
        rec.figure(op, rows[op])
        if cuda:
            torch.cuda.empty_cache()
    rec.figure("triton_timed", use_triton)
    return 0


if __name__ == "__main__":
    sys.exit(main())
