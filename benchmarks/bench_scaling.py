"""Scaling in the number of classes C: per-step cost and peak memory of the output layer.

At a fixed batch ``n`` and feature width ``d`` (defaults 4096 and 512), for
C = 1e4, 1e5, 1e6, 1e7:

* ``step``: one training step of the output layer alone, forward + backward of
  ``features -> logits -> loss`` (gradients for the weights and for the
  features), on random features and uniformly drawn targets, for the
  Multi-Head Product with 2 and 3 heads (``skmhe.ops.multi_head_cross_entropy``
  on ``sum(C_h)`` logits), the dense softmax (``F.cross_entropy`` on ``C``
  logits) and the adaptive softmax (``torch.nn.AdaptiveLogSoftmaxWithLoss``,
  cutoffs ``0.1 C, 0.5 C``, ``div_value=4``);
* ``topk``: top-k prediction from head logits, ``skmhe.ops.kronecker_topk``
  against the dense route (outer sum of the heads' log-softmaxes over the whole
  product space, then ``torch.topk``);
* ``estimator``: ``MHEClassifier``'s own training step (``partial_fit`` on one
  batch of ``n`` rows: input checks, backbone ``n_features -> d`` ReLU, product
  head, loss, backward, Adam), median over calls after a warm-up call;
* ``fit``: a full ``MHEClassifier.fit`` at C = 1e7 on
  ``make_extreme_classification(n_samples=C, n_classes=C)`` (every class
  present once), with its time and peak RSS.

Every case runs in its own spawned process, so the peak RSS reported is that
case's own. Before a case allocates anything its memory is estimated; a case
whose estimate exceeds ``--memory-budget-gb`` is not run and its cell reads
``skipped: needs X GB``. Times are medians of ``--repeats`` calls.

Writes JSON (``--out``), a markdown report next to it (same stem, ``.md``) and,
when matplotlib is importable, PNG plots (same stem, ``_*.png``).

Usage::

    python -m benchmarks.bench_scaling [--quick] [--out PATH] [--parts step topk estimator fit]
"""

from __future__ import annotations

import json
import os
import sys
from . import _cli
from ._common import machine_info
from .scaling_cases import (  # noqa: F401  (the cases' helpers, read by the tests through this module)
    GB,
    METHOD_NAMES,
    STEP_METHODS,
    adaptive_cutoffs,
    class_share,
    estimate_step_bytes,
    estimate_topk_bytes,
    estimator_case,
    fit_case,
    fmt_ms,
    layer_config,
    memory_available_bytes,
    product_factors,
    run_child,
    skipped_cell,
    step_case,
    time_calls,
    topk_case,
)
from .scaling_report import plot, report, summarise

PARTS = ("step", "topk", "estimator", "fit")


# --------------------------------------------------------------------------- driver


