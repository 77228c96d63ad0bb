"""Every estimator with its default parameters only, beside each peer's defaults, in one run.

What a user who reads no documentation gets. Each model trains in its own spawned process
(``_common.run_isolated``) with ``--threads`` intra-op threads (default 1, so that a busy machine
slows every model alike; CPU seconds are reported too).

* ``multilabel``: Bibtex, Delicious, Corel5k (``load_mulan``; rows L2-normalised for every model,
  as in ``bench_xmlc``): ``MHEMultiLabelClassifier(random_state=0)`` against omikuji (its
  defaults: Parabel), napkinXC PLT (its defaults) and one-vs-rest ``LinearSVC``. P@1, P@5,
  train seconds and the ratio of each model's train time to the fastest peer's.
* ``large``: ``MHEClassifier(random_state=0)`` on a million synthetic sparse rows (10,000
  classes): the default fit's bounded time (2 epochs), measured.
* ``single``: digit pairs (``load_digit_pairs``, 20,000 / 5,000) and PTB next word (the previous 3
  words one-hot, all training tokens): ``MHEClassifier(random_state=0)`` (its default method),
  the other two methods with every other parameter at its default, the dense softmax
  (``MHEClassifier(factors=(n_classes,))``, the same defaults) and torch's adaptive softmax on
  the same default backbone, batch size, learning rate, schedule and epoch budget (the library's
  ``Trainer``). Top-1, top-5, perplexity, train seconds, samples per CPU-second and the
  throughput ratio to the dense softmax.

Usage::

    python -m benchmarks.bench_defaults [--parts multilabel single large] [--datasets NAMES]
                                        [--threads N] [--data-home DIR] [--quick] [--out PATH.json]
"""

from __future__ import annotations

import sys
import time
import warnings
from pathlib import Path
from types import SimpleNamespace

from . import _cli, bench_xmlc
from ._common import Timer, machine_info, markdown_table, peak_rss_mib, run_isolated

MULTILABEL_SETS = ("bibtex", "delicious", "corel5k")
SINGLE_SETS = ("digits", "ptb")
PEERS = ("omikuji Parabel", "napkinxc PLT", "OvR LinearSVC")
METHODS = ("product", "cascade", "sampling")
#: ``--quick`` without ``--datasets``: one set per part
QUICK_SETS = ("corel5k", "digits")
#: ``--quick``: rows kept per split, to smoke-test every path in seconds
QUICK_ROWS = {"train": 600, "test": 200, "ptb_train": 20_000, "ptb_test": 2_000}
#: adaptive softmax cutoffs per data set (a tenth and a half of the classes on PTB)
ADAPTIVE = {"digits": {"cutoffs": [10, 50], "div_value": 4.0},
            "ptb": {"cutoffs": [1000, 5000], "div_value": 4.0}}

ML_COLUMNS = [
    ("dataset", "data", ""), ("model", "model", ""), ("p@1", "P@1", "{:.4f}"),
    ("p@5", "P@5", "{:.4f}"), ("train_s", "train s", "{:.2f}"), ("train_cpu_s", "train CPU s", "{:.2f}"),
    ("vs_fastest_peer", "train time / fastest peer", "{:.1f}x"), ("epochs", "epochs", ""),
    ("peak_rss_mib", "peak RSS MiB", "{:,.0f}"), ("status", "status", ""),
]
SL_COLUMNS = [
    ("dataset", "data", ""), ("model", "model", ""), ("accuracy", "top-1", "{:.4f}"),
    ("top5", "top-5", "{:.4f}"), ("perplexity", "perplexity", "{:.1f}"),
    ("train_s", "train s", "{:.1f}"), ("samples_per_cpu_s", "samples/CPU-s", "{:,.0f}"),
    ("vs_dense", "throughput / dense", "{:.2f}x"), ("epochs", "epochs", ""),
    ("peak_rss_mib", "peak RSS MiB", "{:,.0f}"), ("status", "status", ""),
]
LARGE_COLUMNS = [
    ("dataset", "data", ""), ("model", "model", ""), ("accuracy", "top-1", "{:.4f}"),
    ("top5", "top-5", "{:.4f}"), ("epochs", "epochs", ""), ("batch_size", "batch", ""),
    ("train_s", "train s", "{:.0f}"), ("train_cpu_s", "train CPU s", "{:.0f}"),
    ("peak_rss_mib", "peak RSS MiB", "{:,.0f}"), ("status", "status", ""),
]


