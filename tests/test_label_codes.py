"""Data-aware label codes: the code step (skmhe._label_codes), the codec's label order, the estimators."""

from __future__ import annotations

import math
import pickle

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from _strategies import factor_tuples, max_examples
from skmhe import LabelCodec, MHEClassifier, MHEMultiLabelClassifier
from skmhe._label_codes import additive_codes, hierarchical_codes, label_representations
from skmhe._radix import strides

# tiny networks; and one thread whatever the load, so that two fits compared bit for bit
# split their sums alike (n_jobs=None follows the load)
pytestmark = pytest.mark.usefixtures("one_thread")

SETTINGS = settings(deadline=None, max_examples=max_examples(25))
BUILDERS = {"hierarchical": hierarchical_codes, "additive": additive_codes}


def purity(assigned: np.ndarray, truth: np.ndarray) -> float:
    """Share of labels whose ``assigned`` block agrees with the majority ``truth`` of that block."""
    return sum(np.bincount(truth[assigned == v]).max() for v in np.unique(assigned)) / truth.size


# --------------------------------------------------------------------------- the code step


@SETTINGS
@given(factor_tuples(max_heads=4, max_factor=12, max_codes=600), st.data())
def test_codes_are_a_bijection_onto_the_valid_codes(factors, data):
    """Every builder gives each label a distinct code below n_labels (C prime, C < prod, H = 1..4)."""
    n = data.draw(st.integers(1, math.prod(factors)), label="n_labels")
    d = data.draw(st.integers(1, 6), label="d")
    V = np.random.default_rng(data.draw(st.integers(0, 99))).standard_normal((n, d))
    for name, build in BUILDERS.items():
        codes = build(V, factors, seed=0)
        assert codes.dtype == np.int64 and codes.shape == (n,), name
        np.testing.assert_array_equal(np.sort(codes), np.arange(n), err_msg=name)


@SETTINGS
@given(st.integers(2, 9), st.integers(2, 9), st.integers(0, 10_000))
def test_codes_follow_the_labels_not_their_positions(n_groups, size, seed):
    """Renaming the labels (permuting V's rows) moves the codes with them."""
    rng = np.random.default_rng(seed)
    n = n_groups * size - rng.integers(0, size)
    V = rng.standard_normal((n, 5))
    perm = rng.permutation(n)
    for name, build in BUILDERS.items():
        codes = build(V, (n_groups, size), seed=3)
        np.testing.assert_array_equal(build(V[perm], (n_groups, size), seed=3), codes[perm], err_msg=name)