def parse_args(argv=None):
    p = _cli.parser(__doc__)
    p.add_argument("--classes", type=float, nargs="+", default=[1e4, 1e5, 1e6, 1e7], help="values of C")
    p.add_argument("--batch", type=int, default=4096, help="rows per step")
    p.add_argument("--hidden", type=int, default=512, help="feature width d fed to the output layer")
    p.add_argument("--repeats", type=int, default=5, help="timed calls per case (median reported)")
    p.add_argument("--parts", nargs="+", default=list(PARTS), choices=PARTS)
    p.add_argument("--methods", nargs="+", default=list(STEP_METHODS), choices=STEP_METHODS)
    p.add_argument("--targets", choices=("uniform", "zipf"), default="uniform",
                   help="target distribution of the step cases (adaptive softmax is built for zipf)")
    p.add_argument("--adaptive-fractions", type=float, nargs="+", default=[0.1, 0.5],
                   help="adaptive-softmax cutoffs as fractions of C")
    p.add_argument("--div-value", type=float, default=4.0)
    p.add_argument("--k", type=int, default=10, help="top-k size")
    p.add_argument("--memory-budget-gb", type=float, default=None,
                   help="largest estimated case that is run (default: 80%% of MemAvailable)")
    p.add_argument("--n-features", type=int, default=64, help="input features (estimator and fit)")
    p.add_argument("--fit-classes", type=float, default=1e7)
    p.add_argument("--fit-samples", type=float, default=None, help="default: fit-classes (each class once)")
    p.add_argument("--fit-heads", type=int, default=3)
    p.add_argument("--fit-hidden", type=int, default=256)
    p.add_argument("--fit-epochs", type=int, default=1)
    p.add_argument("--fit-lr", type=float, default=1e-3)
    p.add_argument("--fit-eval-rows", type=int, default=100_000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-isolate", action="store_true", help="run cases in this process (peak RSS is shared)")
    _cli.add_common_arguments(p, out="benchmarks/out/bench_scaling.json", threads=min(2, os.cpu_count() or 1),
                              quick_help="toy sizes, in-process, for a smoke test", plots=True)
    args = p.parse_args(argv)
    if args.quick:
        args.classes = [1e3, 1e4]
        args.batch, args.hidden, args.repeats, args.k = 256, 64, 2, 5
        args.n_features, args.fit_classes, args.fit_hidden = 16, 5e3, 32
        args.fit_eval_rows = 1000
        args.no_isolate = True
        args.threads = 1  # a toy op on 2 threads of a shared machine measures scheduling, not work
        if args.memory_budget_gb is None:  # small enough that the largest dense case is skipped
            args.memory_budget_gb = 0.02
    args.classes = [int(c) for c in args.classes]
    args.fit_classes = int(args.fit_classes)
    args.fit_samples = int(args.fit_samples) if args.fit_samples else args.fit_classes
    if args.memory_budget_gb is None:
        args.memory_budget_gb = round(0.8 * memory_available_bytes() / GB, 1)
    return args


def _cfg(args, repeats=None, warmup=1) -> dict:
    return {
        "threads": args.threads,
        "seed": args.seed,
        "repeats": repeats or args.repeats,
        "warmup": warmup,
        "targets": args.targets,
        "adaptive_fractions": tuple(args.adaptive_fractions),
        "div_value": args.div_value,
        "n_features": args.n_features,
        "batch": args.batch,
        "fit_heads": args.fit_heads,
        "fit_hidden": args.fit_hidden,
        "fit_epochs": args.fit_epochs,
        "fit_lr": args.fit_lr,
        "fit_eval_rows": args.fit_eval_rows,
    }


def run_steps(args, budget: float) -> list[dict]:
    rows = []
    for C in args.classes:
        for method in args.methods:
            cutoffs = adaptive_cutoffs(C, args.adaptive_fractions) if method == "adaptive" else ()
            est = estimate_step_bytes(
                method, args.batch, args.hidden, C, cutoffs=cutoffs, div_value=args.div_value, targets=args.targets
            )
            row = {"part": "step", "method": method, "name": METHOD_NAMES[method], "n_classes": C,
                   "batch": args.batch, "hidden": args.hidden, "estimate_gb": est / GB,
                   "config": layer_config(method, C, cutoffs)}
            if est > budget:
                row["skipped"] = skipped_cell(est)
            else:
                # one warm-up call; two for cheap cases, where the first is noisier
                cfg = _cfg(args, warmup=1 if est > 2 * GB else 2)
                row.update(run_child(step_case, method, args.batch, args.hidden, C, cfg, isolate=not args.no_isolate))
            rows.append(row)
            _progress(row, "step_ms")
    return rows


def run_topk(args, budget: float) -> list[dict]:
    rows = []
    for C in args.classes:
        k = min(args.k, C)
        for route, heads in (("kronecker", 2), ("kronecker", 3), ("dense", 2)):
            factors = product_factors(C, heads)
            est = estimate_topk_bytes(route, args.batch, factors, k)
            row = {"part": "topk", "method": f"{route}{heads}", "route": route, "heads": heads,
                   "config": "x".join(map(str, factors)), "n_classes": C, "k": k, "batch": args.batch,
                   "estimate_gb": est / GB,
                   "name": ("Kronecker top-k" if route == "kronecker" else "dense outer sum + topk")
                   + f", {heads} heads"}
            if est > budget:
                row["skipped"] = skipped_cell(est)
            else:
                row.update(run_child(topk_case, route, args.batch, factors, C, k, _cfg(args),
                                     isolate=not args.no_isolate))
            rows.append(row)
            _progress(row, "topk_ms")
    return rows


def run_estimator(args) -> list[dict]:
    rows = []
    for C in args.classes:
        for heads in (2, 3):
            row = {"part": "estimator", "method": f"estimator{heads}", "name": f"MHEClassifier, {heads} heads",
                   "n_classes": C, "batch": args.batch, "hidden": args.hidden, "n_features": args.n_features}
            row.update(run_child(estimator_case, heads, args.batch, args.hidden, C, _cfg(args),
                                 isolate=not args.no_isolate))
            rows.append(row)
            _progress(row, "step_ms")
    return rows


def run_fit(args) -> list[dict]:
    row = {"part": "fit", "method": "fit", "n_classes": args.fit_classes, "batch": args.batch,
           "n_features": args.n_features, "completed": False}
    print(f"  fit: MHEClassifier.fit at C={args.fit_classes:,}, {args.fit_samples:,} samples ...", flush=True)
    row.update(run_child(fit_case, args.fit_classes, args.fit_samples, _cfg(args), isolate=not args.no_isolate))
    print(f"  fit: {'error: ' + row['error'] if 'error' in row else 'completed in %.0f s' % row['fit_s']}",
          flush=True)
    return [row]


def _progress(row: dict, key: str) -> None:
    what = row.get("skipped") or row.get("error") or fmt_ms(row[key])
    print(f"  {row['part']:9s} {row['name']:34s} C={row['n_classes']:>12,}  {what}", flush=True)


def main(argv=None) -> int:
    args = parse_args(argv)
    budget = args.memory_budget_gb * GB
    info = machine_info()
    info["torch_threads"] = args.threads
    info["memory_available_gb"] = round(memory_available_bytes() / GB, 1)
    info["loadavg_start"] = _cli.load_average()
    print(f"machine: {info['machine']}, torch {info['torch']}, {args.threads} threads; "
          f"memory budget {args.memory_budget_gb:.1f} GB", flush=True)
    rows = []
    if "step" in args.parts:
        rows += run_steps(args, budget)
    if "topk" in args.parts:
        rows += run_topk(args, budget)
    if "estimator" in args.parts:
        rows += run_estimator(args)
    if "fit" in args.parts:
        rows += run_fit(args)
    info["loadavg_end"] = _cli.load_average()
    summary = summarise(rows, args)
    text = report(rows, summary, args, info)
    out = _cli.output_file(args.out)
    stem = out.with_suffix("")
    plots = [] if args.no_plots else plot(rows, args, stem)
    out.write_text(json.dumps({"args": vars(args), "machine": info, "argv": sys.argv[1:], "rows": rows,
                               "summary": summary, "plots": plots}, indent=2))
    out.with_suffix(".md").write_text(text)
    print("\n" + text)
    print(f"results written to {out}, {out.with_suffix('.md')}" + "".join(f", {p}" for p in plots))
    return 0 if all("error" not in r for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
