"""skmhe.datasets: synthetic extreme classification, digit pairs, Penn Treebank."""

from __future__ import annotations

import gzip
from pathlib import Path
from collections import Counter

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.neighbors import NearestCentroid

from skmhe.datasets import (
    find_shared_data,
    get_data_home,
    load_digit_pairs,
    load_ptb,
    make_extreme_classification,
)
from skmhe.datasets._prototypes import CLASS_CHUNK, ROW_CHUNK

# ---------------------------------------------------------------- make_extreme_classification


def test_dense_shapes_dtypes_and_defaults():
    X, y = make_extreme_classification(random_state=0)
    assert X.shape == (10000, 64) and X.dtype == np.float32 and X.flags.c_contiguous
    assert y.shape == (10000,) and y.dtype == np.int64
    assert y.min() == 0 and y.max() == 999
    counts = np.bincount(y, minlength=1000)
    assert counts.min() == counts.max() == 10  # balanced


@pytest.mark.parametrize("sparse", [False, True])
def test_deterministic_for_int_seed(sparse):
    kw = dict(n_samples=600, n_classes=50, sparse=sparse)
    X1, y1 = make_extreme_classification(**kw, random_state=3)
    X2, y2 = make_extreme_classification(**kw, random_state=3)
    X3, y3 = make_extreme_classification(**kw, random_state=4)
    if sparse:  # compare the CSR arrays (densifying 2**16 columns would be slow)
        X1, X2, X3 = (np.concatenate([X.data.view(np.int32), X.indices, X.indptr]) for X in (X1, X2, X3))
    np.testing.assert_array_equal(X1, X2)
    np.testing.assert_array_equal(y1, y2)
    assert not np.array_equal(X1, X3)


def test_generator_and_global_state():
    state = np.random.get_state()[1].copy()
    rng = np.random.default_rng(0)
    X1, _ = make_extreme_classification(100, n_classes=10, random_state=rng)
    X2, _ = make_extreme_classification(100, n_classes=10, random_state=rng)  # generator advanced
    assert not np.array_equal(X1, X2)
    make_extreme_classification(100, n_classes=10, random_state=np.random.RandomState(0))
    make_extreme_classification(100, n_classes=10)
    np.testing.assert_array_equal(np.random.get_state()[1], state)  # global RNG untouched


@pytest.mark.parametrize("imbalance", [0.0, 1.0, 2.5])
@pytest.mark.parametrize("shuffle", [False, True])
def test_every_class_present(imbalance, shuffle):
    X, y = make_extreme_classification(
        3000, n_features=4, n_classes=1000, imbalance=imbalance, shuffle=shuffle, random_state=0
    )
    counts = np.bincount(y, minlength=1000)
    assert counts.min() >= 1 and counts.sum() == 3000
    if imbalance == 0.0:
        assert counts.max() - counts.min() <= 1
    else:  # power law: class 0 the largest, long tail
        assert counts[0] == counts.max() and counts[0] > 10 * np.median(counts)
        assert np.all(np.diff(counts) <= 1)
    if not shuffle:
        assert np.all(np.diff(y) >= 0)


def test_fewer_samples_than_classes():
    _, y = make_extreme_classification(50, n_features=4, n_classes=1000, random_state=0)
    assert np.unique(y).size == 50  # balanced: 50 distinct classes
    _, y = make_extreme_classification(50, n_features=4, n_classes=1000, imbalance=1.0, random_state=0)
    assert y.min() == 0 and np.bincount(y)[0] >= np.bincount(y).max()


def test_prototypes_consistent_across_chunks():
    # noise=0: every sample equals its class prototype, also across class and row chunks
    n_classes = CLASS_CHUNK + 500
    X, y = make_extreme_classification(
        2 * n_classes, n_features=8, n_classes=n_classes, noise=0.0, random_state=1
    )
    first = np.full(n_classes, -1)
    first[y[::-1]] = np.arange(y.size)[::-1]  # first row of each class
    np.testing.assert_array_equal(X, X[first[y]])
    assert np.unique(X, axis=0).shape[0] == n_classes  # distinct prototypes
    # one class larger than a row chunk
    X, y = make_extreme_classification(
        2 * ROW_CHUNK, n_features=3, n_classes=3, imbalance=4.0, noise=0.0, random_state=0
    )
    assert np.bincount(y)[0] > ROW_CHUNK
    np.testing.assert_array_equal(X[y == 0], np.broadcast_to(X[np.argmax(y == 0)], X[y == 0].shape))


@pytest.mark.parametrize("shuffle", [False, True])
def test_informative_columns(shuffle):
    X, y = make_extreme_classification(
        200, n_features=10, n_classes=5, n_informative=3, noise=0.0, shuffle=shuffle, random_state=0
    )
    used = np.flatnonzero(np.abs(X).sum(axis=0) > 0)
    assert used.size == 3
    if not shuffle:
        np.testing.assert_array_equal(used, [0, 1, 2])