# --------------------------------------------------------------------------- multi-label


def _torch_ready(threads: int) -> None:
    """Set the threads and pay torch's one-off lazy imports (the optimizer's first
    construction imports ``torch._dynamo``, seconds) outside every timer, as the peers'
    library loading is."""
    import torch

    torch.set_num_threads(threads)
    torch.optim.Adam([torch.zeros(1, requires_grad=True)])


def _timed_fit(estimator, X, y) -> tuple[float, float]:
    """Fit ``estimator`` quietly; its wall and CPU seconds."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cpu = time.process_time()
        with Timer() as fit:
            estimator.fit(X, y)
    return fit.seconds, time.process_time() - cpu


def _fit_skmhe_multilabel(data: dict, ctx: dict) -> dict:
    """``MHEMultiLabelClassifier(random_state=seed)``: defaults only (runs in a child)."""
    import numpy as np

    from skmhe import MHEMultiLabelClassifier

    _torch_ready(ctx["threads"])
    est = MHEMultiLabelClassifier(random_state=ctx["seed"])
    seconds, cpu = _timed_fit(est, data["X_train"], data["Y_train"])
    with Timer() as pred:
        labels, _ = est.predict_topk(data["X_test"], k=bench_xmlc.K)
    return {"topk": np.asarray(labels, dtype=np.int64), "train_s": seconds, "train_cpu_s": cpu,
            "predict_s": pred.seconds, "epochs": est.n_iter_, "peak_rss_mib": peak_rss_mib(),
            "params": {"batch_size_": est.batch_size_, "learning_rate_": est.learning_rate_,
                       "factors": list(est.codec_.factors)}}


def _fit_peer(name: str, data: dict, ctx: dict) -> dict:
    """A peer of ``bench_xmlc`` with its defaults, timed for CPU seconds too (runs in a child)."""
    cpu = time.process_time()
    result = bench_xmlc._run_model(name, data, ctx)
    result["train_cpu_s"] = time.process_time() - cpu  # fit and predict; peers are native code
    return result


def run_multilabel(name: str, args, log=print) -> list[dict]:
    """Rows for one Mulan set: skmhe's defaults, then each peer's."""
    from skmhe.metrics import inverse_propensity

    opts = SimpleNamespace(seed=args.seed, no_normalize=False,
                           max_train=QUICK_ROWS["train"] if args.quick else None,
                           max_test=QUICK_ROWS["test"] if args.quick else None)
    data = bench_xmlc.load_dataset(name, opts)
    payload = {key: data[key] for key in ("X_train", "Y_train", "X_test")}
    ctx = {"threads": args.threads, "seed": args.seed, "quick": args.quick, "verbose": False,
           "skmhe_params": {}}
    inv_prop = inverse_propensity(data["Y_train"])
    rows = []
    jobs = [("skmhe MHEMultiLabelClassifier()", _fit_skmhe_multilabel, ())]
    jobs += [(peer, _fit_peer, (peer,)) for peer in PEERS if _peer_available(peer)]
    for model, fn, extra in jobs:
        log(f"  {name}: {model} ...", end=" ", flush=True)
        result = run_isolated(fn, *extra, payload, ctx)
        row = {"dataset": name, "model": model}
        if "error" in result:
            log(f"failed: {result['error']}")
            rows.append({**row, "status": f"error: {result['error']}"})
            continue
        metrics = bench_xmlc.evaluate(data["Y_test"], result.pop("topk"), inv_prop)
        rows.append({**row, **metrics, **result, "status": "ok"})
        log(f"P@1 {metrics['p@1']:.4f}, train {result['train_s']:.2f} s")
    peers = [r["train_s"] for r in rows if r["status"] == "ok" and r["model"] in PEERS]
    for row in rows:
        if peers and "train_s" in row:
            row["vs_fastest_peer"] = row["train_s"] / min(peers)
    return rows


def _peer_available(name: str) -> bool:
    return bench_xmlc.unavailable(name, None) is None


# --------------------------------------------------------------------------- single-label


def load_single(name: str, args) -> dict:
    """Train/test split of digit pairs or PTB (3 previous words one-hot)."""
    import numpy as np

    if name == "digits":
        from skmhe.datasets import load_digit_pairs

        n_train, n_test = (QUICK_ROWS["train"] * 4, QUICK_ROWS["test"] * 4) if args.quick else (20_000, 5_000)
        X_tr, X_te, y_tr, y_te = load_digit_pairs(n_train, n_test, random_state=0)
        return {"X_train": X_tr, "y_train": y_tr, "X_test": X_te, "y_test": y_te, "n_classes": 100}
    from skmhe.datasets import load_ptb

    bunch = load_ptb(args.ptb, context=3)
    cap, cap_test = (QUICK_ROWS["ptb_train"], QUICK_ROWS["ptb_test"]) if args.quick else (None, None)
    return {"X_train": bunch.X_train[:cap], "y_train": np.asarray(bunch.y_train[:cap]),
            "X_test": bunch.X_test[:cap_test], "y_test": np.asarray(bunch.y_test[:cap_test]),
            "n_classes": len(bunch.vocabulary)}


def _scores(labels, log_p, y) -> dict:
    import numpy as np

    y = np.asarray(y)
    return {"accuracy": float(np.mean(labels[:, 0] == y)),
            "top5": float(np.mean((labels == y[:, None]).any(axis=1))),
            "perplexity": float(np.exp(-np.mean(np.maximum(log_p, np.log(1e-12)))))}


def _fit_skmhe_single(data: dict, params: dict, ctx: dict) -> dict:
    """``MHEClassifier(random_state=seed, **params)`` (runs in a child)."""
    from skmhe import MHEClassifier

    _torch_ready(ctx["threads"])
    params = dict(params)
    if params.pop("dense", False):
        params["factors"] = (data["n_classes"],)
    clf = MHEClassifier(random_state=ctx["seed"], **params)
    seconds, cpu = _timed_fit(clf, data["X_train"], data["y_train"])
    labels, _ = clf.predict_topk(data["X_test"], k=min(5, data["n_classes"]))
    log_p = clf.log_likelihood(data["X_test"], data["y_test"])
    return {**_scores(labels, log_p, data["y_test"]), "train_s": seconds, "train_cpu_s": cpu,
            "samples_per_cpu_s": clf.t_ / cpu, "epochs": clf.n_iter_, "peak_rss_mib": peak_rss_mib(),
            "method": clf.method, "factors": "x".join(map(str, clf.codec_.factors)),
            "output_params": int(clf.network_.output_parameters())}


def _fit_adaptive(data: dict, cfg: dict, ctx: dict) -> dict:
    """Adaptive softmax on MHEClassifier's default backbone and training budget (runs in a child)."""
    import numpy as np
    import scipy.sparse as sp

    from skmhe import MHEClassifier
    from skmhe._schedule import auto_batch_size, auto_learning_rate, auto_max_iter

    from .methods_models import adaptive_network, evaluate_adaptive, train_adaptive

    _torch_ready(ctx["threads"])
    defaults = MHEClassifier().get_params()
    X, y = data["X_train"], np.asarray(data["y_train"])
    sparse = sp.issparse(X)
    batch = auto_batch_size(X.shape[0])
    cfg = {**cfg, "hidden": tuple(defaults["hidden_layer_sizes"]), "batch_size": batch,
           "lr": auto_learning_rate(batch), "alpha": defaults["alpha"],
           "epochs": auto_max_iter(X.shape[0], batch), "schedule": defaults["learning_rate"]}
    net = adaptive_network(X.shape[1], data["n_classes"], cfg, sparse, ctx["seed"])
    cpu = time.process_time()
    with Timer() as fit:
        train_adaptive(net, X, y, cfg, sparse, ctx["seed"])
    cpu = time.process_time() - cpu
    labels, log_p = evaluate_adaptive(net, data["X_test"], data["y_test"], min(5, data["n_classes"]))
    return {**_scores(labels, log_p, data["y_test"]), "train_s": fit.seconds, "train_cpu_s": cpu,
            "samples_per_cpu_s": X.shape[0] * cfg["epochs"] / cpu, "epochs": cfg["epochs"],
            "peak_rss_mib": peak_rss_mib(), "output_params": int(net.output_parameters())}


