"""Temperature scaling (``MHEClassifier(calibration=...)``): every method before and after, in one run.

For each data set and each method (``"cascade"``, ``"product"``, ``"sampling"`` and the dense
softmax ``factors=(n_classes,)``), ``MHEClassifier`` is fitted twice with the same seed and
otherwise default parameters (``early_stopping=True``: the validation split the temperatures
are fitted on), with ``calibration=None`` and with ``calibration="temperature"``. Training is
the same in both (the temperatures are fitted after it), so the two rows differ by the
temperatures alone. Reported on the test split: top-1, log-loss (mean negative log-likelihood,
``log_likelihood``), top-1 expected calibration error (15 bins) and mean top-1 probability,
with the fit's wall and CPU seconds and the calibrated fit's CPU time relative to the other.

* ``digits``: digit pairs (``load_digit_pairs``, 100 classes, 20,000 / 5,000 rows);
* ``synthetic``: the case of issue 18 (sparse ``make_extreme_classification``, 1,000 classes,
  10,000 / 2,000 rows, 5 epochs);
* ``ptb``: PTB next word (previous 3 words one-hot, 10,000 classes), ``--max-train-rows``
  random training rows (default 200,000 of 929,589, to bound the dense softmax's fits) and the
  first ``--max-test-rows`` test rows whose word the training rows hold.

The two fits of a method run in one spawned process with ``--threads`` threads (``--quick``:
in the calling process).

Usage::

    python -m benchmarks.bench_calibration [--datasets digits,ptb] [--max-train-rows N]
                                           [--max-test-rows N] [--threads N] [--quick] [--out PATH.json]
"""

from __future__ import annotations

import json
import sys
import time
import warnings

from . import _cli
from ._common import markdown_table, run_isolated

DATASETS = ("digits", "ptb", "synthetic")
METHODS = ("cascade", "product", "sampling", "dense")
CALIBRATIONS = (None, "temperature")
#: ``--quick``: rows per split, and the epoch budget, to smoke-test every path in seconds
QUICK = {"train": 1_200, "test": 300, "max_iter": 2}

COLUMNS = [
    ("dataset", "data", ""), ("model", "method", ""), ("calibration", "calibration", ""),
    ("temperatures", "temperatures", ""), ("accuracy", "top-1", "{:.4f}"), ("nll", "log-loss", "{:.4f}"),
    ("ece", "ECE", "{:.4f}"), ("confidence", "mean top-1 proba", "{:.4f}"), ("fit_s", "fit s", "{:.1f}"),
    ("fit_cpu_s", "fit CPU s", "{:.1f}"), ("cpu_vs_uncalibrated", "fit CPU / uncalibrated", "{:.2f}x"),
]


def load(name: str, args) -> dict:
    """Train/test split of digit pairs or PTB (3 previous words one-hot), sized by the arguments."""
    import numpy as np

    if name == "digits":
        from skmhe.datasets import load_digit_pairs

        n_train, n_test = (QUICK["train"], QUICK["test"]) if args.quick else (20_000, 5_000)
        X_tr, X_te, y_tr, y_te = load_digit_pairs(n_train, n_test, random_state=0)
        return {"X_train": X_tr, "y_train": y_tr, "X_test": X_te, "y_test": y_te, "n_classes": 100}
    if name == "synthetic":
        from skmhe.datasets import make_extreme_classification

        n_train, n_test = (QUICK["train"], QUICK["test"]) if args.quick else (10_000, 2_000)
        X, y = make_extreme_classification(n_samples=n_train + n_test, n_classes=1_000, sparse=True,
                                           random_state=args.seed)
        return {"X_train": X[:n_train], "y_train": y[:n_train], "X_test": X[n_train:], "y_test": y[n_train:],
                "n_classes": 1_000, "params": {"max_iter": 5}}
    from skmhe.datasets import load_ptb

    bunch = load_ptb(context=3)
    n_train = QUICK["train"] * 10 if args.quick else args.max_train_rows
    n_test = QUICK["test"] if args.quick else args.max_test_rows
    rows = np.arange(bunch.X_train.shape[0])
    if n_train < rows.size:
        rows = np.sort(np.random.default_rng(args.seed).choice(rows.size, n_train, replace=False))
    y_train = np.asarray(bunch.y_train)[rows]
    seen = np.isin(np.asarray(bunch.y_test), y_train)  # a word never trained on has no probability
    test = np.flatnonzero(seen)[:n_test]
    return {"X_train": bunch.X_train[rows], "y_train": y_train, "X_test": bunch.X_test[test],
            "y_test": np.asarray(bunch.y_test)[test], "n_classes": len(bunch.vocabulary)}


