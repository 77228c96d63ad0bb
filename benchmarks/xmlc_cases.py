"""The data of ``bench_xmlc``: the Mulan sets and the synthetic keyword data, subsampled and
normalised the same way for every model, and the Extreme Classification Repository writer."""

from __future__ import annotations

from pathlib import Path

from ._common import Timer

# numpy/scipy are imported inside the functions: a spawned child only pays for what it uses
# (the peers' children never import torch, so their peak RSS is their own).

K = 5  # top-k asked from every model


MULAN_NAMES = ("bibtex", "delicious", "corel5k")


QUICK_TRAIN, QUICK_TEST = 300, 200


SYNTHETIC_QUICK_ROWS, SYNTHETIC_QUICK_TEST = 2_000, 500


RSS_TARGET_MIB = 8 * 1024  # synthetic run target


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
