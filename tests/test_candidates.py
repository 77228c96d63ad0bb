"""Property tests for skmhe.ops.candidates and the cascade / sampling heads.

Every op is checked against a plain numpy / python / dense float64 torch
reference on random shapes (one row, zero rows where the op allows them,
``k`` larger than the row, non-contiguous inputs). The heads are checked
against their model written out densely by hand: every code scored, float64.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from _baseline import assert_topk_close
from skmhe.nn import ProductHead, SamplingHead, SigmoidCascadeHead, SoftmaxCascadeHead, SparseBatch
from skmhe.nn import sigmoid_cascade
from skmhe.ops import _group_scores as group_scores
from skmhe.ops.candidates import (
    best_codes,
    child_codes,
    sample_groups,
    score_candidates,
    score_children,
    select_candidates,
)

SETTINGS = settings(deadline=None, max_examples=60)
HEAD_SETTINGS = settings(deadline=None, max_examples=30)
LAYOUTS = ("contiguous", "transposed", "slice")
ROWS = st.sampled_from([0, 1, 1, 2, 3, 5, 8])
ATOL = 1e-10

pytestmark = pytest.mark.usefixtures("one_thread")  # tiny tensors


def as_tensor(a: np.ndarray, layout: str, dtype: torch.dtype | None = None) -> torch.Tensor:
    """``a`` as a torch tensor with the given memory layout (values unchanged)."""
    a = np.asarray(a)
    if layout == "contiguous":
        t = torch.tensor(a, dtype=dtype)
    elif layout == "transposed":
        t = torch.tensor(np.ascontiguousarray(a.T), dtype=dtype).t()
    elif layout == "slice":
        n, m = a.shape
        wide = torch.zeros((n, m + 5), dtype=dtype or torch.tensor(a).dtype)
        wide[:, 3 : 3 + m] = torch.tensor(a, dtype=dtype)
        t = wide[:, 3 : 3 + m]
    else:  # pragma: no cover
        raise ValueError(layout)
    assert tuple(t.shape) == a.shape
    np.testing.assert_array_equal(t.numpy(), a.astype(t.numpy().dtype))
    return t


def random_scores(rng, n, m, *, quantize: bool, p_neg_inf: float) -> np.ndarray:
    a = rng.standard_normal((n, m))
    if quantize:  # many exact ties
        a = np.round(a * 2) / 2
    return np.where(rng.random((n, m)) < p_neg_inf, -np.inf, a)


# =========================================================================== select_candidates


def select_reference(scores: np.ndarray, k: int, forced: np.ndarray | None) -> list[list[int]]:
    """Row by row: the forced columns, then the rest by (-score, column), cut to the width."""
    n, m = scores.shape
    forced = np.zeros((n, m), bool) if forced is None else forced
    width = min(m, max([k] + [int(f.sum()) for f in forced]))
    out = []
    for r in range(n):
        must = [c for c in range(m) if forced[r, c]]
        rest = sorted((c for c in range(m) if not forced[r, c]), key=lambda c: (-scores[r, c], c))
        out.append(must + rest[: width - len(must)])
    return out


@SETTINGS
@given(
    n=ROWS,
    m=st.integers(1, 12),
    k=st.integers(1, 16),
    layout=st.sampled_from(LAYOUTS),
    quantize=st.booleans(),
    p_neg_inf=st.sampled_from([0.0, 0.0, 0.3]),
    p_forced=st.sampled_from([None, 0.0, 0.15, 0.5, 0.9]),
    seed=st.integers(0, 2**32 - 1),
)
def test_select_candidates_matches_reference(n, m, k, layout, quantize, p_neg_inf, p_forced, seed):
    rng = np.random.default_rng(seed)
    scores_np = random_scores(rng, n, m, quantize=quantize, p_neg_inf=p_neg_inf)
    scores = as_tensor(scores_np, layout, torch.float64)
    before = scores.clone()
    forced_np = None if p_forced is None else rng.random((n, m)) < p_forced
    forced = None if forced_np is None else as_tensor(forced_np, layout)

    out = select_candidates(scores, k, forced)

    max_forced = int(forced_np.sum(1).max()) if forced_np is not None and n else 0
    width = min(m, max(k, max_forced))
    assert out.dtype == torch.int64
    assert tuple(out.shape) == (n, width)
    torch.testing.assert_close(scores, before, rtol=0, atol=0)  # input untouched
    want = select_reference(scores_np, k, forced_np)
    for r in range(n):
        cols = out[r].tolist()
        assert all(0 <= c < m for c in cols), cols
        assert len(set(cols)) == width, cols  # distinct
        must = set() if forced_np is None else set(np.flatnonzero(forced_np[r]).tolist())
        assert must <= set(cols), (must, cols)  # every forced column kept ...
        assert set(cols[: len(must)]) == must, cols  # ... and first
        # the others: the best scores, ties to the smaller column, -inf last
        assert cols[len(must) :] == want[r][len(must) :], (cols, want[r], scores_np[r])


def test_select_candidates_k_above_width_and_checks():
    scores = torch.tensor([[0.5, 2.0, -1.0]], dtype=torch.float64)
    assert select_candidates(scores, 10).tolist() == [[1, 0, 2]]  # k capped at m
    forced = torch.tensor([[True, False, True]])
    assert sorted(select_candidates(scores, 1, forced).tolist()[0]) == [0, 2]  # widened to 2
    with pytest.raises(ValueError, match="k must be"):
        select_candidates(scores, 0)
    with pytest.raises(ValueError, match="2-D"):
        select_candidates(scores[0], 1)
    with pytest.raises(ValueError, match="forced"):
        select_candidates(scores, 1, forced.long())
    with pytest.raises(ValueError, match="forced"):
        select_candidates(scores, 1, forced[:, :2])


def test_select_candidates_keeps_forced_column_beside_plus_inf_score():
    scores = torch.tensor([[math.inf, 0.0, 1.0]], dtype=torch.float64)
    forced = torch.tensor([[False, False, True]])
    out = select_candidates(scores, 1, forced)
    assert 2 in out[0].tolist()


# =========================================================================== child_codes


@SETTINGS
@given(
    n=ROWS.filter(lambda v: v > 0),
    k=st.integers(0, 5),
    n_children=st.integers(1, 7),
    layout=st.sampled_from(LAYOUTS),
    seed=st.integers(0, 2**32 - 1),
)
def test_child_codes_matches_reference(n, k, n_children, layout, seed):
    rng = np.random.default_rng(seed)
    parents_np = rng.integers(0, 40, size=(n, k))
    parents = as_tensor(parents_np, layout, torch.int64)
    out = child_codes(parents, n_children)
    want = [[p * n_children + j for p in row for j in range(n_children)] for row in parents_np.tolist()]
    assert out.dtype == torch.int64
    assert tuple(out.shape) == (n, k * n_children)
    assert out.tolist() == want


def test_child_codes_rejects_non_int64():
    with pytest.raises(ValueError, match="int64"):
        child_codes(torch.zeros((2, 3), dtype=torch.int32), 2)
    with pytest.raises(ValueError, match="int64"):
        child_codes(torch.zeros(3, dtype=torch.int64), 2)


@pytest.mark.parametrize("k", [0, 3])
def test_child_codes_zero_rows(k):
    out = child_codes(torch.zeros((0, k), dtype=torch.int64), 4)
    assert tuple(out.shape) == (0, 4 * k)


# =========================================================================== score_candidates


def densify(grad: torch.Tensor) -> torch.Tensor:
    return grad.to_dense() if grad.is_sparse else grad


def assert_gradients_match(grads, base_grads, leaves, sparse: bool) -> None:
    """Gradients of (query, table[, bias]) equal the float64 reference's; a missing one is zero.

    Only the table and the bias may be sparse, and only when ``sparse`` was asked for.
    """
    for i, (g, g_base, leaf) in enumerate(zip(grads, base_grads, leaves)):
        if g_base is None:  # nothing gathered (zero rows or zero candidates)
            g_base = torch.zeros(leaf.shape, dtype=torch.float64)
        if g is None:
            g = torch.zeros(leaf.shape, dtype=leaf.dtype)
        if i == 0 or not sparse:
            assert not g.is_sparse, i
        g = densify(g)
        assert g.shape == leaf.shape and g.dtype == leaf.dtype
        atol = ATOL if leaf.dtype == torch.float64 else 1e-5
        torch.testing.assert_close(g.double(), g_base, atol=atol, rtol=1e-6 if atol > ATOL else 0)


@st.composite
def scoring_cases(draw, bias_shapes=("none", "1d", "2d"), sparse_options=(False, True)):
    # few rows sharing their candidates, or many rows with mostly distinct ones
    many = draw(st.booleans())
    n = draw(st.integers(20, 40)) if many else draw(ROWS)
    m = draw(st.sampled_from([1, 2])) if many else draw(st.sampled_from([0, 1, 2, 3, 6]))
    n_table = draw(st.integers(40, 80)) if many else draw(st.integers(1, 9))
    d = draw(st.integers(1, 5))
    bias = draw(st.sampled_from(bias_shapes))
    sparse = draw(st.sampled_from(sparse_options))
    table_dtype = draw(st.sampled_from([torch.float64, torch.float32]))
    layouts = [draw(st.sampled_from(LAYOUTS)) for _ in range(3)]
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    query = as_tensor(rng.standard_normal((n, d)), layouts[0], torch.float64)
    table = as_tensor(rng.standard_normal((n_table, d)), layouts[1], table_dtype)
    ids = as_tensor(rng.integers(0, n_table, size=(n, m)), layouts[2], torch.int64)
    b = None
    if bias != "none":
        values = rng.standard_normal(n_table if bias == "1d" else (n_table, 1))
        b = torch.tensor(values, dtype=table_dtype)
    return query, table, ids, b, sparse, rng


def dense_scores(query, table, ids, bias):
    """Every row of the table scored in float64, then gathered at ``ids``."""
    full = query.double() @ table.double().t()
    if bias is not None:
        full = full + bias.double().reshape(1, -1)
    return full.gather(1, ids)


@SETTINGS
@given(scoring_cases())
def test_score_candidates_matches_dense(case):
    query, table, ids, bias, sparse, _ = case
    got = score_candidates(query, table, ids, bias, sparse=sparse)
    assert got.dtype == query.dtype and got.shape == ids.shape
    torch.testing.assert_close(got, dense_scores(query, table, ids, bias), atol=ATOL, rtol=0)


@SETTINGS
@given(scoring_cases(bias_shapes=("none", "2d")), st.data())
def test_score_candidates_gradient_matches_dense(case, data):
    query, table, ids, bias, sparse, rng = case
    leaves = [query, table] + ([bias] if bias is not None else [])
    mine = [t.detach().requires_grad_(True) for t in leaves]  # same (possibly strided) layout
    base = [t.detach().double().clone().requires_grad_(True) for t in leaves]
    got = score_candidates(mine[0], mine[1], ids, mine[2] if bias is not None else None, sparse=sparse)
    want = dense_scores(base[0], base[1], ids, base[2] if bias is not None else None)
    w = torch.tensor(rng.standard_normal(tuple(ids.shape)))
    grads = torch.autograd.grad(got, mine, grad_outputs=w.to(got.dtype), allow_unused=True)
    base_grads = torch.autograd.grad(want, base, grad_outputs=w, allow_unused=True)
    assert_gradients_match(grads, base_grads, leaves, sparse)
    if sparse and ids.numel():
        assert all(g.is_sparse for g in grads[1:]), "table and (N, 1) bias get sparse gradients"


@SETTINGS
@given(scoring_cases(bias_shapes=("1d",), sparse_options=(False,)))
def test_score_candidates_gradient_one_dim_bias_dense(case):
    query, table, ids, bias, sparse, rng = case
    b = bias.detach().clone().requires_grad_(True)
    b_base = bias.detach().double().clone().requires_grad_(True)
    got = score_candidates(query, table, ids, b, sparse=False)
    want = dense_scores(query, table, ids, b_base)
    w = torch.tensor(rng.standard_normal(tuple(ids.shape)))
    (g,) = torch.autograd.grad(got, b, grad_outputs=w.to(got.dtype), allow_unused=True)
    (g_base,) = torch.autograd.grad(want, b_base, grad_outputs=w, allow_unused=True)
    g = torch.zeros_like(b) if g is None else g
    g_base = torch.zeros_like(b_base) if g_base is None else g_base
    torch.testing.assert_close(g.double(), g_base, atol=1e-5, rtol=1e-6)


@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize("rows", [1, 60])
def test_score_candidates_shared_and_distinct_ids(rows, sparse):
    """One row (every id shared) and many rows with distinct ids: same values, same gradients."""
    rng = np.random.default_rng(rows)
    m, n_table, d = 2, 2 * rows + 3, 4
    ids = torch.tensor(rng.permutation(n_table)[: rows * m].reshape(rows, m))
    leaves = [torch.tensor(rng.standard_normal(shape)) for shape in ((rows, d), (n_table, d), (n_table, 1))]
    mine = [t.clone().requires_grad_(True) for t in leaves]
    base = [t.clone().requires_grad_(True) for t in leaves]
    got = score_candidates(*mine[:2], ids, mine[2], sparse=sparse)
    want = dense_scores(*base[:2], ids, base[2])
    torch.testing.assert_close(got, want, atol=ATOL, rtol=0)
    w = torch.tensor(rng.standard_normal((rows, m)))
    for g, g_base in zip(torch.autograd.grad(got, mine, w), torch.autograd.grad(want, base, w)):
        torch.testing.assert_close(densify(g), g_base, atol=ATOL, rtol=0)


def test_score_candidates_sparse_with_row_or_column_bias():
    rng = np.random.default_rng(0)
    query = torch.tensor(rng.standard_normal((3, 4)))
    table = torch.tensor(rng.standard_normal((5, 4)))
    ids = torch.tensor(rng.integers(0, 5, size=(3, 2)))
    bias = torch.tensor(rng.standard_normal(5), requires_grad=True)
    bias_base = bias.detach().clone().requires_grad_(True)
    score_candidates(query, table, ids, bias, sparse=True).sum().backward()
    dense_scores(query, table, ids, bias_base).sum().backward()
    assert not bias.grad.is_sparse  # a 1-D bias cannot carry a sparse gradient through its view
    torch.testing.assert_close(bias.grad, bias_base.grad, atol=ATOL, rtol=0)
    column = bias.detach().unsqueeze(1).clone().requires_grad_(True)  # the supported form
    bias_base = bias.detach().clone().requires_grad_(True)
    score_candidates(query, table, ids, column, sparse=True).sum().backward()
    dense_scores(query, table, ids, bias_base).sum().backward()
    torch.testing.assert_close(densify(column.grad)[:, 0], bias_base.grad, atol=ATOL, rtol=0)


@st.composite
def children_cases(draw):
    # few rows sharing their groups (one matrix product), or many rows with distinct groups
    # (whole groups gathered, or one row gather for sparse gradients)
    many = draw(st.booleans())
    n = draw(st.integers(20, 40)) if many else draw(ROWS)
    k = draw(st.sampled_from([1, 2])) if many else draw(st.sampled_from([0, 1, 2, 3]))
    n_groups = draw(st.integers(20, 40)) if many else draw(st.integers(1, 5))
    n_children = draw(st.integers(1, 4))
    d = draw(st.integers(1, 5))
    bias = draw(st.sampled_from(["none", "1d", "2d"]))
    sparse = draw(st.booleans())
    table_dtype = draw(st.sampled_from([torch.float64, torch.float32]))
    layouts = [draw(st.sampled_from(LAYOUTS)) for _ in range(3)]
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    n_table = n_groups * n_children
    query = as_tensor(rng.standard_normal((n, d)), layouts[0], torch.float64)
    table = as_tensor(rng.standard_normal((n_table, d)), layouts[1], table_dtype)
    parents = as_tensor(rng.integers(0, n_groups, size=(n, k)), layouts[2], torch.int64)
    b = None
    if bias != "none":
        b = torch.tensor(rng.standard_normal(n_table if bias == "1d" else (n_table, 1)), dtype=table_dtype)
    return query, table, parents, n_children, b, sparse, rng


@SETTINGS
@given(children_cases())
def test_score_children_matches_dense_values_and_gradients(case):
    query, table, parents, n_children, bias, sparse, rng = case
    ids = child_codes(parents, n_children)
    leaves = [query, table] + ([bias] if bias is not None else [])
    mine = [t.detach().requires_grad_(True) for t in leaves]
    base = [t.detach().double().clone().requires_grad_(True) for t in leaves]
    got = score_children(mine[0], mine[1], parents, n_children, mine[2] if bias is not None else None,
                         sparse=sparse)
    want = dense_scores(base[0], base[1], ids, base[2] if bias is not None else None)
    assert got.dtype == query.dtype and got.shape == ids.shape
    torch.testing.assert_close(got.detach(), want.detach(), atol=ATOL, rtol=0)
    w = torch.tensor(rng.standard_normal(tuple(ids.shape)))
    grads = torch.autograd.grad(got, mine, grad_outputs=w.to(got.dtype), allow_unused=True)
    base_grads = torch.autograd.grad(want, base, grad_outputs=w, allow_unused=True)
    assert_gradients_match(grads, base_grads, leaves, sparse)


@pytest.mark.parametrize("block_elements", [None, 7, 40])
@pytest.mark.parametrize("slot_rows", [1, 2, 64])
@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize("popular", [False, True])
def test_score_children_grouped_route_same_values(sparse, block_elements, slot_rows, popular, monkeypatch):
    """Many rows over many groups: the same values and gradients as score_candidates, whole
    or a few slots at a time (``BLOCK_ELEMENTS`` lowered: 1 and 3 slots a block), with slots of
    1, 2 or up to 64 rows, and with one popular group picked by most rows (several slots)."""
    if block_elements is not None:
        monkeypatch.setattr("skmhe.ops._group_scores.BLOCK_ELEMENTS", block_elements)
    monkeypatch.setattr("skmhe.ops._group_scores.MAX_SLOT_ROWS", slot_rows)
    made, real = [], group_scores._Slots
    monkeypatch.setattr(group_scores, "_Slots", lambda p: made.append(real(p)) or made[-1])
    rng = np.random.default_rng(1)
    n, n_groups, n_children, d = 100, 120, 3, 4  # > 32 * k distinct groups: not the shared product
    parents = rng.permutation(n_groups)[:n].reshape(n, 1)
    if popular:
        parents = np.concatenate([parents, np.where(rng.random((n, 1)) < 0.8, 7, parents)], axis=1)
    parents = torch.tensor(parents)
    leaves = [torch.tensor(rng.standard_normal(shape)) for shape in ((n, d), (n_groups * n_children, d),
                                                                      (n_groups * n_children, 1))]
    mine = [t.clone().requires_grad_(True) for t in leaves]
    ref = [t.clone().requires_grad_(True) for t in leaves]
    got = score_children(mine[0], mine[1], parents, n_children, mine[2], sparse=sparse)
    want = score_candidates(ref[0], ref[1], child_codes(parents, n_children), ref[2], sparse=sparse)
    torch.testing.assert_close(got, want, atol=ATOL, rtol=0)
    assert len(made) == 1 and (int(torch.bincount(made[0].group).max()) > 1) == popular  # the grouped route
    w = torch.tensor(rng.standard_normal(tuple(got.shape)))
    for g, g_ref in zip(torch.autograd.grad(got, mine, w), torch.autograd.grad(want, ref, w)):
        assert g.is_sparse == g_ref.is_sparse
        torch.testing.assert_close(densify(g), densify(g_ref), atol=ATOL, rtol=0)


def test_score_children_checks():
    q, t = torch.zeros(2, 3), torch.zeros(6, 3)
    with pytest.raises(ValueError, match="2-D int64"):
        score_children(q, t, torch.zeros((2, 1), dtype=torch.int32), 2)
    with pytest.raises(ValueError, match="multiple of n_children"):
        score_children(q, t, torch.zeros((2, 1), dtype=torch.int64), 4)
    with pytest.raises(ValueError, match="must agree on d"):
        score_children(q, torch.zeros(6, 2), torch.zeros((2, 1), dtype=torch.int64), 2)
    with pytest.raises(ValueError, match="rows"):
        score_children(q, t, torch.zeros((3, 1), dtype=torch.int64), 2)
    with pytest.raises(ValueError, match=r"parents must lie in \[0, 3\)"):
        score_children(q, t, torch.full((2, 1), 3, dtype=torch.int64), 2)
    with pytest.raises(ValueError, match="parents must lie"):
        score_children(q, t, torch.full((2, 1), -1, dtype=torch.int64), 2)


def test_score_candidates_checks():
    q, t = torch.zeros(2, 3), torch.zeros(4, 3)
    with pytest.raises(ValueError, match="int64"):
        score_candidates(q, t, torch.zeros((2, 1), dtype=torch.int32))
    with pytest.raises(ValueError, match="agree on d"):
        score_candidates(q, torch.zeros(4, 2), torch.zeros((2, 1), dtype=torch.int64))
    with pytest.raises(ValueError, match="rows"):
        score_candidates(q, t, torch.zeros((3, 1), dtype=torch.int64))
    with pytest.raises(ValueError, match=r"\[0, 4\)"):
        score_candidates(q, t, torch.full((2, 1), 4, dtype=torch.int64))
    with pytest.raises(ValueError, match=r"\[0, 4\)"):
        score_candidates(q, t, torch.full((2, 1), -1, dtype=torch.int64))


# =========================================================================== sample_groups


@SETTINGS
@given(
    n=ROWS,
    n_groups=st.integers(1, 12),
    n_sampled=st.integers(1, 15),
    seed=st.integers(0, 2**31 - 1),
)
def test_sample_groups_properties(n, n_groups, n_sampled, seed):
    rng = np.random.default_rng(seed)
    true = torch.tensor(rng.integers(0, n_groups, size=n), dtype=torch.int64)
    global_state = torch.random.get_rng_state()
    out = sample_groups(true, n_groups, n_sampled, torch.Generator().manual_seed(seed))
    assert torch.equal(torch.random.get_rng_state(), global_state)  # global RNG untouched
    width = min(n_sampled, n_groups)
    assert out.dtype == torch.int64 and tuple(out.shape) == (n, width)
    assert out[:, 0].tolist() == true.tolist()
    for r in range(n):
        row = out[r].tolist()
        assert len(set(row)) == width, row  # distinct
        assert true[r].item() not in row[1:], row
        assert all(0 <= g < n_groups for g in row), row
    again = sample_groups(true, n_groups, n_sampled, torch.Generator().manual_seed(seed))
    assert torch.equal(out, again)  # deterministic with a seeded generator


def test_sample_groups_checks():
    with pytest.raises(ValueError, match="1-D"):
        sample_groups(torch.zeros((2, 1), dtype=torch.int64), 3, 2)
    with pytest.raises(ValueError, match="n_sampled"):
        sample_groups(torch.zeros(2, dtype=torch.int64), 3, 0)


def _chi_square(counts: np.ndarray) -> float:
    expected = counts.sum() / counts.size
    return float(((counts - expected) ** 2 / expected).sum())


@pytest.mark.parametrize("true_group", [0, 3, 5])
def test_sample_groups_is_uniform(true_group):
    """Marginals, first column and unordered pairs of the other groups are uniform.

    A fixed seed makes this deterministic; the bounds (chi-square with 4 or 9
    degrees of freedom below 40 / 60) are far above the ~4 / ~9 a uniform draw
    gives, and far below what a biased one gives at this many draws.
    """
    n_groups, n_sampled, n = 6, 3, 20_000
    true = torch.full((n,), true_group, dtype=torch.int64)
    out = sample_groups(true, n_groups, n_sampled, torch.Generator().manual_seed(1234)).numpy()
    others = [g for g in range(n_groups) if g != true_group]
    marginal = np.array([(out[:, 1:] == g).sum() for g in others])
    assert marginal.sum() == n * (n_sampled - 1)
    assert _chi_square(marginal) < 40, marginal
    first = np.array([(out[:, 1] == g).sum() for g in others])
    assert _chi_square(first) < 40, first
    pairs = {}
    for a, b in np.sort(out[:, 1:], axis=1).tolist():
        pairs[(a, b)] = pairs.get((a, b), 0) + 1
    assert len(pairs) == math.comb(n_groups - 1, n_sampled - 1)
    assert _chi_square(np.array(list(pairs.values()))) < 60, pairs


# =========================================================================== best_codes


@SETTINGS
@given(
    n=ROWS,
    m=st.integers(1, 10),
    k=st.integers(1, 12),
    quantize=st.booleans(),
    p_neg_inf=st.sampled_from([0.0, 0.0, 0.3]),
    layout=st.sampled_from(LAYOUTS),
    seed=st.integers(0, 2**32 - 1),
)
def test_best_codes_matches_sort_reference(n, m, k, quantize, p_neg_inf, layout, seed):
    rng = np.random.default_rng(seed)
    values_np = random_scores(rng, n, m, quantize=quantize, p_neg_inf=p_neg_inf)
    codes_np = np.stack([rng.permutation(3 * m)[:m] for _ in range(n)]) if n else np.zeros((0, m), np.int64)
    values = as_tensor(values_np, layout, torch.float64)
    codes = as_tensor(codes_np, layout, torch.int64)
    got_v, got_c = best_codes(values, codes, k)
    width = min(k, m)
    assert tuple(got_v.shape) == tuple(got_c.shape) == (n, width)
    # codes given ascending (the children of sorted prefixes): the same answer without a sort
    sorted_codes, order = torch.sort(codes, dim=1)
    asc_v, asc_c = best_codes(values.gather(1, order), sorted_codes, k, ascending=True)
    assert torch.equal(asc_c, got_c) and torch.equal(asc_v, got_v)
    assert got_c.dtype == torch.int64 and got_v.dtype == torch.float64
    for r in range(n):
        pairs = sorted(zip(values_np[r].tolist(), codes_np[r].tolist()), key=lambda p: (-p[0], p[1]))[:width]
        assert got_c[r].tolist() == [c for _, c in pairs]
        assert got_v[r].tolist() == [v for v, _ in pairs]


# =========================================================================== heads: helpers


def strides_of(factors):
    return [math.prod(factors[h + 1 :]) for h in range(len(factors))]


def digits_of(y: np.ndarray, factors) -> torch.Tensor:
    return torch.tensor(np.stack([(y // s) % c for s, c in zip(strides_of(factors), factors)], axis=1))


def randomize(module: torch.nn.Module, rng, scale: float = 1.0) -> None:
    """Random values in every parameter (biases included), dtype and shape kept."""
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.tensor(rng.standard_normal(tuple(p.shape)) * scale, dtype=p.dtype))


@st.composite
def head_cases(draw, max_rows=5):
    """(factors, n_classes, n, d, rng): H = 1..3 small factors, padding often."""
    h = draw(st.integers(1, 3))
    factors = tuple(draw(st.integers(1, 5)) for _ in range(h))
    n_codes = math.prod(factors)
    n_classes = draw(st.one_of(st.just(n_codes), st.integers(1, n_codes)))
    n = draw(st.integers(1, max_rows))
    d = draw(st.integers(1, 5))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    return factors, n_classes, n, d, rng


def draw_scale(data) -> float:
    return data.draw(st.sampled_from([1.0, 3.0]))


def level_logits(head, features: torch.Tensor) -> list[torch.Tensor]:
    """Dense logits of every prefix at every level, float64: ``(n, prod(factors[:h+1]))``."""
    x = features.double()
    out = [x @ head.root.weight.double() + head.root.bias.double()]
    for query, table in zip(head.queries, head.tables):
        q = x @ query.weight.double() + query.bias.double()
        out.append(q @ table.weight.double().t() + table.bias.double()[:, 0])
    return out


def path_sums(per_level: list[torch.Tensor], factors, n_classes: int) -> torch.Tensor:
    """``sum_h per_level[h][:, code // stride_h]`` for every code ``< n_classes``."""
    codes = torch.arange(n_classes)
    return sum(part[:, codes // s] for part, s in zip(per_level, strides_of(factors)))


def prefix_valid(factors, n_classes: int, h: int) -> torch.Tensor:
    """Whether each prefix at level ``h`` has a code ``< n_classes`` below it."""
    s = strides_of(factors)[h]
    return torch.arange(math.prod(factors[: h + 1])) * s < n_classes


def dense_cascade_log_proba(head, features, factors, n_classes) -> torch.Tensor:
    """The softmax cascade written out: log-softmax over each parent's valid children."""
    parts = []
    for h, logits in enumerate(level_logits(head, features)):
        c = factors[h]
        masked = logits.masked_fill(~prefix_valid(factors, n_classes, h), -math.inf)
        ls = masked.view(logits.shape[0], -1, c).log_softmax(dim=2).flatten(1)
        parts.append(ls)
    return path_sums(parts, factors, n_classes)


def all_prefixes(factors) -> int:
    """A beam width that keeps every prefix of every level but the last (exhaustive search)."""
    return math.prod(factors[:-1])


def ref_topk(ref: torch.Tensor, k: int):
    values, codes = torch.topk(ref, k, dim=1)
    n_classes = ref.shape[1]
    if k < n_classes:
        next_best = ref.scatter(1, codes, -math.inf).max(dim=1).values
    else:
        next_best = torch.full((ref.shape[0],), -math.inf, dtype=torch.float64)
    return values, codes, next_best


# =========================================================================== SoftmaxCascadeHead


@HEAD_SETTINGS
@given(head_cases(), st.integers(1, 4))
def test_softmax_cascade_matches_dense(case, embedding_size):
    factors, n_classes, n, d, rng = case
    head = SoftmaxCascadeHead(d, factors, n_classes, embedding_size, 1)
    randomize(head, rng)
    x = torch.tensor(rng.standard_normal((n, d)))
    want = dense_cascade_log_proba(head, x, factors, n_classes)

    log_proba = head.log_proba(x)
    assert log_proba.dtype == torch.float64 and log_proba.shape == (n, n_classes)
    torch.testing.assert_close(log_proba, want, atol=ATOL, rtol=0)
    torch.testing.assert_close(torch.logsumexp(log_proba, dim=1), torch.zeros(n, dtype=torch.float64), atol=ATOL, rtol=0)

    y = rng.integers(0, n_classes, size=n)
    codes = digits_of(y, factors)
    ll = head.log_likelihood(x, codes)
    torch.testing.assert_close(ll, want[torch.arange(n), torch.as_tensor(y)], atol=ATOL, rtol=0)
    torch.testing.assert_close(head.loss(x, codes).double(), -ll.mean(), atol=ATOL, rtol=0)

    if len(factors) == 1:  # the dense softmax classifier of the root layer
        dense = (x @ head.root.weight.double() + head.root.bias.double())[:, :n_classes]
        torch.testing.assert_close(log_proba, dense.log_softmax(dim=1), atol=ATOL, rtol=0)


@HEAD_SETTINGS
@given(head_cases(), st.data())
def test_softmax_cascade_topk(case, data):
    factors, n_classes, n, d, rng = case
    k = data.draw(st.integers(1, n_classes))
    full_beam = data.draw(st.booleans())
    groups = all_prefixes(factors) if full_beam else data.draw(st.integers(1, 2))
    head = SoftmaxCascadeHead(d, factors, n_classes, 3, groups)
    randomize(head, rng, draw_scale(data))
    x = torch.tensor(rng.standard_normal((n, d)))
    want = dense_cascade_log_proba(head, x, factors, n_classes)
    values, codes = head.topk(x, k)
    assert values.shape == codes.shape == (n, k) and codes.dtype == torch.int64
    # whatever the beam: valid distinct codes, sorted, each with its exact log-probability
    assert ((codes >= 0) & (codes < n_classes)).all(), codes
    assert all(len(set(row)) == k for row in codes.tolist())
    assert (values[:, :-1] >= values[:, 1:]).all()
    torch.testing.assert_close(values.double(), want.gather(1, codes), atol=ATOL, rtol=0)
    if full_beam:  # the beam keeps every prefix: exact top-k
        assert_topk_close(values, codes, *ref_topk(want, k), n_classes, atol=1e-9)


@pytest.mark.parametrize("cls", [SoftmaxCascadeHead, SigmoidCascadeHead])
def test_cascade_beam_width_matters(cls):
    """A trap for a greedy search: group 0 is likelier, but its mass is spread over its
    children, while group 1 puts nearly all of its mass on one label (code 4)."""
    head = cls(1, (2, 4), 8, 1, 1)
    with torch.no_grad():
        for p in head.parameters():
            p.zero_()
        head.root.bias.copy_(torch.tensor([math.log(0.6), math.log(0.4)]))
        head.tables[0].bias[4, 0] = 10.0
    x = torch.ones((1, 1), dtype=torch.float64)
    scores = head.log_proba(x) if cls is SoftmaxCascadeHead else head.log_scores(x)
    assert scores.argmax().item() == 4
    _, greedy = head.topk(x, 1)
    assert greedy.item() in (0, 1, 2, 3)  # one prefix kept: group 0 only
    head.n_candidate_groups = 2
    values, exact = head.topk(x, 1)
    assert exact.item() == 4
    torch.testing.assert_close(values[0, 0], scores[0, 4], atol=ATOL, rtol=0)


def test_softmax_cascade_topk_zero_rows():
    head = SoftmaxCascadeHead(3, (2, 3), 6, 2, 2)
    values, codes = head.topk(torch.zeros((0, 3), dtype=torch.float64), 2)
    assert codes.shape == (0, 2)


# =========================================================================== SamplingHead


def sampled_slice(head: SamplingHead, codes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Candidate codes of each row's training slice and the position of its true code in it."""
    groups, target = head.sampled_groups(codes)
    return child_codes(groups, head.group_size), target


def slice_groups(candidates: torch.Tensor, group_size: int) -> torch.Tensor:
    """The group of every block of ``group_size`` candidates, checking the blocks are whole groups."""
    n, m = candidates.shape
    assert m % group_size == 0
    blocks = candidates.view(n, m // group_size, group_size)
    groups = blocks[:, :, 0] // group_size
    assert torch.equal(blocks, groups.unsqueeze(2) * group_size + torch.arange(group_size))
    return groups


@HEAD_SETTINGS
@given(head_cases(max_rows=8), st.integers(1, 6), st.sampled_from(["random", "batch"]))
def test_sampling_slice(case, n_sampled, mode):
    factors, n_classes, n, d, rng = case
    head = SamplingHead(d, factors, n_classes, n_sampled, mode=mode, generator=torch.Generator().manual_seed(1))
    group_size = factors[-1]
    n_groups = -(-n_classes // group_size)
    y = torch.tensor(rng.integers(0, n_classes, size=n))
    candidates, target = sampled_slice(head, y)
    assert target.shape == (n,)
    groups = slice_groups(candidates, group_size)
    assert all(len(set(row)) == len(row) for row in groups.tolist())  # no group twice
    assert ((groups >= 0) & (groups < n_groups)).all()
    if mode == "random":
        assert candidates.shape == (n, min(n_sampled, n_groups) * group_size)
        assert torch.equal(candidates[torch.arange(n), target], y)
    else:  # one slice shared by the batch: the union of its true groups
        assert candidates.shape[0] == 1
        assert set(groups[0].tolist()) == set((y // group_size).tolist())
        assert torch.equal(candidates[0, target], y)


def full_logits(head, x):
    return x.double() @ head.classifier.weight.double().t() + head.classifier.bias.double()[:, 0]


@HEAD_SETTINGS
@given(head_cases(), st.integers(1, 6), st.sampled_from(["random", "batch"]))
def test_sampling_head_matches_dense(case, n_sampled, mode):
    factors, n_classes, n, d, rng = case
    head = SamplingHead(d, factors, n_classes, n_sampled, mode=mode, generator=torch.Generator().manual_seed(2))
    randomize(head, rng)
    x = torch.tensor(rng.standard_normal((n, d)))
    dense = full_logits(head, x)[:, :n_classes]
    torch.testing.assert_close(head.logits(x), dense, atol=ATOL, rtol=0)
    want = dense.log_softmax(dim=1)
    torch.testing.assert_close(head.log_proba(x), want, atol=ATOL, rtol=0)
    y = rng.integers(0, n_classes, size=n)
    codes = digits_of(y, factors)
    torch.testing.assert_close(head.log_likelihood(x, codes), want[torch.arange(n), torch.as_tensor(y)], atol=ATOL, rtol=0)
    k = int(rng.integers(1, n_classes + 1))
    values, top = head.topk(x, k)
    assert_topk_close(values, top, *ref_topk(want, k), n_classes, atol=1e-9)

    # training: cross-entropy over the row's slice, the same draw replayed
    x32 = x.float()
    state = head.sampler.get_state()
    loss = head.loss(x32, codes)
    head.sampler.set_state(state)
    candidates, _ = sampled_slice(head, torch.as_tensor(y))
    candidates = candidates.expand(n, -1)
    scores = full_logits(head, x32).gather(1, candidates).masked_fill(candidates >= n_classes, -math.inf)
    nll = [
        torch.logsumexp(scores[r], 0) - scores[r][candidates[r] == int(y[r])].squeeze(0) for r in range(n)
    ]
    torch.testing.assert_close(loss.double(), torch.stack(nll).mean(), atol=1e-4, rtol=1e-5)


def test_sampling_batch_loss_accepts_float64_features():
    head = SamplingHead(4, (3, 4), 10, 2, mode="batch", generator=torch.Generator().manual_seed(0))
    x = torch.randn(2, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    codes = torch.tensor([[0, 1], [2, 1]])
    assert torch.isfinite(head.loss(x, codes))


def test_sampling_head_rejects_sparse_features_and_bad_mode():
    head = SamplingHead(4, (2, 2), 4, 2)
    batch = SparseBatch(torch.tensor([0, 2]), torch.tensor([0, 1]), torch.tensor([1.0, 2.0]))
    with pytest.raises(ValueError, match="dense features"):
        head.log_proba(batch)
    with pytest.raises(ValueError, match="dense features"):
        head.loss(batch, torch.tensor([[0, 1], [1, 0]]))
    with pytest.raises(ValueError, match="mode"):
        SamplingHead(4, (2, 2), 4, 2, mode="bogus")


# =========================================================================== SigmoidCascadeHead


#: the sigmoid cascade's weights of the levels above the last: none, its default, and any
GROUP_WEIGHTS = st.one_of(st.just(1.0), st.just(sigmoid_cascade.GROUP_WEIGHT), st.floats(0.01, 1.0))


def weighted_log_sigmoids(per_level: list[torch.Tensor], weight: float) -> list[torch.Tensor]:
    """Each level's log-sigmoids, those above the last times ``weight``."""
    return [F.logsigmoid(p) * (1.0 if h == len(per_level) - 1 else weight) for h, p in enumerate(per_level)]


@HEAD_SETTINGS
@given(head_cases(), st.data())
def test_sigmoid_cascade_log_scores_and_topk(case, data):
    factors, n_classes, n, d, rng = case
    full_beam = data.draw(st.booleans())
    groups = all_prefixes(factors) if full_beam else data.draw(st.integers(1, 2))
    weight = data.draw(GROUP_WEIGHTS)
    head = SigmoidCascadeHead(d, factors, n_classes, 3, groups, group_weight=weight)
    randomize(head, rng, draw_scale(data))
    x = torch.tensor(rng.standard_normal((n, d)))
    want = path_sums(weighted_log_sigmoids(level_logits(head, x), weight), factors, n_classes)
    got = head.log_scores(x)
    assert got.dtype == torch.float64 and got.shape == (n, n_classes)
    torch.testing.assert_close(got, want, atol=ATOL, rtol=0)
    k = data.draw(st.integers(1, n_classes))
    values, codes = head.topk(x, k)
    # whatever the beam: valid distinct codes, each with its exact log-score
    assert ((codes >= 0) & (codes < n_classes)).all(), codes
    assert all(len(set(row)) == k for row in codes.tolist())
    torch.testing.assert_close(values.double(), want.gather(1, codes), atol=ATOL, rtol=0)
    if full_beam:
        assert_topk_close(values, codes, *ref_topk(want, k), n_classes, atol=1e-9)


def bce_mean(logits: torch.Tensor, targets: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """BCE summed over a row's valid decisions, averaged over rows (the cascade's loss)."""
    p = torch.where(targets, F.logsigmoid(logits), F.logsigmoid(-logits))
    return -(p * valid).nan_to_num(0.0).sum() / max(1, logits.shape[0])


@HEAD_SETTINGS
@given(head_cases(), st.integers(1, 3), st.integers(0, 4))
def test_sigmoid_cascade_loss_forces_true_labels(case, n_candidate_groups, max_labels):
    factors, n_classes, n, d, rng = case
    head = SigmoidCascadeHead(d, factors, n_classes, 3, n_candidate_groups)
    randomize(head, rng)
    x = torch.tensor(rng.standard_normal((n, d)))
    rows = [sorted(rng.permutation(n_classes)[: int(rng.integers(0, max_labels + 1))].tolist()) for _ in range(n)]
    indices = torch.tensor([v for r in rows for v in r], dtype=torch.int64)
    offsets = torch.tensor(np.cumsum([0] + [len(r) for r in rows])[:-1], dtype=torch.int64)
    labels = SparseBatch(indices, offsets, torch.ones(indices.shape[0]))

    loss = head.loss(x, labels)
    assert loss.dim() == 0 and torch.isfinite(loss)

    # the loss by hand: dense logits, candidates = top scores + forced true prefixes
    strides, dense = strides_of(factors), level_logits(head, x)
    truth = [[{y // s for y in r} for r in rows] for s in strides]
    scores = dense[0].masked_fill(~prefix_valid(factors, n_classes, 0), -math.inf)
    target = torch.tensor([[g in truth[0][r] for g in range(factors[0])] for r in range(n)])
    want = bce_mean(dense[0], target, torch.isfinite(scores))
    parents = None
    for h in range(1, len(factors)):
        columns = select_candidates(scores, n_candidate_groups, forced=target)
        parents = columns if parents is None else parents.gather(1, columns)
        # every true prefix of the previous level is among the parents
        for r in range(n):
            assert truth[h - 1][r] <= set(parents[r].tolist())
        c = factors[h]
        children = (parents.unsqueeze(2) * c + torch.arange(c)).flatten(1)
        logits = dense[h].gather(1, children)
        valid = prefix_valid(factors, n_classes, h)[children]
        target = torch.tensor([[int(v) in truth[h][r] for v in children[r]] for r in range(n)]).view(children.shape)
        want = want + bce_mean(logits, target, valid)
        scores, parents = logits.masked_fill(~valid, -math.inf), children
    torch.testing.assert_close(loss.double(), want, atol=1e-9, rtol=0)

    # the gradient reaches the table row of every true label's prefix at every level
    loss.backward()
    for h, table in enumerate(head.tables, start=1):
        grad = densify(table.weight.grad) if table.weight.grad is not None else torch.zeros_like(table.weight)
        touched = set(torch.nonzero(grad.abs().sum(1) > 0).flatten().tolist())
        needed = set().union(*truth[h]) if rows else set()
        assert needed <= touched, (h, needed, touched)


# =========================================================================== ProductHead


@HEAD_SETTINGS
@given(head_cases(), st.data())
def test_product_head_topk_is_log_proba_gathered(case, data):
    factors, n_classes, n, d, rng = case
    head = ProductHead(d, factors, n_classes)
    randomize(head, rng, draw_scale(data))
    x = torch.tensor(rng.standard_normal((n, d)))
    log_proba = head.log_proba(x)
    torch.testing.assert_close(torch.logsumexp(log_proba, 1), torch.zeros(n, dtype=torch.float64), atol=ATOL, rtol=0)
    k = data.draw(st.integers(1, n_classes))
    values, codes = head.topk(x, k)
    assert values.dtype == torch.float64
    torch.testing.assert_close(values.exp(), log_proba.gather(1, codes).exp(), atol=1e-12, rtol=1e-9)
    assert_topk_close(values, codes, *ref_topk(log_proba, k), n_classes, atol=1e-9)
    y = rng.integers(0, n_classes, size=n)
    torch.testing.assert_close(
        head.log_likelihood(x, digits_of(y, factors)), log_proba[torch.arange(n), torch.as_tensor(y)], atol=ATOL, rtol=0
    )


@pytest.mark.parametrize("weight", [0.0, -0.5, 1.5, float("nan")])
def test_sigmoid_cascade_refuses_a_group_weight_outside_zero_one(weight):
    with pytest.raises(ValueError, match="group_weight must be in"):
        SigmoidCascadeHead(4, (2, 3), 6, 3, 2, group_weight=weight)


@pytest.mark.parametrize("weight", [0.0, -1.0, float("inf"), float("nan")])
def test_sigmoid_cascade_refuses_a_pair_weight_not_positive_and_finite(weight):
    with pytest.raises(ValueError, match="pair_weight must be positive and finite"):
        SigmoidCascadeHead(4, (2, 3), 6, 3, 2, pair_buckets=8, pair_weight=weight)
