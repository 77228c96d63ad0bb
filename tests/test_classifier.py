"""Behaviour of MHEClassifier beyond the sklearn common checks."""

import pickle

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import torch
from sklearn.datasets import make_blobs
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline

from skmhe import LabelCodec, MHEClassifier

# tiny networks; and one thread whatever the load, so that two fits compared bit for bit
# split their sums alike (n_jobs=None follows the load)
pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def blobs():
    X, y = make_blobs(600, n_features=10, centers=30, cluster_std=0.5, random_state=0)
    return X.astype(np.float32), y


def small(**kw):
    params = dict(method="product", hidden_layer_sizes=(32,), max_iter=40, batch_size=32,
                  learning_rate_init=3e-3, random_state=0)  # the product head; test_methods has the others
    params.update(kw)
    return MHEClassifier(**params)


def test_learns_and_chooses_balanced_factors(blobs):
    X, y = blobs
    clf = small().fit(X, y)
    assert clf.codec_.factors == LabelCodec.for_n_classes(30, 2).factors == (6, 5)
    assert clf.score(X, y) > 0.95
    assert clf.n_iter_ == len(clf.loss_curve_) > 0
    assert clf.loss_curve_[-1] < clf.loss_curve_[0]


def test_one_head_is_a_dense_softmax(blobs):
    X, y = blobs
    clf = small(factors=(30,)).fit(X, y)
    head = clf.network_.head.linear
    assert tuple(head.weight.shape) == (32, 30)  # a full C-wide output layer
    assert clf.score(X, y) > 0.95


def test_outputs_are_consistent(blobs):
    X, y = blobs
    clf = small(factors=(4, 4, 2)).fit(X, y)  # 32 codes for 30 classes: padding
    proba = clf.predict_proba(X)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-12)
    np.testing.assert_allclose(np.log(proba), clf.predict_log_proba(X), rtol=1e-9, atol=1e-12)
    np.testing.assert_array_equal(clf.classes_[proba.argmax(1)], clf.predict(X))
    labels, top = clf.predict_topk(X, k=30)
    order = np.argsort(-proba, axis=1, kind="stable")
    np.testing.assert_allclose(top, np.take_along_axis(proba, order, 1), rtol=1e-9, atol=1e-12)
    np.testing.assert_array_equal(labels[:, 0], clf.predict(X))
    assert set(np.unique(labels)) <= set(clf.classes_)


def test_string_labels_in_a_text_pipeline():
    words = ["alpha", "beta", "gamma", "delta", "omega", "sigma"]
    rng = np.random.default_rng(0)
    docs, labels = [], []
    for _ in range(300):
        i = int(rng.integers(len(words)))
        docs.append(" ".join([words[i]] * 3 + list(rng.choice(words, 2))))
        labels.append(f"topic-{words[i]}")
    pipe = Pipeline([("tfidf", TfidfVectorizer()), ("clf", small(max_iter=60))]).fit(docs, labels)
    pred = pipe.predict(docs)
    assert pred.dtype.kind in "UO" and set(pred) <= set(labels)
    assert np.mean(pred == np.asarray(labels)) > 0.9
    top, proba = pipe[-1].predict_topk(pipe[:-1].transform(docs[:4]), k=3)
    assert top.shape == proba.shape == (4, 3)
    np.testing.assert_array_equal(top[:, 0], pred[:4])


def test_sparse_input_matches_dense(blobs):
    X, y = blobs
    X = np.abs(X) * (np.abs(X) > 2)  # mostly zeros
    for lazy in (False, True):  # same optimizer either way, whatever the input container
        dense = small(batch_size=64, shuffle=False, sparse_updates=lazy).fit(X, y)
        sparse = small(batch_size=64, shuffle=False, sparse_updates=lazy).fit(sp.csr_matrix(X), y)
        assert dense.sparse_updates_ is sparse.sparse_updates_ is lazy
        np.testing.assert_allclose(
            dense.predict_proba(X), sparse.predict_proba(sp.csr_matrix(X)), rtol=1e-3, atol=1e-5
        )


def test_sparse_updates_touch_only_the_rows_in_the_batch(blobs):
    X, y = blobs
    X = np.abs(X) * (np.abs(X) > 2)
    X[:, 0] = 0.0  # feature 0 is never present
    Xs = sp.csr_matrix(X)
    clf = small(sparse_updates=True).partial_fit(Xs, y, classes=np.unique(y))
    assert clf.sparse_updates_ is True and clf.network_.backbone.layers[0].sparse_grad
    before = clf.network_.backbone.layers[0].weight.detach().clone()
    losses = clf.partial_fit(Xs, y).partial_fit(Xs, y).loss_curve_
    after = clf.network_.backbone.layers[0].weight.detach()
    # Adam's momentum and the L2 penalty would move row 0 too; the lazy update leaves it
    assert torch.equal(after[0], before[0])
    assert not torch.equal(after[1:], before[1:])
    assert losses[-1] < losses[0]
    dense_adam = small(sparse_updates=False).partial_fit(Xs, y, classes=np.unique(y))
    w = dense_adam.network_.backbone.layers[0].weight.detach().clone()
    dense_adam.partial_fit(Xs, y)
    assert not torch.equal(dense_adam.network_.backbone.layers[0].weight.detach()[0], w[0])


