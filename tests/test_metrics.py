"""Tests of skmhe.metrics against a dense reference and hand-checked values."""

import math

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.base import BaseEstimator
from sklearn.model_selection import GridSearchCV

from skmhe.metrics import (
    inverse_propensity,
    make_topk_scorer,
    ndcg_at_k,
    precision_at_k,
    psp_at_k,
    recall_at_k,
)

METRICS = [precision_at_k, recall_at_k, ndcg_at_k]


# ----------------------------------------------------------------------------- reference
def _ref_hits(Y, topk, k):
    return np.array([[t >= 0 and Y[i, t] == 1 for t in row[:k]] for i, row in enumerate(topk)])


def ref_precision(Y, topk, k):
    return _ref_hits(Y, topk, k).sum(axis=1).mean() / k


def ref_recall(Y, topk, k):
    hits = _ref_hits(Y, topk, k).sum(axis=1)
    return np.mean([h / n if n else 0.0 for h, n in zip(hits, Y.sum(axis=1))])


def ref_ndcg(Y, topk, k):
    hits = _ref_hits(Y, topk, k)
    out = []
    for i in range(Y.shape[0]):
        dcg = sum(hits[i, j] / math.log2(j + 2) for j in range(k))
        ideal = sum(1 / math.log2(j + 2) for j in range(min(k, int(Y[i].sum()))))
        out.append(dcg / ideal if ideal else 0.0)
    return np.mean(out)


def ref_psp(Y, topk, w, k):
    hits = _ref_hits(Y, topk, k)
    gained = sum(w[t] for i, row in enumerate(topk) for j, t in enumerate(row[:k]) if hits[i, j])
    best = sum(np.sort(w[Y[i] == 1])[::-1][:k].sum() for i in range(Y.shape[0]))
    return gained / best if best else 0.0


def ref_inverse_propensity(Y, A, B):
    n = Y.shape[0]
    c = (math.log(n) - 1) * (B + 1) ** A
    return np.array([1 + c * (Y[:, j].sum() + B) ** (-A) for j in range(Y.shape[1])])


@st.composite
def problems(draw):
    n = draw(st.integers(1, 7))
    n_labels = draw(st.integers(1, 9))
    k = draw(st.integers(1, n_labels + 2))
    width = k + draw(st.integers(0, 2))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    density = draw(st.sampled_from([0.0, 0.2, 0.5, 0.9]))
    Y = (rng.random((n, n_labels)) < density).astype(np.int64)
    topk = np.full((n, width), -1, dtype=np.int64)
    for i in range(n):
        perm = rng.permutation(n_labels)[:width]
        perm[rng.random(perm.size) < 0.15] = -1  # "no prediction"
        topk[i, : perm.size] = perm
    return Y, topk, k


# ----------------------------------------------------------------------------- property
@settings(max_examples=150, deadline=None)
@given(problems(), st.booleans())
def test_metrics_match_dense_reference(problem, sparse):
    Y, topk, k = problem
    y_true = sp.csr_matrix(Y) if sparse else Y
    assert precision_at_k(y_true, topk, k) == pytest.approx(ref_precision(Y, topk, k))
    assert recall_at_k(y_true, topk, k) == pytest.approx(ref_recall(Y, topk, k))
    assert ndcg_at_k(y_true, topk, k) == pytest.approx(ref_ndcg(Y, topk, k))
    w = np.random.default_rng(0).uniform(1, 5, Y.shape[1])
    assert psp_at_k(y_true, topk, w, k) == pytest.approx(ref_psp(Y, topk, w, k))
    for value in (precision_at_k(y_true, topk, k), ndcg_at_k(y_true, topk, k)):
        assert 0.0 <= value <= 1.0 + 1e-12


@settings(max_examples=50, deadline=None)
@given(problems(), st.floats(0.1, 1.0), st.floats(0.01, 3.0))
def test_inverse_propensity_matches_formula(problem, A, B):
    Y = problem[0]
    assert np.allclose(inverse_propensity(sp.csr_matrix(Y), A, B), ref_inverse_propensity(Y, A, B))


