"""Extreme multi-label benchmark: skmhe's cascade against the usual XMC peers, side by side.

Data: the Mulan sets Bibtex, Delicious and Corel5k (``skmhe.datasets.load_mulan``, from the
shared data folder; a missing one is skipped with a message). Features are L2-normalised rows
for every model (``--no-normalize`` to keep them raw); labels are bool CSR.

Models (``MODELS``, a registry ``name -> ModelSpec``; add an entry to compare another one):

* ``skmhe MHC``: ``skmhe.MHEMultiLabelClassifier(**SKMHE_PARAMS)``, the cascade;
* ``skmhe flat``: the same estimator with ``n_levels=1`` (one BCE head over all labels, the
  dense baseline);
* ``omikuji Parabel`` / ``omikuji Bonsai``: omikuji's Parabel-like (balanced 2-means, depth 20)
  and Bonsai-like (unbalanced 100-means, depth 3) label trees, trained from an
  Extreme-Classification-Repository text file and queried row by row through its Python API;
* ``napkinxc PLT``: napkinXC's probabilistic label tree (its defaults);
* ``OvR LinearSVC``: scikit-learn ``OneVsRestClassifier(LinearSVC())``, top-k from
  ``decision_function``; labels absent from the training split are masked out.

Every model is trained in its own spawned process (``_common.run_isolated``), so the peak RSS
reported is that process's own (data included; ``VmHWM``, see ``_common.peak_rss_mib``). Times:

* ``prep s``: converting the data to the model's input format (omikuji: writing the training
  file; napkinxc: label lists). Not included in ``train s``;
* ``train s``: the library's training call (omikuji's includes parsing its training file, which
  its API requires);
* ``predict s``: top-5 for the whole test split (omikuji: its per-row Python ``predict``).

Metrics (``skmhe.metrics``, computed in the parent from each model's top-5): P@1, P@3, P@5,
nDCG@5 and PSP@5 with ``inverse_propensity(Y_train)``.

``--synthetic-labels N`` (e.g. 1000000) instead trains ``skmhe MHC`` only on generated keyword
data with ``N`` labels (``make_keyword_multilabel``; add ``--data`` to run the real sets too).

Usage::

    python -m benchmarks.bench_xmlc [--data NAME_OR_DIR ...] [--models NAMES] [--quick]
                                    [--synthetic-labels N] [--out DIR]

``--models`` takes registry names, case, spaces and dashes ignored (``omikuji-parabel``), or the
groups ``skmhe`` and ``peers``.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import importlib.util
import json
import os
import sys
import tempfile
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

try:  # python -m benchmarks.bench_xmlc
    from ._common import Timer, machine_info, markdown_table, peak_rss_mib, rss_mib, run_isolated
except ImportError:  # python benchmarks/bench_xmlc.py
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from benchmarks._common import (
        Timer,
        machine_info,
        markdown_table,
        peak_rss_mib,
        rss_mib,
        run_isolated,
    )

# numpy/scipy are imported inside the functions: a spawned child only pays for what it uses
# (the peers' children never import torch, so their peak RSS is their own).

# --------------------------------------------------------------------------- settings

#: Parameters of ``skmhe.MHEMultiLabelClassifier`` for both skmhe rows (edit here, or
#: ``--skmhe-param key=value`` on the command line). ``skmhe flat`` adds ``n_levels=1``.
SKMHE_PARAMS: dict = {
    "random_state": 0,
    "max_iter": 10,
    "batch_size": 64,
    "learning_rate_init": 1e-3,
}
#: Overrides applied with ``--quick`` (toy sizes, a smoke test).
SKMHE_QUICK_PARAMS: dict = {
    "max_iter": 2,
}

#: omikuji hyper-parameters (attribute names of ``omikuji.Model.default_hyper_param()``), as in
#: omikuji's README: Parabel = balanced 2-means, depth 20; Bonsai = regular 100-means, depth 3.
OMIKUJI_PARAMS: dict = {
    "Parabel": {"cluster_balanced": True, "cluster_k": 2, "max_depth": 20,
                "collapse_every_n_layers": 0, "n_trees": 3},
    "Bonsai": {"cluster_balanced": False, "cluster_k": 100, "max_depth": 3,
               "collapse_every_n_layers": 0, "n_trees": 3},
}
OMIKUJI_BEAM_SIZE = 10

#: napkinXC PLT keyword arguments (besides the output folder, ``threads`` and ``seed``).
NAPKINXC_PLT_PARAMS: dict = {}

K = 5  # top-k asked from every model
MULAN_NAMES = ("bibtex", "delicious", "corel5k")
QUICK_TRAIN, QUICK_TEST = 300, 200
SYNTHETIC_QUICK_ROWS, SYNTHETIC_QUICK_TEST = 2_000, 500
RSS_TARGET_MIB = 8 * 1024  # synthetic run target

COLUMNS = [
    ("dataset", "data", ""),
    ("model", "model", ""),
    ("p@1", "P@1", "{:.4f}"),
    ("p@3", "P@3", "{:.4f}"),
    ("p@5", "P@5", "{:.4f}"),
    ("ndcg@5", "nDCG@5", "{:.4f}"),
    ("psp@5", "PSP@5", "{:.4f}"),
    ("prep_s", "prep s", "{:.2f}"),
    ("train_s", "train s", "{:.2f}"),
    ("predict_s", "predict s", "{:.2f}"),
    ("peak_rss_mib", "peak RSS MiB", "{:,.0f}"),
    ("status", "status", ""),
]
METRIC_KEYS = ("p@1", "p@3", "p@5", "ndcg@5", "psp@5")


# --------------------------------------------------------------------------- helpers


def write_xc_repo(path, X, Y) -> None:
    """Write ``(X, Y)`` in the Extreme Classification Repository text format.

    Header ``n_rows n_features n_labels``, then one line per row: comma-separated 0-based label
    indices, then space-separated ``feature:value`` pairs (a row without labels starts with a
    space, a row without features is its labels alone). Values keep float32 precision
    (``.9g``). ``skmhe.datasets.load_xc_repo`` reads it back.
    """
    import numpy as np
    import scipy.sparse as sp

    X = sp.csr_matrix(X)
    X.sort_indices()
    Y = sp.csr_matrix(Y, dtype=bool)
    Y.eliminate_zeros()
    Y.sort_indices()
    if X.shape[0] != Y.shape[0]:
        raise ValueError(f"X has {X.shape[0]} rows, Y has {Y.shape[0]}")
    with open(path, "w", encoding="ascii") as f:
        f.write(f"{X.shape[0]} {X.shape[1]} {Y.shape[1]}\n")
        for i in range(X.shape[0]):
            labels = ",".join(map(str, Y.indices[Y.indptr[i]:Y.indptr[i + 1]].tolist()))
            lo, hi = X.indptr[i], X.indptr[i + 1]
            values = np.asarray(X.data[lo:hi], dtype=np.float64).tolist()
            feats = " ".join(f"{j}:{v:.9g}" for j, v in zip(X.indices[lo:hi].tolist(), values, strict=True))
            f.write(f"{labels} {feats}\n" if feats else f"{labels}\n")


def label_lists(Y) -> list[list[int]]:
    """Each row's label column indices (sorted), from an indicator matrix."""
    import scipy.sparse as sp

    Y = sp.csr_matrix(Y, dtype=bool)
    Y.eliminate_zeros()
    Y.sort_indices()
    return [Y.indices[Y.indptr[i]:Y.indptr[i + 1]].tolist() for i in range(Y.shape[0])]


