"""Given label codes against data-aware ones (``label_order``), every method, in one run.

Each model trains in its own spawned process with ``--threads`` intra-op threads (default 1), with
every parameter at its default except ``method`` and ``label_order``:

* ``digits``: digit pairs (``load_digit_pairs``, 20,000 / 5,000; class ``10a + b``), the labels
  randomly permuted (so the given order is arbitrary) with ``label_order="given"`` and ``"auto"``,
  beside the aligned labels (the paper's semantic code) with ``"given"`` (``--dense``: and the dense
  softmax).
* ``synthetic``: the demo's data (``make_extreme_classification``, 2,000 unrelated classes,
  40,000 rows): given and auto.
* ``ptb``: PTB next word (previous 3 words one-hot; the vocabulary is in decreasing frequency, so
  the given order is the frequency order): given and auto (``--dense`` adds the dense softmax,
  which costs about ten MHE fits).
* ``multilabel``: Bibtex, Delicious, Corel5k (rows L2-normalised as in ``bench_xmlc``):
  ``MHEMultiLabelClassifier(n_levels=2)`` with given (contiguous) and auto groups, beside the
  default estimator (flat up to 1,024 labels, where no code is used).
* ``cost``: the time of the code step alone (``skmhe._label_codes.resolve_label_order``) on a
  million sparse rows, at 1e4, 1e5 and 1e6 labels, for both kinds of code.

``--quick`` runs every path on toy sizes for two epochs, in this process (a smoke test). Top-1, top-5 and
perplexity (single-label) or P@1, P@5 (multi-label), train seconds and CPU
seconds (the code step included).

Usage::

    python -m benchmarks.bench_label_codes [--parts digits synthetic ptb multilabel cost]
                                           [--methods product cascade sampling] [--dense]
                                           [--threads N] [--quick] [--out PATH.json]
"""

from __future__ import annotations

import sys
import time
from types import SimpleNamespace

from . import _cli, bench_defaults, bench_xmlc
from ._common import Timer, machine_info, markdown_table, peak_rss_mib, run_isolated

PARTS = ("digits", "synthetic", "ptb", "multilabel", "cost")
METHODS = ("product", "cascade", "sampling")
MULTILABEL_SETS = ("bibtex", "delicious", "corel5k")
#: ``--quick``: sizes of the cost part (rows, labels)
COST_SIZES = {"full": (1_000_000, (10_000, 100_000, 1_000_000)), "quick": (20_000, (1_000,))}
#: ``--quick``: epochs of every fit (a smoke test of the paths, not a measurement)
QUICK_EPOCHS = 2
#: the seed of the digit pairs' label permutation (as ``bench_claims``)
PERMUTATION_SEED = 12345

SL_COLUMNS = [
    ("dataset", "data", ""), ("labels", "labels", ""), ("model", "model", ""),
    ("label_order", "label_order", ""), ("accuracy", "top-1", "{:.4f}"), ("top5", "top-5", "{:.4f}"),
    ("perplexity", "perplexity", "{:.2f}"), ("train_s", "train s", "{:.1f}"),
    ("train_cpu_s", "train CPU s", "{:.1f}"), ("status", "status", ""),
]
ML_COLUMNS = [
    ("dataset", "data", ""), ("model", "model", ""), ("label_order", "label_order", ""),
    ("p@1", "P@1", "{:.4f}"), ("p@5", "P@5", "{:.4f}"), ("train_s", "train s", "{:.2f}"),
    ("train_cpu_s", "train CPU s", "{:.2f}"), ("status", "status", ""),
]
COST_COLUMNS = [
    ("rows", "rows", "{:,}"), ("labels", "labels", "{:,}"), ("kind", "code", ""),
    ("factors", "factors", ""), ("code_s", "code s", "{:.1f}"), ("code_cpu_s", "code CPU s", "{:.1f}"),
    ("peak_rss_mib", "peak RSS MiB", "{:,.0f}"), ("status", "status", ""),
]


def _runner(args):
    """Each fit in a process of its own (its own peak memory), or in this one for ``--quick``."""
    return (lambda fn, *rest: fn(*rest)) if args.quick else run_isolated


# --------------------------------------------------------------------------- single-label


def _fit_single(data: dict, params: dict, ctx: dict) -> dict:
    """``MHEClassifier(random_state=seed, **params)`` on the (relabelled) data (runs in a child)."""
    import numpy as np

    from skmhe import MHEClassifier

    if not ctx["in_process"]:
        bench_defaults._torch_ready(ctx["threads"])
    params = {"max_iter": QUICK_EPOCHS, **params} if ctx["in_process"] else dict(params)
    relabel = np.asarray(params.pop("relabel", np.arange(data["n_classes"])))
    if params.pop("dense", False):
        params["factors"] = (data["n_classes"],)
    clf = MHEClassifier(random_state=ctx["seed"], **params)
    y_train, y_test = relabel[data["y_train"]], relabel[data["y_test"]]
    seconds, cpu = bench_defaults._timed_fit(clf, data["X_train"], y_train)
    labels, _ = clf.predict_topk(data["X_test"], k=min(5, data["n_classes"]))
    log_p = clf.log_likelihood(data["X_test"], y_test)
    return {**bench_defaults._scores(labels, log_p, y_test), "train_s": seconds, "train_cpu_s": cpu,
            "epochs": clf.n_iter_, "peak_rss_mib": peak_rss_mib()}


