"""Fits of small synthetic problems, run by every rank of a ``torchrun`` job (see test_distributed.py).

Usage::

    python -m torch.distributed.run --nproc_per_node=2 tests/_ddp_script.py OUT_DIR CASE [CASE ...]

Each rank initialises a gloo process group, fits every ``CASE`` (a key of
:data:`CASES`) with an ordinary ``fit`` and saves, per case, its parameters
and scores to ``OUT_DIR/<case>.rank<r>.pt``. The test imports :func:`fit_case`
to fit the same cases in a single process.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import scipy.sparse as sp
import torch
from sklearn.datasets import make_multilabel_classification

from skmhe import MHEClassifier, MHEMultiLabelClassifier
from skmhe.datasets import make_extreme_classification

COMMON = dict(random_state=0, max_iter=15, batch_size=64, learning_rate_init=0.01, device="cpu",
              learning_rate="constant")  # the rate these comparisons were sized for

#: case -> (estimator class, parameters, sparse X)
CASES = {
    "product": (MHEClassifier, dict(method="product", hidden_layer_sizes=(32,)), False),
    "cascade": (MHEClassifier, dict(method="cascade", hidden_layer_sizes=(32,), embedding_size=16), False),
    # lazy updates: sparse gradients on the input layer (SparseAdam), early stopping agreed over ranks
    "sampling_sparse_early": (
        MHEClassifier,
        dict(
            method="sampling", hidden_layer_sizes=(32,), n_sampled_groups=3, sparse_updates=True,
            early_stopping=True, validation_fraction=0.2, n_iter_no_change=2, tol=0.005,
        ),
        True,
    ),
    # linear cascade on sparse X: the label tables get sparse gradients too
    "cascade_sparse_linear": (
        MHEClassifier,
        dict(method="cascade", hidden_layer_sizes=(), embedding_size=16, sparse_updates=True),
        True,
    ),
    "multilabel": (MHEMultiLabelClassifier, dict(hidden_layer_sizes=(32,), embedding_size=16, n_levels=2),
                   False),
    # each process draws its own seed: rank 0's must be used everywhere
    "unseeded": (MHEClassifier, dict(hidden_layer_sizes=(32,), random_state=None), False),
}


def make_data(case: str):
    """Train and test ``(X, y)`` of a case: the same arrays in every process."""
    _, _, sparse = CASES[case]
    if CASES[case][0] is MHEMultiLabelClassifier:
        X, Y = make_multilabel_classification(
            n_samples=1500, n_features=30, n_classes=12, n_labels=2, random_state=0
        )
        X = X.astype(np.float32) / X.max()
    else:
        X, Y = make_extreme_classification(
            n_samples=1500, n_features=200 if sparse else 20, n_classes=24, sparse=sparse,
            density=0.05, class_sep=2.0, random_state=0,
        )
    return X[:1000], Y[:1000], X[1000:], Y[1000:]


def accuracy(est, X, Y) -> float:
    """Top-1 accuracy (precision@1 for label sets)."""
    top = est.predict_topk(X, 1)[0][:, 0]
    if Y.ndim == 1:
        return float(np.mean(top == Y))
    dense = Y.toarray() if sp.issparse(Y) else np.asarray(Y)
    return float(np.mean(dense[np.arange(len(top)), top] != 0))


def fit_case(case: str) -> dict:
    """Fit a case; its parameters, scores and training record."""
    cls, params, _ = CASES[case]
    X, Y, X_test, Y_test = make_data(case)
    est = cls(**{**COMMON, **params}).fit(X, Y)
    return {
        "state": {k: v.detach().clone() for k, v in est.network_.state_dict().items()},
        "accuracy": accuracy(est, X_test, Y_test),
        "n_iter": est.n_iter_,
        "loss_curve": list(est.loss_curve_),
        "validation_scores": est.validation_scores_,
        "seed": est.seed_,
    }


def main(out: Path, cases: list[str]) -> None:
    import torch.distributed as dist

    torch.set_num_threads(1)
    dist.init_process_group("gloo")
    try:
        rank = dist.get_rank()
        for case in cases:
            if case == "mismatch":  # rank 1 has one row less: both ranks must raise
                X, Y, _, _ = make_data("product")
                n = len(X) - rank
                try:
                    MHEClassifier(**{**COMMON, "max_iter": 1}).fit(X[:n], Y[:n])
                    result = {"error": None}
                except ValueError as exc:
                    result = {"error": str(exc)}
            else:
                result = fit_case(case)
            torch.save(result, out / f"{case}.rank{rank}.pt")
        # every rank past its last collective before any tears the group down: a rank that
        # destroyed it while the other's gloo work was in flight aborted the job (SIGABRT)
        dist.barrier()
    finally:
        dist.destroy_process_group()


if __name__ == "__main__":
    if "RANK" not in os.environ:
        sys.exit("run this script with torchrun (python -m torch.distributed.run)")
    main(Path(sys.argv[1]), sys.argv[2:])