def _nearest_class_mean_accuracy(X, y, random_state=0):
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.3, stratify=y, random_state=random_state)
    classes = np.unique(y_tr)
    means = np.stack([X_tr[y_tr == c].mean(axis=0) for c in classes])
    d = ((X_te[:, None, :] - means[None]) ** 2).sum(-1)
    return np.mean(classes[d.argmin(1)] == y_te)


def test_dense_is_learnable():
    X, y = make_extreme_classification(2000, n_features=32, n_classes=20, random_state=0)
    assert _nearest_class_mean_accuracy(X, y) > 0.9  # chance: 0.05
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.3, stratify=y, random_state=0)
    assert LogisticRegression(max_iter=300).fit(X_tr, y_tr).score(X_te, y_te) > 0.8
    # more noise: harder but still well above chance
    X, y = make_extreme_classification(2000, n_features=32, n_classes=20, noise=3.0, random_state=0)
    assert 0.25 < _nearest_class_mean_accuracy(X, y) < 0.99


@pytest.mark.filterwarnings("ignore:self.within_class_std_dev_:UserWarning")
def test_sparse_format_and_learnable():
    X, y = make_extreme_classification(
        2000, n_features=2**12, n_classes=20, sparse=True, density=0.01, random_state=0
    )
    assert sp.issparse(X) and X.format == "csr" and X.dtype == np.float32
    assert X.shape == (2000, 2**12) and X.has_canonical_format
    assert X.indices.dtype == np.int32
    nnz = np.diff(X.indptr)
    assert nnz.min() >= 1 and 20 < nnz.mean() < 41  # <= 41 tokens a row on average, repeats merge
    assert (X.data > 0).all()
    np.testing.assert_allclose(sp.linalg.norm(X, axis=1), 1.0, rtol=1e-5)
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.3, stratify=y, random_state=0)
    assert NearestCentroid().fit(X_tr, y_tr).score(X_te, y_te) > 0.8  # chance: 0.05


def test_sparse_defaults_and_keyword_share():
    X, _ = make_extreme_classification(300, n_classes=30, sparse=True, random_state=0)
    assert X.shape == (300, 2**16)
    # noise=0: only keywords, so each row has at most n_informative distinct features
    X, y = make_extreme_classification(
        300, n_features=2**12, n_classes=30, sparse=True, density=0.01, n_informative=5, noise=0.0,
        random_state=0,
    )
    assert np.diff(X.indptr).max() <= 5
    for c in range(3):  # a class's rows only use its own keywords
        assert np.unique(X[y == c].indices).size <= 5


def test_scales_to_many_classes():
    X, y = make_extreme_classification(100_000, n_features=16, n_classes=100_000, random_state=0)
    assert X.shape == (100_000, 16) and np.unique(y).size == 100_000


@pytest.mark.parametrize(
    "kwargs, name",
    [
        (dict(n_samples=0), "n_samples"),
        (dict(n_samples=1.5), "n_samples"),
        (dict(n_classes=0), "n_classes"),
        (dict(n_features=0), "n_features"),
        (dict(n_features=True), "n_features"),
        (dict(n_informative=0), "n_informative"),
        (dict(n_features=8, n_informative=9), "n_informative"),
        (dict(class_sep=-1.0), "class_sep"),
        (dict(noise=-0.1), "noise"),
        (dict(noise=float("nan")), "noise"),
        (dict(density=0.0), "density"),
        (dict(density=1.5), "density"),
        (dict(imbalance=-1.0), "imbalance"),
        (dict(sparse="yes"), "sparse"),
        (dict(shuffle=1), "shuffle"),
        (dict(random_state="seed"), "random_state"),
        (dict(sparse=True, n_features=100, density=0.001), "density"),
        (dict(sparse=True, class_sep=0.0, noise=0.0), "class_sep"),
    ],
)
def test_invalid_parameters(kwargs, name):
    with pytest.raises(ValueError, match=name):
        make_extreme_classification(**{"n_samples": 10, "n_classes": 3, **kwargs})


@settings(max_examples=30, deadline=None)
@given(
    n_samples=st.integers(1, 300),
    n_classes=st.integers(1, 200),
    imbalance=st.sampled_from([0.0, 0.5, 1.0, 3.0]),
    sparse=st.booleans(),
    seed=st.integers(0, 2**32 - 1),
)
def test_label_properties(n_samples, n_classes, imbalance, sparse, seed):
    X, y = make_extreme_classification(
        n_samples, n_features=64, n_classes=n_classes, imbalance=imbalance, sparse=sparse, density=0.2,
        random_state=seed,
    )
    assert X.shape == (n_samples, 64) and y.shape == (n_samples,)
    assert y.min() >= 0 and y.max() < n_classes
    if n_samples >= n_classes or imbalance == 0.0:
        assert np.unique(y).size == min(n_samples, n_classes)
    else:  # too few samples: the largest shares win, class 0 first
        assert y.min() == 0


