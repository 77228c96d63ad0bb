"""make_xmc_multilabel: XMC statistics, label-word ties, seeding and parameter checks."""

import numpy as np
import pytest
import scipy.sparse as sp

from skmhe.datasets import make_xmc_multilabel


@pytest.fixture(scope="module")
def data():
    return make_xmc_multilabel(n_samples=4000, n_labels=4000, n_features=20000, random_state=0)


def test_shapes_formats_and_row_statistics(data):
    X, Y = data
    assert sp.isspmatrix_csr(X) and sp.isspmatrix_csr(Y)
    assert X.shape == (4000, 20000) and Y.shape == (4000, 4000)
    assert X.dtype == np.float32 and X.indices.dtype == np.int32 and X.has_sorted_indices
    np.testing.assert_allclose(sp.linalg.norm(X, axis=1), 1.0, rtol=1e-5)
    assert np.all(Y.data == 1) and np.diff(Y.indptr).min() >= 1
    assert 4.5 < Y.nnz / 4000 < 5.5  # about 5 labels a row
    assert 90 < X.nnz / 4000 < 110  # about 100 entries a row


def test_long_tail_of_labels(data):
    _, Y = data
    counts = np.bincount(Y.indices, minlength=Y.shape[1])
    assert np.mean(counts < 10) > 0.8  # most labels have under 10 positives
    assert counts.max() > 50 * np.median(counts[counts > 0])  # and a few are very frequent


def test_labels_are_tied_to_words(data):
    X, Y = data
    # a label's positive rows share words far more than random rows do: the task is learnable
    counts = np.bincount(Y.indices, minlength=Y.shape[1])
    rng = np.random.default_rng(0)
    labels = np.flatnonzero((counts >= 5) & (counts <= 50))[:40]
    Xb = (X > 0).astype(np.float32)
    Yc = Y.tocsc()
    train, held_out = np.arange(2000), np.arange(2000, 4000)
    base_rate = np.asarray(Xb[train].mean(0)).ravel()
    tied, random = [], []
    for label in labels:
        rows = Yc.indices[Yc.indptr[label] : Yc.indptr[label + 1]]
        fit, check = rows[rows < 2000], rows[rows >= 2000]
        if len(fit) < 2 or len(check) < 2:
            continue
        # the words most over-represented in the label's rows of one half ...
        top = np.argsort(-(np.asarray(Xb[fit].mean(0)).ravel() - base_rate))[:8]
        # ... are over-represented in its rows of the other half too
        tied.append(Xb[check][:, top].mean())
        random.append(Xb[rng.choice(held_out, 200)][:, top].mean())
    assert len(tied) >= 10 and np.mean(tied) > 5 * np.mean(random)


def test_seeded_and_parameters_checked():
    a = make_xmc_multilabel(300, 200, n_features=1000, random_state=1)
    b = make_xmc_multilabel(300, 200, n_features=1000, random_state=1)
    c = make_xmc_multilabel(300, 200, n_features=1000, random_state=2)
    assert (a[0] != b[0]).nnz == 0 and (a[1] != b[1]).nnz == 0 and (a[1] != c[1]).nnz > 0
    flat = make_xmc_multilabel(300, 200, n_features=1000, label_power=0.0, n_topics=1, random_state=0)[1]
    assert flat.shape == (300, 200)
    for kwargs, name in [
        (dict(n_labels=0), "n_labels"),
        (dict(n_features=100), "n_features"),
        (dict(labels_per_row=0.5), "labels_per_row"),
        (dict(n_topics=500), "n_topics"),
        (dict(topic_purity=1.5), "topic_purity"),
    ]:
        with pytest.raises(ValueError, match=name):
            make_xmc_multilabel(**{"n_samples": 10, "n_labels": 200, **kwargs})
