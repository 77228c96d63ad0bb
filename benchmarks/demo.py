"""The main job: skmhe's default estimator, its other methods and the dense softmax, side by side.

Every model is ``MHEClassifier`` with its default parameters (only ``method``, or ``factors=(C,)``
for the dense baseline, changes), trained in its own process on the same data with a progress
bar. The run ends with a table and a plot (``benchmarks/out/demo.png``).

Default data: ``make_extreme_classification(sparse=True)``: 2,000 classes, TF-IDF-like bags of
words, each class owning a few random keywords; 40,000 rows, so the whole job (four models, one
process each) runs in a few minutes on 2 cores. **The classes are unrelated to each other**: no two
classes share anything a model could reuse. That is the worst case for MHE: even with codes chosen
from the data (``label_order="auto"``), each group of the cascade and each digit of the product
gathers labels with nothing in common, so the backbone must learn an arbitrary grouping, and MHE
trails the dense softmax there (measured with data-aware codes: cascade 0.768, product 0.756,
sampling 0.886; dense 0.890; ``benchmarks/RESULTS.md``, "Label codes"). At 2,000 classes the output layer is also not what a step costs (the
16,384-column sparse input layer is), so MHE is not faster either, except the product. The method's
case is real data with many classes: ``--data`` on PTB.

``--data PATH``: Penn Treebank next-word prediction from a folder holding ptb.*.txt.gz
(e.g. ../shared/data/ptb; the previous 3 words one-hot, 10,000 classes).

Usage::

    python -m benchmarks.demo [--data PATH] [--n-classes N] [--n-samples N] [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import warnings
from pathlib import Path

from . import _cli
from ._common import Timer, machine_info, markdown_table, peak_rss_mib, run_isolated

COLUMNS = [
    ("model", "model", ""),
    ("factors", "factors", ""),
    ("accuracy", "top-1 acc", "{:.4f}"),
    ("top5", "top-5 acc", "{:.4f}"),
    ("perplexity", "perplexity", "{:.1f}"),
    ("epochs", "epochs", ""),
    ("train_s", "train s", "{:.1f}"),
    ("samples_per_s", "train samples/s", "{:,.0f}"),
    ("output_params", "output-layer params", "{:,}"),
    ("peak_rss_mib", "peak RSS MiB", "{:,.0f}"),
]

#: (name, MHEClassifier parameters besides the defaults); "dense" means factors=(n_classes,)
MODELS = [
    ("MHEClassifier() (default: cascade)", {}),
    ("method='product'", {"method": "product"}),
    ("method='sampling'", {"method": "sampling"}),
    ("dense softmax (factors=(C,))", {"dense": True}),
]


def load_data(args):
    """(X_train, y_train, X_test, y_test, description)."""
    if args.data:
        from skmhe.datasets import load_ptb

        bunch = load_ptb(args.data, context=3)
        cap = args.max_samples or bunch.X_train.shape[0]
        desc = (
            f"PTB next word ({args.data}): previous 3 words one-hot, {len(bunch.vocabulary)} classes, "
            f"{min(cap, bunch.X_train.shape[0]):,} training tokens"
        )
        return bunch.X_train[:cap], bunch.y_train[:cap], bunch.X_test, bunch.y_test, desc
    from sklearn.model_selection import train_test_split

    from skmhe.datasets import make_extreme_classification

    X, y = make_extreme_classification(
        n_samples=args.n_samples, n_features=args.n_features, n_classes=args.n_classes,
        sparse=True, noise=args.noise, random_state=args.seed,
    )
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.2, random_state=args.seed)
    desc = (
        f"make_extreme_classification(n_samples={args.n_samples}, n_features={args.n_features}, "
        f"n_classes={args.n_classes}, sparse=True, noise={args.noise}, random_state={args.seed}), "
        "80/20 split"
    )
    return X_tr, y_tr, X_te, y_te, desc


def fit_and_score(args, name: str, params: dict) -> dict:
    """Train one model with its defaults and measure it (runs in a child process)."""
    import numpy as np
    import torch

    from skmhe import MHEClassifier

    torch.set_num_threads(args.threads)
    torch.optim.Adam([torch.zeros(1, requires_grad=True)])  # one-off lazy imports, outside the timer
    X_tr, y_tr, X_te, y_te, _ = load_data(args)
    params = dict(params)
    if params.pop("dense", False):
        params["factors"] = (len(np.unique(y_tr)),)
    clf = MHEClassifier(random_state=args.seed, verbose=int(args.verbose), device=args.device, **params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with Timer() as t:
            clf.fit(X_tr, y_tr)
    labels, _ = clf.predict_topk(X_te, k=min(5, len(clf.classes_)))
    y_te = np.asarray(y_te)
    log_p = np.maximum(clf.log_likelihood(X_te, y_te), np.log(1e-12))  # unseen label: floor
    return {
        "model": name,
        "factors": "x".join(map(str, clf.codec_.factors)),
        "accuracy": float(np.mean(labels[:, 0] == y_te)),
        "top5": float(np.mean((labels == y_te[:, None]).any(axis=1))),
        "perplexity": float(np.exp(-np.mean(log_p))),
        "epochs": clf.n_iter_,
        "train_s": t.seconds,
        "samples_per_s": clf.t_ / t.seconds,
        "output_params": clf.network_.output_parameters(),
        "peak_rss_mib": peak_rss_mib(),
    }


def plot(rows: list[dict], path: Path, title: str) -> Path | None:
    """Top-1 accuracy and training throughput of each model, side by side (needs matplotlib)."""
    plt = _cli.pyplot()
    if plt is None:
        return None
    ok = [r for r in rows if "error" not in r]
    names = [r["model"].replace(" (", "\n(") for r in ok]
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    left.barh(names, [r["accuracy"] for r in ok], color="tab:blue")
    left.set_xlabel("top-1 accuracy (test)")
    right.barh(names, [r["samples_per_s"] for r in ok], color="tab:orange")
    right.set_xlabel("training samples / s")
    right.set_yticks([])
    for axis in (left, right):
        axis.invert_yaxis()
    fig.suptitle(title, fontsize=9)
    path.parent.mkdir(parents=True, exist_ok=True)
    return Path(_cli.save_figure(plt, fig, path))


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", help="PTB folder (ptb.train.txt.gz, ...); default: synthetic data")
    p.add_argument("--n-classes", type=int, default=2_000)
    p.add_argument("--n-samples", type=int, default=40_000)
    p.add_argument("--n-features", type=int, default=2**14)
    p.add_argument("--noise", type=float, default=2.0, help="synthetic noise (class_sep is 1)")
    p.add_argument("--max-samples", type=int, default=None, help="PTB: cap on training tokens")
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    p.add_argument("--device", default="auto")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quick", action="store_true", help="tiny sizes, for a smoke test")
    p.add_argument("--skip-dense", action="store_true", help="leave the dense baseline out")
    p.add_argument("--quiet", dest="verbose", action="store_false", help="no progress bars")
    p.add_argument("--out", default="benchmarks/out/demo.json", help="JSON results path (plot beside it)")
    args = p.parse_args(argv)
    if args.quick:
        args.n_classes, args.n_samples, args.n_features, args.noise = 100, 3_000, 2**10, 1.0
        args.max_samples = args.max_samples or 20_000
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    started = time.perf_counter()
    desc = load_data(args)[-1] if not args.data else f"PTB next word from {args.data}"
    models = [m for m in MODELS if not (args.skip_dense and m[1].get("dense"))]
    rows = []
    for i, (name, params) in enumerate(models, 1):
        print(f"[{i}/{len(models)}] training {name} ...", flush=True)
        row = run_isolated(fit_and_score, args, name, params)
        rows.append({"model": name, **row})
        if "error" in row:
            print(f"    failed: {row['error']}", flush=True)
        else:
            print(f"    top-1 {row['accuracy']:.4f} in {row['train_s']:.1f} s "
                  f"({row['samples_per_s']:,.0f} samples/s, {row['epochs']} epochs)", flush=True)
    info = machine_info()
    out = Path(args.out)
    png = plot(rows, out.with_name("demo.png"), f"{desc}\n{info['machine']}, {args.threads} threads")
    print(f"\ndata: {desc}\nmachine: {info['machine']}, torch {info['torch']}, {args.threads} threads")
    print(markdown_table(rows, COLUMNS))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"args": vars(args), "machine": info, "results": rows}, indent=2))
    print(f"\nresults: {out}" + (f", plot: {png}" if png else " (no plot: matplotlib not installed)"))
    print(f"whole run: {time.perf_counter() - started:.0f} s")
    return 0 if all("error" not in r for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