def _fit_all(data: dict, ctx: dict) -> list[dict]:
    """Every method, uncalibrated then calibrated, with the test scores (runs in a child)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(ctx["threads"])
    torch.optim.Adam([torch.zeros(1, requires_grad=True)])  # torch's one-off lazy imports, untimed
    try:
        return [row for method in ctx["methods"] for row in _fit_method(method, data, ctx)]
    finally:
        torch.set_num_threads(threads)


def _fit_method(method: str, data: dict, ctx: dict) -> list[dict]:
    """The two rows of one method: uncalibrated, then calibrated (the same seed)."""
    rows = []
    params = {"factors": (data["n_classes"],)} if method == "dense" else {"method": method}
    params.update(data.get("params", {}))
    for calibration in CALIBRATIONS:
        rows.append({"model": method, "calibration": str(calibration),
                     **_fit_one({**params, **ctx["params"], "calibration": calibration}, data, ctx["seed"])})
    rows[0]["cpu_vs_uncalibrated"] = 1.0
    rows[1]["cpu_vs_uncalibrated"] = rows[1]["fit_cpu_s"] / rows[0]["fit_cpu_s"]
    return rows


def _fit_one(params: dict, data: dict, seed: int) -> dict:
    """Fit ``MHEClassifier(**params)``; its temperatures, test scores and fit time."""
    import numpy as np

    from skmhe import MHEClassifier
    from skmhe.metrics import expected_calibration_error

    clf = MHEClassifier(random_state=seed, early_stopping=True, **params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cpu, wall = time.process_time(), time.perf_counter()
        clf.fit(data["X_train"], data["y_train"])
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    y_test = np.asarray(data["y_test"])
    labels, proba = clf.predict_topk(data["X_test"], k=1)
    return {"temperatures": " ".join(f"{t:.3g}" for t in clf.temperatures_),
            "accuracy": float(np.mean(labels[:, 0] == y_test)),
            "nll": float(-np.mean(clf.log_likelihood(data["X_test"], y_test))),
            "ece": expected_calibration_error(y_test, labels, proba),
            "confidence": float(np.mean(proba[:, 0])), "fit_s": wall, "fit_cpu_s": cpu,
            "epochs": clf.n_iter_, "factors": "x".join(map(str, clf.codec_.factors)),
            "validation_accuracy": clf.best_validation_score_}


def run(name: str, args, log=print) -> list[dict]:
    """Rows for one data set: each method in a spawned process of its own (``--quick``: in this one)."""
    data = load(name, args)
    ctx = {"threads": args.threads, "seed": args.seed,
           "params": {"max_iter": QUICK["max_iter"]} if args.quick else {}}
    log(f"  {name}: {data['X_train'].shape[0]:,} training rows, {data['X_test'].shape[0]:,} test rows",
        flush=True)
    rows = []
    for method in args.methods:
        job = {**ctx, "methods": [method]}
        result = _fit_all(data, job) if args.quick else run_isolated(_fit_all, data, job)
        if isinstance(result, dict):  # the child failed
            log(f"  {name} {method} failed: {result['error']}")
            rows.append({"dataset": name, "model": method, "status": f"error: {result['error']}"})
            continue
        for row in result:
            log(f"  {name} {method} calibration={row['calibration']}: top-1 {row['accuracy']:.4f}, "
                f"log-loss {row['nll']:.4f}, ECE {row['ece']:.4f}, temperatures {row['temperatures']}, "
                f"{row['fit_cpu_s']:.1f} CPU s", flush=True)
        rows += [{"dataset": name, "n_train": data["X_train"].shape[0], "n_test": data["X_test"].shape[0],
                  **row, "status": "ok"} for row in result]
    return rows


def render_markdown(report: dict) -> str:
    lines = ["## Calibration: every method before and after temperature scaling "
             "(`python -m benchmarks.bench_calibration`)", "",
             _cli.machine_line(report["machine"], report["threads"]),
             _cli.commit_line(report["machine"]["git"]),
             "", report["command"], "", markdown_table(report["rows"], COLUMNS), ""]
    for name, sizes in report["sizes"].items():
        lines.append(f"- {name}: {sizes[0]:,} training rows, {sizes[1]:,} test rows.")
    lines += [f"- {note}" for note in report["skipped"]]
    return "\n".join(lines) + "\n"


def parse_args(argv=None):
    p = _cli.parser(__doc__)
    p.add_argument("--datasets", default=",".join(DATASETS), help=f"comma-separated subset of {DATASETS}")
    p.add_argument("--methods", default=",".join(METHODS), help=f"comma-separated subset of {METHODS}")
    p.add_argument("--max-train-rows", type=int, default=200_000, help="PTB training rows (random)")
    p.add_argument("--max-test-rows", type=int, default=20_000, help="PTB test rows")
    p.add_argument("--seed", type=int, default=0)
    _cli.add_common_arguments(p, out="benchmarks/out/calibration.json", threads=1,
                              threads_help="intra-op threads", data=True,
                              quick_help="digit pairs only, a thousand rows, 2 epochs: a smoke test")
    args = p.parse_args(argv)
    args.datasets = [d for d in args.datasets.split(",") if d]
    args.methods = [m for m in args.methods.split(",") if m]
    unknown = sorted(set(args.datasets) - set(DATASETS)) + sorted(set(args.methods) - set(METHODS))
    if unknown:
        p.error(f"unknown data sets or methods: {unknown}")
    _cli.use_data_home(args.data_home)
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.quick and "--datasets" not in (sys.argv[1:] if argv is None else argv):
        args.datasets = ["digits"]
    load_before = _cli.load_average()
    report = {"threads": args.threads, "quick": args.quick, "command": _cli.command_line(
        "benchmarks.bench_calibration", argv), "rows": [], "sizes": {}, "skipped": []}
    for name in args.datasets:
        if name == "ptb":
            from skmhe.datasets import find_shared_data

            if find_shared_data("ptb") is None:
                report["skipped"].append("PTB skipped: no ptb/ folder in the data home")
                print(report["skipped"][-1])
                continue
        rows = run(name, args)
        report["rows"] += rows
        if rows and "n_train" in rows[0]:
            report["sizes"][name] = (rows[0]["n_train"], rows[0]["n_test"])
    report["machine"] = _cli.run_info(load_before)
    markdown = render_markdown(report)
    out = _cli.output_file(args.out)
    out.write_text(json.dumps(report, indent=2, default=str))
    out.with_suffix(".md").write_text(markdown)
    print(markdown)
    return 0 if report["rows"] and all(r["status"] == "ok" for r in report["rows"]) else 1


if __name__ == "__main__":
    sys.exit(main())