def topk_from_scores(scores, k: int, mask=None):
    """Top-``k`` label indices (best first) and scores of a dense decision matrix.

    ``mask`` (bool, ``(n_labels,)``): labels that may be predicted; the others never are. Where
    a row has fewer than ``k`` allowed labels (or non-finite scores), the remaining slots are
    ``-1`` ("no prediction", never a hit for ``skmhe.metrics``) with score ``-inf``.
    """
    import numpy as np

    s = np.array(scores, dtype=np.float64, copy=True)
    if s.ndim != 2:
        raise ValueError(f"scores must be 2-D, got shape {s.shape}")
    n, n_labels = s.shape
    if mask is not None:
        mask = np.asarray(mask, dtype=bool)
        if mask.shape != (n_labels,):
            raise ValueError(f"mask must have shape ({n_labels},), got {mask.shape}")
        s[:, ~mask] = -np.inf
    s[np.isnan(s)] = -np.inf
    kk = min(k, n_labels)
    if kk < n_labels:
        part = np.argpartition(-s, kk - 1, axis=1)[:, :kk]
    else:
        part = np.broadcast_to(np.arange(n_labels), (n, n_labels)).copy()
    part_scores = np.take_along_axis(s, part, axis=1)
    order = np.argsort(-part_scores, axis=1, kind="stable")
    labels = np.full((n, k), -1, dtype=np.int64)
    top = np.full((n, k), -np.inf)
    labels[:, :kk] = np.take_along_axis(part, order, axis=1)
    top[:, :kk] = np.take_along_axis(part_scores, order, axis=1)
    labels[~np.isfinite(top)] = -1
    top[labels < 0] = -np.inf
    return labels, top