def run_single(name: str, args, log=print) -> list[dict]:
    """Rows for digit pairs or PTB: the default estimator, each method, dense, adaptive."""
    from skmhe import MHEClassifier

    data = load_single(name, args)
    ctx = {"threads": args.threads, "seed": args.seed}
    default_method = MHEClassifier().method
    jobs = [(f"MHEClassifier() ({default_method})", _fit_skmhe_single, ({},))]
    jobs += [(f"method={m!r}", _fit_skmhe_single, ({"method": m},)) for m in METHODS if m != default_method]
    jobs += [("dense softmax (factors=(C,))", _fit_skmhe_single, ({"dense": True},)),
             ("adaptive softmax", _fit_adaptive, (ADAPTIVE[name],))]
    rows = []
    for model, fn, extra in jobs:
        log(f"  {name}: {model} ...", end=" ", flush=True)
        result = run_isolated(fn, data, *extra, ctx)
        row = {"dataset": name, "model": model}
        if "error" in result:
            log(f"failed: {result['error']}")
            rows.append({**row, "status": f"error: {result['error']}"})
            continue
        rows.append({**row, **result, "status": "ok"})
        log(f"top-1 {result['accuracy']:.4f}, perplexity {result['perplexity']:.1f}, "
            f"{result['samples_per_cpu_s']:,.0f} samples/CPU-s")
    dense = next((r for r in rows if r["model"].startswith("dense") and r["status"] == "ok"), None)
    for row in rows:
        if dense is not None and "samples_per_cpu_s" in row:
            row["vs_dense"] = row["samples_per_cpu_s"] / dense["samples_per_cpu_s"]
    return rows


