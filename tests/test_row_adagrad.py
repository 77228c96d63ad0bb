"""RowAdagrad: row-wise Adagrad on the rows of a sparse gradient, against a dense float64 loop."""

from unittest import mock

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import skmhe._lazy_rows
from skmhe._row_adagrad import RowAdagrad


def _reference(start, grads, lr, eps, decay):
    """Row-wise Adagrad written row by row over dense gradients (a row absent: all-zero and unlisted)."""
    weight, sums = start.clone(), torch.zeros(start.shape[0], dtype=torch.float64)
    for rows, dense in grads:
        for r in rows.unique().tolist():
            g = dense[r] + decay * weight[r]
            sums[r] += (g * g).mean()
            weight[r] -= lr * g / (sums[r].sqrt() + eps)
    return weight, sums


@settings(max_examples=25, deadline=None)
@given(
    n_rows=st.integers(1, 9),
    dim=st.integers(1, 5),
    steps=st.integers(1, 4),
    decay=st.sampled_from([0.0, 0.3]),
    coalesced=st.booleans(),
    dtype=st.sampled_from([torch.float64, torch.float32]),
    seed=st.integers(0, 2**16),
    chunk=st.sampled_from([None, 1, 3, 8]),
)
def test_row_adagrad_matches_the_row_by_row_loop(n_rows, dim, steps, decay, coalesced, dtype, seed, chunk):
    """Duplicated rows are summed, absent rows and their sums stay, L2 only on the rows present;
    the same in chunks of ``chunk`` values (a chunk narrower than a row still takes one row)."""
    with mock.patch.object(skmhe._lazy_rows, "CHUNK_ELEMENTS", chunk or skmhe._lazy_rows.CHUNK_ELEMENTS):
        _check_against_the_loop(n_rows, dim, steps, decay, coalesced, dtype, seed)


def _check_against_the_loop(n_rows, dim, steps, decay, coalesced, dtype, seed):
    gen = torch.Generator().manual_seed(seed)
    start = torch.randn(n_rows, dim, generator=gen, dtype=torch.float64)
    param = torch.nn.Parameter(start.clone().to(dtype))
    opt = RowAdagrad([param], lr=0.1, eps=1e-10, weight_decay=decay)
    grads = []
    for _ in range(steps):
        n_entries = int(torch.randint(0, 2 * n_rows + 1, (1,), generator=gen))  # 0: an empty gradient
        rows = torch.randint(0, n_rows, (n_entries,), generator=gen)
        values = torch.randn(rows.numel(), dim, generator=gen, dtype=torch.float64)
        grad = torch.sparse_coo_tensor(rows.unsqueeze(0), values, (n_rows, dim))
        grads.append((rows, grad.to_dense()))
        param.grad = (grad.coalesce() if coalesced else grad).to(dtype)
        opt.step()
    weight, sums = _reference(start, grads, 0.1, 1e-10, decay)
    tol = 1e-12 if dtype == torch.float64 else 2e-5
    torch.testing.assert_close(param.detach().double(), weight, rtol=tol, atol=tol)
    torch.testing.assert_close(opt.state[param]["sum"].double(), sums, rtol=tol, atol=tol)
    assert opt.state[param]["step"] == steps


def test_row_adagrad_shrinks_a_rows_steps_with_its_own_updates_only():
    """A row updated once moves by ``lr`` per unit-RMS gradient however many steps have passed."""
    param = torch.nn.Parameter(torch.zeros(3, 4, dtype=torch.float64))
    opt = RowAdagrad([param], lr=0.5)
    def ones_at(row):  # a fresh gradient each step: the step writes into its values
        return torch.sparse_coo_tensor(torch.tensor([[row]]), torch.ones(1, 4, dtype=torch.float64), (3, 4))

    for _ in range(5):  # row 0 every step
        param.grad = ones_at(0)
        opt.step()
    param.grad = ones_at(2)
    opt.step()
    assert torch.allclose(param[2], torch.full((4,), -0.5, dtype=torch.float64))
    expected_row0 = -0.5 * sum(1 / k**0.5 for k in range(1, 6))
    assert torch.allclose(param[0], torch.full((4,), expected_row0, dtype=torch.float64))
    assert torch.equal(param[1], torch.zeros(4, dtype=torch.float64))


def test_row_adagrad_refuses_dense_gradients():
    param = torch.nn.Parameter(torch.zeros(3, 2))
    param.grad = torch.ones(3, 2)
    with pytest.raises(RuntimeError, match="sparse gradients only"):
        RowAdagrad([param]).step()


@pytest.mark.parametrize("rate", [1e-3, 2e-2])
def test_make_optimizer_moves_input_rows_at_the_scaled_rate(rate):
    """The first step moves each present row of a sparse input layer by ``INPUT_RATE_SCALE`` times
    the rate in root mean square (row-wise Adagrad), every dense coordinate by the rate (Adam:
    ``|m / sqrt(v)| = 1``), after ``set_learning_rate``; a lazily updated label table keeps the rate."""
    from torch import nn

    from skmhe._lazy_adam import LazyAdam
    from skmhe._schedule import INPUT_RATE_SCALE
    from skmhe._training import make_optimizer
    from skmhe.nn import MHENetwork, MLPBackbone, SparseBatch
    from skmhe.nn.heads import ProductHead
    from skmhe.nn.tables import EmbeddingTable

    gen = torch.Generator().manual_seed(0)
    network = MHENetwork(MLPBackbone(40, [8], generator=gen, sparse_grad=True), ProductHead(8, (3, 4)))
    optimizer = make_optimizer(network, 0.5, 0.0, 4)
    assert isinstance(optimizer.lazy["input_rows"], RowAdagrad)
    optimizer.set_learning_rate(rate)
    values = torch.tensor([1.0, 2.0, -1.0, 0.5])
    batch = SparseBatch(torch.tensor([1, 7, 7, 30]), torch.tensor([0, 2]), values)
    before = [p.detach().clone() for p in network.parameters()]
    optimizer.zero_grad()
    network.loss(batch, torch.tensor([[0, 1], [2, 3]])).backward()
    optimizer.step()
    input_weight = network.backbone.layers[0].weight
    for (name, param), old in zip(network.named_parameters(), before):
        moved = (param.detach() - old).abs()
        if param is input_weight:
            rms = moved[[1, 7, 30]].square().mean(dim=1).sqrt()
            torch.testing.assert_close(rms, torch.full((3,), rate * INPUT_RATE_SCALE), rtol=1e-4, atol=0)
        else:
            assert moved.max().item() == pytest.approx(rate, rel=1e-3), name
    untouched = [r for r in range(40) if r not in (1, 7, 30)]
    assert torch.equal(input_weight.detach()[untouched], before[0][untouched])
    table = nn.ModuleDict({"table": EmbeddingTable(10, 4, sparse_grad=True)})
    lazy = make_optimizer(table, rate, 0.0, 4).lazy
    assert list(lazy) == ["tables"] and isinstance(lazy["tables"], LazyAdam)
    assert [group["lr"] for group in lazy["tables"].param_groups] == [rate, rate]
