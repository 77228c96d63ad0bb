"""Batch prediction over chunked Dask arrays on a 2-process dask.distributed LocalCluster."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import scipy.sparse as sp
import torch

da = pytest.importorskip("dask.array", reason="dask[array] is not installed (pip install -e '.[test]')")
distributed = pytest.importorskip("distributed", reason="dask.distributed is not installed")
wrappers = pytest.importorskip("dask_ml.wrappers", reason="dask-ml is not installed")

from skmhe import MHEClassifier, MHEMultiLabelClassifier  # noqa: E402
from skmhe.dask import predict_topk  # noqa: E402
from skmhe.datasets import make_extreme_classification  # noqa: E402

#: seconds any one cluster operation (start, compute) may take
TIMEOUT_S = 120
CHUNK = 70  # rows per chunk: uneven last chunk

pytestmark = pytest.mark.usefixtures("one_thread")


def _set_one_thread() -> None:
    torch.set_num_threads(1)


@pytest.fixture(scope="module")
def client():
    """A client of a LocalCluster of 2 worker processes, always closed."""
    with distributed.LocalCluster(
        n_workers=2, processes=True, threads_per_worker=1, dashboard_address=None,
        timeout=TIMEOUT_S,
    ) as cluster, distributed.Client(cluster, timeout=TIMEOUT_S) as client:
        client.wait_for_workers(2, timeout=TIMEOUT_S)
        client.run(_set_one_thread)
        yield client


def compute(client, *arrays):
    """The arrays computed together on the cluster, each task run once, bounded in time."""
    futures = client.compute(list(arrays))
    return [future.result(timeout=TIMEOUT_S) for future in futures]


@pytest.fixture(scope="module")
def data():
    X, y = make_extreme_classification(
        n_samples=400, n_features=30, n_classes=40, class_sep=2.0, random_state=0
    )
    return X, y


@pytest.fixture(scope="module", params=["product", "cascade", "multilabel"])
def fitted(request, data):
    X, y = data
    common = dict(hidden_layer_sizes=(16,), max_iter=3, random_state=0, device="cpu")
    if request.param == "multilabel":  # two labels per row, a CSR indicator
        rows = np.repeat(np.arange(len(y)), 2)
        cols = np.stack([y, (y + 1) % 40], axis=1).ravel()
        Y = sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(len(y), 40))
        return MHEMultiLabelClassifier(**common).fit(X, Y)
    return MHEClassifier(method=request.param, **common).fit(X, y)


@pytest.fixture(params=["dense", "csr"])
def chunked(request, data):
    """``(X in memory, X as a dask array)``: dense chunks or scipy CSR chunks."""
    X = data[0] if request.param == "dense" else sp.csr_matrix(data[0])
    dX = da.from_array(X, chunks=(CHUNK, -1), asarray=False)
    assert isinstance(dX.blocks[0].compute(), type(X))
    return X, dX


def _predict_lazily(estimator, dX):
    """``predict`` over the chunks: ParallelPostFit for one label per row, else ``map_blocks``."""
    if isinstance(estimator, MHEClassifier):
        return wrappers.ParallelPostFit(estimator).predict(dX)
    # ParallelPostFit.predict drops the second axis: an indicator matrix needs its chunks given
    n_labels = len(estimator.classes_)
    return dX.map_blocks(
        estimator.predict, chunks=(dX.chunks[0], (n_labels,)), dtype=np.int64,
        meta=sp.csr_matrix((0, n_labels), dtype=np.int64),
    )


def test_predict_and_proba_match_in_process(client, fitted, chunked):
    X, dX = chunked
    proba_lazy = wrappers.ParallelPostFit(fitted).predict_proba(dX)
    predicted, proba = compute(client, _predict_lazily(fitted, dX), proba_lazy)
    expected = fitted.predict(X)
    if sp.issparse(expected):  # multi-label indicator output
        expected, predicted = expected.toarray(), predicted.toarray()
    np.testing.assert_array_equal(predicted, expected)
    # float64 throughout; chunks of another shape may round the last bit differently
    np.testing.assert_allclose(proba, fitted.predict_proba(X), rtol=1e-12, atol=1e-15)


def test_predict_topk_matches_in_process(client, fitted, chunked):
    X, dX = chunked
    labels, scores = compute(client, *predict_topk(fitted, dX, k=3))
    expected_labels, expected_scores = fitted.predict_topk(X, 3)
    np.testing.assert_array_equal(labels, expected_labels)
    np.testing.assert_allclose(scores, expected_scores, rtol=1e-12, atol=1e-15)


def test_map_blocks_recipe(client, data):
    X, y = data
    clf = MHEClassifier(hidden_layer_sizes=(16,), max_iter=2, random_state=0, device="cpu").fit(X, y)
    dX = da.from_array(X, chunks=(CHUNK, -1))
    (predicted,) = compute(client, dX.map_blocks(clf.predict, drop_axis=1, dtype=clf.classes_.dtype))
    np.testing.assert_array_equal(predicted, clf.predict(X))


def test_predict_topk_merges_feature_chunks_and_checks_k(data):
    X, y = data
    clf = MHEClassifier(hidden_layer_sizes=(), max_iter=1, random_state=0, device="cpu").fit(X, y)
    labels, _ = predict_topk(clf, da.from_array(X, chunks=(CHUNK, 7)), k=2)
    assert labels.shape == (X.shape[0], 2) and labels.numblocks == (6, 1)
    np.testing.assert_array_equal(labels.compute(scheduler="sync"), clf.predict_topk(X, 2)[0])
    with pytest.raises(ValueError, match="k must be in"):
        predict_topk(clf, da.from_array(X, chunks=(CHUNK, -1)), k=0)
    with pytest.raises(ValueError, match="2-D"):
        predict_topk(clf, da.from_array(X[:, 0], chunks=CHUNK), k=1)


def test_pickle_is_small_and_loads_on_cpu(data):
    X, y = data
    clf = MHEClassifier(hidden_layer_sizes=(256,), max_iter=1, random_state=0, device="cpu").fit(X, y)
    weights = sum(p.numel() * p.element_size() for p in clf.network_.parameters())
    size = len(pickle.dumps(clf))
    # the weights and Adam's two moments (kept so that training continues exactly), once each
    assert 3 * weights < size < 3.2 * weights + 64 * 1024
    clf.set_params(device="cuda:7")  # a device this machine does not have
    loaded = pickle.loads(pickle.dumps(clf))
    assert loaded._device.type == ("cuda" if torch.cuda.device_count() > 7 else "cpu")
    np.testing.assert_array_equal(loaded.predict(X), clf.predict(X))
