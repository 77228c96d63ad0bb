"""Top-k scorers through meta-estimators: Pipeline, fitted searches and cross_val_score."""

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.base import BaseEstimator
from sklearn.model_selection import GridSearchCV, KFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

from skmhe import MHEMultiLabelClassifier
from skmhe.metrics import make_topk_scorer, precision_at_k


class ColumnRanker(BaseEstimator):
    """Ranks the classes by the value of their column of ``X`` (class ``j``: column ``j``)."""

    def __init__(self, shift=0.0):
        self.shift = shift

    def fit(self, X, y):
        self.classes_ = np.unique(y)
        return self

    def predict_topk(self, X, k=5):
        order = np.argsort(-(np.asarray(X) + self.shift), axis=1, kind="stable")[:, :k]
        return self.classes_[order], np.zeros(order.shape)

    def score(self, X, y):
        return 0.0


def _ranked_data():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 4))
    y = np.array(["a", "b", "c", "d"])[np.argmax(X, axis=1)]  # the top column is the label
    return X, y


def test_scorer_transforms_through_the_pipeline():
    X, y = _ranked_data()
    scorer = make_topk_scorer("precision", k=1)
    assert scorer(ColumnRanker().fit(X, y), X, y) == 1.0
    negate = make_pipeline(FunctionTransformer(np.negative), ColumnRanker()).fit(X, y)
    assert not hasattr(negate, "predict_topk")
    assert scorer(negate, X, y) == 0.0  # the last step saw -X: the top column ranks last
    expected = precision_at_k(y, negate[-1].predict_topk(-X, 4)[0], k=4)
    assert make_topk_scorer("precision", k=4)(negate, X, y) == pytest.approx(expected)


def test_scorer_ranks_through_a_fitted_search():
    X, y = _ranked_data()
    search = GridSearchCV(make_pipeline(FunctionTransformer(np.negative), ColumnRanker()),
                          {"columnranker__shift": [0.0, 1.0]}, cv=2).fit(X, y)
    scorer = make_topk_scorer("recall", k=1)
    assert scorer(search, X, y) == scorer(search.best_estimator_, X, y) == 0.0
    unrefit = GridSearchCV(ColumnRanker(), {"shift": [0.0]}, cv=2, refit=False).fit(X, y)
    with pytest.raises(AttributeError, match="refit=False"):
        scorer(unrefit, X, y)
    with pytest.raises(AttributeError, match="no predict_topk"):
        scorer(StandardScaler().fit(X), X, y)


def _multilabel_data(n=90, n_labels=6):
    rng = np.random.default_rng(0)
    Y = sp.random(n, n_labels, density=0.3, format="lil", random_state=1, data_rvs=np.ones)
    Y[np.arange(n), rng.integers(0, n_labels, n)] = 1
    Y = sp.csr_matrix(Y)
    X = Y @ rng.normal(size=(n_labels, 8)) + 0.1 * rng.normal(size=(n, 8))
    return X, Y


def test_real_estimator_in_pipeline_search_and_cross_val_score():
    X, Y = _multilabel_data()
    lists = [tuple(row) for row in Y.tolil().rows]  # the sparse route: label lists
    model = make_pipeline(StandardScaler(), MHEMultiLabelClassifier(hidden_layer_sizes=(16,), max_iter=3, random_state=0))
    scorer = make_topk_scorer("precision", k=1)
    with pytest.raises(TypeError, match="'y' parameter"):  # scikit-learn's check refuses CSR
        cross_val_score(model, X, Y, scoring=scorer, cv=KFold(2))
    on_lists = cross_val_score(model, X, lists, scoring=scorer, cv=KFold(2))
    on_dense = cross_val_score(model, X, Y.toarray(), scoring=scorer, cv=KFold(2))
    np.testing.assert_allclose(on_lists, on_dense)
    assert on_lists.shape == (2,) and np.all((on_lists >= 0) & (on_lists <= 1))
    search = GridSearchCV(model, {"mhemultilabelclassifier__alpha": [1e-4]}, cv=KFold(2),
                          scoring=scorer).fit(X, lists)
    labels, _ = search.best_estimator_[-1].predict_topk(search.best_estimator_[0].transform(X), 1)
    assert scorer(search, X, lists) == pytest.approx(precision_at_k(lists, labels, k=1))


def test_scorer_refuses_labels_outside_classes():
    X, y = _ranked_data()
    ranker = ColumnRanker().fit(X, y)
    ranker.predict_topk = lambda X, k: (np.full((len(X), k), "q"), None)  # "q" is no class
    with pytest.raises(ValueError, match="not in the estimator's classes_: 'q'"):
        make_topk_scorer("precision", k=1)(ranker, X, y)
