"""Row batches: ``rows_to_batch`` over a ``RowSubset`` reads the same rows as over a copy."""

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from skmhe._batching import RowSubset, rows_to_batch


@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize("index", [np.array([3, 0, 0, 5]), slice(1, 4), np.array([], dtype=np.int64)])
def test_row_subset_reads_the_rows_of_a_copy(sparse, index):
    rng = np.random.default_rng(0)
    X = rng.random((9, 5)).astype(np.float32) * (rng.random((9, 5)) < 0.5)
    X = sp.csr_matrix(X) if sparse else X
    rows = np.array([8, 2, 6, 1, 4, 7])
    subset = RowSubset(X, rows)
    assert subset.shape == (6, 5)
    got = rows_to_batch(subset, index, torch.device("cpu"), as_sparse=sparse)
    want = rows_to_batch(X[rows], index, torch.device("cpu"), as_sparse=sparse)
    for g, w in zip(got if sparse else [got], want if sparse else [want]):
        assert torch.equal(g, w)
