"""The main job: Multi-Head Product vs the dense softmax baseline, side by side in one run.

Default data: ``skmhe.datasets.make_extreme_classification`` (synthetic, planted structure).
``--data PATH``: Penn Treebank next-word prediction from a folder holding ptb.*.txt.gz
(e.g. ../shared/data/ptb). Each model trains in its own process (same data, same backbone,
same seed), so the peak memory reported is that model's own.

Usage::

    python -m benchmarks.demo [--data PATH] [--n-classes N] [--epochs E] [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import warnings
from pathlib import Path

from ._common import Timer, machine_info, markdown_table, peak_rss_mib, rss_mib, run_isolated

COLUMNS = [
    ("model", "model", ""),
    ("factors", "factors", ""),
    ("accuracy", "top-1 acc", "{:.4f}"),
    ("top5", "top-5 acc", "{:.4f}"),
    ("perplexity", "perplexity", "{:.1f}"),
    ("train_s", "train s", "{:.1f}"),
    ("samples_per_s", "train samples/s", "{:,.0f}"),
    ("output_params", "output-layer params", "{:,}"),
    ("peak_rss_mib", "peak RSS MiB", "{:,.0f}"),
    ("model_rss_mib", "peak RSS above data MiB", "{:,.0f}"),
]


def load_data(args):
    """(X_train, y_train, X_test, y_test, description)."""
    if args.data:
        from skmhe.datasets import load_ptb

        bunch = load_ptb(args.data, context=args.context)
        cap = args.max_samples or bunch.X_train.shape[0]
        desc = (
            f"PTB next-word ({args.data}), context {args.context}, {len(bunch.vocabulary)} classes, "
            f"{min(cap, bunch.X_train.shape[0])} training tokens"
        )
        return bunch.X_train[:cap], bunch.y_train[:cap], bunch.X_test, bunch.y_test, desc
    from sklearn.model_selection import train_test_split

    from skmhe.datasets import make_extreme_classification

    sparse = args.features == "sparse"
    n_features = args.n_features or (2**14 if sparse else 64)
    X, y = make_extreme_classification(
        n_samples=args.n_samples,
        n_features=n_features,
        n_classes=args.n_classes,
        sparse=sparse,
        noise=args.noise,
        random_state=args.seed,
    )
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=args.test_fraction, random_state=args.seed)
    desc = (
        f"make_extreme_classification(n_samples={args.n_samples}, n_features={n_features}, "
        f"n_classes={args.n_classes}, sparse={sparse}, noise={args.noise}, random_state={args.seed})"
    )
    return X_tr, y_tr, X_te, y_te, desc


def fit_and_score(args, name: str, n_heads: int) -> dict:
    """Train one model and measure it (runs in a child process)."""
    import numpy as np
    import torch

    from skmhe import MHEClassifier

    torch.set_num_threads(args.threads)
    torch.optim.Adam([torch.zeros(1, requires_grad=True)])  # one-off lazy imports, outside the timer
    X_tr, y_tr, X_te, y_te, _ = load_data(args)
    rss_data = rss_mib()
    clf = MHEClassifier(
        n_heads=n_heads,
        hidden_layer_sizes=(args.hidden,),
        batch_size=args.batch_size,
        learning_rate_init=args.lr,
        max_iter=args.epochs,
        tol=0.0,
        n_iter_no_change=args.epochs,
        random_state=args.seed,
        verbose=args.verbose,
        device=args.device,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with Timer() as t:
            clf.fit(X_tr, y_tr)
    k = min(5, len(clf.classes_))
    labels, proba = clf.predict_topk(X_te, k=k)
    y_te = np.asarray(y_te)
    top1 = float(np.mean(labels[:, 0] == y_te))
    top5 = float(np.mean((labels == y_te[:, None]).any(axis=1)))
    perplexity = None
    if args.data:  # log-probability of the true next word over the full vocabulary
        log_p = np.maximum(clf.log_likelihood(X_te, y_te), np.log(1e-12))  # unseen: floor
        perplexity = float(np.exp(-np.mean(log_p)))
    peak = peak_rss_mib()
    return {
        "model": name,
        "factors": "x".join(map(str, clf.codec_.factors)),
        "accuracy": top1,
        "top5": top5,
        "perplexity": perplexity,
        "train_s": t.seconds,
        "epochs": clf.n_iter_,
        "samples_per_s": clf.t_ / t.seconds,
        "output_params": clf.network_.output_parameters(),
        "peak_rss_mib": peak,
        "model_rss_mib": peak - rss_data,
        "n_classes": len(clf.classes_),
    }


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", help="PTB folder (ptb.train.txt.gz, ...); default: synthetic data")
    p.add_argument("--n-classes", type=int, default=20_000)
    p.add_argument("--n-samples", type=int, default=200_000)
    p.add_argument(
        "--features",
        choices=("sparse", "dense"),
        default="sparse",
        help="synthetic X: TF-IDF-like bags of class keywords (CSR, the XMC setting) or Gaussian "
        "class prototypes (dense; unrelated random classes, the hard case for a product code)",
    )
    p.add_argument("--n-features", type=int, default=None, help="default 2**14 sparse, 64 dense")
    p.add_argument("--noise", type=float, default=2.0, help="synthetic noise (class_sep is 1)")
    p.add_argument("--test-fraction", type=float, default=0.2)
    p.add_argument("--context", type=int, default=3, help="PTB: previous words used as features")
    p.add_argument("--max-samples", type=int, default=None, help="PTB: cap on training tokens")
    p.add_argument("--heads", type=int, default=2)
    p.add_argument("--hidden", type=int, default=256)
    p.add_argument("--batch-size", type=int, default=512)
    p.add_argument("--lr", type=float, default=5e-3)
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    p.add_argument("--device", default="auto")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quick", action="store_true", help="tiny sizes, for a smoke test")
    p.add_argument("--skip-dense", action="store_true", help="train only the MHE model")
    p.add_argument("--verbose", action="store_true")
    p.add_argument("--out", default="benchmarks/out/demo.json", help="JSON results path")
    args = p.parse_args(argv)
    if args.quick:
        args.n_classes, args.n_samples, args.epochs, args.hidden = 200, 10_000, 5, 64
        args.max_samples = args.max_samples or 20_000
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    desc = load_data(args)[-1] if not args.data else f"PTB next-word from {args.data}"
    models = [(f"MHE product ({args.heads} heads)", args.heads)]
    if not args.skip_dense:
        models.append(("dense softmax (1 head)", 1))
    rows = []
    for name, n_heads in models:
        print(f"training {name} ...", flush=True)
        rows.append({"model": name, **run_isolated(fit_and_score, args, name, n_heads)})
    table = markdown_table(rows, COLUMNS)
    info = machine_info()
    print(f"\ndata: {desc}\nmachine: {info['machine']}, torch {info['torch']}, {args.threads} threads")
    print(table)
    for row in rows:
        if "error" in row:
            print(f"{row['model']} failed: {row['error']}")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"args": vars(args), "machine": info, "results": rows}, indent=2))
    print(f"\nresults written to {out}")
    return 0 if all("error" not in r for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
