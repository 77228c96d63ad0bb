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

import argparse
import json
import math
import os
import statistics
import sys
import time
from pathlib import Path

try:  # python -m benchmarks.bench_scaling
    from ._common import Timer, machine_info, markdown_table, peak_rss_mib, rss_mib, run_isolated
except ImportError:  # python benchmarks/bench_scaling.py
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from benchmarks._common import Timer, machine_info, markdown_table, peak_rss_mib, rss_mib, run_isolated

F32 = 4
GB = 1e9
STEP_METHODS = ("mhp2", "mhp3", "dense", "adaptive")
METHOD_NAMES = {
    "mhp2": "MHP, 2 heads",
    "mhp3": "MHP, 3 heads",
    "dense": "dense softmax",
    "adaptive": "adaptive softmax",
}
PARTS = ("step", "topk", "estimator", "fit")


# --------------------------------------------------------------------------- pure helpers


def product_factors(n_classes: int, n_heads: int) -> tuple[int, ...]:
    """The balanced factors ``MHEClassifier(n_heads=...)`` picks for ``n_classes``."""
    from skmhe import LabelCodec

    return LabelCodec.for_n_classes(int(n_classes), int(n_heads)).factors


def adaptive_cutoffs(n_classes: int, fractions=(0.1, 0.5)) -> list[int]:
    """Cutoffs ``round(f * C)``, strictly increasing and inside ``(0, C)``."""
    cuts = sorted({min(n_classes - 1, max(1, round(f * n_classes))) for f in fractions})
    if not cuts or cuts[0] <= 0 or cuts[-1] >= n_classes:
        raise ValueError(f"no valid cutoffs for C={n_classes} from {fractions}")
    return cuts


def class_share(lo: int, hi: int, n_classes: int, targets: str) -> float:
    """Expected share of rows whose target lies in ``[lo, hi)``.

    ``uniform``: ``(hi - lo) / C``; ``zipf``: class ``c`` drawn with probability
    proportional to ``1 / (c + 1)`` (harmonic-number approximation).
    """
    if targets == "uniform":
        return (hi - lo) / n_classes

    def harmonic(m: int) -> float:  # H_m = sum_{j=1..m} 1/j
        return 0.0 if m <= 0 else math.log(m) + 0.5772156649 + 1.0 / (2 * m)

    return (harmonic(hi) - harmonic(lo)) / harmonic(n_classes)


