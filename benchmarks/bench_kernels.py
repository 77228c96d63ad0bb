"""Benchmark of the Triton kernels against the torch paths and the dense baseline.

Sweeps batch size ``n``, head layout (``H`` heads, ``sum(C_h)``), ``k`` and
dtype, for

* ``ce``: multi-head cross-entropy, forward + backward (the training cost of
  the loss layer);
* ``topk``: exact Kronecker top-k over codes ``< n_classes``.

Columns: median milliseconds of

* ``triton``: the ``skmhe.ops`` op with ``backend="triton"`` (CUDA only);
* ``torch ref``: the same op with ``backend="torch"`` (the reference path);
* ``eager``: plain per-head ``F.cross_entropy`` summed over heads (ce only);
* ``dense``: the one-head baseline over ``C = prod(C_h)`` classes: hidden x W^T
  with a ``C``-wide W plus ``F.cross_entropy`` (ce; forward + backward), or the
  outer-sum joint log-probabilities plus ``torch.topk`` (topk). Skipped (n/a)
  where its ``n x C`` tensors would exceed ``--dense-gib``;
* ``mhe+linear`` (ce): hidden x W^T with the ``sum(C_h)``-wide W plus the best
  MHE loss path, the like-for-like counterpart of ``dense``;

the achieved bandwidth of the best MHE path (bytes it must move: logits read,
gradient written, targets/losses or the top-k out) in GB/s and as a fraction
of the measured device copy bandwidth, and the speed-ups of that path over
the torch reference (a), eager per-head CE (b) and the dense baseline (c).

On a machine without CUDA only the torch paths are timed, and the output says
so: Triton's CPU interpreter is a correctness tool and is never timed.

Usage::

    python benchmarks/bench_kernels.py [--quick] [--out PATH] [--device cuda|cpu]
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

try:  # python -m benchmarks.bench_kernels
    from ._common import machine_info, markdown_table
    from ._kernel_timing import ce_bytes, copy_bandwidth_gbps, gbps, median_ms, outer_sum, topk_bytes
except ImportError:  # python benchmarks/bench_kernels.py
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from benchmarks._common import machine_info, markdown_table
    from benchmarks._kernel_timing import ce_bytes, copy_bandwidth_gbps, gbps, median_ms, outer_sum, topk_bytes

import torch
import torch.nn.functional as F

COLUMNS = [
    ("op", "op", ""),
    ("n", "n", "{:,}"),
    ("factors", "factors", ""),
    ("H", "H", ""),
    ("sum_c", "sum C_h", "{:,}"),
    ("n_classes", "C", "{:,}"),
    ("k", "k", ""),
    ("dtype", "dtype", ""),
    ("triton_ms", "triton ms", "{:.3f}"),
    ("ref_ms", "torch ref ms", "{:.3f}"),
    ("eager_ms", "eager ms", "{:.3f}"),
    ("mhe_linear_ms", "mhe+linear ms", "{:.3f}"),
    ("dense_ms", "dense ms", "{:.3f}"),
    ("best_path", "best MHE path", ""),
    ("gbps", "GB/s", "{:,.1f}"),
    ("bw_frac", "of copy BW", "{:.0%}"),
    ("x_ref", "x ref (a)", "{:.2f}"),
    ("x_eager", "x eager (b)", "{:.2f}"),
    ("x_dense", "x dense (c)", "{:.2f}"),
]

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


# --------------------------------------------------------------------------- cases


def _targets(n: int, factors, device) -> torch.Tensor:
    return torch.stack([torch.randint(0, c, (n,), device=device) for c in factors], dim=1)


def bench_ce(n, factors, dtype, args, device, use_triton, dense_bytes_max) -> dict:
    from skmhe.ops import multi_head_cross_entropy

    width, n_codes = sum(factors), math.prod(factors)
    elt = torch.finfo(dtype).bits // 8
    x = (torch.randn(n, width, device=device) * 2).to(dtype).requires_grad_(True)
    t = _targets(n, factors, device)

    def step(backend):
        def fn():
            x.grad = None
            multi_head_cross_entropy(x, t, factors, backend=backend).backward()

        return fn

    def eager():
        x.grad = None
        parts = torch.split(x, list(factors), dim=1)
        loss = sum(F.cross_entropy(p.float(), t[:, h]) for h, p in enumerate(parts))
        loss.backward()

    row = {}
    row["triton_ms"] = median_ms(step("triton"), device, args.repeats) if use_triton else None
    row["ref_ms"] = median_ms(step("torch"), device, args.repeats)
    row["eager_ms"] = median_ms(eager, device, args.repeats)
    best_backend = "triton" if use_triton else "torch"
    best = row["triton_ms"] if use_triton else min(row["ref_ms"], row["eager_ms"])
    row["best_path"] = best_backend if use_triton else ("torch ref" if best == row["ref_ms"] else "eager")
    x = None  # free the logits before the dense case (the closures above are done)

    # like-for-like with the dense baseline: include the output layer hidden x W^T
    hidden = torch.randn(n, args.hidden, device=device, dtype=dtype)
    w = (torch.randn(width, args.hidden, device=device) * args.hidden**-0.5).to(dtype).requires_grad_(True)

    def mhe_linear():
        w.grad = None
        multi_head_cross_entropy(hidden @ w.t(), t, factors, backend=best_backend).backward()

    row["mhe_linear_ms"] = median_ms(mhe_linear, device, args.repeats)
    w = None
    dense_bytes = n * n_codes * (2 * elt + 8) + 2 * n_codes * args.hidden * elt  # logits, grad, fp32 copies; W
    if dense_bytes <= dense_bytes_max:
        wd = (torch.randn(n_codes, args.hidden, device=device) * args.hidden**-0.5).to(dtype).requires_grad_(True)
        from skmhe import LabelCodec

        y = torch.as_tensor(LabelCodec(factors).decode(t.cpu().numpy()), device=device)

        def dense():
            wd.grad = None
            F.cross_entropy((hidden @ wd.t()).float(), y).backward()

        row["dense_ms"] = median_ms(dense, device, args.repeats)
        del wd
    else:
        row["dense_ms"] = None
    moved = ce_bytes(n, factors, elt)
    row["bytes"] = moved
    row["gbps"] = gbps(moved, best)
    row["x_ref"] = row["ref_ms"] / best if use_triton else None
    row["x_eager"] = row["eager_ms"] / best if use_triton else None
    row["x_dense"] = row["dense_ms"] / row["mhe_linear_ms"] if row["dense_ms"] else None
    return row


def bench_topk(n, factors, dtype, k, args, device, use_triton, dense_bytes_max) -> dict:
    from skmhe.ops import kronecker_topk

    width, n_codes = sum(factors), math.prod(factors)
    n_classes = n_codes - n_codes // 7  # padding codes exist, as with a real label set
    k = min(k, n_classes)
    elt = torch.finfo(dtype).bits // 8
    x = (torch.randn(n, width, device=device) * 2).to(dtype)
    row = {"n_classes": n_classes, "k": k}
    with torch.no_grad():
        row["triton_ms"] = (
            median_ms(lambda: kronecker_topk(x, factors, k, n_classes, backend="triton"), device, args.repeats)
            if use_triton
            else None
        )
        row["ref_ms"] = median_ms(
            lambda: kronecker_topk(x, factors, k, n_classes, backend="torch"), device, args.repeats
        )
        row["eager_ms"] = None
        best = row["triton_ms"] if use_triton else row["ref_ms"]
        row["best_path"] = "triton" if use_triton else "torch ref"
        row["mhe_linear_ms"] = None
        if n * n_codes * 4 * 2 <= dense_bytes_max:

            def dense():
                return torch.topk(outer_sum(x, factors, log_softmax=True)[:, :n_classes], k, dim=1)

            row["dense_ms"] = median_ms(dense, device, args.repeats)
        else:
            row["dense_ms"] = None
    moved = topk_bytes(n, factors, elt, k)
    row["bytes"] = moved
    row["gbps"] = gbps(moved, best)
    row["x_ref"] = row["ref_ms"] / best if use_triton else None
    row["x_eager"] = None
    row["x_dense"] = row["dense_ms"] / best if row["dense_ms"] else None
    return row


def sweep(args, device):
    """``(op, n, factors, dtype, k)`` cases for this device and mode."""
    if args.quick:
        ns = [64]
        layouts = [(10, 10), (17, 17, 17), (100, 3)]
        dtypes = ["float32"]
        ks = [5]
    elif device.type == "cuda":
        ns = [1024, 8192]
        layouts = [(100, 100), (1000, 1000), (100, 100, 100), (317, 211, 17), (32, 32, 32, 32), (4000, 250)]
        dtypes = ["float32", "bfloat16", "float16"]
        ks = [10, 128]
    else:
        ns = [256, 2048]
        layouts = [(100, 100), (1000, 1000), (100, 100, 100), (32, 32, 32, 32)]
        dtypes = ["float32", "bfloat16"]
        ks = [10, 128]
    if args.n:
        ns = args.n
    if args.dtypes:
        dtypes = args.dtypes
    if args.k:
        ks = args.k
    cases = []
    for op in args.ops:
        for n in ns:
            for factors in layouts:
                for dtype in dtypes:
                    if op == "ce":
                        cases.append(("ce", n, factors, dtype, None))
                    else:
                        cases.extend(("topk", n, factors, dtype, k) for k in ks)
    return cases


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="tiny sizes, for a smoke test")
    p.add_argument("--out", default="benchmarks/out/bench_kernels.json", help="JSON results path")
    p.add_argument("--device", default="auto", help="cuda, cpu or auto (cuda when available)")
    p.add_argument("--ops", nargs="+", default=["ce", "topk"], choices=["ce", "topk"])
    p.add_argument("--n", type=int, nargs="+", help="batch sizes (overrides the sweep)")
    p.add_argument("--k", type=int, nargs="+", help="top-k sizes (overrides the sweep)")
    p.add_argument("--dtypes", nargs="+", choices=sorted(DTYPES), help="dtypes (overrides the sweep)")
    p.add_argument("--hidden", type=int, default=256, help="hidden width of the output layer (ce)")
    p.add_argument("--repeats", type=int, default=50)
    p.add_argument(
        "--dense-gib", type=float, default=None,
        help="largest dense baseline, GiB of its n x C tensors (default 24 on CUDA, 2 on CPU)",
    )
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    args = p.parse_args(argv)
    if args.quick:
        args.repeats = min(args.repeats, 10)
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device("cuda" if args.device == "auto" and torch.cuda.is_available() else
                          ("cpu" if args.device == "auto" else args.device))
    from skmhe import kernels

    use_triton = device.type == "cuda" and kernels.triton_available() and not kernels.interpret_mode()
    if use_triton:
        note = f"Triton kernels timed natively on {torch.cuda.get_device_name(device)}."
    else:
        if device.type != "cuda":
            why = "no CUDA device"
        elif kernels.interpret_mode():
            why = "TRITON_INTERPRET is set"
        else:
            why = f"triton unavailable ({kernels.triton_import_error()})"
        note = (
            f"{why}: only the torch paths are timed (Triton's CPU interpreter is never timed); "
            "'triton' columns and the speed-ups (a), (b) are n/a, GB/s is that of the best torch MHE path, "
            "and (c) compares the torch MHE path with the dense baseline."
        )
    torch.manual_seed(0)
    bw = copy_bandwidth_gbps(device, args.quick)
    dense_max = (args.dense_gib if args.dense_gib is not None else (24 if device.type == "cuda" else 2)) * 2**30
    print(f"device: {device} ({note})\nmeasured copy bandwidth: {bw:,.0f} GB/s", flush=True)
    rows = []
    for op, n, factors, dtype_name, k in sweep(args, device):
        dtype = DTYPES[dtype_name]
        base = {
            "op": op,
            "n": n,
            "factors": "x".join(map(str, factors)),
            "H": len(factors),
            "sum_c": sum(factors),
            "n_classes": math.prod(factors),
            "k": "",
            "dtype": dtype_name,
        }
        try:
            if op == "ce":
                res = bench_ce(n, factors, dtype, args, device, use_triton, dense_max)
            else:
                res = bench_topk(n, factors, dtype, k, args, device, use_triton, dense_max)
        except torch.OutOfMemoryError as exc:  # keep going: report the case as failed
            res = {"error": f"out of memory: {exc}"[:200]}
        except RuntimeError as exc:
            res = {"error": f"{type(exc).__name__}: {exc}"[:300]}
        row = {**base, **res}
        if "gbps" in row:
            row["bw_frac"] = row["gbps"] / bw
        rows.append(row)
        print(
            f"  {op:5s} n={n:<6} factors={base['factors']:<14} {dtype_name:8s} k={row.get('k', '')!s:<4} "
            + ("error: " + row["error"] if "error" in row else f"best {row['best_path']}"),
            flush=True,
        )
        if device.type == "cuda":
            torch.cuda.empty_cache()
    table = markdown_table(rows, COLUMNS)
    info = machine_info()
    print(f"\n{note}\ncopy bandwidth {bw:,.0f} GB/s; machine: {info['machine']}, torch {info['torch']}\n")
    print(table)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "args": vars(args),
        "machine": info,
        "device": str(device),
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "triton_timed": use_triton,
        "note": note,
        "copy_bandwidth_gbps": bw,
        "rows": rows,
    }
    out.write_text(json.dumps(payload, indent=2))
    print(f"\nresults written to {out}")
    return 0 if all("error" not in r for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