# --------------------------------------------------------------------------- a million rows


def _fit_large(n_rows: int, n_classes: int, ctx: dict) -> dict:
    """``MHEClassifier(random_state=seed)`` on ``n_rows`` synthetic sparse rows (runs in a child)."""
    import numpy as np

    from skmhe import MHEClassifier
    from skmhe.datasets import make_extreme_classification

    _torch_ready(ctx["threads"])
    X, y = make_extreme_classification(n_samples=n_rows + 20_000, n_classes=n_classes, sparse=True,
                                       n_features=2**16, random_state=ctx["seed"])
    clf = MHEClassifier(random_state=ctx["seed"])
    seconds, cpu = _timed_fit(clf, X[:n_rows], y[:n_rows])
    labels, _ = clf.predict_topk(X[n_rows:], k=5)
    y_test = np.asarray(y[n_rows:])
    return {"dataset": f"synthetic {n_rows:,} rows, {n_classes:,} classes", "model": "MHEClassifier()",
            "accuracy": float(np.mean(labels[:, 0] == y_test)),
            "top5": float(np.mean((labels == y_test[:, None]).any(axis=1))),
            "train_s": seconds, "train_cpu_s": cpu, "epochs": clf.n_iter_,
            "samples_per_cpu_s": clf.t_ / cpu, "batch_size": clf.batch_size_,
            "peak_rss_mib": peak_rss_mib()}


def run_large(args, log=print) -> list[dict]:
    """One default fit on a million rows (``--quick``: 20,000): does it end by itself, and when."""
    n_rows, n_classes = (20_000, 1_000) if args.quick else (1_000_000, 10_000)
    log(f"  large: MHEClassifier() on {n_rows:,} rows ...", end=" ", flush=True)
    result = run_isolated(_fit_large, n_rows, n_classes, {"threads": args.threads, "seed": args.seed})
    if "error" in result:
        log(f"failed: {result['error']}")
        return [{"dataset": f"synthetic {n_rows:,} rows", "model": "MHEClassifier()",
                 "status": f"error: {result['error']}"}]
    log(f"{result['epochs']} epochs in {result['train_s']:.0f} s, top-1 {result['accuracy']:.4f}")
    return [{**result, "status": "ok"}]