@pytest.mark.parametrize("factors", [(4, 5), (3, 4, 5)])
def test_hierarchical_codes_put_each_planted_cluster_in_one_block(factors):
    """Tight clusters exactly as large as the last-level groups end up one per group."""
    size = factors[-1]
    n_clusters = math.prod(factors) // size
    rng = np.random.default_rng(0)
    centres = rng.standard_normal((n_clusters, 8)) * 10
    truth = np.repeat(np.arange(n_clusters), size)
    V = centres[truth] + 0.01 * rng.standard_normal((truth.size, 8))
    perm = rng.permutation(truth.size)
    codes = hierarchical_codes(V[perm], factors, seed=0)
    assert purity(codes // size, truth[perm]) == 1.0


def test_additive_codes_recover_a_planted_sum_of_digit_vectors():
    """Vectors A[a] + B[b] (separate subspaces), shuffled: the digits are (a, b) up to renaming."""
    rng = np.random.default_rng(1)
    A, B = rng.standard_normal((6, 16)), rng.standard_normal((7, 16))
    A[:, 8:], B[:, :8] = 0.0, 0.0  # digits in separate subspaces, as in digit pairs
    a, b = np.divmod(np.arange(42), 7)
    perm = rng.permutation(42)
    V = (A[a] + B[b])[perm] + 0.01 * rng.standard_normal((42, 16))
    codes = additive_codes(V, (6, 7), seed=0)
    d0, d1 = np.divmod(codes, 7)
    assert purity(d0, a[perm]) == 1.0 and purity(d1, b[perm]) == 1.0


def test_label_representations_are_class_means_of_normalised_rows():
    """Without projection: centred, unit-norm means of each label's L2-normalised rows; sparse == dense."""
    rng = np.random.default_rng(2)
    X = rng.random((30, 4))
    y = rng.integers(0, 3, 30)
    Y = sp.csr_matrix((np.ones(30), (np.arange(30), y)), shape=(30, 4))  # label 3 has no rows
    rows = X / np.linalg.norm(X, axis=1, keepdims=True)
    means = np.stack([rows[y == k].mean(axis=0) for k in range(3)])
    means -= means.mean(axis=0)
    expected = means / np.linalg.norm(means, axis=1, keepdims=True)
    V = label_representations(X, Y, n_components=8, seed=0)
    np.testing.assert_allclose(V[:3], expected, atol=1e-12)
    np.testing.assert_array_equal(V[3], 0.0)
    np.testing.assert_allclose(label_representations(sp.csr_matrix(X), Y, 8, 0), V, atol=1e-12)
    assert label_representations(sp.csr_matrix(X), Y, n_components=2, seed=0).shape == (4, 2)


# --------------------------------------------------------------------------- the codec


@SETTINGS
@given(factor_tuples(max_heads=3, max_factor=10), st.data())
def test_codec_maps_labels_through_its_order_and_back(factors, data):
    n_codes = math.prod(factors)
    n = data.draw(st.integers(1, n_codes))
    order = np.asarray(data.draw(st.permutations(range(n))), dtype=np.int64)
    codec = LabelCodec(factors, order)
    labels = np.arange(n)
    np.testing.assert_array_equal(codec.to_codes(labels), order)
    np.testing.assert_array_equal(codec.to_labels(order), labels)
    np.testing.assert_array_equal(codec.decode(codec.encode(labels)), labels)
    digits = codec.encode(labels)
    np.testing.assert_array_equal((digits * np.asarray(strides(factors))).sum(axis=1), order)
    assert codec == pickle.loads(pickle.dumps(codec)) and codec != LabelCodec(factors)


def test_codec_refuses_a_bad_order_and_padding():
    with pytest.raises(ValueError, match="permutation"):
        LabelCodec((2, 3), [0, 0, 1])
    with pytest.raises(ValueError, match="only 6 codes"):
        LabelCodec((2, 3), np.arange(7))
    with pytest.raises(ValueError, match="1-D array of ints"):
        LabelCodec((2, 3), [0.0, 1.0])
    codec = LabelCodec((2, 3), [2, 0, 1, 3])
    with pytest.raises(ValueError, match="padding"):
        codec.to_labels([4])
    with pytest.raises(ValueError, match="outside"):
        codec.encode([4])


def test_codec_pickled_before_label_orders_loads():
    codec = LabelCodec((3, 4))
    state = dict(codec.__dict__)
    del state["order"], state["_labels_of_codes"]
    old = LabelCodec.__new__(LabelCodec)
    old.__setstate__(state)
    assert old.order is None and old == codec
    np.testing.assert_array_equal(old.encode([5]), [[1, 1]])


# --------------------------------------------------------------------------- the estimators


def _blobs(n_classes=23, per_class=12, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((n_classes, 10)) * 3
    y = np.repeat(np.arange(n_classes), per_class)
    X = (centres[y] + rng.standard_normal((y.size, 10))).astype(np.float32)
    return X, y


def _small(**kw):
    return MHEClassifier(**{"hidden_layer_sizes": (16,), "max_iter": 3, "random_state": 0, **kw})


@pytest.mark.parametrize("method", ["product", "cascade", "sampling"])
def test_given_order_is_the_identity_code_bit_for_bit(method):
    """``label_order="given"`` and the classes listed in sorted order give the same model."""
    X, y = _blobs()
    given_ = _small(method=method, label_order="given").fit(X, y)
    listed = _small(method=method, label_order=np.unique(y)).fit(X, y)
    assert given_.codec_.order is None
    np.testing.assert_array_equal(listed.codec_.order, np.arange(23))
    np.testing.assert_array_equal(given_.predict_proba(X), listed.predict_proba(X))


@pytest.mark.parametrize("method", ["product", "cascade", "sampling"])
def test_auto_order_is_equivariant_to_renaming_the_classes(method):
    """The same data with the classes renamed: the same model, its columns in the new order."""
    X, y = _blobs()
    rename = np.random.default_rng(5).permutation(23)
    names = np.array([f"c{k:02d}" for k in rename])  # class k is called names[k]
    first = _small(method=method).fit(X, y)
    second = _small(method=method).fit(X, names[y])
    assert first.codec_.order is not None
    columns = np.searchsorted(second.classes_, names[first.classes_])
    renamed = second.predict_proba(X)[:, columns]
    np.testing.assert_allclose(renamed, first.predict_proba(X), rtol=1e-6, atol=1e-9)
    np.testing.assert_array_equal(second.predict(X), names[first.predict(X)])


@pytest.mark.parametrize("method", ["product", "cascade", "sampling"])
def test_auto_order_answers_in_the_classes_own_space(method):
    """Top-k over every class returns each class once (no padding code), matching predict_proba."""
    X, y = _blobs()
    clf = _small(method=method, max_iter=30).fit(X, y)
    assert clf.codec_.n_codes > 23 and not np.array_equal(clf.codec_.order, np.arange(23))
    labels, proba = clf.predict_topk(X[:7], k=23)
    assert all(sorted(row) == list(range(23)) for row in labels.tolist())
    dense = clf.predict_proba(X[:7])
    np.testing.assert_allclose(np.take_along_axis(dense, labels, axis=1), proba, rtol=1e-9)
    likelihood = np.exp(clf.log_likelihood(X[:7], y[:7]))
    np.testing.assert_allclose(likelihood, dense[np.arange(7), y[:7]], rtol=1e-9)
    assert clf.score(X, y) > 0.5  # well above chance (1/23)


def test_order_survives_pickling_and_partial_fit():
    X, y = _blobs()
    clf = MHEClassifier(hidden_layer_sizes=(16,), random_state=0)
    clf.partial_fit(X, y, classes=np.arange(23))
    order = clf.codec_.order.copy()
    loaded = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(loaded.codec_.order, order)
    np.testing.assert_array_equal(loaded.predict_proba(X), clf.predict_proba(X))
    clf.partial_fit(X, y)
    np.testing.assert_array_equal(clf.codec_.order, order)


def test_bad_label_order_is_refused_and_the_model_kept():
    X, y = _blobs()
    clf = _small().fit(X, y)
    before = clf.predict_proba(X)
    for bad, match in ((np.arange(22), "list the 23 classes"), (np.r_[np.arange(22), 0], "permutation")):
        with pytest.raises(ValueError, match=match):
            clf.set_params(label_order=bad).fit(X, y)
        np.testing.assert_array_equal(clf.predict_proba(X), before)


def test_multilabel_auto_order_keeps_the_label_space():
    """The cascade's groups are clusters; Y's columns and the answers stay the user's labels."""
    rng = np.random.default_rng(0)
    n, L = 300, 40
    Y = sp.random(n, L, density=0.08, random_state=1, format="csr", data_rvs=np.ones)
    Y = Y + sp.csr_matrix((np.ones(n), (np.arange(n), rng.integers(0, L, n))), shape=(n, L))
    Y.data[:] = 1
    X = (Y @ rng.standard_normal((L, 12)) + 0.1 * rng.standard_normal((n, 12))).astype(np.float32)
    kw = dict(hidden_layer_sizes=(16,), n_levels=2, max_iter=3, random_state=0)
    auto = MHEMultiLabelClassifier(**kw).fit(X, Y)
    listed = MHEMultiLabelClassifier(**kw, label_order=auto.codec_.to_labels(np.arange(L))).fit(X, Y)
    np.testing.assert_array_equal(listed.codec_.order, auto.codec_.order)
    np.testing.assert_array_equal(listed.predict_proba(X), auto.predict_proba(X))
    labels, _ = auto.predict_topk(X[:5], k=L)
    assert all(sorted(row) == list(range(L)) for row in labels.tolist())
    top, scores = auto.predict_topk(X[:5], k=3)
    dense = auto.predict_proba(X[:5])
    np.testing.assert_allclose(np.take_along_axis(dense, top, axis=1), scores, rtol=1e-9)


def test_label_representations_leave_a_float64_x_untouched():
    X = np.random.default_rng(3).random((20, 4))
    before = X.copy()
    Y = sp.csr_matrix((np.ones(20), (np.arange(20), np.arange(20) % 3)), shape=(20, 3))
    label_representations(X, Y, n_components=8, seed=0)
    np.testing.assert_array_equal(X, before)
