"""GridSearchCV over skmhe estimators in parallel worker processes (joblib's loky backend)."""

from __future__ import annotations

import numpy as np
import pytest
from joblib import parallel_config
from sklearn.model_selection import GridSearchCV

from skmhe import MHEClassifier
from skmhe.datasets import make_extreme_classification

pytestmark = pytest.mark.usefixtures("one_thread")

GRID = {"hidden_layer_sizes": [(4,), (32,)], "learning_rate_init": [1e-4, 1e-2]}


def _search(n_jobs: int, X, y) -> GridSearchCV:
    estimator = MHEClassifier(max_iter=5, batch_size=32, random_state=0, device="cpu")
    search = GridSearchCV(estimator, GRID, cv=2, n_jobs=n_jobs)
    with parallel_config(backend="loky", inner_max_num_threads=1):  # one torch thread per worker
        return search.fit(X, y)


def test_two_jobs_find_the_same_best_params_as_one():
    X, y = make_extreme_classification(
        n_samples=400, n_features=20, n_classes=16, class_sep=2.0, random_state=0
    )
    serial, parallel = _search(1, X, y), _search(2, X, y)
    scores = serial.cv_results_["mean_test_score"]
    assert np.ptp(scores) > 0.1  # the grid matters: a wrong pick would show
    assert parallel.best_params_ == serial.best_params_
    np.testing.assert_allclose(parallel.cv_results_["mean_test_score"], scores, atol=0.01)
    np.testing.assert_array_equal(parallel.predict(X), serial.predict(X))
