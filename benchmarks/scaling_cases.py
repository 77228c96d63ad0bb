"""The cases of ``bench_scaling``: memory estimates, the timed output-layer step, top-k, estimator
and fit cases (each run in its own process by the driver, ``bench_scaling.py``)."""

from __future__ import annotations

import math
import os
import statistics
import time

from ._common import Timer, peak_rss_mib, rss_mib, run_isolated

F32 = 4
GB = 1e9
STEP_METHODS = ("mhp2", "mhp3", "dense", "adaptive")
METHOD_NAMES = {
    "mhp2": "MHP, 2 heads",
    "mhp3": "MHP, 3 heads",
    "dense": "dense softmax",
    "adaptive": "adaptive softmax",
}

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
        n_heads=n_heads, hidden_layer_sizes=(d,), batch_size=n, random_state=cfg["seed"], shuffle=False,
        method="product", learning_rate_init=1e-3,
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
        method="product",
        learning_rate="constant",
        early_stopping=False,
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