# ----------------------------------------------------------------------------- by hand
Y_HAND = np.array([[1, 0, 1, 0], [0, 1, 0, 0], [0, 0, 0, 0]])
TOPK_HAND = np.array([[2, 1, 0], [0, 3, -1], [1, 2, 3]])


def test_hand_checked_values():
    # row 0 hits at ranks 1 and 3; row 1 no hit; row 2 has no true label
    assert precision_at_k(Y_HAND, TOPK_HAND, k=1) == pytest.approx(1 / 3)
    assert precision_at_k(Y_HAND, TOPK_HAND, k=3) == pytest.approx((2 / 3) / 3)
    assert recall_at_k(Y_HAND, TOPK_HAND, k=3) == pytest.approx(1 / 3)  # (1 + 0 + 0) / 3
    assert recall_at_k(Y_HAND, TOPK_HAND, k=3, ignore_empty=True) == pytest.approx(1 / 2)
    row0 = (1 + 1 / 2) / (1 + 1 / math.log2(3))  # ranks 1 and 3 over the ideal 2 hits
    assert ndcg_at_k(Y_HAND, TOPK_HAND, k=3) == pytest.approx(row0 / 3)
    w = np.array([1.0, 2.0, 4.0, 8.0])
    # gained: w[2] + w[0] = 5; best: row0 {4, 1} + row1 {2} = 7
    assert psp_at_k(Y_HAND, TOPK_HAND, w, k=3) == pytest.approx(5 / 7)
    assert psp_at_k(Y_HAND, TOPK_HAND, w, k=1) == pytest.approx(4 / (4 + 2))


def test_k_larger_than_true_labels_is_normalised_by_ideal():
    Y = np.array([[0, 1, 0, 0, 0]])
    assert ndcg_at_k(Y, np.array([[1, 0, 2, 3, 4]]), k=5) == 1.0
    assert recall_at_k(Y, np.array([[0, 2, 3, 4, 1]]), k=5) == 1.0
    assert precision_at_k(Y, np.array([[1, 0, 2, 3, 4]]), k=5) == pytest.approx(0.2)
    assert psp_at_k(Y, np.array([[4, 3, 2, 0, 1]]), np.ones(5), k=5) == 1.0


def test_minus_one_never_hits_and_all_empty_truth():
    Y = sp.csr_matrix(np.array([[1, 1], [1, 0]]))
    topk = np.array([[-1, -1], [-1, 0]])
    assert precision_at_k(Y, topk, k=2) == pytest.approx(0.25)
    empty = sp.csr_matrix((2, 3))
    top = np.array([[0, 1], [2, -1]])
    assert precision_at_k(empty, top, 2) == recall_at_k(empty, top, 2) == ndcg_at_k(empty, top, 2) == 0
    assert recall_at_k(empty, top, 2, ignore_empty=True) == 0.0
    assert psp_at_k(empty, top, np.ones(3), 2) == 0.0  # pyxclib: NaN


def test_wider_topk_is_truncated_and_inputs_accept_bool_and_explicit_zeros():
    Y = np.array([[True, False, True]])
    assert precision_at_k(Y, [[1, 0, 2]], k=1) == 0.0
    Ys = sp.csr_matrix((np.array([1.0, 0.0]), np.array([0, 1]), np.array([0, 2])), shape=(1, 3))
    assert precision_at_k(Ys, [[1, 0]], k=1) == 0.0  # explicit zero is not a label


def test_inverse_propensity_rare_labels_weigh_more():
    Y = np.zeros((100, 3), dtype=bool)
    Y[:50, 0] = Y[:5, 1] = True
    w = inverse_propensity(Y)
    assert w[0] < w[1] < w[2]
    assert np.all(w >= 1)


# ----------------------------------------------------------------------------- validation
@pytest.mark.parametrize(
    ("topk", "k", "match"),
    [
        (np.array([[0, 1]]), 3, "fewer than k"),
        (np.array([[0, 1], [1, 0]]), 1, "rows"),
        (np.array([[0, 4]]), 2, "n_labels"),
        (np.array([[0, -2]]), 2, ">= -1"),
        (np.array([[1, 1]]), 2, "more than once"),
        (np.array([[0.0, 1.0]]), 2, "integer"),
        (np.array([0, 1]), 2, "2-D"),
        (np.array([[0, 1]]), 0, "k must be"),
        (np.array([[0, 1]]), 1.5, "k must be"),
    ],
)
def test_invalid_predictions(topk, k, match):
    Y = np.array([[1, 0, 0, 1]])
    for metric in METRICS:
        with pytest.raises(ValueError, match=match):
            metric(Y, topk, k)


