"""MHEMultiLabelClassifier: label-set formats, predictions, errors and learning."""

import pickle

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from sklearn.datasets import make_multilabel_classification
from sklearn.model_selection import GridSearchCV

from skmhe import MHEMultiLabelClassifier
from skmhe._multilabel import AUTO_PAIR_BUCKETS
from skmhe.nn import sigmoid_cascade
from skmhe.metrics import make_topk_scorer, precision_at_k

# tiny networks; and one thread whatever the load, so that two fits compared bit for bit
# split their sums alike (n_jobs=None follows the load)
pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def data():
    X, Y = make_multilabel_classification(
        n_samples=400, n_features=30, n_classes=23, n_labels=3, random_state=0
    )
    return X.astype(np.float32), Y


def small(**kw):
    params = dict(n_levels=2, hidden_layer_sizes=(64,), max_iter=30, batch_size=32, random_state=0)
    params.update(kw)
    return MHEMultiLabelClassifier(**params)


@pytest.fixture(scope="module")
def fitted(data):
    X, Y = data
    return small(group_size=5, n_candidate_groups=5).fit(X, sp.csr_matrix(Y))


def test_learns_above_label_frequency_baseline(data, fitted):
    X, Y = data
    labels, scores = fitted.predict_topk(X, 3)
    most_frequent = np.argsort(-Y.sum(0))[:3]
    baseline = precision_at_k(Y, np.tile(most_frequent, (len(X), 1)), 1)
    assert precision_at_k(Y, labels, 1) > baseline + 0.2
    assert np.all(np.diff(scores, axis=1) <= 0) and np.all((scores > 0) & (scores < 1))


def test_cascade_codec_and_padding(fitted):
    assert fitted.codec_.factors == (5, 5)  # 23 labels: the last group holds 3 labels + 2 padding
    labels, _ = fitted.predict_topk(np.zeros((4, 30), np.float32), 23)
    assert sorted(labels[0].tolist()) == list(range(23))  # every label, no padding code


def test_topk_matches_predict_proba_when_the_beam_covers_all_groups(data, fitted):
    X, _ = data
    proba = fitted.predict_proba(X[:50])
    labels, scores = fitted.predict_topk(X[:50], 4)
    np.testing.assert_allclose(scores, np.take_along_axis(proba, labels, 1), rtol=1e-9)
    np.testing.assert_allclose(scores, np.sort(proba, 1)[:, ::-1][:, :4], rtol=1e-12)
    assert proba.shape == (50, 23) and np.all((proba > 0) & (proba < 1))
    logit = fitted.decision_function(X[:50])
    np.testing.assert_array_equal(logit > 0, proba > 0.5)


@pytest.mark.parametrize("form", ["sparse", "dense", "lists"])
def test_predict_answers_in_the_form_y_was_given(data, form):
    X, Y = data
    names = np.array([f"tag{j:02d}" for j in range(Y.shape[1])])
    y = {
        "sparse": sp.csr_matrix(Y),
        "dense": Y,
        "lists": [tuple(names[np.flatnonzero(row)]) for row in Y],
    }[form]
    clf = small(max_iter=5, predict_k=2).fit(X, y)
    pred = clf.predict(X[:7])
    if form == "sparse":
        assert sp.issparse(pred) and pred.shape == (7, 23)
        assert np.all(pred.sum(1) == 2)
    elif form == "dense":
        assert isinstance(pred, np.ndarray) and pred.shape == (7, 23)
    else:
        assert isinstance(pred, list) and all(len(row) == 2 and set(row) <= set(names) for row in pred)
        labels, _ = clf.predict_topk(X[:7], 2)
        assert [set(row) for row in pred] == [set(row) for row in labels]


def test_same_model_whatever_the_form(data):
    X, Y = data
    a = small(max_iter=3).fit(X, sp.csr_matrix(Y)).predict_topk(X[:20], 3)
    b = small(max_iter=3).fit(X, [tuple(np.flatnonzero(r)) for r in Y]).predict_topk(X[:20], 3)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_allclose(a[1], b[1])


def test_threshold_rule(data, fitted):
    X, _ = data
    pred = fitted.predict(X[:40])
    proba = fitted.predict_proba(X[:40])
    np.testing.assert_array_equal(pred.toarray() == 1, proba >= fitted.threshold)


def test_one_dimensional_y_is_multiclass(data):
    X, Y = data
    y = np.array(["a", "b", "c"])[Y.argmax(1) % 3]
    clf = small(max_iter=10).fit(X, y)
    proba = clf.predict_proba(X[:10])
    np.testing.assert_allclose(proba.sum(1), 1)
    np.testing.assert_array_equal(clf.predict(X[:10]), clf.classes_[proba.argmax(1)])


@pytest.mark.parametrize("n_levels", [1, 3])
def test_flat_and_three_levels(data, n_levels):
    X, Y = data
    clf = small(n_levels=n_levels, max_iter=5).fit(X, sp.csr_matrix(Y))
    assert len(clf.codec_.factors) == n_levels
    labels, scores = clf.predict_topk(X[:5], 5)
    assert labels.shape == scores.shape == (5, 5)
    assert all(len(set(row)) == 5 for row in labels.tolist())