def pad_topk(rows, k: int):
    """``(n, k)`` int array from ragged per-row label lists, padded with ``-1``."""
    import numpy as np

    out = np.full((len(rows), k), -1, dtype=np.int64)
    for i, row in enumerate(rows):
        row = list(row)[:k]
        out[i, :len(row)] = row
    return out


def make_keyword_multilabel(n_samples: int, n_labels: int, *, n_features=None,
                            keywords_per_label: int = 3, min_labels: int = 1, max_labels: int = 5,
                            noise_features: float = 5.0, label_power: float = 1.0,
                            random_state=0, return_keywords: bool = False):
    """Synthetic extreme multi-label data on sparse keyword features.

    Every label owns ``keywords_per_label`` random feature ids. A row draws between
    ``min_labels`` and ``max_labels`` labels (duplicates merged) from a power-law popularity
    ``p(rank r) ~ (r + 1) ** -label_power`` over a random ranking of the labels
    (``label_power=0``: uniform), emits the keywords of its labels plus ``Poisson(noise_features)``
    uniform noise features, and is L2-normalised.

    Returns
    -------
    X : csr_matrix of float32, shape (n_samples, n_features)
    Y : csr_matrix of bool, shape (n_samples, n_labels)
    keywords : ndarray of int32, shape (n_labels, keywords_per_label)
        Each label's feature ids; only with ``return_keywords=True``.
    """
    import numpy as np
    import scipy.sparse as sp

    if n_samples < 1 or n_labels < 1:
        raise ValueError("n_samples and n_labels must be >= 1")
    if not 1 <= min_labels <= max_labels:
        raise ValueError("need 1 <= min_labels <= max_labels")
    if n_features is None:
        n_features = int(min(2**17, max(64, 4 * n_labels)))
    rng = np.random.default_rng(random_state)
    keywords = rng.integers(0, n_features, size=(n_labels, keywords_per_label), dtype=np.int32)
    popularity = (np.arange(n_labels, dtype=np.float64) + 1.0) ** -float(label_power)
    cdf = np.cumsum(popularity)
    cdf /= cdf[-1]
    ranking = rng.permutation(n_labels)

    counts = rng.integers(min_labels, max_labels + 1, size=n_samples)
    rows = np.repeat(np.arange(n_samples), counts)
    ranks = np.minimum(np.searchsorted(cdf, rng.random(rows.size), side="right"), n_labels - 1)
    labels = ranking[ranks]
    Y = sp.csr_matrix((np.ones(rows.size, dtype=np.float32), (rows, labels)),
                      shape=(n_samples, n_labels))
    Y.sum_duplicates()
    Y.data[:] = 1
    Y = Y.astype(bool)

    kw_rows = np.repeat(rows, keywords_per_label)
    kw_cols = keywords[labels].ravel()
    n_noise = rng.poisson(noise_features, size=n_samples)
    noise_rows = np.repeat(np.arange(n_samples), n_noise)
    noise_cols = rng.integers(0, n_features, size=noise_rows.size)
    X = sp.csr_matrix(
        (np.ones(kw_rows.size + noise_rows.size, dtype=np.float32),
         (np.concatenate([kw_rows, noise_rows]), np.concatenate([kw_cols, noise_cols]))),
        shape=(n_samples, n_features),
    )
    X.sum_duplicates()
    norms = np.sqrt(np.asarray(X.multiply(X).sum(axis=1)).ravel())
    X = sp.csr_matrix(sp.diags(1.0 / np.maximum(norms, 1e-12)) @ X, dtype=np.float32)
    return (X, Y, keywords) if return_keywords else (X, Y)


def evaluate(Y_test, topk, inv_propensity) -> dict:
    """P@1/3/5, nDCG@5 and PSP@5 of ranked predictions (``skmhe.metrics``)."""
    from skmhe.metrics import ndcg_at_k, precision_at_k, psp_at_k

    return {
        "p@1": precision_at_k(Y_test, topk, k=1),
        "p@3": precision_at_k(Y_test, topk, k=3),
        "p@5": precision_at_k(Y_test, topk, k=5),
        "ndcg@5": ndcg_at_k(Y_test, topk, k=5),
        "psp@5": psp_at_k(Y_test, topk, inv_propensity, k=5),
    }


