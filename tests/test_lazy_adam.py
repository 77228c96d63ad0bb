"""LazyAdam: the same updates as torch.optim.SparseAdam, on dense row blocks."""

import pytest
import torch

from skmhe._lazy_adam import LazyAdam
from skmhe._lazy_rows import chunk_rows, coalesced_rows


@pytest.mark.parametrize("coalesced", [True, False])
@pytest.mark.parametrize("dense_share", [0.0, 0.5, 2.0])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("chunk", [None, 4, 28])
def test_lazy_adam_matches_sparse_adam(coalesced, dense_share, dtype, chunk, monkeypatch):
    """Both routes (rows gathered; the whole table by the fused kernel, the other rows put
    back), and the mix of them that a share of 0.5 gives (30 draws of 50 rows: 25 to 30 rows);
    the whole-table route in one chunk, in chunks of one row and of 7 rows (the last one short)."""
    monkeypatch.setattr("skmhe._lazy_adam.DENSE_SHARE", dense_share)
    if chunk is not None:
        monkeypatch.setattr("skmhe._lazy_rows.CHUNK_ELEMENTS", chunk)
    tol = 1e-12 if dtype == torch.float64 else 2e-6
    gen = torch.Generator().manual_seed(0)
    start = torch.randn(50, 4, generator=gen, dtype=dtype)
    mine, ref = torch.nn.Parameter(start.clone()), torch.nn.Parameter(start.clone())
    opt, ref_opt = LazyAdam([mine], lr=0.01), torch.optim.SparseAdam([ref], lr=0.01)
    for _ in range(6):
        rows = torch.randint(0, 50, (30,), generator=gen)  # duplicates: summed
        values = torch.randn(30, 4, generator=gen, dtype=dtype)
        grad = torch.sparse_coo_tensor(rows.unsqueeze(0), values, (50, 4))
        mine.grad, ref.grad = (grad.coalesce(), grad.coalesce()) if coalesced else (grad, grad.clone())
        opt.step()
        ref_opt.step()
    torch.testing.assert_close(mine, ref, rtol=tol, atol=tol)
    for key in ("exp_avg", "exp_avg_sq"):
        torch.testing.assert_close(opt.state[mine][key], ref_opt.state[ref][key], rtol=tol, atol=tol)
    assert opt.state[mine]["step"] == 6


def test_coalesced_rows_sums_duplicates_and_keeps_sorted_rows():
    grad = torch.sparse_coo_tensor(torch.tensor([[3, 1, 3]]), torch.tensor([[1.0], [2.0], [4.0]]), (5, 1))
    rows, values = coalesced_rows(grad)
    assert rows.tolist() == [1, 3] and values.ravel().tolist() == [2.0, 5.0]
    sorted_grad = torch.sparse_coo_tensor(torch.tensor([[0, 2]]), torch.ones(2, 1), (5, 1))
    rows, values = coalesced_rows(sorted_grad)
    assert rows.tolist() == [0, 2] and values.data_ptr() == sorted_grad._values().data_ptr()  # no copy


def test_lazy_adam_refuses_dense_gradients():
    param = torch.nn.Parameter(torch.zeros(3, 2))
    param.grad = torch.ones(3, 2)
    with pytest.raises(RuntimeError, match="sparse gradients only"):
        LazyAdam([param]).step()


@pytest.mark.parametrize("dense_share", [0.0, 2.0])
def test_lazy_adam_weight_decay_is_coupled_l2_on_present_rows(dense_share, monkeypatch):
    """Both routes: the decay is added to the gradient of the rows present, the others stay
    (the whole-table route in chunks of 3 rows)."""
    monkeypatch.setattr("skmhe._lazy_adam.DENSE_SHARE", dense_share)
    monkeypatch.setattr("skmhe._lazy_rows.CHUNK_ELEMENTS", 9)
    gen = torch.Generator().manual_seed(1)
    start = torch.randn(20, 3, generator=gen, dtype=torch.float64)
    mine, ref = torch.nn.Parameter(start.clone()), torch.nn.Parameter(start.clone())
    opt, ref_opt = LazyAdam([mine], lr=0.01, weight_decay=0.3), torch.optim.SparseAdam([ref], lr=0.01)
    for _ in range(4):
        rows = torch.sort(torch.randperm(20, generator=gen)[:12]).values
        values = torch.randn(12, 3, generator=gen, dtype=torch.float64)
        mine.grad = torch.sparse_coo_tensor(rows.unsqueeze(0), values, (20, 3)).coalesce()
        decayed = values + 0.3 * ref.detach()[rows]
        ref.grad = torch.sparse_coo_tensor(rows.unsqueeze(0), decayed, (20, 3)).coalesce()
        opt.step()
        ref_opt.step()
    torch.testing.assert_close(mine, ref, rtol=1e-12, atol=1e-12)


def test_lazy_adam_gradient_over_every_row_matches_sparse_adam(monkeypatch):
    """A gradient over every row, then over a few, by the whole-table route in chunks of
    3 rows: its buffers hold a chunk's rows, not the table's."""
    monkeypatch.setattr("skmhe._lazy_rows.CHUNK_ELEMENTS", 9)
    monkeypatch.setattr("skmhe._lazy_adam.DENSE_SHARE", 0.0)
    gen = torch.Generator().manual_seed(2)
    start = torch.randn(8, 3, generator=gen, dtype=torch.float64)
    mine, ref = torch.nn.Parameter(start.clone()), torch.nn.Parameter(start.clone())
    opt, ref_opt = LazyAdam([mine], lr=0.05), torch.optim.SparseAdam([ref], lr=0.05)
    for rows in (torch.arange(8), torch.arange(8), torch.tensor([1, 6])):
        values = torch.randn(rows.numel(), 3, generator=gen, dtype=torch.float64)
        mine.grad = torch.sparse_coo_tensor(rows.unsqueeze(0), values, (8, 3)).coalesce()
        ref.grad = mine.grad.clone()
        opt.step()
        ref_opt.step()
        torch.testing.assert_close(mine, ref, rtol=1e-12, atol=1e-12)
    buffers = [b for held in opt._scratch.values() for b in held]
    assert len(buffers) == 4 and all(b.shape == (3, 3) for b in buffers)


def test_chunks_are_cache_sized_on_the_cpu_and_whole_tables_elsewhere(monkeypatch):
    monkeypatch.setattr("skmhe._lazy_rows.CHUNK_ELEMENTS", 12)
    assert chunk_rows(torch.zeros(10, 4)) == 3
    assert chunk_rows(torch.zeros(10, 2, 3)) == 2
    assert chunk_rows(torch.zeros(10, 20)) == 1  # a row wider than a chunk: a row at a time
    assert chunk_rows(torch.zeros(10, 4, device="meta")) == 10
