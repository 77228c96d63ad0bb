"""``bench_xmlc --scale``: skmhe's defaults beside omikuji and napkinXC PLT from 1e4 to 1e6 labels.

Data: ``skmhe.datasets.make_xmc_multilabel`` (power-law labels, ~5 labels and ~100 TF-IDF entries
a row over ``SCALE_FEATURES`` features, labels tied to words through latent topics), one set per
label count, the first rows for training and the last for testing. Every model runs in its own
process with one thread (``--threads``); train and predict are timed in wall and CPU seconds
(``time.process_time``, every thread of the process), and the peak RSS is the process's own: it reads
the set from files, memory-mapped (:func:`save_matrices`), rather than being sent a copy.

``--scale-steps N`` times skmhe on its first ``N`` optimizer steps only (at the batch size and rate
its defaults choose for the full data) and extrapolates one epoch from them: the row then has no
P@k, and its ``epoch s`` is marked as extrapolated. The table and a plot of train time against
labels (``bench_xmlc_scale.png``) go to ``--out``.
"""

from __future__ import annotations

import json
import tempfile

from . import _cli
from ._common import Timer, peak_rss_mib, run_isolated
from .xmlc_models import MODELS, _fit_skmhe, unavailable
from .xmlc_report import evaluate

SCALE_LABELS = (10_000, 100_000, 1_000_000)
#: training rows per label count (the test rows come on top)
SCALE_ROWS = {10_000: 50_000, 100_000: 200_000, 1_000_000: 1_000_000}
SCALE_TEST_ROWS = 10_000
SCALE_FEATURES = 1 << 17
SCALE_MODELS = ("skmhe defaults", "omikuji Parabel", "napkinxc PLT")
#: ``--quick``: toy sizes, a smoke test of every code path
QUICK_LABELS, QUICK_ROWS, QUICK_TEST_ROWS, QUICK_FEATURES = (500, 2_000), 1_500, 300, 1 << 12
QUICK_SKMHE_PARAMS = {"hidden_layer_sizes": (64,), "max_iter": 2}

COLUMNS = [
    ("n_labels", "labels", "{:,}"), ("model", "model", ""), ("p@1", "P@1", "{:.4f}"),
    ("p@5", "P@5", "{:.4f}"), ("train_s", "train s", "{:.1f}"), ("train_cpu_s", "train CPU s", "{:.1f}"),
    ("epoch_s", "epoch s", "{}"), ("predict_s", "predict s", "{:.1f}"),
    ("predict_cpu_s", "predict CPU s", "{:.1f}"), ("peak_rss_mib", "peak RSS MiB", "{:,.0f}"),
    ("status", "status", ""),
]


def scale_cases(args) -> list[tuple[int, int, int]]:
    """``(n_labels, n_train, n_test)`` of every set to run."""
    if args.quick:
        return [(n, QUICK_ROWS, QUICK_TEST_ROWS) for n in (args.scale_labels or QUICK_LABELS)]
    labels = args.scale_labels or SCALE_LABELS
    return [(n, args.scale_rows or SCALE_ROWS.get(n, 2 * n), args.scale_test_rows or SCALE_TEST_ROWS)
            for n in labels]


def scale_data(n_labels: int, n_train: int, n_test: int, n_features: int, seed: int) -> dict:
    """One synthetic set, split into its first ``n_train`` and last ``n_test`` rows."""
    import numpy as np

    from skmhe.datasets import make_xmc_multilabel

    with Timer() as t:
        X, Y = make_xmc_multilabel(n_train + n_test, n_labels, n_features=n_features, random_state=seed)
    Y = Y.astype(bool)
    counts = np.bincount(Y.indices[: Y.indptr[n_train]], minlength=n_labels)
    info = {"n_labels": n_labels, "n_train": n_train, "n_test": n_test, "n_features": n_features,
            "generate_s": t.seconds, "labels_per_row": Y.nnz / Y.shape[0], "nnz_per_row": X.nnz / X.shape[0],
            "labels_under_10_positives": float(np.mean(counts < 10)),
            "labels_absent_from_train": int(np.sum(counts == 0))}
    return {"X_train": X[:n_train], "Y_train": Y[:n_train], "X_test": X[n_train:], "Y_test": Y[n_train:],
            "info": info}