@contextlib.contextmanager
def _quiet_native(enabled: bool = True):
    """Send native libraries' stdout/stderr (omikuji's Rust logger) to /dev/null."""
    if not enabled:
        yield
        return
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 1)
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in (*saved, devnull):
            os.close(fd)


# --------------------------------------------------------------------------- models
# Each ``fit_predict(data, ctx, **options)`` runs in a child process and returns a dict with
# "topk" ((n_test, K) int label indices, -1 = none), "train_s", "predict_s" and optionally
# "prep_s" and extra information. ``data``: X_train, Y_train, X_test (CSR; Y bool).
# ``ctx``: threads, seed, quick, verbose, skmhe_params.


def _fit_skmhe(data, ctx, **extra):
    import numpy as np
    import torch

    from skmhe import MHEMultiLabelClassifier

    torch.set_num_threads(ctx["threads"])
    params = {**SKMHE_PARAMS, **(SKMHE_QUICK_PARAMS if ctx["quick"] else {}),
              **ctx["skmhe_params"], **extra}
    est = MHEMultiLabelClassifier(**params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with Timer() as fit:
            est.fit(data["X_train"], data["Y_train"])
        with Timer() as pred:
            labels, _ = est.predict_topk(data["X_test"], k=K)
    out = {"topk": np.asarray(labels, dtype=np.int64), "train_s": fit.seconds,
           "predict_s": pred.seconds, "params": {k: repr(v) for k, v in params.items()}}
    out["n_iter_"] = int(est.n_iter_)
    return out


def _fit_omikuji(data, ctx, variant):
    import numpy as np
    import omikuji

    hp = omikuji.Model.default_hyper_param()
    for key, value in OMIKUJI_PARAMS[variant].items():
        setattr(hp, key, value)
    quiet = not ctx["verbose"]
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "train.txt")
        with Timer() as prep:
            write_xc_repo(path, data["X_train"], data["Y_train"])
        with _quiet_native(quiet), Timer() as fit:
            model = omikuji.Model.train_on_data(path, hp, n_threads=ctx["threads"])
    X = data["X_test"]
    with _quiet_native(quiet):
        model.init_prediction_thread_pool(ctx["threads"])
        with Timer() as pred:
            topk = np.full((X.shape[0], K), -1, dtype=np.int64)
            indptr, indices, values = X.indptr, X.indices.tolist(), X.data.tolist()
            for i in range(X.shape[0]):
                lo, hi = indptr[i], indptr[i + 1]
                found = model.predict(list(zip(indices[lo:hi], values[lo:hi], strict=True)),
                                      beam_size=OMIKUJI_BEAM_SIZE, top_k=K)
                topk[i, :len(found)] = [label for label, _ in found]
    return {"topk": topk, "prep_s": prep.seconds, "train_s": fit.seconds,
            "predict_s": pred.seconds, "params": dict(OMIKUJI_PARAMS[variant])}


def _fit_napkinxc_plt(data, ctx):
    from napkinxc.models import PLT

    with Timer() as prep:
        y_lists = label_lists(data["Y_train"])
    with tempfile.TemporaryDirectory() as tmp:
        model = PLT(tmp, threads=ctx["threads"], seed=ctx["seed"], **NAPKINXC_PLT_PARAMS)
        with Timer() as fit:
            model.fit(data["X_train"], y_lists)
        with Timer() as pred:
            found = model.predict(data["X_test"], top_k=K)
    return {"topk": pad_topk(found, K), "prep_s": prep.seconds, "train_s": fit.seconds,
            "predict_s": pred.seconds}