def _single_jobs(name: str, n_classes: int, args) -> list[tuple[str, str, dict]]:
    """(labels, model, params) of every fit on one data set."""
    import numpy as np

    jobs = []
    if name == "digits":
        permuted = np.random.default_rng(PERMUTATION_SEED).permutation(n_classes)
        for method in args.methods:
            jobs.append(("aligned", method, {"method": method, "label_order": "given"}))
            for order in ("given", "auto"):
                params = {"method": method, "label_order": order, "relabel": permuted}
                jobs.append(("permuted", method, params))
        if args.dense:
            jobs.append(("aligned", "dense", {"dense": True}))
        return jobs
    for method in args.methods:
        for order in ("given", "auto"):
            jobs.append(("as given", method, {"method": method, "label_order": order}))
    if args.dense and name == "ptb":
        jobs.append(("as given", "dense", {"dense": True}))
    return jobs


def load_synthetic(args) -> dict:
    """The demo's default data (``--quick``: its quick size)."""
    import numpy as np

    from . import demo

    demo_args = demo.parse_args(["--quick"] if args.quick else [])
    X_tr, y_tr, X_te, y_te, _ = demo.load_data(demo_args)
    return {"X_train": X_tr, "y_train": np.asarray(y_tr), "X_test": X_te, "y_test": np.asarray(y_te),
            "n_classes": int(max(np.max(y_tr), np.max(y_te))) + 1}


def run_single(name: str, args, log=print) -> list[dict]:
    """Rows for one single-label data set: every method with given and data-aware codes."""
    data = load_synthetic(args) if name == "synthetic" else bench_defaults.load_single(name, args)
    ctx = {"threads": args.threads, "seed": args.seed, "in_process": args.quick}
    rows = []
    for labels, model, params in _single_jobs(name, data["n_classes"], args):
        order = params.get("label_order", "")
        log(f"  {name} ({labels}): {model} label_order={order!r} ...", end=" ", flush=True)
        result = _runner(args)(_fit_single, data, params, ctx)
        row = {"dataset": name, "labels": labels, "model": model, "label_order": order}
        if "error" in result:
            log(f"failed: {result['error']}")
            rows.append({**row, "status": f"error: {result['error']}"})
            continue
        rows.append({**row, **result, "status": "ok"})
        log(f"top-1 {result['accuracy']:.4f}, perplexity {result['perplexity']:.2f}, "
            f"{result['train_s']:.1f} s")
    return rows


# --------------------------------------------------------------------------- multi-label


def _fit_multilabel(data: dict, params: dict, ctx: dict) -> dict:
    """``MHEMultiLabelClassifier(random_state=seed, **params)`` (runs in a child)."""
    import numpy as np

    from skmhe import MHEMultiLabelClassifier

    if not ctx["in_process"]:
        bench_defaults._torch_ready(ctx["threads"])
    if ctx["in_process"]:
        params = {"max_iter": QUICK_EPOCHS, **params}
    est = MHEMultiLabelClassifier(random_state=ctx["seed"], **params)
    seconds, cpu = bench_defaults._timed_fit(est, data["X_train"], data["Y_train"])
    labels, _ = est.predict_topk(data["X_test"], k=bench_xmlc.K)
    return {"topk": np.asarray(labels, dtype=np.int64), "train_s": seconds, "train_cpu_s": cpu,
            "epochs": est.n_iter_, "factors": "x".join(map(str, est.codec_.factors))}


def run_multilabel(name: str, args, log=print) -> list[dict]:
    """Rows for one Mulan set: the default estimator, then two levels with given and auto groups."""
    from skmhe.metrics import inverse_propensity

    opts = SimpleNamespace(seed=args.seed, no_normalize=False,
                           max_train=600 if args.quick else None, max_test=200 if args.quick else None)
    data = bench_xmlc.load_dataset(name, opts)
    payload = {key: data[key] for key in ("X_train", "Y_train", "X_test")}
    inv_prop = inverse_propensity(data["Y_train"])
    ctx = {"threads": args.threads, "seed": args.seed, "in_process": args.quick}
    jobs = [("MHEMultiLabelClassifier()", {})]
    jobs += [("n_levels=2", {"n_levels": 2, "label_order": order}) for order in ("given", "auto")]
    rows = []
    for model, params in jobs:
        order = params.get("label_order", "auto")
        log(f"  {name}: {model} label_order={order!r} ...", end=" ", flush=True)
        result = _runner(args)(_fit_multilabel, payload, params, ctx)
        row = {"dataset": name, "model": model, "label_order": order}
        if "error" in result:
            log(f"failed: {result['error']}")
            rows.append({**row, "status": f"error: {result['error']}"})
            continue
        metrics = bench_xmlc.evaluate(data["Y_test"], result.pop("topk"), inv_prop)
        rows.append({**row, **metrics, **result, "status": "ok"})
        log(f"P@1 {metrics['p@1']:.4f}, {result['train_s']:.1f} s")
    return rows