# ---------------------------------------------------------------- load_digit_pairs


@pytest.fixture(scope="module")
def digit_pairs():
    return load_digit_pairs(3000, 1000, random_state=0)


def test_digit_pairs_shapes_and_labels(digit_pairs):
    X_train, X_test, y_train, y_test = digit_pairs
    assert X_train.shape == (3000, 128) and X_test.shape == (1000, 128)
    assert X_train.dtype == X_test.dtype == np.float32
    assert y_train.dtype == y_test.dtype == np.int64
    assert 0.0 <= X_train.min() and X_train.max() <= 1.0 and X_train.max() > 0.9
    for y, n in ((y_train, 3000), (y_test, 1000)):
        counts = np.bincount(y, minlength=100)
        assert counts.size == 100 and counts.min() == counts.max() == n // 100


def test_digit_pairs_are_real_digits_without_leakage(digit_pairs):
    X_train, X_test, y_train, y_test = digit_pairs
    digits = load_digits()
    lookup = {(row / 16.0).astype(np.float32).tobytes(): int(d) for row, d in zip(digits.data, digits.target)}
    seen = {}
    for name, X, y in (("train", X_train, y_train), ("test", X_test, y_test)):
        halves = [X[:, :64], X[:, 64:]]
        for half, digit in zip(halves, (y // 10, y % 10)):
            found = np.array([lookup[row.tobytes()] for row in half])
            np.testing.assert_array_equal(found, digit)
        seen[name] = {row.tobytes() for half in halves for row in half}
    assert not seen["train"] & seen["test"]
    assert len(seen["test"]) <= int(np.ceil(0.3 * 1797))


def test_digit_pairs_deterministic(digit_pairs):
    again = load_digit_pairs(3000, 1000, random_state=0)
    for a, b in zip(digit_pairs, again):
        np.testing.assert_array_equal(a, b)
    other = load_digit_pairs(3000, 1000, random_state=1)
    assert not np.array_equal(other[0], digit_pairs[0])


@pytest.mark.parametrize(
    "kwargs, name",
    [(dict(n_train=0), "n_train"), (dict(n_test=-1), "n_test"), (dict(test_size=0.0), "test_size"),
     (dict(test_size=1.0), "test_size"), (dict(test_size=0.001), "test_size")],
)
def test_digit_pairs_invalid(kwargs, name):
    with pytest.raises(ValueError, match=name):
        load_digit_pairs(**{"n_train": 100, "n_test": 100, **kwargs})


# ------------------------------------------------ find_shared_data / load_ptb on a tiny corpus


def _write_corpus(folder, texts):
    folder.mkdir(parents=True)
    for split, text in texts.items():
        with gzip.open(folder / f"ptb.{split}.txt.gz", "wt") as f:
            f.write(text)


TINY = {"train": " b a <unk>\n a c\n", "valid": " a z\n", "test": " c b a\n"}


def test_tiny_corpus_and_env_var(tmp_path, monkeypatch):
    _write_corpus(tmp_path / "ptb", TINY)
    monkeypatch.setenv("SKMHE_DATA", str(tmp_path))
    assert find_shared_data("ptb") == tmp_path / "ptb"
    data = load_ptb(context=2, subset=("train", "valid", "test"))
    # counts: a 2, <eos> 2, <unk> 1, b 1, c 1 -> ties broken by the word
    assert data.vocabulary == ["<eos>", "a", "<unk>", "b", "c"]
    V = 5
    ids = {w: i for i, w in enumerate(data.vocabulary)}
    train = ["b", "a", "<unk>", "<eos>", "a", "c", "<eos>"]
    np.testing.assert_array_equal(data.y_train, [ids[w] for w in train])
    padded = ["<eos>", "<eos>"] + train
    expected = np.zeros((7, 2 * V), dtype=np.float32)
    for t in range(7):
        for p in range(2):
            expected[t, p * V + ids[padded[t + p]]] = 1.0
    np.testing.assert_array_equal(data.X_train.toarray(), expected)
    np.testing.assert_array_equal(data.y_valid, [ids["a"], ids["<unk>"], ids["<eos>"]])  # OOV 'z' -> <unk>
    assert data.X_test.shape == (4, 2 * V)
    assert data.context == 2 and data.path == tmp_path / "ptb"
    small = load_ptb(tmp_path / "ptb", context=1, subset="test", max_samples=2)
    assert set(small) >= {"X_test", "y_test", "vocabulary"} and "X_train" not in small
    assert small.X_test.shape == (2, V)


def test_ptb_missing_files(tmp_path, monkeypatch):
    with pytest.raises(FileNotFoundError, match="nowhere"):
        load_ptb(tmp_path / "nowhere")
    _write_corpus(tmp_path / "ptb", {"train": TINY["train"]})
    with pytest.raises(FileNotFoundError, match="ptb.test.txt.gz"):
        load_ptb(tmp_path / "ptb")
    assert load_ptb(tmp_path / "ptb", subset=["train"]).X_train.shape[0] == 7
    monkeypatch.setenv("SKMHE_DATA", str(tmp_path / "empty"))
    assert find_shared_data("nosuchdataset") is None


def test_data_home(tmp_path, monkeypatch):
    monkeypatch.delenv("SKMHE_DATA", raising=False)
    assert get_data_home() == Path("~/skmhe_data").expanduser()
    monkeypatch.setenv("SKMHE_DATA", str(tmp_path))
    assert get_data_home() == tmp_path
    assert get_data_home(tmp_path / "other") == tmp_path / "other"  # an explicit folder wins
    _write_corpus(tmp_path / "other" / "ptb", TINY)
    assert find_shared_data("ptb") is None
    assert find_shared_data("ptb", data_home=tmp_path / "other") == tmp_path / "other" / "ptb"
    assert load_ptb(context=1, data_home=tmp_path / "other").path == tmp_path / "other" / "ptb"
    with pytest.raises(FileNotFoundError, match="data_home"):
        load_ptb()


@pytest.mark.parametrize(
    "kwargs, name",
    [(dict(context=0), "context"), (dict(subset=("train", "dev")), "subset"), (dict(subset=()), "subset"),
     (dict(max_samples=0), "max_samples")],
)
def test_ptb_invalid(tmp_path, kwargs, name):
    _write_corpus(tmp_path / "ptb", TINY)
    with pytest.raises(ValueError, match=name):
        load_ptb(tmp_path / "ptb", **kwargs)


# ------------------------------------------------ load_ptb on the real data (skipped when absent)

PTB = find_shared_data("ptb")
needs_ptb = pytest.mark.skipif(
    PTB is None or not (PTB / "ptb.train.txt.gz").is_file(),
    reason=f"ptb/ not found in the data home {get_data_home()} (set SKMHE_DATA or place ptb.*.txt.gz there)",
)


@pytest.fixture(scope="module")
def ptb():
    return load_ptb(context=3, subset=("train", "valid", "test"), max_samples=2000)


def _first_tokens(split, n):
    tokens = []
    with gzip.open(PTB / f"ptb.{split}.txt.gz", "rt") as f:
        for line in f:
            tokens.extend(line.split() + ["<eos>"])
            if len(tokens) >= n:
                break
    return tokens[:n]


@needs_ptb
def test_ptb_shapes(ptb):
    V = len(ptb.vocabulary)
    assert V == 10000 and len(set(ptb.vocabulary)) == V
    assert {"<unk>", "<eos>"} <= set(ptb.vocabulary) and ptb.vocabulary[0] == "the"
    for split in ("train", "valid", "test"):
        X, y = ptb[f"X_{split}"], ptb[f"y_{split}"]
        assert sp.issparse(X) and X.format == "csr" and X.dtype == np.float32
        assert X.shape == (2000, 3 * V) and y.shape == (2000,) and y.dtype == np.int64
        np.testing.assert_array_equal(np.diff(X.indptr), 3)
        assert (X.data == 1).all() and X.has_canonical_format
        assert 0 <= y.min() and y.max() < V


@needs_ptb
@pytest.mark.parametrize("split", ["train", "test"])
def test_ptb_decodes_to_text(ptb, split):
    V, vocab = len(ptb.vocabulary), np.array(ptb.vocabulary)
    tokens = _first_tokens(split, 2000)
    X, y = ptb[f"X_{split}"], ptb[f"y_{split}"]
    assert vocab[y].tolist() == tokens
    padded = ["<eos>"] * 3 + tokens
    for t in [0, 1, 2, 3, 17, 500, 1999]:
        cols = X.indices[X.indptr[t] : X.indptr[t + 1]]
        np.testing.assert_array_equal(cols // V, [0, 1, 2])
        assert vocab[cols % V].tolist() == padded[t : t + 3]


@needs_ptb
def test_ptb_vocabulary_by_frequency(ptb):
    with gzip.open(PTB / "ptb.train.txt.gz", "rt") as f:
        counts = Counter(w for line in f for w in line.split() + ["<eos>"])
    freq = [counts[w] for w in ptb.vocabulary]
    assert freq == sorted(freq, reverse=True) and sum(freq) == 929589


@needs_ptb
def test_ptb_full_test_split():
    data = load_ptb(context=2, subset="test")
    assert data.X_test.shape == (82430, 20000) and data.y_test.shape == (82430,)
