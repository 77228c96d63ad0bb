"""SparseLinear's sparse weight gradient (one row per distinct column) against the dense product."""

import numpy as np
import pytest
import torch

from skmhe.nn import SparseBatch
from skmhe.nn.layers import SparseLinear


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_sparse_gradient_matches_dense_product(seed):
    rng = np.random.default_rng(seed)
    n, n_in, n_out = 7, 30, 5
    dense = np.zeros((n, n_in))
    for i in range(n):
        if i != 3:  # row 3 has no entry
            cols = rng.choice(n_in, size=rng.integers(1, 6), replace=False)
            dense[i, cols] = rng.standard_normal(cols.size)
    rows, cols = np.nonzero(dense)
    offsets = np.searchsorted(rows, np.arange(n))
    batch = SparseBatch(torch.tensor(cols), torch.tensor(offsets), torch.tensor(dense[rows, cols], dtype=torch.float64))
    layer = SparseLinear(n_in, n_out, sparse_grad=True, generator=torch.Generator().manual_seed(seed)).double()
    weight = layer.weight.detach().clone().requires_grad_(True)
    upstream = torch.tensor(rng.standard_normal((n, n_out)))
    out = layer(batch)
    (out * upstream).sum().backward()
    x = torch.tensor(dense)
    ref = x @ weight + layer.bias.detach()
    (ref * upstream).sum().backward()
    torch.testing.assert_close(out.detach(), ref.detach(), rtol=1e-12, atol=1e-12)
    grad = layer.weight.grad
    assert grad.is_sparse
    present = np.unique(cols)
    np.testing.assert_array_equal(grad._indices()[0].numpy(), present)  # sorted, one row per column
    torch.testing.assert_close(grad.to_dense(), weight.grad, rtol=1e-12, atol=1e-12)
    with torch.no_grad():  # inference takes the plain embedding_bag
        torch.testing.assert_close(layer(batch), ref.detach(), rtol=1e-12, atol=1e-12)