def test_invalid_truth_and_propensity():
    with pytest.raises(ValueError, match="0/1"):
        precision_at_k(np.array([[2, 0]]), [[0]], 1)
    with pytest.raises(ValueError, match="2-D"):
        precision_at_k(np.zeros((1, 2, 2)), [[0]], 1)
    with pytest.raises(ValueError, match="shape"):
        psp_at_k(np.array([[1, 0]]), [[0]], np.ones(3), 1)
    with pytest.raises(ValueError, match="non-negative"):
        psp_at_k(np.array([[1, 0]]), [[0]], np.array([1.0, -1.0]), 1)
    with pytest.raises(ValueError, match="B must"):
        inverse_propensity(np.array([[1, 0]]), B=-2)


def test_minus_one_allowed_several_times():
    assert precision_at_k(np.array([[1, 0, 0]]), [[0, -1, -1]], k=3) == pytest.approx(1 / 3)


# ----------------------------------------------------------------------------- scorers
class TopFrequent(BaseEstimator):
    """Ranks labels by training frequency, the ``shift`` most frequent ones dropped."""

    def __init__(self, shift=0):
        self.shift = shift

    def fit(self, X, y):
        self.classes_, counts = np.unique(y, return_counts=True)
        order = np.argsort(-counts, kind="stable")
        self.ranking_ = np.roll(order, -self.shift)
        return self

    def predict_topk(self, X, k=5):
        labels = self.classes_[self.ranking_[:k]]
        return np.tile(labels, (len(X), 1)), np.ones((len(X), k))


def test_scorer_maps_labels_and_accepts_label_formats():
    X = np.zeros((6, 1))
    y = np.array(["b", "b", "b", "c", "c", "a"])
    est = TopFrequent().fit(X, y)  # ranking: b, c, a
    scorer = make_topk_scorer("precision", k=1)
    assert scorer(est, X, y) == pytest.approx(0.5)
    lists = [["b", "zz"], ["a"], [], ["c", "b"], ["b"], ["q"]]
    assert make_topk_scorer("recall", k=2)(est, X, lists) == pytest.approx(
        (0.5 + 0 + 0 + 1 + 1 + 0) / 6
    )
    indicator = sp.csr_matrix(np.eye(3)[[1, 1, 1, 2, 2, 0]])  # columns follow classes_ a, b, c
    assert scorer(est, X, indicator) == pytest.approx(0.5)
    w = np.array([1.0, 1.0, 3.0])
    assert make_topk_scorer("psp", k=1, inv_propensity=w)(est, X, y) == pytest.approx(3 / 10)


def test_scorer_in_grid_search_picks_best_shift():
    rng = np.random.default_rng(0)
    y = rng.choice([10, 20, 30, 40], size=60, p=[0.55, 0.25, 0.15, 0.05])
    X = np.zeros((60, 1))
    search = GridSearchCV(TopFrequent(), {"shift": [2, 0, 1]}, scoring=make_topk_scorer("ndcg", 2), cv=3)
    search.fit(X, y)
    assert search.best_params_ == {"shift": 0}


def test_scorer_errors():
    with pytest.raises(ValueError, match="unknown metric"):
        make_topk_scorer("map")
    with pytest.raises(ValueError, match="inv_propensity"):
        make_topk_scorer("psp")
    with pytest.raises(ValueError, match="k must be"):
        make_topk_scorer("precision", k=0)
    est = TopFrequent().fit(np.zeros((3, 1)), np.array([1, 2, 2]))
    with pytest.raises(ValueError, match="columns"):
        make_topk_scorer("precision", 1)(est, np.zeros((3, 1)), np.zeros((3, 5)))
    custom = make_topk_scorer(lambda yt, tk, k: float(tk.shape[1] == k), k=2)
    assert custom(est, np.zeros((3, 1)), np.array([1, 2, 2])) == 1.0