def _fit_ovr_linear_svc(data, ctx):
    import joblib
    import numpy as np
    from sklearn.multiclass import OneVsRestClassifier
    from sklearn.svm import LinearSVC

    Y = data["Y_train"].astype(bool)  # never int8 (wraps past 127 labels and permutes columns)
    n_labels = Y.shape[1]
    seen = np.bincount(Y.indices, minlength=n_labels) > 0
    clf = OneVsRestClassifier(LinearSVC(random_state=ctx["seed"]), n_jobs=ctx["threads"])
    # threads, not processes: liblinear releases the GIL, and the peak RSS stays this process's
    with warnings.catch_warnings(), joblib.parallel_backend("threading", n_jobs=ctx["threads"]):
        warnings.simplefilter("ignore")  # "Label not ... present", ConvergenceWarning
        with Timer() as fit:
            clf.fit(data["X_train"], Y)
        with Timer() as pred:
            decision = np.asarray(clf.decision_function(data["X_test"]), dtype=np.float64)
            scores = np.full((decision.shape[0], n_labels), -np.inf)
            scores[:, np.asarray(clf.classes_, dtype=np.int64)] = decision.reshape(
                decision.shape[0], -1)
            # a label absent from the training split scores 0 and would outrank negatives
            topk, _ = topk_from_scores(scores, K, mask=seen)
    return {"topk": topk, "train_s": fit.seconds, "predict_s": pred.seconds}


@dataclass(frozen=True)
class ModelSpec:
    """A benchmarked model: its ``fit_predict(data, ctx, **options)`` and what it needs."""

    fit_predict: Callable
    options: dict = field(default_factory=dict)
    requires: tuple = ()  # importable module names
    skmhe: bool = False  # needs skmhe.MHEMultiLabelClassifier
    description: str = ""


MODELS: dict[str, ModelSpec] = {
    "skmhe MHC": ModelSpec(_fit_skmhe, skmhe=True, requires=("torch",),
                           description="MHEMultiLabelClassifier(**SKMHE_PARAMS), the cascade"),
    "skmhe flat": ModelSpec(_fit_skmhe, {"n_levels": 1}, skmhe=True, requires=("torch",),
                            description="MHEMultiLabelClassifier(n_levels=1): one BCE head"),
    "omikuji Parabel": ModelSpec(_fit_omikuji, {"variant": "Parabel"}, ("omikuji",),
                                 description="omikuji, balanced 2-means, depth 20, 3 trees"),
    "omikuji Bonsai": ModelSpec(_fit_omikuji, {"variant": "Bonsai"}, ("omikuji",),
                                description="omikuji, unbalanced 100-means, depth 3, 3 trees"),
    "napkinxc PLT": ModelSpec(_fit_napkinxc_plt, requires=("napkinxc",),
                              description="napkinXC PLT, its defaults"),
    "OvR LinearSVC": ModelSpec(_fit_ovr_linear_svc, requires=("sklearn",),
                               description="OneVsRestClassifier(LinearSVC()), threads"),
}
GROUPS = {
    "all": list(MODELS),
    "skmhe": [name for name, spec in MODELS.items() if spec.skmhe],
    "peers": [name for name, spec in MODELS.items() if not spec.skmhe],
}


def _norm_name(name: str) -> str:
    return "".join(ch for ch in name.lower() if ch.isalnum())


def resolve_models(values) -> list[str]:
    """Registry names from ``--models`` values (comma lists, groups, loose spelling)."""
    by_norm = {_norm_name(name): name for name in MODELS}
    chosen = []
    for value in values:
        for item in (v.strip() for v in value.split(",")):
            if not item:
                continue
            names = GROUPS.get(item.lower()) or [by_norm.get(_norm_name(item))]
            if names == [None]:
                raise SystemExit(f"unknown model {item!r}; known: {', '.join(MODELS)} "
                                 f"or groups {', '.join(GROUPS)}")
            chosen += [n for n in names if n not in chosen]
    return chosen


def skmhe_estimator_status() -> str | None:
    """None when ``skmhe.MHEMultiLabelClassifier`` imports, else why not."""
    try:
        from skmhe import MHEMultiLabelClassifier  # noqa: F401
    except Exception as exc:  # ImportError, or a half-written module
        return f"{type(exc).__name__}: {exc}"
    return None


def unavailable(name: str, skmhe_error: str | None) -> tuple[str, str] | None:
    """``(status, reason)`` for a model that cannot run here, or None when it can.

    status: "not installed" (a library is missing) or "not available" (skmhe's estimator
    does not import yet).
    """
    spec = MODELS[name]
    missing = [m for m in spec.requires if importlib.util.find_spec(m) is None]
    if missing:
        return "not installed", f"missing module(s): {', '.join(missing)}"
    if spec.skmhe and skmhe_error is not None:
        return "not available", f"skmhe.MHEMultiLabelClassifier: {skmhe_error}"
    return None


def _run_model(name: str, data: dict, ctx: dict) -> dict:
    """Child process: train and predict one model, measure it."""
    rss_data = rss_mib()
    spec = MODELS[name]
    result = spec.fit_predict(data, ctx, **spec.options)
    result["peak_rss_mib"] = peak_rss_mib()
    result["rss_with_data_mib"] = rss_data
    return result