# --------------------------------------------------------------------------- cost


def _code_cost(n_rows: int, n_labels: int, kind: str, ctx: dict) -> dict:
    """Time ``resolve_label_order`` alone on synthetic sparse rows (runs in a child)."""
    import numpy as np
    import scipy.sparse as sp

    from skmhe.codec import LabelCodec
    from skmhe.datasets import make_extreme_classification
    from skmhe._label_codes import resolve_label_order

    X, y = make_extreme_classification(n_samples=n_rows, n_classes=n_labels, sparse=True,
                                       n_features=2**16, random_state=ctx["seed"])
    y = np.asarray(y)
    classes = np.arange(n_labels)
    Y = sp.csr_matrix((np.ones(n_rows, dtype=np.float32), (np.arange(n_rows), y)), shape=(n_rows, n_labels))
    factors = LabelCodec.for_n_classes(n_labels, 2).factors
    cpu = time.process_time()
    with Timer() as timer:
        order = resolve_label_order("auto", classes, X, Y, factors, kind, ctx["seed"])
    cpu = time.process_time() - cpu
    assert np.array_equal(np.sort(order), classes)
    return {"code_s": timer.seconds, "code_cpu_s": cpu, "factors": "x".join(map(str, factors)),
            "peak_rss_mib": peak_rss_mib()}


def run_cost(args, log=print) -> list[dict]:
    n_rows, sizes = COST_SIZES["quick" if args.quick else "full"]
    rows = []
    for n_labels in sizes:
        for kind in ("hierarchical", "additive"):
            log(f"  cost: {kind} codes, {n_labels:,} labels, {n_rows:,} rows ...", end=" ", flush=True)
            result = _runner(args)(_code_cost, n_rows, n_labels, kind, {"seed": args.seed})
            row = {"rows": n_rows, "labels": n_labels, "kind": kind}
            if "error" in result:
                log(f"failed: {result['error']}")
                rows.append({**row, "status": f"error: {result['error']}"})
                continue
            rows.append({**row, **result, "status": "ok"})
            log(f"{result['code_s']:.1f} s")
    return rows


# --------------------------------------------------------------------------- main


def render_markdown(report: dict) -> str:
    lines = ["## Label codes: given against data-aware (`python -m benchmarks.bench_label_codes`)", "",
             f"{report['machine']['machine']}, torch {report['machine']['torch']}, "
             f"{report['threads']} thread(s) per model; {report['date']}.", ""]
    if report["single"]:
        lines += [markdown_table(report["single"], SL_COLUMNS), ""]
    if report["multilabel"]:
        lines += [markdown_table(report["multilabel"], ML_COLUMNS), ""]
    if report["cost"]:
        lines += ["The code step alone:", "", markdown_table(report["cost"], COST_COLUMNS), ""]
    lines += [f"- {note}" for note in report["skipped"]]
    return "\n".join(lines) + "\n"


def parse_args(argv=None):
    p = _cli.parser(__doc__)
    p.add_argument("--parts", nargs="+", choices=PARTS, default=list(PARTS))
    p.add_argument("--datasets", default=None, help=f"comma-separated subset of {', '.join(MULTILABEL_SETS)}")
    p.add_argument("--methods", nargs="+", choices=METHODS, default=list(METHODS))
    p.add_argument("--dense", action="store_true",
                   help="add the dense softmax (digit pairs, PTB; on PTB about ten MHE fits)")
    return bench_defaults.parse_model_arguments(p, argv, out="benchmarks/out/label_codes.json")


def main(argv=None) -> int:
    args = parse_args(argv)
    wanted = set(args.datasets.split(",")) if args.datasets else set(MULTILABEL_SETS)
    if args.quick and not args.datasets:
        wanted = {"corel5k"}
    report = {"machine": machine_info(), "threads": args.threads, "quick": args.quick,
              "date": time.strftime("%Y-%m-%d"), "single": [], "multilabel": [], "cost": [], "skipped": []}
    for name in ("digits", "synthetic", "ptb"):
        if name not in args.parts:
            continue
        if name == "ptb" and args.ptb is None:
            report["skipped"].append("PTB skipped: no ptb/ folder in the shared data")
            print(report["skipped"][-1])
            continue
        report["single"] += run_single(name, args, log=print)
    if "multilabel" in args.parts:
        for name in (n for n in MULTILABEL_SETS if n in wanted):
            missing = bench_xmlc._missing_data_reason(name)
            if missing:
                report["skipped"].append(missing)
                print(missing)
                continue
            report["multilabel"] += run_multilabel(name, args, log=print)
    if "cost" in args.parts:
        report["cost"] = run_cost(args, log=print)
    rows = report["single"] + report["multilabel"] + report["cost"]
    return _cli.write_report(report, render_markdown(report), args.out, rows)


if __name__ == "__main__":
    sys.exit(main())