# ----------------------------------------------------------------------------- label values, all k
def _as_label_values(Y, topk):
    """The same problem with string labels: truth as label lists, ranks as label values."""
    names = np.array([f"tag{j}" for j in range(Y.shape[1])] + ["never"], dtype=object)
    lists = [[names[j] for j in np.flatnonzero(row)] for row in Y]
    return lists, names[topk].astype(str), names  # -1 -> "never", not a true label


@settings(max_examples=60, deadline=None)
@given(problems())
def test_label_values_and_all_k_match_indices_one_k_at_a_time(problem):
    Y, topk, k = problem
    lists, values, names = _as_label_values(Y, topk)
    w = np.random.default_rng(1).uniform(1, 5, Y.shape[1])
    weights = dict(zip(names[:-1].tolist(), w.tolist()))
    cases = [
        (precision_at_k, {}, {}), (recall_at_k, {}, {}), (ndcg_at_k, {}, {}),
        (recall_at_k, {"ignore_empty": True}, {"ignore_empty": True}),
        (psp_at_k, {"inv_propensity": w}, {"inv_propensity": weights}),
    ]
    for metric, on_indices, on_values in cases:
        each = [metric(sp.csr_matrix(Y), topk, k=j, **on_indices) for j in range(1, k + 1)]
        all_k = metric(Y, topk, k=k, all_k=True, **on_indices)
        assert isinstance(all_k, np.ndarray) and all_k.shape == (k,)
        np.testing.assert_allclose(all_k, each)
        np.testing.assert_allclose(metric(lists, values, k=k, all_k=True, **on_values), each)
        assert metric(lists, values, k=k, **on_values) == pytest.approx(each[-1])


def test_label_values_of_a_multiclass_model():
    y = np.array(["cat", "dog", "cow"])  # one label per row, as MHEClassifier is fit
    ranked = np.array([["dog", "cat"], ["dog", "cow"], ["cat", "dog"]])  # predict_topk labels
    np.testing.assert_allclose(precision_at_k(y, ranked, k=2, all_k=True), [1 / 3, 1 / 3])
    np.testing.assert_allclose(recall_at_k(y, ranked, k=2, all_k=True), [1 / 3, 2 / 3])
    lists = [(3, 7), (), (7,)]  # tuples of int labels; an empty row counts as in pyxclib
    assert precision_at_k(lists, np.array([[7, 1], [3, 7], [7, 3]]), k=1) == pytest.approx(2 / 3)


def test_predict_topk_tuple_is_named_in_the_error():
    labels, scores = np.array([[0, 1], [1, 0]]), np.array([[0.9, 0.1], [0.8, 0.2]])
    for metric in METRICS:
        with pytest.raises(ValueError, match=r"\(labels, scores\) tuple"):
            metric(np.eye(2), (labels, scores), 1)
    with pytest.raises(ValueError, match=r"\(labels, scores\) tuple"):
        psp_at_k([["a"], ["b"]], (labels, scores), {"a": 1.0, "b": 1.0}, 1)


def test_label_value_errors():
    with pytest.raises(ValueError, match="mapping"):
        psp_at_k([["a"], ["b"]], [["a"], ["a"]], np.ones(2), k=1)
    with pytest.raises(ValueError, match="no weight for the true label 'b'"):
        psp_at_k([["a"], ["b"]], [["a"], ["a"]], {"a": 1.0}, k=1)
    with pytest.raises(ValueError, match="indicator"):
        psp_at_k(np.eye(2), [[0], [1]], {0: 1.0, 1: 1.0}, k=1)
    with pytest.raises(ValueError, match="2-D"):
        precision_at_k(["a", "b"], ["a", "b"], k=1)  # 1-D ranks: not a top-k
    with pytest.raises(ValueError, match="more than once"):
        precision_at_k([["a"], ["b"]], [["a", "a"], ["b", "a"]], k=2)
    with pytest.raises(ValueError, match="all_k"):
        precision_at_k(np.eye(2), [[0], [1]], k=1, all_k="yes")
    with pytest.raises(ValueError, match="one number"):
        make_topk_scorer("precision", all_k=True)