def adaptive_layout(n: int, d: int, n_classes: int, cutoffs, div_value: float, targets: str) -> list[dict]:
    """Head and tail clusters of ``AdaptiveLogSoftmaxWithLoss``: width, projection, expected rows."""
    bounds = [0, *cutoffs, n_classes]
    layout = [{"size": cutoffs[0] + len(cutoffs), "proj": d, "rows": n}]  # head: shortlist + clusters
    for i in range(len(cutoffs)):
        lo, hi = bounds[i + 1], bounds[i + 2]
        layout.append(
            {
                "size": hi - lo,
                "proj": max(1, int(d // div_value ** (i + 1))),
                "rows": math.ceil(n * class_share(lo, hi, n_classes, targets)),
            }
        )
    return layout


def estimate_step_bytes(
    method: str, n: int, d: int, n_classes: int, *, cutoffs=(), div_value: float = 4.0, targets: str = "uniform"
) -> int:
    """Bytes one output-layer training step needs, estimated before allocating anything.

    float32 throughout. Parameters and their gradients, the ``(rows, width)``
    blocks of logits kept for backward (log-softmax outputs) plus two more of
    the largest block live during backward (its gradient in and out), and the
    gradient of the features.
    """
    features = n * d * F32 * 2  # features and their gradient
    if method in ("mhp2", "mhp3"):
        factors = product_factors(n_classes, int(method[-1]))
        width = sum(factors)
        return features + F32 * (2 * (d + 1) * width + 3 * n * width) + 8 * n * len(factors)
    if method == "dense":
        return features + F32 * (2 * (d + 1) * n_classes + 3 * n * n_classes) + 8 * n
    if method == "adaptive":
        layout = adaptive_layout(n, d, n_classes, cutoffs, div_value, targets)
        params = layout[0]["size"] * d + sum(c["proj"] * (d + c["size"]) for c in layout[1:])
        blocks = [c["rows"] * c["size"] for c in layout]
        projections = sum(c["rows"] * c["proj"] for c in layout[1:])
        return features + F32 * (2 * params + sum(blocks) + 2 * max(blocks) + 2 * projections) + 8 * n
    raise ValueError(f"unknown method {method!r}")


def estimate_topk_bytes(route: str, n: int, factors, k: int) -> int:
    """Bytes of top-k from head logits: ``kronecker`` (candidates per head) or ``dense`` (outer sum)."""
    width = sum(factors)
    base = n * width * F32 * 2  # logits and their log-softmax
    if route == "kronecker":
        keep = k + len(factors)
        return base + 3 * n * keep * max(factors) * (F32 + 8)  # candidate values, codes, sort order
    if route == "dense":
        partial, total = factors[0], 0
        for c in factors[1:]:
            partial *= c
            total += n * partial * F32  # each level of the outer sum
        return base + total + n * k * (F32 + 8)
    raise ValueError(f"unknown route {route!r}")


def layer_config(method: str, n_classes: int, cutoffs=()) -> str:
    """Short description of an output layer, for the tables."""
    if method in ("mhp2", "mhp3"):
        return "x".join(map(str, product_factors(n_classes, int(method[-1]))))
    if method == "dense":
        return f"{n_classes:,} logits"
    return "cutoffs " + "/".join(f"{c:,}" for c in cutoffs)


def fmt_gb(n_bytes: float) -> str:
    gb = n_bytes / GB
    return f"{gb:.1f} GB" if gb >= 1 else f"{gb:.2g} GB"


def skipped_cell(n_bytes: float) -> str:
    """The table cell of a case too large to run."""
    return f"skipped: needs {fmt_gb(n_bytes)}"


def fmt_ms(ms: float) -> str:
    return f"{ms / 1e3:.2f} s" if ms >= 1e4 else (f"{ms:,.0f} ms" if ms >= 100 else f"{ms:.1f} ms")


def memory_available_bytes() -> float:
    """MemAvailable from /proc/meminfo (Linux), else total physical memory."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:  # pragma: no cover - non-Linux
        pass
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def time_calls(fn, repeats: int, warmup: int) -> list[float]:
    """Wall times of ``repeats`` calls of ``fn()`` after ``warmup`` calls, milliseconds."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
    return times


# --------------------------------------------------------------------------- isolation


def run_child(fn, *args, isolate: bool = True) -> dict:
    """``fn(*args)`` in a fresh spawned process (own peak RSS, see ``_common.run_isolated``),
    or in-process."""
    if not isolate:
        try:
            return fn(*args)
        except Exception as exc:
            return {"error": f"{type(exc).__name__}: {exc}"[:500]}
    return run_isolated(fn, *args)


# --------------------------------------------------------------------------- cases (child side)


def _setup_torch(threads: int):
    import torch

    torch.set_num_threads(threads)
    return torch


def _draw_targets(torch, n: int, n_classes: int, targets: str, gen):
    if targets == "uniform":
        return torch.randint(0, n_classes, (n,), generator=gen)
    weights = 1.0 / torch.arange(1, n_classes + 1, dtype=torch.float64)
    return torch.multinomial(weights, n, replacement=True, generator=gen)


def step_case(method: str, n: int, d: int, n_classes: int, cfg: dict) -> dict:
    """Time forward + backward of one output layer + loss (runs in a child)."""
    torch = _setup_torch(cfg["threads"])
    import torch.nn.functional as F
    from torch import nn

    from skmhe import LabelCodec
    from skmhe.ops import multi_head_cross_entropy

    gen = torch.Generator().manual_seed(cfg["seed"])
    features = torch.randn(n, d, generator=gen).requires_grad_(True)
    y = _draw_targets(torch, n, n_classes, cfg["targets"], gen)
    out = {}
    if method in ("mhp2", "mhp3"):
        codec = LabelCodec.for_n_classes(n_classes, int(method[-1]))
        codes = torch.from_numpy(codec.encode(y.numpy()))
        layer = nn.Linear(d, sum(codec.factors))

        def loss_fn():
            return multi_head_cross_entropy(layer(features), codes, codec.factors)

    elif method == "dense":
        layer = nn.Linear(d, n_classes)

        def loss_fn():
            return F.cross_entropy(layer(features), y)

    elif method == "adaptive":
        cutoffs = adaptive_cutoffs(n_classes, cfg["adaptive_fractions"])
        layer = nn.AdaptiveLogSoftmaxWithLoss(d, n_classes, cutoffs, div_value=cfg["div_value"])

        def loss_fn():
            return layer(features, y).loss

    else:
        raise ValueError(f"unknown method {method!r}")
    base = rss_mib()

    def step():
        layer.zero_grad(set_to_none=True)
        features.grad = None
        loss_fn().backward()

    times = time_calls(step, cfg["repeats"], cfg["warmup"])
    peak = peak_rss_mib()
    out.update(
        step_ms=statistics.median(times),
        times_ms=times,
        params=sum(p.numel() for p in layer.parameters()),
        peak_rss_mib=peak,
        step_mib=peak - base,
    )
    return out


def topk_case(route: str, n: int, factors: tuple, n_classes: int, k: int, cfg: dict) -> dict:
    """Time top-k from random head logits (runs in a child)."""
    torch = _setup_torch(cfg["threads"])
    from skmhe.ops import kronecker_topk

    gen = torch.Generator().manual_seed(cfg["seed"])
    logits = torch.randn(n, sum(factors), generator=gen) * 2
    base = rss_mib()

    if route == "kronecker":

        def run():
            return kronecker_topk(logits, factors, k, n_classes)

    else:

        def run():
            parts = [p.log_softmax(dim=1) for p in torch.split(logits, list(factors), dim=1)]
            joint = parts[0]
            for part in parts[1:]:
                joint = (joint[:, :, None] + part[:, None, :]).flatten(1)
            return torch.topk(joint[:, :n_classes], k, dim=1)

    with torch.no_grad():
        times = time_calls(run, cfg["repeats"], cfg["warmup"])
        values, codes = run()
    peak = peak_rss_mib()
    return {
        "topk_ms": statistics.median(times),
        "times_ms": times,
        "peak_rss_mib": peak,
        "step_mib": peak - base,
        "top1_code": codes[:, 0].tolist()[:8],  # for cross-checking the two routes
    }


def estimator_case(n_heads: int, n: int, d: int, n_classes: int, cfg: dict) -> dict:
    """MHEClassifier.partial_fit on one batch of n rows, timed (runs in a child)."""
    import warnings

    import numpy as np

    _setup_torch(cfg["threads"])
    from skmhe import MHEClassifier

    rng = np.random.default_rng(cfg["seed"])
    calls = cfg["repeats"] + 1
    X = rng.standard_normal((calls * n, cfg["n_features"]), dtype=np.float32)
    y = rng.integers(0, n_classes, size=calls * n)
    clf = MHEClassifier(
        n_heads=n_heads, hidden_layer_sizes=(d,), batch_size=n, random_state=cfg["seed"], shuffle=False
    )
    classes = np.arange(n_classes)
    base = rss_mib()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with Timer() as first:  # builds the network and the optimizer: not a step
            clf.partial_fit(X[:n], y[:n], classes=classes)
        times = []
        for i in range(1, calls):
            rows = slice(i * n, (i + 1) * n)
            with Timer() as t:
                clf.partial_fit(X[rows], y[rows])
            times.append(t.seconds * 1e3)
    peak = peak_rss_mib()
    head_params = sum(
        p.numel() for name, p in clf.network_.named_parameters() if not name.startswith("backbone")
    )
    return {
        "config": "x".join(map(str, clf.codec_.factors)),
        "step_ms": statistics.median(times),
        "times_ms": times,
        "first_call_ms": first.seconds * 1e3,
        "head_params": int(head_params),
        "peak_rss_mib": peak,
        "step_mib": peak - base,
        "loss_last": float(clf.loss_curve_[-1]),
    }


def fit_case(n_classes: int, n_samples: int, cfg: dict) -> dict:
    """A full MHEClassifier.fit at ``n_classes`` on synthetic data (runs in a child)."""
    import warnings

    import numpy as np

    _setup_torch(cfg["threads"])
    from skmhe import MHEClassifier
    from skmhe.datasets import make_extreme_classification

    with Timer() as t_data:
        X, y = make_extreme_classification(
            n_samples=n_samples, n_features=cfg["n_features"], n_classes=n_classes, random_state=cfg["seed"]
        )
    rss_data = rss_mib()
    clf = MHEClassifier(
        n_heads=cfg["fit_heads"],
        hidden_layer_sizes=(cfg["fit_hidden"],),
        batch_size=cfg["batch"],
        max_iter=cfg["fit_epochs"],
        learning_rate_init=cfg["fit_lr"],
        random_state=cfg["seed"],
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with Timer() as t_fit:
            clf.fit(X, y)
    n_eval = min(n_samples, cfg["fit_eval_rows"])
    with Timer() as t_pred:
        labels, _ = clf.predict_topk(X[:n_eval], k=5)
    peak = peak_rss_mib()
    return {
        "n_samples": n_samples,
        "n_classes_seen": int(len(clf.classes_)),
        "factors": "x".join(map(str, clf.codec_.factors)),
        "hidden": cfg["fit_hidden"],
        "epochs": int(clf.n_iter_),
        "data_s": t_data.seconds,
        "fit_s": t_fit.seconds,
        "samples_per_s": clf.t_ / t_fit.seconds,
        "predict_rows": n_eval,
        "predict_topk_s": t_pred.seconds,
        "train_top1": float(np.mean(labels[:, 0] == y[:n_eval])),
        "train_top5": float(np.mean((labels == y[:n_eval, None]).any(axis=1))),
        "loss_curve": [float(v) for v in clf.loss_curve_],
        "data_mib": rss_data,
        "peak_rss_mib": peak,
        "completed": True,
    }


# --------------------------------------------------------------------------- driver


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--classes", type=float, nargs="+", default=[1e4, 1e5, 1e6, 1e7], help="values of C")
    p.add_argument("--batch", type=int, default=4096, help="rows per step")
    p.add_argument("--hidden", type=int, default=512, help="feature width d fed to the output layer")
    p.add_argument("--repeats", type=int, default=5, help="timed calls per case (median reported)")
    p.add_argument("--threads", type=int, default=min(2, os.cpu_count() or 1))
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
    p.add_argument("--quick", action="store_true", help="toy sizes, in-process, for a smoke test")
    p.add_argument("--no-plots", action="store_true")
    p.add_argument("--out", default="benchmarks/out/bench_scaling.json", help="JSON results path")
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


# --------------------------------------------------------------------------- report


def _find(rows, part, method, C):
    for r in rows:
        if r["part"] == part and r["method"] == method and r["n_classes"] == C:
            return r
    return None


def _time_cell(row, key):
    if row is None:
        return "n/a"
    if "skipped" in row:
        return row["skipped"]
    if "error" in row:
        return "error"
    return fmt_ms(row[key])


def _mem_cell(row):
    if row is None or "peak_rss_mib" not in row:
        return "n/a" if row is None or "skipped" not in row else "—"
    return f"{row['peak_rss_mib'] / 1024:.1f}"


def _ratio(num, den, key_num, key_den):
    if num is None or den is None or key_num not in num or key_den not in den:
        return None
    return num[key_num] / den[key_den]


def summarise(rows: list[dict], args) -> dict:
    """Ratios and the targets: >= 100x dense at 1e5, >= 100x adaptive at 1e6, the 1e7 fit."""
    out = {}
    for C in args.classes:
        mhp, est = _find(rows, "step", "mhp2", C), _find(rows, "estimator", "estimator2", C)
        for base in ("dense", "adaptive"):
            b = _find(rows, "step", base, C)
            out[f"{base}_over_mhp2_{C}"] = _ratio(b, mhp, "step_ms", "step_ms")
            out[f"{base}_over_estimator2_{C}"] = _ratio(b, est, "step_ms", "step_ms")
    targets = {}
    for base, C in (("dense", 10**5), ("adaptive", 10**6)):
        if C in args.classes:
            ratio = out.get(f"{base}_over_estimator2_{C}")
            targets[f"{base}_{C:.0e}"] = {"ratio": ratio, "target": 100, "met": None if ratio is None else ratio >= 100}
    fit = [r for r in rows if r["part"] == "fit"]
    if fit:
        targets["fit"] = {"n_classes": fit[0]["n_classes"], "met": bool(fit[0].get("completed"))}
    out["targets"] = targets
    return out


def report(rows: list[dict], summary: dict, args, info: dict) -> str:
    Cs = args.classes
    lines = [
        "# Scaling in C: output-layer step, top-k, estimator step, full fit",
        "",
        f"Machine: {info['machine']}; Python {info['python']}, torch {info['torch']}, numpy {info['numpy']}, "
        f"scikit-learn {info['scikit-learn']}; {args.threads} threads; {info['date']}.",
        "Command: `" + " ".join(["python -m benchmarks.bench_scaling", *sys.argv[1:]]) + "`",
        f"Batch {args.batch}, feature width d = {args.hidden}, {args.targets} targets, median of {args.repeats} "
        f"calls; memory budget {fmt_gb(args.memory_budget_gb * GB)} (cases estimated above it are skipped). "
        f"Load average (1 min) at start / end: {info['loadavg_start'][0]:.1f} / {info['loadavg_end'][0]:.1f}.",
        "",
    ]
    if any(r["part"] == "step" for r in rows):
        lines += ["## Output layer + loss, forward + backward (per step)", ""]
        head = [("C", "C", "")] + [(m, METHOD_NAMES[m], "") for m in args.methods]
        table = []
        for C in Cs:
            table.append({"C": f"{C:,}", **{m: _time_cell(_find(rows, "step", m, C), "step_ms") for m in args.methods}})
        lines += [markdown_table(table, head), "", "Peak RSS of the case's process, GB:", ""]
        table = [{"C": f"{C:,}", **{m: _mem_cell(_find(rows, "step", m, C)) for m in args.methods}} for C in Cs]
        lines += [markdown_table(table, head), ""]
        detail = [r for r in rows if r["part"] == "step"]
        lines += ["Configurations and estimates:", "", markdown_table(
            [{**r, "time": _time_cell(r, "step_ms"), "C": f"{r['n_classes']:,}"} for r in detail],
            [("name", "method", ""), ("C", "C", ""), ("config", "layer", ""), ("params", "params", "{:,}"),
             ("estimate_gb", "estimated GB", "{:.2f}"), ("step_mib", "measured MiB above start", "{:,.0f}"),
             ("time", "step", "")]), ""]
    if any(r["part"] == "topk" for r in rows):
        lines += [f"## Top-{min(args.k, min(Cs))} prediction from head logits (batch {args.batch})", ""]
        methods = [("kronecker2", "Kronecker top-k, 2 heads"), ("kronecker3", "Kronecker top-k, 3 heads"),
                   ("dense2", "dense outer sum + topk (2-head logits)")]
        table = []
        for C in Cs:
            row = {"C": f"{C:,}", **{m: _time_cell(_find(rows, "topk", m, C), "topk_ms") for m, _ in methods}}
            ratio = _ratio(_find(rows, "topk", "dense2", C), _find(rows, "topk", "kronecker2", C), "topk_ms", "topk_ms")
            row["x"] = f"{ratio:.0f}x" if ratio else "n/a"
            table.append(row)
        lines += [markdown_table(table, [("C", "C", "")] + [(m, h, "") for m, h in methods]
                                 + [("x", "dense / Kronecker (2 heads)", "")]), ""]
    if any(r["part"] == "estimator" for r in rows):
        lines += [f"## MHEClassifier's own training step (partial_fit on {args.batch} rows, {args.n_features} "
                  f"input features -> {args.hidden} ReLU -> product head, Adam)", ""]
        table = []
        for C in Cs:
            for heads in (2, 3):
                r = _find(rows, "estimator", f"estimator{heads}", C)
                if r is None:
                    continue
                d = _find(rows, "step", "dense", C)
                a = _find(rows, "step", "adaptive", C)
                rd, ra = _ratio(d, r, "step_ms", "step_ms"), _ratio(a, r, "step_ms", "step_ms")
                table.append({"C": f"{C:,}", "heads": heads, "factors": r.get("config", "n/a"),
                              "step": _time_cell(r, "step_ms"), "mem": _mem_cell(r),
                              "rd": f"{rd:,.0f}x" if rd else ("dense " + d["skipped"] if d and "skipped" in d else "n/a"),
                              "ra": f"{ra:,.0f}x" if ra else ("adaptive " + a["skipped"] if a and "skipped" in a else "n/a")})
        lines += [markdown_table(table, [("C", "C", ""), ("heads", "heads", ""), ("factors", "factors", ""),
                                         ("step", "step", ""), ("mem", "peak RSS GB", ""),
                                         ("rd", "dense output-layer step / this", ""),
                                         ("ra", "adaptive output-layer step / this", "")]), ""]
    fit = [r for r in rows if r["part"] == "fit"]
    if fit:
        r = fit[0]
        lines += [f"## Full MHEClassifier.fit at C = {r['n_classes']:,}", ""]
        if "error" in r:
            lines += [f"Failed: {r['error']}", ""]
        else:
            lines += [
                f"`make_extreme_classification(n_samples={r['n_samples']:,}, n_features={args.n_features}, "
                f"n_classes={r['n_classes']:,})` (every class once, generated in {r['data_s']:.0f} s), "
                f"`MHEClassifier(n_heads={args.fit_heads}, hidden_layer_sizes=({r['hidden']},), "
                f"batch_size={args.batch}, max_iter={args.fit_epochs})`:",
                "",
                markdown_table([r], [("n_classes_seen", "classes", "{:,}"), ("factors", "factors", ""),
                                     ("epochs", "epochs", ""), ("fit_s", "fit s", "{:.0f}"),
                                     ("samples_per_s", "samples/s", "{:,.0f}"),
                                     ("predict_topk_s", f"predict_topk s ({r['predict_rows']:,} rows)", "{:.1f}"),
                                     ("peak_rss_mib", "peak RSS MiB", "{:,.0f}"), ("completed", "completed", "")]),
                "",
            ]
    lines += ["## Targets", ""]
    for name, t in summary["targets"].items():
        if name == "fit":
            lines.append(f"- full fit at C = {t['n_classes']:,} completes: {'met' if t['met'] else 'MISSED'}")
        else:
            ratio = "n/a" if t["ratio"] is None else f"{t['ratio']:,.0f}x"
            verdict = "n/a" if t["met"] is None else ("met" if t["met"] else "MISSED")
            lines.append(f"- {name.split('_')[0]} output-layer step / estimator step (2 heads) at C = "
                         f"{name.split('_')[1]}: {ratio} (target >= {t['target']}x): {verdict}")
    return "\n".join(lines) + "\n"


def plot(rows: list[dict], args, stem: Path) -> list[str]:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib not importable: no plots", flush=True)
        return []
    written = []
    panels = [("step", "step_ms", "output layer + loss, fwd + bwd, ms", list(args.methods)),
              ("estimator", "step_ms", "MHEClassifier step, ms", ["estimator2", "estimator3"]),
              ("topk", "topk_ms", f"top-{args.k}, ms", ["kronecker2", "kronecker3", "dense2"])]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    for part, key, _label, methods in panels[:2]:
        for m in methods:
            mine = [r for r in rows if r["part"] == part and r["method"] == m]
            name = METHOD_NAMES.get(m, f"MHEClassifier, {m[-1]} heads")
            skipped = [f"{r['n_classes']:.0e}" for r in mine if "skipped" in r]
            if skipped:
                name += f" (skipped at C = {', '.join(skipped)}: memory)"
            style = "--" if part == "estimator" else "-"
            pts = [(r["n_classes"], r[key]) for r in mine if key in r]
            if pts:
                axes[0].plot(*zip(*pts, strict=True), marker="o", label=name, linestyle=style)
            pts = [(r["n_classes"], r["peak_rss_mib"] / 1024) for r in mine if "peak_rss_mib" in r]
            if pts:
                axes[1].plot(*zip(*pts, strict=True), marker="o", label=name, linestyle=style)
    axes[0].set(xscale="log", yscale="log", xlabel="classes C", ylabel="ms per step",
                title=f"per-step time, batch {args.batch}, d = {args.hidden}")
    axes[1].set(xscale="log", yscale="log", xlabel="classes C", ylabel="peak RSS, GB", title="peak memory")
    for ax in axes:
        ax.grid(True, which="both", alpha=0.3)
    fig.legend(*axes[0].get_legend_handles_labels(), loc="lower center", ncol=3, fontsize=8)
    fig.tight_layout(rect=(0, 0.13, 1, 1))
    path = stem.with_name(stem.name + "_step.png")
    fig.savefig(path, dpi=110)
    plt.close(fig)
    written.append(str(path))
    part, key, label, methods = panels[2]
    if any(r["part"] == part for r in rows):
        fig, ax = plt.subplots(figsize=(6, 4.2))
        for m in methods:
            pts = [(r["n_classes"], r[key]) for r in rows if r["part"] == part and r["method"] == m and key in r]
            if pts:
                ax.plot(*zip(*pts, strict=True), marker="o", label=next(r["name"] for r in rows if r["method"] == m))
        ax.set(xscale="log", yscale="log", xlabel="classes C", ylabel="ms", title=f"{label}, batch {args.batch}")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
        fig.tight_layout()
        path = stem.with_name(stem.name + "_topk.png")
        fig.savefig(path, dpi=110)
        plt.close(fig)
        written.append(str(path))
    return written


def main(argv=None) -> int:
    args = parse_args(argv)
    budget = args.memory_budget_gb * GB
    info = machine_info()
    info["torch_threads"] = args.threads
    info["memory_available_gb"] = round(memory_available_bytes() / GB, 1)
    info["loadavg_start"] = os.getloadavg()
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
    info["loadavg_end"] = os.getloadavg()
    summary = summarise(rows, args)
    text = report(rows, summary, args, info)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
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