def _fit_skmhe_steps(data, ctx, steps: int) -> dict:
    """skmhe's defaults for the full data, timed on ``steps`` steps; one epoch extrapolated.

    A first ``partial_fit`` on one batch builds the model (the label code of those rows, the
    network, the optimizer's state) and is timed apart as the set-up; the next ``steps``
    batches, one epoch of the training loop of ``fit`` at the batch size and rate the defaults
    choose for the full data, give the seconds a step (and the peak RSS of a ``fit``, without
    the copy of the model that a continuing ``partial_fit`` makes). The epoch is those steps
    times the steps of an epoch.
    """
    import numpy as np
    import torch

    from skmhe import MHEMultiLabelClassifier
    from skmhe._base import check_X
    from skmhe._heap import kept_heap
    from skmhe._label_sets import encode_label_sets

    torch.set_num_threads(ctx["threads"])
    n, n_labels = data["Y_train"].shape
    full = MHEMultiLabelClassifier(random_state=0, **ctx["skmhe_params"])
    full.classes_ = np.arange(n_labels)  # the auto batch grows with the labels
    n_fit = n - int(round(n * full.validation_fraction)) if full._uses_validation(n) else n
    batch = full._batch_size(n_fit)
    rate = full._learning_rate(batch, n_fit)
    rows = min(n, (steps + 1) * batch)
    est = MHEMultiLabelClassifier(
        random_state=0, batch_size=batch, learning_rate_init=rate, **ctx["skmhe_params"]
    )
    X, Y = data["X_train"], data["Y_train"]
    with Timer() as setup:
        est.partial_fit(X[:batch], Y[:batch], classes=np.arange(n_labels))
    # the next batches through the training loop ``fit`` runs (``_train``), not ``partial_fit``: a
    # ``partial_fit`` that continues first copies the model and Adam's moments (3 GB at 1e6 labels)
    # so that one that raises can leave the model as it was, which a ``fit`` never needs
    part = check_X(est, X[batch:rows], reset=False)
    labels = encode_label_sets(Y[batch:rows], rows - batch)[0]
    with Timer() as fit, kept_heap():  # as every estimator call holds it (``scoped_call``)
        est._train(part, labels, incremental=True)
    steps_done, steps_per_epoch = -(-(rows - batch) // batch), -(-n_fit // batch)
    epoch, epoch_cpu = (t / steps_done * steps_per_epoch for t in (fit.seconds, fit.cpu_seconds))
    return {"train_s": setup.seconds + fit.seconds, "train_cpu_s": setup.cpu_seconds + fit.cpu_seconds,
            "setup_s": setup.seconds, "setup_cpu_s": setup.cpu_seconds, "steps": steps_done,
            "step_cpu_s": fit.cpu_seconds / steps_done, "batch_size": batch,
            "epoch_s": f"{epoch:,.0f} ({epoch_cpu:,.0f} CPU, extrapolated)", "extrapolated": True}


def save_matrices(data: dict, folder) -> dict:
    """Write the CSR matrices of ``data`` to ``folder`` (one ``.npy`` per array); their paths.

    A model's process reads them back memory-mapped (:func:`load_matrices`) instead of being sent
    them through a pipe, so that its peak RSS is the model's and the pages of data it reads, not a
    pickled copy of the set besides (10.0 against 5.8 GB at 1e6 labels before).
    """
    import numpy as np

    paths = {}
    for key, matrix in data.items():
        stem = f"{folder}/{key}"
        for part in ("data", "indices", "indptr"):
            np.save(f"{stem}.{part}.npy", getattr(matrix, part))
        paths[key] = (stem, matrix.shape)
    return paths


def load_matrices(paths: dict) -> dict:
    """The matrices written by :func:`save_matrices`, as CSR over memory maps.

    Copy-on-write maps: scipy and the estimators may write to them (sorting indices in place).
    """
    import numpy as np
    import scipy.sparse as sp

    out = {}
    for key, (stem, shape) in paths.items():
        parts = [np.load(f"{stem}.{part}.npy", mmap_mode="c") for part in ("data", "indices", "indptr")]
        out[key] = sp.csr_matrix(tuple(parts), shape=tuple(shape), copy=False)
    return out


def _run_scale_model(name: str, paths: dict, ctx: dict) -> dict:
    """Child process: one model on one set (read from the files of :func:`save_matrices`)."""
    data = load_matrices(paths)
    if name == "skmhe defaults":
        if ctx.get("steps"):
            result = _fit_skmhe_steps(data, ctx, ctx["steps"])
        else:
            result = _fit_skmhe(data, ctx, defaults=True)
    else:
        spec = MODELS[name]
        result = spec.fit_predict(data, ctx, **spec.options)
    result["peak_rss_mib"] = peak_rss_mib()
    return result


def run_scale(args, log=print) -> dict:
    """Every label count, every model side by side; the report dict."""
    import numpy as np

    from skmhe.metrics import inverse_propensity

    ctx = {"threads": args.threads, "seed": args.seed, "quick": args.quick, "verbose": args.verbose,
           "skmhe_params": {**(QUICK_SKMHE_PARAMS if args.quick else {}), **args.skmhe_params},
           "steps": args.scale_steps}
    models = args.scale_models or list(SCALE_MODELS)
    n_features = QUICK_FEATURES if args.quick else (args.synthetic_features or SCALE_FEATURES)
    rows, datasets = [], []
    for n_labels, n_train, n_test in scale_cases(args):
        data = scale_data(n_labels, n_train, n_test, n_features, args.seed)
        datasets.append(data.pop("info"))
        log(f"{n_labels:,} labels: {datasets[-1]}", flush=True)
        inv_prop = inverse_propensity(data["Y_train"])
        folder = tempfile.TemporaryDirectory(prefix="xmlc_scale_")
        paths = save_matrices(data, folder.name)
        for name in models:
            row = {"n_labels": n_labels, "model": name}
            missing = None if name == "skmhe defaults" else unavailable(name, None)
            if missing is not None:
                rows.append({**row, "status": missing[0]})
                continue
            log(f"  {name} ...", end=" ", flush=True)
            result = run_isolated(_run_scale_model, name, paths, ctx)
            if "error" in result:
                log(f"failed: {result['error']}")
                rows.append({**row, "status": f"error: {result['error']}"})
                continue
            if "topk" in result:
                topk = np.asarray(result.pop("topk"))
                row.update(evaluate(data["Y_test"], topk, inv_prop))
                row["epoch_s"] = None
            row.update(result, status="ok")
            log(f"P@1 {row.get('p@1', float('nan')):.4f}, train {row['train_s']:.1f} s "
                f"({row['train_cpu_s']:.1f} CPU s), peak RSS {row['peak_rss_mib']:,.0f} MiB")
            rows.append(row)
        del data
        folder.cleanup()
    return {"datasets": datasets, "results": rows, "threads": args.threads}


def render_scale(report: dict) -> str:
    from ._common import markdown_table

    lines = ["# bench_xmlc --scale: skmhe's defaults beside omikuji and napkinXC PLT", "",
             _cli.machine_line(report["machine"], report["threads"]), report["command"], "",
             "Each model in its own process, one thread; CPU s is `time.process_time` of that process. "
             "Load average (1, 5, 15 min) before and after: "
             f"{report['machine']['load_average']['before']}, {report['machine']['load_average']['after']}.", "",
             "| labels | train rows | test rows | features | labels/row | nnz/row | labels < 10 positives |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for d in report["datasets"]:
        lines.append(f"| {d['n_labels']:,} | {d['n_train']:,} | {d['n_test']:,} | {d['n_features']:,} | "
                     f"{d['labels_per_row']:.2f} | {d['nnz_per_row']:.1f} | {d['labels_under_10_positives']:.0%} |")
    lines += ["", markdown_table(report["results"], COLUMNS)]
    if report.get("plot"):
        lines += ["", f"Plot: `{report['plot']}`"]
    return "\n".join(lines) + "\n"


def plot_scale(report: dict, path) -> str | None:
    """Train seconds against labels, one line per model (log-log)."""
    plt = _cli.pyplot()
    if plt is None:
        return None
    fig, ax = plt.subplots(figsize=(6, 4))
    for name in dict.fromkeys(r["model"] for r in report["results"]):
        points = [(r["n_labels"], r["train_s"]) for r in report["results"]
                  if r["model"] == name and r.get("status") == "ok" and not r.get("extrapolated")]
        if points:
            ax.plot(*zip(*points), marker="o", label=name)
    ax.set(xscale="log", yscale="log", xlabel="labels", ylabel="train seconds (1 thread)",
           title="bench_xmlc --scale")
    ax.legend()
    return _cli.save_figure(plt, fig, path)


def main_scale(args, argv) -> int:
    load_before = _cli.load_average()
    report = run_scale(args)
    report["machine"] = _cli.run_info(load_before)
    report["command"] = _cli.command_line("benchmarks.bench_xmlc", argv)
    out = _cli.output_folder(args.out)
    report["plot"] = plot_scale(report, out / "bench_xmlc_scale.png")
    markdown = render_scale(report)
    print()
    print(markdown)
    (out / "bench_xmlc_scale.json").write_text(json.dumps(report, indent=2, default=repr))
    (out / "bench_xmlc_scale.md").write_text(markdown)
    return 1 if any(str(r["status"]).startswith("error") for r in report["results"]) else 0