# --------------------------------------------------------------------------- data


def load_dataset(item: str, args) -> dict:
    """A Mulan set (name or folder) as a dict of matrices, subsampled/normalised per ``args``."""
    import numpy as np

    from skmhe.datasets import load_mulan

    bunch = load_mulan(item)
    name = item if item.lower() in MULAN_NAMES else Path(item).name
    data = {"name": name.lower(), "X_train": bunch.X_train, "Y_train": bunch.Y_train,
            "X_test": bunch.X_test, "Y_test": bunch.Y_test}
    rng = np.random.default_rng(args.seed)
    for split, cap in (("train", args.max_train), ("test", args.max_test)):
        n = data[f"X_{split}"].shape[0]
        if cap and cap < n:
            rows = np.sort(rng.choice(n, size=cap, replace=False))
            data[f"X_{split}"] = data[f"X_{split}"][rows]
            data[f"Y_{split}"] = data[f"Y_{split}"][rows]
    return _finish(data, args)


def synthetic_dataset(args) -> dict:
    n_train, n_test = args.synthetic_rows, args.synthetic_test_rows
    with Timer() as t:
        X, Y = make_keyword_multilabel(n_train + n_test, args.synthetic_labels,
                                       n_features=args.synthetic_features,
                                       random_state=args.seed)
    data = {"name": f"synthetic {args.synthetic_labels:,} labels",
            "X_train": X[:n_train], "Y_train": Y[:n_train],
            "X_test": X[n_train:], "Y_test": Y[n_train:], "generate_s": t.seconds}
    return _finish(data, args, normalize=False)  # already L2-normalised


def _finish(data: dict, args, normalize: bool = True) -> dict:
    import numpy as np
    import scipy.sparse as sp
    from sklearn.preprocessing import normalize as l2_normalize

    for split in ("train", "test"):
        X = sp.csr_matrix(data[f"X_{split}"], dtype=np.float32)
        if normalize and not args.no_normalize:
            X = sp.csr_matrix(l2_normalize(X), dtype=np.float32)
        X.sort_indices()
        Y = sp.csr_matrix(data[f"Y_{split}"], dtype=bool)
        Y.eliminate_zeros()
        Y.sort_indices()
        data[f"X_{split}"], data[f"Y_{split}"] = X, Y
    counts = np.bincount(data["Y_train"].indices, minlength=data["Y_train"].shape[1])
    data["info"] = {
        "n_train": data["X_train"].shape[0], "n_test": data["X_test"].shape[0],
        "n_features": data["X_train"].shape[1], "n_labels": data["Y_train"].shape[1],
        "labels_absent_from_train": int(np.sum(counts == 0)),
        "labels_per_train_row": float(data["Y_train"].nnz / max(1, data["Y_train"].shape[0])),
    }
    if "generate_s" in data:
        data["info"]["generate_s"] = data.pop("generate_s")
    return data


# --------------------------------------------------------------------------- main


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", action="append", default=None,
                   help="Mulan name (bibtex, delicious, corel5k) or folder; repeatable or comma "
                        "list; default: every shared one found")
    p.add_argument("--models", action="append", default=None,
                   help=f"models to run (comma list, repeatable): {', '.join(MODELS)}, or a "
                        f"group ({', '.join(GROUPS)}); default: all (with --synthetic-labels: "
                        "skmhe MHC)")
    p.add_argument("--threads", type=int, default=min(2, os.cpu_count() or 1),
                   help="threads per model (torch, omikuji, napkinxc, OvR jobs)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--max-train", type=int, default=None, help="subsample training rows")
    p.add_argument("--max-test", type=int, default=None, help="subsample test rows")
    p.add_argument("--no-normalize", action="store_true", help="keep raw features (no row L2)")
    p.add_argument("--epochs", type=int, default=None, help="skmhe max_iter")
    p.add_argument("--skmhe-param", action="append", default=[], metavar="KEY=VALUE",
                   help="extra MHEMultiLabelClassifier parameter (VALUE a Python literal)")
    p.add_argument("--synthetic-labels", type=int, default=None,
                   help="also/instead run skmhe MHC on synthetic keyword data with N labels")
    p.add_argument("--synthetic-rows", type=int, default=200_000, help="synthetic training rows")
    p.add_argument("--synthetic-test-rows", type=int, default=20_000)
    p.add_argument("--synthetic-features", type=int, default=None,
                   help="default min(2**17, 4 * labels)")
    p.add_argument("--quick", action="store_true",
                   help=f"toy sizes ({QUICK_TRAIN} train / {QUICK_TEST} test rows per set, "
                        "few epochs): a smoke test")
    p.add_argument("--verbose", action="store_true", help="let the libraries log")
    p.add_argument("--out", default="benchmarks/out",
                   help="folder for bench_xmlc.json and bench_xmlc.md")
    args = p.parse_args(argv)
    if args.quick:
        args.max_train = args.max_train or QUICK_TRAIN
        args.max_test = args.max_test or QUICK_TEST
        if args.synthetic_labels:
            args.synthetic_rows = min(args.synthetic_rows, SYNTHETIC_QUICK_ROWS)
            args.synthetic_test_rows = min(args.synthetic_test_rows, SYNTHETIC_QUICK_TEST)
    args.skmhe_params = {}
    for item in args.skmhe_param:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            p.error(f"--skmhe-param wants KEY=VALUE, got {item!r}")
        try:
            args.skmhe_params[key.strip()] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            args.skmhe_params[key.strip()] = value  # a plain string
    if args.epochs is not None:
        args.skmhe_params.setdefault("max_iter", args.epochs)
    return args