def test_sparse_X_and_lazy_updates(data):
    X, Y = data
    clf = small(max_iter=3, sparse_updates=True).fit(sp.csr_matrix(X), sp.csr_matrix(Y))
    assert clf.sparse_updates_ and clf.network_.backbone.layers[0].sparse_grad
    assert clf.predict_topk(sp.csr_matrix(X[:3]), 2)[0].shape == (3, 2)


def test_early_stopping_and_pickle(data):
    X, Y = data
    clf = small(max_iter=8, early_stopping=True, n_iter_no_change=2).fit(X, sp.csr_matrix(Y))
    assert clf.validation_scores_ and 0 <= clf.best_validation_score_ <= 1
    again = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(again.predict_topk(X[:9], 3)[0], clf.predict_topk(X[:9], 3)[0])


def test_grid_search_with_topk_scorer(data):
    X, Y = data
    grid = GridSearchCV(
        small(max_iter=3),
        {"n_levels": [1, 2]},
        scoring=make_topk_scorer("precision", k=1),
        cv=2,
    ).fit(X, sp.csr_matrix(Y))
    assert grid.best_params_["n_levels"] in (1, 2)


@pytest.mark.parametrize(
    "make_y, match",
    [
        (lambda Y: Y * 2, "only 0 and 1"),
        (lambda Y: Y[:10], "rows"),
        (lambda Y: np.zeros_like(Y), "no positive label"),
        (lambda Y: np.where(Y == 1, np.nan, 0.0), "NaN"),
        (lambda Y: Y[:, :, None], "shape"),
    ],
)
def test_bad_y_is_refused(data, make_y, match):
    X, Y = data
    with pytest.raises(ValueError, match=match):
        small(max_iter=1).fit(X, make_y(Y))


def test_bad_k_and_memory_cap(data, fitted):
    X, _ = data
    with pytest.raises(ValueError, match="k must be"):
        fitted.predict_topk(X, 24)
    with pytest.raises(TypeError, match="k must be an int"):
        fitted.predict_topk(X, 1.5)
    capped = small(max_iter=1, proba_memory_limit=100).fit(X, sp.csr_matrix(data[1]))
    with pytest.raises(ValueError, match="predict_topk"):
        capped.predict_proba(X)


# --------------------------------------------------------------------------- partial_fit


def _state(model):
    """Everything a partial_fit may change: weights, history, label space, predictions."""
    weights = {k: v.clone() for k, v in model.network_.state_dict().items()}
    return weights, list(model.loss_curve_), model.classes_.copy(), model.t_


def _assert_same_state(before, after):
    (w0, loss0, classes0, t0), (w1, loss1, classes1, t1) = before, after
    assert w0.keys() == w1.keys() and all(torch.equal(w0[k], w1[k]) for k in w0)
    assert loss0 == loss1 and t0 == t1
    np.testing.assert_array_equal(classes0, classes1)


def test_partial_fit_streams_csr_chunks_and_learns(data):
    X, Y = data
    Xs, Ys = sp.csr_matrix(X), sp.csr_matrix(Y)
    model = small(group_size=5, n_candidate_groups=5)
    for epoch in range(12):  # the cascade's "auto" rate is 1/sqrt(2) of the flat one's
        for start in range(0, 400, 100):
            model.partial_fit(Xs[start : start + 100], Ys[start : start + 100])
    assert model.codec_.factors == (5, 5) and len(model.classes_) == 23
    assert model.n_iter_ == 48 and model.t_ == 48 * 100
    labels, _ = model.predict_topk(Xs, 1)
    baseline = precision_at_k(Y, np.full((len(X), 1), np.argmax(Y.sum(0))), 1)
    assert precision_at_k(Y, labels, 1) > baseline + 0.2


def test_partial_fit_fixes_the_label_space_at_the_first_call(data):
    X, Y = data
    # a first chunk whose last columns are empty still fixes the indicator's width
    model = small(max_iter=1).partial_fit(X[:50], sp.csr_matrix(Y[:50]))
    assert len(model.classes_) == 23
    # label lists: classes= names labels the first chunk lacks
    lists = [tuple(np.flatnonzero(row) * 10) for row in Y]
    model = small(max_iter=1).partial_fit(X[:50], lists[:50], classes=np.arange(23) * 10)
    np.testing.assert_array_equal(model.classes_, np.arange(23) * 10)
    model.partial_fit(X[50:], lists[50:])
    assert set(model.predict_topk(X, 3)[0].ravel()) <= set(model.classes_.tolist())