def test_pandas_input_keeps_feature_names(blobs):
    X, y = blobs
    df = pd.DataFrame(X, columns=[f"f{i}" for i in range(X.shape[1])])
    clf = small().fit(df, y)
    assert list(clf.feature_names_in_) == list(df.columns)
    with pytest.warns(UserWarning, match="feature names"):
        from_array = clf.predict(X)
    np.testing.assert_array_equal(clf.predict(df), from_array)


def test_grid_search_over_factors_and_hidden_sizes(blobs):
    X, y = blobs
    grid = GridSearchCV(
        small(max_iter=15),
        {"factors": [(30,), (6, 5)], "hidden_layer_sizes": [(16,), (32,)]},
        cv=2,
    ).fit(X, y)
    assert grid.best_params_["factors"] in [(30,), (6, 5)]
    assert len(grid.cv_results_["mean_test_score"]) == 4


def test_pickle_round_trip(blobs):
    X, y = blobs
    clf = small().fit(X, y)
    clone = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(clone.predict_proba(X), clf.predict_proba(X))
    np.testing.assert_array_equal(clone.predict_topk(X, 5)[0], clf.predict_topk(X, 5)[0])


def test_reproducible_and_leaves_global_rng_alone(blobs):
    X, y = blobs
    torch_state, np_state = torch.random.get_rng_state(), np.random.get_state()
    a = small().fit(X, y)
    b = small().fit(X, y)
    assert torch.equal(torch.random.get_rng_state(), torch_state)
    assert np.array_equal(np.random.get_state()[1], np_state[1])
    np.testing.assert_array_equal(a.predict_proba(X), b.predict_proba(X))
    assert a.loss_curve_ == b.loss_curve_
    c = small(random_state=1).fit(X, y)
    assert c.loss_curve_ != a.loss_curve_


def test_partial_fit_and_warm_start(blobs):
    X, y = blobs
    clf = small()
    with pytest.raises(ValueError, match="classes must be passed"):
        clf.partial_fit(X, y)
    classes = np.arange(31)  # one class never seen in y
    for _ in range(20):
        clf.partial_fit(X, y, classes=classes)
    assert clf.n_iter_ == 20 and clf.t_ == 20 * len(y)
    assert clf.score(X, y) > 0.9
    with pytest.raises(ValueError, match="not seen"):
        clf.partial_fit(X[:2], [0, 99])
    with pytest.raises(ValueError, match="not the same"):
        clf.partial_fit(X, y, classes=np.arange(5))
    warm = small(max_iter=5, warm_start=True).fit(X, y)
    first = warm.n_iter_
    warm.fit(X, y)
    assert warm.n_iter_ == first + 5
    with pytest.raises(ValueError, match="same classes"):
        warm.fit(X[:3], [100, 101, 102])


def test_early_stopping_keeps_validation_history(blobs):
    X, y = blobs
    clf = small(early_stopping=True, n_iter_no_change=2, max_iter=200).fit(X, y)
    assert clf.validation_scores_ is not None
    assert len(clf.validation_scores_) == clf.n_iter_ < 200
    assert clf.best_validation_score_ == max(clf.validation_scores_)


def test_verbose_prints_the_loss(blobs, capsys):
    X, y = blobs
    small(max_iter=2, verbose=True).fit(X, y)
    out = capsys.readouterr().out
    assert "Iteration 1, loss = " in out and "Iteration 2, loss = " in out


def test_predict_proba_memory_cap_points_to_topk(blobs):
    X, y = blobs
    clf = small(max_iter=2, proba_memory_limit=1000).fit(X, y)
    with pytest.raises(ValueError, match="predict_topk"):
        clf.predict_proba(X)
    labels, proba = clf.predict_topk(X, k=2)  # still available
    assert labels.shape == proba.shape == (len(X), 2)