def _data_items(args) -> list[str]:
    if args.data is None:
        return [] if args.synthetic_labels else list(MULAN_NAMES)
    return [v.strip() for value in args.data for v in value.split(",") if v.strip()]


def _missing_data_reason(item: str) -> str | None:
    from skmhe.datasets import find_shared_data

    if item.lower() in MULAN_NAMES:
        if find_shared_data(item.lower()) is None:
            return f"{item}: not found in the shared data folder (set SKMHE_DATA), skipped"
        return None
    if not Path(item).expanduser().is_dir():
        return f"{item}: no such folder (and not one of {', '.join(MULAN_NAMES)}), skipped"
    return None


def run_dataset(data: dict, models: list[str], ctx: dict, skmhe_error, log=print) -> list[dict]:
    """One row per model for one data set (each model in its own process)."""
    import numpy as np

    from skmhe.metrics import inverse_propensity

    inv_prop = inverse_propensity(data["Y_train"])
    payload = {key: data[key] for key in ("X_train", "Y_train", "X_test")}
    rows = []
    for name in models:
        row = {"dataset": data["name"], "model": name}
        missing = unavailable(name, skmhe_error)
        if missing is not None:
            log(f"  {name}: {missing[0]} ({missing[1]})")
            rows.append({**row, "status": missing[0], "reason": missing[1]})
            continue
        log(f"  {name} ...", end=" ", flush=True)
        result = run_isolated(_run_model, name, payload, ctx)
        if "error" in result:
            log(f"failed: {result['error']}")
            rows.append({**row, "status": f"error: {result['error']}"})
            continue
        topk = np.asarray(result.pop("topk"))
        try:
            if topk.shape != (data["X_test"].shape[0], K):
                raise ValueError(f"top-k has shape {topk.shape}, expected "
                                 f"({data['X_test'].shape[0]}, {K})")
            metrics = evaluate(data["Y_test"], topk, inv_prop)
        except ValueError as exc:
            log(f"bad predictions: {exc}")
            rows.append({**row, **result, "status": f"error: bad predictions: {exc}"})
            continue
        row.update(metrics)
        row.update(result)
        row["status"] = "ok"
        log(f"P@1 {metrics['p@1']:.4f}, train {result['train_s']:.2f} s, "
            f"peak RSS {result['peak_rss_mib']:,.0f} MiB")
        rows.append(row)
    return rows