# --------------------------------------------------------------------------- main


def render_markdown(report: dict) -> str:
    lines = ["## Defaults only: skmhe vs peers (`python -m benchmarks.bench_defaults`)", "",
             f"{report['machine']['machine']}, torch {report['machine']['torch']}, "
             f"{report['threads']} thread(s) per model; {report['date']}.", ""]
    if report["multilabel"]:
        lines += ["Multi-label (P@k on the test split; train time relative to the fastest peer):", "",
                  markdown_table(report["multilabel"], ML_COLUMNS), ""]
    if report["large"]:
        lines += ["A default fit on a million rows (it stops by itself: ``max_iter='auto'`` gives 2 "
                  "epochs from about 500,000 rows on):", "",
                  markdown_table(report["large"], LARGE_COLUMNS), ""]
    if report["single"]:
        lines += ["Single-label (throughput in training samples per CPU-second, relative to the "
                  "dense softmax trained with the same defaults):", "",
                  markdown_table(report["single"], SL_COLUMNS), ""]
    lines += [f"- {note}" for note in report["skipped"]]
    return "\n".join(lines) + "\n"


def parse_args(argv=None):
    p = _cli.parser(__doc__)
    p.add_argument("--parts", nargs="+", choices=("multilabel", "single", "large"),
                   default=["multilabel", "single", "large"])
    p.add_argument("--datasets", default=None,
                   help=f"comma-separated subset of {', '.join(MULTILABEL_SETS + SINGLE_SETS)}")
    return parse_model_arguments(p, argv, out="benchmarks/out/defaults.json")


def parse_model_arguments(p, argv, *, out: str):
    """Add what every model-fitting benchmark here takes (``--seed``, ``--ptb``, the common
    arguments with one thread per model and the data home), parse ``argv``, point the data home,
    and find PTB in it when ``--ptb`` is not given."""
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--ptb", default=None, help="PTB folder (default: ptb/ in --data-home)")
    _cli.add_common_arguments(p, out=out, threads=1, threads_help="intra-op threads per model",
                              data=True, quick_help="a few hundred rows per set: a smoke test")
    args = p.parse_args(argv)
    _cli.use_data_home(args.data_home)
    if args.ptb is None and args.data_home and (Path(args.data_home) / "ptb").is_dir():
        args.ptb = str(Path(args.data_home) / "ptb")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    wanted = set(args.datasets.split(",")) if args.datasets else set(MULTILABEL_SETS + SINGLE_SETS)
    if args.quick and not args.datasets:
        wanted = set(QUICK_SETS)  # a smoke test of every path, not of every set
    report = {"machine": machine_info(), "threads": args.threads, "quick": args.quick,
              "date": time.strftime("%Y-%m-%d"), "multilabel": [], "single": [], "large": [],
              "skipped": []}
    if "multilabel" in args.parts:
        for name in (n for n in MULTILABEL_SETS if n in wanted):
            missing = bench_xmlc._missing_data_reason(name)
            if missing:
                report["skipped"].append(missing)
                print(missing)
                continue
            report["multilabel"] += run_multilabel(name, args, log=print)
    if "single" in args.parts:
        for name in (n for n in SINGLE_SETS if n in wanted):
            if name == "ptb" and args.ptb is None:
                report["skipped"].append("PTB skipped: no ptb/ folder in the shared data")
                print(report["skipped"][-1])
                continue
            report["single"] += run_single(name, args, log=print)
    if "large" in args.parts:
        report["large"] = run_large(args, log=print)
    rows = report["multilabel"] + report["single"] + report["large"]
    return _cli.write_report(report, render_markdown(report), args.out, rows)


if __name__ == "__main__":
    sys.exit(main())
