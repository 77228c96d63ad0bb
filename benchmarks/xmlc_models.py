"""The models of ``bench_xmlc`` (a registry ``name -> ModelSpec``) and what they are trained with.

Each ``fit_predict(data, ctx, **options)`` runs in a child process and returns a dict with
"topk" ((n_test, K) int label indices, -1 = none), "train_s", "predict_s" and optionally
"prep_s" and extra information. ``data``: X_train, Y_train, X_test (CSR; Y bool).
``ctx``: threads, seed, quick, verbose, skmhe_params.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import sys
import tempfile
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field

from ._common import Timer, peak_rss_mib, rss_mib
from .xmlc_cases import K, label_lists, write_xc_repo

# numpy/scipy are imported inside the functions: a spawned child only pays for what it uses
# (the peers' children never import torch, so their peak RSS is their own).

#: Parameters of ``skmhe.MHEMultiLabelClassifier`` for both skmhe rows (edit here, or
#: ``--skmhe-param key=value`` on the command line). ``skmhe flat`` adds ``n_levels=1``.
SKMHE_PARAMS: dict = {
    "random_state": 0,
    "max_iter": 10,
    "batch_size": 64,
    "learning_rate_init": 1e-3,
    "learning_rate": "constant",
    "early_stopping": False,
    "n_levels": 2,  # the cascade ("skmhe flat" sets 1)
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


def _cpu(fit: Timer, pred: Timer) -> dict:
    """CPU seconds (every thread of the process) of training and prediction."""
    return {"train_cpu_s": fit.cpu_seconds, "predict_cpu_s": pred.cpu_seconds}


def _fit_skmhe(data, ctx, defaults: bool = False, **extra):
    """skmhe row: ``SKMHE_PARAMS`` (``defaults=True``: only ``random_state=0``), then
    ``ctx["skmhe_params"]`` (``--skmhe-param``), then ``extra``."""
    import numpy as np
    import torch

    from skmhe import MHEMultiLabelClassifier

    torch.set_num_threads(ctx["threads"])
    base = {"random_state": 0} if defaults else {**SKMHE_PARAMS, **(SKMHE_QUICK_PARAMS if ctx["quick"] else {})}
    params = {**base, **ctx["skmhe_params"], **extra}
    est = MHEMultiLabelClassifier(**params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with Timer() as fit:
            est.fit(data["X_train"], data["Y_train"])
        with Timer() as pred:
            labels, _ = est.predict_topk(data["X_test"], k=K)
    out = {"topk": np.asarray(labels, dtype=np.int64), "train_s": fit.seconds,
           "predict_s": pred.seconds, "params": {k: repr(v) for k, v in params.items()},
           **_cpu(fit, pred)}
    if hasattr(est, "n_iter_"):
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
            "predict_s": pred.seconds, "params": dict(OMIKUJI_PARAMS[variant]), **_cpu(fit, pred)}


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
            "predict_s": pred.seconds, **_cpu(fit, pred)}


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