@pytest.mark.parametrize(
    "make_y, match",
    [
        (lambda Y: sp.csr_matrix(np.hstack([Y, Y[:, :1]])), "24 columns but the label space has 23"),
        (lambda Y: Y[:, :22], "22 columns but the label space has 23"),
        (lambda Y: Y * 0.5, "only 0 and 1"),
        (lambda Y: [tuple(np.flatnonzero(r)) + (99,) for r in Y], r"labels not seen in classes_: \[99\]"),
        (lambda Y: Y[:7], "rows"),
    ],
)
def test_partial_fit_refuses_bad_y_and_keeps_the_model(data, make_y, match):
    X, Y = data
    model = small(max_iter=1).partial_fit(X, sp.csr_matrix(Y))
    model.partial_fit(X, sp.csr_matrix(Y))  # Adam moments exist
    before, topk = _state(model), model.predict_topk(X, 3)
    with pytest.raises(ValueError, match=match):
        model.partial_fit(X, make_y(Y))
    _assert_same_state(before, _state(model))
    for old, new in zip(topk, model.predict_topk(X, 3)):
        assert old.tobytes() == new.tobytes()


def test_partial_fit_classes_checks(data):
    X, Y = data
    with pytest.raises(ValueError, match="23 columns but the label space has 30"):
        small(max_iter=1).partial_fit(X, Y, classes=np.arange(30))
    with pytest.raises(ValueError, match="more than once"):
        small(max_iter=1).partial_fit(X, Y, classes=np.r_[np.arange(22), 0])
    model = small(max_iter=1).partial_fit(X, Y, classes=np.arange(23))
    with pytest.raises(ValueError, match=r"1 label added: \[23\]"):
        model.partial_fit(X, Y, classes=np.arange(24))
    assert model.y_format_ == "dense" and model.n_iter_ == 1


# --------------------------------------------------------------------------- the pairs' term


def test_pairs_term_predicts_as_its_model_and_survives_pickle_and_partial_fit(data, monkeypatch):
    """``pair_buckets``: top-k over the whole beam is ``predict_proba``'s best when every label is
    re-ranked (23 labels, here 30 re-ranked); a sparse and a dense ``X`` give one model; pickling
    keeps it; ``partial_fit`` goes on training it."""
    monkeypatch.setattr(sigmoid_cascade, "RERANK", 30)
    X, Y = data
    model = small(group_size=5, n_candidate_groups=5, pair_buckets=4096, max_iter=5)
    model.fit(sp.csr_matrix(X), sp.csr_matrix(Y))
    table = model.network_.head.pairs.weight
    assert table.shape == (4096, 1) and bool(table.detach().abs().sum() > 0)  # trained from zero
    proba = model.predict_proba(X[:40])
    labels, scores = model.predict_topk(X[:40], 4)
    np.testing.assert_allclose(scores, np.take_along_axis(proba, labels, 1), rtol=1e-9)
    np.testing.assert_allclose(scores, np.sort(proba, 1)[:, ::-1][:, :4], rtol=1e-12)
    # the backbone's sparse and dense routes differ in float32 rounding, with or without the pairs
    np.testing.assert_allclose(model.predict_proba(sp.csr_matrix(X[:40])), proba, rtol=1e-5)
    again = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(again.predict_proba(X[:40]), proba)
    before = table.detach().clone()
    again.partial_fit(X, sp.csr_matrix(Y))
    assert not torch.equal(again.network_.head.pairs.weight.detach(), before)


def test_pairs_term_off_is_the_plain_cascade_and_bad_sizes_are_refused(data):
    X, Y = data
    plain = small(group_size=5, max_iter=3).fit(X, Y)
    assert plain.network_.head.pairs is None
    assert not any(name.startswith("head.pairs") for name, _ in plain.network_.named_parameters())
    for bad in (-1, 2**31, 1.5, "big"):
        with pytest.raises(ValueError, match="pair_buckets"):
            small(pair_buckets=bad, max_iter=1).fit(X, Y)


def test_pairs_term_auto_is_on_for_two_levels_over_bag_of_words_only(data):
    """``pair_buckets="auto"``: ``AUTO_PAIR_BUCKETS`` values where the cascade has two levels and the
    input layer is updated lazily (sparse X of 4,096 columns or more); none for the flat layer, for three
    levels or for dense X; ``memory_estimate`` follows the same rule."""
    _, Y = data
    X = sp.random(len(Y), 4096, density=0.01, format="csr", random_state=0, dtype=np.float32)
    fast = dict(hidden_layer_sizes=(8,), max_iter=1, batch_size=200, random_state=0)
    cases = [
        (dict(n_levels=2), X, AUTO_PAIR_BUCKETS),
        (dict(n_levels=1), X, 0),
        (dict(n_levels=3), X, 0),
        (dict(n_levels=2), X.toarray(), 0),
        (dict(n_levels=2, sparse_updates=False), X, 0),
    ]
    for params, X_fit, buckets in cases:
        model = MHEMultiLabelClassifier(**fast, **params)
        plain = MHEMultiLabelClassifier(**fast, **params, pair_buckets=0)
        shape = dict(n_features=4096, n_labels=Y.shape[1], sparse=sp.issparse(X_fit))
        extra = model.memory_estimate(**shape)["parameters"] - plain.memory_estimate(**shape)["parameters"]
        assert extra == buckets, params
        pairs = model.fit(X_fit, Y).network_.head.pairs
        assert (0 if pairs is None else pairs.n_buckets) == buckets, params