def _versions() -> dict:
    from importlib import metadata

    out = {}
    for dist in ("scipy", "omikuji", "napkinxc", "skmhe"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = None
    return out


def render_markdown(report: dict) -> str:
    info, args = report["machine"], report["args"]
    versions = ", ".join(f"{k} {v}" for k, v in {**{k: info[k] for k in
                         ("python", "torch", "numpy", "scikit-learn")}, **report["versions"]}.items()
                         if v)
    lines = [
        "# bench_xmlc: extreme multi-label classification, skmhe vs peers",
        "",
        f"Date {info['date']}; machine {info['machine']}; {args['threads']} threads per model; "
        f"load average (1, 5, 15 min) {info['load_average']['before']} before, "
        f"{info['load_average']['after']} after (other work on the machine slows timings).",
        f"Versions: {versions}.",
        f"Command: `{report['command']}`",
        "",
        "Each model trained in its own process (peak RSS is its own, data included). Features "
        + ("raw" if args["no_normalize"] else "L2-normalised per row") + "; labels absent from "
        "the training split are masked for OvR. `prep s` (data conversion: omikuji's training "
        "file, napkinxc's label lists) is not part of `train s`; omikuji's `train s` includes "
        "parsing its file, its `predict s` is a per-row Python loop. PSP@5 uses "
        "`inverse_propensity(Y_train)`.",
        "",
    ]
    if report["datasets"]:
        lines.append("| data | train | test | features | labels | labels/row | absent from train |")
        lines.append("| --- | --- | --- | --- | --- | --- | --- |")
        for d in report["datasets"]:
            lines.append(f"| {d['name']} | {d['n_train']:,} | {d['n_test']:,} | {d['n_features']:,}"
                         f" | {d['n_labels']:,} | {d['labels_per_train_row']:.2f} | "
                         f"{d['labels_absent_from_train']} |")
        lines.append("")
    lines.append(markdown_table(report["results"], COLUMNS))
    for note in report["notes"]:
        lines.append(f"\n{note}")
    return "\n".join(lines) + "\n"


def _load_average() -> str:
    try:
        return ", ".join(f"{v:.2f}" for v in os.getloadavg())
    except OSError:  # pragma: no cover
        return "n/a"


def main(argv=None) -> int:
    args = parse_args(argv)
    load_before = _load_average()
    models = resolve_models(args.models) if args.models else (
        ["skmhe MHC"] if args.synthetic_labels else list(MODELS))
    ctx = {"threads": args.threads, "seed": args.seed, "quick": args.quick,
           "verbose": args.verbose, "skmhe_params": args.skmhe_params}
    skmhe_error = skmhe_estimator_status() if any(MODELS[m].skmhe for m in models) else None
    notes = []
    if skmhe_error is not None:
        print(f"skmhe rows not available: {skmhe_error}")

    rows, datasets = [], []
    for item in _data_items(args):
        reason = _missing_data_reason(item)
        if reason is not None:
            print(reason)
            notes.append(reason)
            continue
        data = load_dataset(item, args)
        datasets.append({"name": data["name"], **data["info"]})
        print(f"{data['name']}: {data['info']}", flush=True)
        rows += run_dataset(data, models, ctx, skmhe_error)
        del data
    if args.synthetic_labels:
        data = synthetic_dataset(args)
        datasets.append({"name": data["name"], **data["info"]})
        print(f"{data['name']}: {data['info']}", flush=True)
        syn_rows = run_dataset(data, models, ctx, skmhe_error)
        for row in syn_rows:
            if "peak_rss_mib" in row:
                verdict = "under" if row["peak_rss_mib"] < RSS_TARGET_MIB else "OVER"
                notes.append(f"{row['dataset']}, {row['model']}: peak RSS "
                             f"{row['peak_rss_mib']:,.0f} MiB, {verdict} the "
                             f"{RSS_TARGET_MIB // 1024} GiB target.")
        rows += syn_rows
        del data
    if not datasets:
        notes.append("no data set available: nothing was run")
    for row in rows:
        note = f"{row['model']}: {row['status']} ({row['reason']})" if "reason" in row else None
        if note and note not in notes:
            notes.append(note)

    info = machine_info()
    info["torch_threads"] = args.threads
    info["load_average"] = {"before": load_before, "after": _load_average()}
    report = {
        "command": " ".join(["python -m benchmarks.bench_xmlc", *(argv if argv is not None
                                                                  else sys.argv[1:])]),
        "args": {k: v for k, v in vars(args).items()},
        "machine": info,
        "versions": _versions(),
        "models": {name: MODELS[name].description for name in models},
        "skmhe_params": {**SKMHE_PARAMS, **(SKMHE_QUICK_PARAMS if args.quick else {}),
                         **args.skmhe_params},
        "datasets": datasets,
        "results": rows,
        "notes": notes,
    }
    markdown = render_markdown(report)
    print()
    print(markdown)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "bench_xmlc.json").write_text(json.dumps(report, indent=2, default=repr))
    (out / "bench_xmlc.md").write_text(markdown)
    print(f"results written to {out / 'bench_xmlc.json'} and {out / 'bench_xmlc.md'}")
    failed = [r for r in rows if str(r.get("status", "")).startswith("error")]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