BAD_INPUTS = [
    ("nan", lambda X, y: (np.where(np.arange(X.size).reshape(X.shape) == 3, np.nan, X), y), ValueError, "NaN"),
    ("inf", lambda X, y: (np.where(np.arange(X.size).reshape(X.shape) == 3, np.inf, X), y), ValueError, "infinity"),
    ("empty", lambda X, y: (X[:0], y[:0]), ValueError, "0 sample"),
    ("1-D X", lambda X, y: (X[:, 0], y), ValueError, "2D array"),
    ("length mismatch", lambda X, y: (X, y[:-1]), ValueError, "inconsistent numbers of samples"),
    ("complex X", lambda X, y: (X.astype(np.complex128), y), ValueError, "Complex"),
    ("object X", lambda X, y: (np.full(X.shape, "a", dtype=object), y), ValueError, "could not convert"),
    ("continuous y", lambda X, y: (X, y + 0.5), ValueError, "Unknown label type"),
    ("y is None", lambda X, y: (X, None), ValueError, "requires y"),
]


@pytest.mark.parametrize("name,make,exc,msg", BAD_INPUTS, ids=[b[0] for b in BAD_INPUTS])
def test_bad_fit_input_raises_clearly(blobs, name, make, exc, msg):
    X, y = blobs
    Xb, yb = make(X.astype(np.float64), y)
    with pytest.raises(exc, match=msg):
        small(max_iter=1).fit(Xb, yb)


def test_bad_predict_input_raises_clearly(blobs):
    X, y = blobs
    clf = small(max_iter=2).fit(X, y)
    with pytest.raises(ValueError, match="features"):
        clf.predict(X[:, :5])
    with pytest.raises(ValueError, match=r"k must be in \[1, n_classes=30\]"):
        clf.predict_topk(X, k=31)
    with pytest.raises(ValueError, match="k must be in"):
        clf.predict_topk(X, k=0)
    with pytest.raises(TypeError, match="k must be an int"):
        clf.predict_topk(X, k=2.5)
    with pytest.raises(ValueError, match="NaN"):
        clf.predict(np.full_like(X[:2], np.nan))


@pytest.mark.parametrize(
    "factors,msg",
    [((5, 5), "fewer than the 30 classes"), ((0, 40), ">= 1"), ((), "at least one"), ((2.5, 20), "positive ints")],
)
def test_bad_factors_raise(blobs, factors, msg):
    X, y = blobs
    with pytest.raises(ValueError, match=msg):
        small(factors=factors, max_iter=1).fit(X, y)


def test_bad_parameters_raise(blobs):
    X, y = blobs
    with pytest.raises(ValueError, match="activation"):
        small(activation="gelu").fit(X, y)
    with pytest.raises(ValueError, match="n_heads"):
        small(n_heads=0).fit(X, y)
    with pytest.raises(ValueError, match="device must be"):
        small(device="tpu:0").fit(X, y)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error raised where CUDA is missing")
def test_asking_for_cuda_without_it_raises(blobs):
    X, y = blobs
    with pytest.raises(ValueError, match="CUDA is not available"):
        small(device="cuda").fit(X, y)


def test_log_likelihood_matches_predict_proba(blobs):
    X, y = blobs
    clf = small(factors=(4, 4, 2), max_iter=5).fit(X, y)
    proba = clf.predict_proba(X)
    ll = clf.log_likelihood(X, y)
    np.testing.assert_allclose(ll, np.log(proba[np.arange(len(y)), y]), rtol=1e-9)
    ll_unseen = clf.log_likelihood(X[:2], np.array([0, 1000]))
    assert np.isfinite(ll_unseen[0]) and ll_unseen[1] == -np.inf
    with pytest.raises(ValueError, match="shape"):
        clf.log_likelihood(X, y[:-1])


def test_model_saved_for_cuda_loads_on_a_cpu_only_machine(blobs, monkeypatch):
    X, y = blobs
    clf = small(max_iter=2).fit(X, y)
    expected = clf.predict_proba(X)
    clf.device = "cuda"  # as if it had been trained on a GPU
    payload = pickle.dumps(clf)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    restored = pickle.loads(payload)
    assert next(restored.network_.parameters()).device.type == "cpu"
    np.testing.assert_array_equal(restored.predict_proba(X), expected)


def test_demo_quick_runs(tmp_path):
    from benchmarks import demo

    out = tmp_path / "demo.json"
    assert demo.main(["--quick", "--threads", "1", "--quiet", "--out", str(out)]) == 0
    import json

    rows = {r["model"]: r for r in json.loads(out.read_text())["results"]}
    assert list(rows) == [name for name, _ in demo.MODELS]
    assert all(0.0 <= r["accuracy"] <= 1.0 and r["output_params"] > 0 for r in rows.values())
    default, product, dense = (rows[name] for name, _ in (demo.MODELS[0], demo.MODELS[1], demo.MODELS[3]))
    assert default["factors"] == product["factors"] != dense["factors"] == "100"
    assert product["output_params"] < dense["output_params"]
    assert (tmp_path / "demo.png").stat().st_size > 0  # the plot beside the JSON
