"""MHEClassifier's three methods ("product", "cascade", "sampling") and transform().

Small generated problems and few epochs: the checks are consistency of the
outputs with each other and with the network written out by hand, not
learning quality (beyond "well above chance on an easy problem").
"""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline
from sklearn.utils._param_validation import InvalidParameterError

from skmhe import MHEClassifier
from skmhe.datasets import make_extreme_classification
from skmhe.nn import ProductHead, SamplingHead, SoftmaxCascadeHead

METHODS = ("product", "cascade", "sampling")
HEADS = {"product": ProductHead, "cascade": SoftmaxCascadeHead, "sampling": SamplingHead}
N_CLASSES = 11  # factors (4, 3): one padding code

pytestmark = pytest.mark.usefixtures("one_thread")  # tiny networks


@pytest.fixture(scope="module")
def data():
    X, y = make_extreme_classification(n_samples=220, n_features=12, n_classes=N_CLASSES, random_state=0)
    return X, y


def small(**kw):
    params = dict(
        factors=(4, 3),
        hidden_layer_sizes=(16,),
        max_iter=15,
        batch_size=32,
        learning_rate_init=1e-2,
        learning_rate="constant",  # these checks were sized for a constant rate
        random_state=0,
        n_candidate_groups=4,  # >= the 4 top-level groups: the cascade's beam is exhaustive
        embedding_size=8,
        n_sampled_groups=2,
    )
    params.update(kw)
    return MHEClassifier(**params)


@pytest.fixture(scope="module")
def fitted(data):
    X, y = data
    return {method: small(method=method).fit(X, y) for method in METHODS}


def check_outputs(clf, X, y, *, min_score=0.8):
    """Every output of a fitted classifier agrees with predict_proba."""
    n_classes = len(clf.classes_)
    proba = clf.predict_proba(X)
    assert proba.shape == (X.shape[0], n_classes) and proba.dtype == np.float64
    assert (proba >= 0).all()
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=0, atol=1e-12)
    np.testing.assert_allclose(np.exp(clf.predict_log_proba(X)), proba, rtol=1e-12, atol=0)

    pred = clf.predict(X)
    np.testing.assert_array_equal(pred, clf.classes_[proba.argmax(axis=1)])

    for k in (1, 3, n_classes):
        labels, top = clf.predict_topk(X, k=k)
        assert labels.shape == top.shape == (X.shape[0], k)
        idx = np.searchsorted(clf.classes_, labels)
        np.testing.assert_array_equal(clf.classes_[idx], labels)  # only real classes
        assert all(len(set(row)) == k for row in labels.tolist())
        np.testing.assert_allclose(top, np.take_along_axis(proba, idx, axis=1), rtol=1e-9, atol=1e-14)
        # the k best: the same values as sorting predict_proba
        np.testing.assert_allclose(top, -np.sort(-proba, axis=1)[:, :k], rtol=1e-9, atol=1e-14)
        np.testing.assert_array_equal(labels[:, 0], pred)

    ll = clf.log_likelihood(X, y)
    rows = np.arange(X.shape[0])
    np.testing.assert_allclose(ll, np.log(proba[rows, np.searchsorted(clf.classes_, y)]), rtol=1e-9, atol=1e-12)
    assert clf.score(X, y) > min_score  # chance is 1 / n_classes


@pytest.mark.parametrize("method", METHODS)
def test_outputs_are_consistent(fitted, data, method):
    X, y = data
    clf = fitted[method]
    assert isinstance(clf.network_.head, HEADS[method])
    assert clf.codec_.factors == (4, 3)
    check_outputs(clf, X, y)


def test_log_likelihood_of_other_and_unseen_labels(fitted, data):
    """Labels of other classes get their own probabilities, and unseen labels -inf."""
    X, y = data
    for method in METHODS:
        clf = fitted[method]
        other = clf.classes_[(np.searchsorted(clf.classes_, y) + 1) % N_CLASSES]
        proba = clf.predict_proba(X)
        want = np.log(proba[np.arange(len(y)), np.searchsorted(clf.classes_, other)])
        np.testing.assert_allclose(clf.log_likelihood(X, other), want, rtol=1e-9, atol=1e-12)
        assert np.isneginf(clf.log_likelihood(X[:2], np.array([99, y[1]]))[0])


@pytest.mark.parametrize("mode", ["random", "batch"])
def test_sampling_modes_learn(data, mode):
    X, y = data
    check_outputs(small(method="sampling", sampling_mode=mode).fit(X, y), X, y)


def test_cascade_with_three_factors(data):
    X, y = data
    clf = small(method="cascade", factors=(3, 2, 2), n_candidate_groups=6, max_iter=25).fit(X, y)
    head = clf.network_.head
    assert isinstance(head, SoftmaxCascadeHead)
    assert head.n_levels == 3 and len(head.tables) == 2 and len(head.queries) == 2
    assert [t.n_rows for t in head.tables] == [6, 12]
    check_outputs(clf, X, y, min_score=0.6)


def test_cascade_on_sparse_input_without_hidden_layer(data):
    X, y = data
    Xs = sp.csr_matrix(np.where(np.abs(X) > 0.5, X, 0.0))
    clf = small(method="cascade", hidden_layer_sizes=(), max_iter=25, sparse_updates=True).fit(Xs, y)
    assert clf.sparse_updates_ and clf.network_.head.root.sparse_grad
    check_outputs(clf, Xs, y, min_score=0.5)


def test_grid_search_over_methods(data):
    X, y = data
    search = GridSearchCV(small(max_iter=5), {"method": list(METHODS)}, cv=2).fit(X, y)
    assert search.best_params_["method"] in METHODS
    assert list(search.cv_results_["param_method"]) == list(METHODS)
    assert np.all(np.isfinite(search.cv_results_["mean_test_score"]))
    assert isinstance(search.best_estimator_.network_.head, HEADS[search.best_params_["method"]])


