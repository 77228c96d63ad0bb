"""napkinXC's probabilistic label tree (PLT) and hierarchical softmax (HSM) as outside peers of
``bench_methods.py`` on single-label data.

napkinXC trains linear node classifiers on the input features themselves (no hidden layer), so
it is a peer on the same data, not on the same backbone. Its models predict the top labels by a
tree search; the probability of every label (for the perplexity) needs a full enumeration, which
costs ~6 ms a row on PTB, so the perplexity is measured on the first ``ppl_rows`` test rows only.
HSM's probabilities are normalised (a softmax at each tree node). PLT's are per-label marginals
that do not sum to one over the labels (0.57-1.41 on PTB); its perplexity is that of the
renormalised scores and says less.
"""

from __future__ import annotations

import contextlib
import io
import tempfile
import time
from pathlib import Path

import numpy as np

#: napkinXC model class of each benchmark kind
NAPKINXC_KINDS = {"plt": "PLT", "hsm": "HSM"}


def _folder_mib(folder: str) -> float:
    return sum(p.stat().st_size for p in Path(folder).rglob("*") if p.is_file()) / 2**20


def _true_label_probability(found: list, labels: np.ndarray, renormalise: bool) -> np.ndarray:
    """``p(y_i | x_i)`` from napkinXC's ``(label, probability)`` lists of every label."""
    out = np.empty(len(labels))
    for i, (row, label) in enumerate(zip(found, labels)):
        probs = dict(row)
        total = sum(probs.values()) if renormalise else 1.0
        out[i] = probs.get(int(label), 0.0) / total if total > 0 else 0.0
    return out


def fit_napkinxc(kind: str, data: dict, *, threads: int, seed: int, k: int, ppl_rows: int) -> dict:
    """Train napkinXC's ``kind`` model (``"plt"`` or ``"hsm"``, its defaults) and measure it.

    Returns the benchmark's row fields: ``labels`` (top-``k`` of every test row), ``log_p``
    (log-probability of the true label on the first ``ppl_rows`` test rows), ``train_s``,
    ``train_cpu_s``, ``eval_s``, ``model_mib`` (the saved model's size) and ``ppl_rows``.
    """
    import napkinxc.models

    model_class = getattr(napkinxc.models, NAPKINXC_KINDS[kind])
    X_tr, y_tr, X_te, y_te = data["X_train"], data["y_train"], data["X_test"], data["y_test"]
    y_lists = [[int(v)] for v in np.asarray(y_tr)]
    with tempfile.TemporaryDirectory() as folder:
        model = model_class(folder, threads=threads, seed=seed)
        cpu0, t0 = time.process_time(), time.perf_counter()
        model.fit(X_tr, y_lists)
        train_s, train_cpu_s = time.perf_counter() - t0, time.process_time() - cpu0
        t0 = time.perf_counter()
        found = model.predict(X_te, top_k=k)
        labels = np.full((X_te.shape[0], k), -1, dtype=np.int64)
        for i, row in enumerate(found):
            labels[i, : len(row)] = row
        rows = min(ppl_rows, X_te.shape[0])
        with contextlib.redirect_stdout(io.StringIO()):  # its "this will predict all labels"
            every = model.predict_proba(X_te[:rows], top_k=0, threshold=0)
        log_p = np.log(np.maximum(
            _true_label_probability(every, np.asarray(y_te)[:rows], renormalise=kind == "plt"), 1e-12))
        eval_s = time.perf_counter() - t0
        model_mib = _folder_mib(folder)
    return {"labels": labels, "log_p": log_p, "train_s": train_s, "train_cpu_s": train_cpu_s,
            "eval_s": eval_s, "model_mib": model_mib, "ppl_rows": rows}