def test_clone_and_set_params_switch_method(fitted, data):
    X, y = data
    twin = clone(fitted["cascade"])
    assert twin.get_params() == fitted["cascade"].get_params()
    assert not hasattr(twin, "network_")
    clf = small(method="product", max_iter=3).fit(X, y)
    assert isinstance(clf.network_.head, ProductHead)
    for method in ("cascade", "sampling", "product"):
        clf.set_params(method=method, max_iter=8).fit(X, y)
        assert isinstance(clf.network_.head, HEADS[method])
        proba = clf.predict_proba(X[:5])
        np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=0, atol=1e-12)


@pytest.mark.parametrize("method", ["cascade", "sampling"])
def test_pickle_round_trip(fitted, data, method):
    X, _ = data
    clf = fitted[method]
    back = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(back.predict_proba(X), clf.predict_proba(X))
    np.testing.assert_array_equal(back.predict(X), clf.predict(X))
    for a, b in zip(back.predict_topk(X, k=4), clf.predict_topk(X, k=4)):
        np.testing.assert_array_equal(a, b)


# =========================================================================== parameters


@pytest.mark.parametrize(
    "params",
    [
        {"method": "bogus"},
        {"n_sampled_groups": 0},
        {"n_candidate_groups": 0},
        {"embedding_size": 0},
        {"sampling_mode": "bogus"},
    ],
)
def test_invalid_method_parameters(data, params):
    X, y = data
    with pytest.raises(InvalidParameterError, match=next(iter(params))):
        small(**params).fit(X, y)


def test_sampling_needs_dense_features(data):
    X, y = data
    Xs = sp.csr_matrix(X)
    for sparse_updates in ("auto", True, False):  # sparse batches would reach the head
        with pytest.raises(ValueError, match="hidden layer"):
            small(method="sampling", hidden_layer_sizes=(), sparse_updates=sparse_updates).fit(Xs, y)
    # dense X without a hidden layer is fine: the head scores X itself
    clf = small(method="sampling", hidden_layer_sizes=(), max_iter=25).fit(X, y)
    check_outputs(clf, X, y, min_score=0.5)
    # and sparse X with a hidden layer too
    check_outputs(small(method="sampling", max_iter=25).fit(Xs, y), Xs, y, min_score=0.5)


# =========================================================================== transform


def hidden_by_hand(clf, X):
    """relu(... relu(X W1 + b1) ...) in float64 from the fitted weights."""
    h = np.asarray(X, dtype=np.float32).astype(np.float64)
    for layer in clf.network_.backbone.layers[::2]:
        w = layer.weight.detach().double().numpy()
        b = layer.bias.detach().double().numpy()
        h = np.maximum(h @ w + b, 0.0)
    return h


@pytest.mark.parametrize("method", METHODS)
def test_transform_is_the_last_hidden_layer(data, method):
    X, y = data
    clf = small(method=method, hidden_layer_sizes=(16, 8), max_iter=3).fit(X, y)
    for dtype in (np.float32, np.float64):
        Xt = clf.transform(X.astype(dtype))
        assert Xt.shape == (X.shape[0], 8)
        assert Xt.dtype == dtype
        rtol = 1e-5 if dtype == np.float32 else 1e-12
        np.testing.assert_allclose(Xt, hidden_by_hand(clf, X), rtol=rtol, atol=rtol)
    Xs = sp.csr_matrix(X)  # float32 CSR: float32 features
    out = clf.transform(Xs)
    assert out.dtype == np.float32 and out.shape == (X.shape[0], 8)
    np.testing.assert_allclose(out, hidden_by_hand(clf, X), rtol=1e-5, atol=1e-5)
    assert list(clf.get_feature_names_out()) == [f"mheclassifier{i}" for i in range(8)]


@pytest.mark.parametrize("method", ["product", "sampling"])
def test_fit_transform_equals_fit_then_transform(data, method):
    X, y = data
    a = small(method=method, max_iter=3).fit_transform(X, y)
    b = small(method=method, max_iter=3).fit(X, y).transform(X)
    np.testing.assert_array_equal(a, b)
    c = small(method=method, max_iter=3, random_state=1).fit(X, y).transform(X)
    assert not np.array_equal(a, c)  # the seed matters: the equality is not vacuous


def test_transform_in_a_pipeline(data):
    X, y = data
    pipe = Pipeline(
        [("mhe", small(method="sampling", max_iter=10)), ("lr", LogisticRegression(max_iter=500))]
    ).fit(X, y)
    features = pipe[0].transform(X)
    assert features.shape == (X.shape[0], 16)
    np.testing.assert_array_equal(pipe.predict(X), pipe[1].predict(features))
    assert pipe.score(X, y) > 0.8


def test_transform_without_hidden_layers_returns_X(data):
    X, y = data
    clf = small(hidden_layer_sizes=(), max_iter=2).fit(X, y)
    out = clf.transform(X)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, X)
    Xs = sp.csr_matrix(np.where(np.abs(X) > 0.5, X, 0.0).astype(np.float32))
    out = clf.transform(Xs)
    assert sp.issparse(out) and out.shape == Xs.shape
    np.testing.assert_array_equal(out.toarray(), Xs.toarray())


def test_transform_without_hidden_layers_returns_validated_X(data):
    X, y = data
    clf = small(hidden_layer_sizes=(), max_iter=2).fit(X, y)
    X64 = X.astype(np.float64) + 1e-9  # not representable in float32
    out = clf.transform(X64)
    assert out.dtype == np.float64  # the output dtype follows X; the values are validated float32
    np.testing.assert_array_equal(out, X64.astype(np.float32).astype(np.float64))
