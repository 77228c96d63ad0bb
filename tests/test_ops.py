"""Property tests for skmhe.ops against the dense float64 outer-sum baseline.

Tolerances are absolute and scale with the size of the joint scores,
``S = 1 + H * max|logits|``: ``1e-11 * S`` for float64 logits and
``2e-6 * S`` for float32 logits (computed in float32 by the library). For
unit-scale logits that is ~1e-10 (float64) and ~1e-5 (float32); the
``±1e4``-scale cases check stability (finite results, same relative accuracy).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from _baseline import (
    assert_topk_matches,
    dense_cross_entropy,
    dense_log_proba,
    dense_logits,
    make_logits,
)
from _strategies import factor_tuples, max_examples
from skmhe import LabelCodec
from skmhe.ops import kronecker_log_mass, kronecker_log_proba, kronecker_topk, multi_head_cross_entropy

MAX_CODES = 2000
SETTINGS = settings(deadline=None, max_examples=max_examples(100))
LAYOUTS = ("contiguous", "transposed", "slice")
DTYPES = (torch.float64, torch.float32)

pytestmark = pytest.mark.usefixtures("one_thread", "ops_device")  # tiny tensors


@st.composite
def cases(draw, min_rows=0, max_rows=6, dtypes=DTYPES, allow_quantize=True):
    """(factors, logits) with varied shapes, dtypes, layouts and scales."""
    factors = draw(factor_tuples(max_codes=MAX_CODES))
    n = draw(st.sampled_from([0, 1, 1, 2, 3, 4, 5, 6, 6]).filter(lambda v: min_rows <= v <= max_rows))
    dtype = draw(st.sampled_from(dtypes))
    layout = draw(st.sampled_from(LAYOUTS))
    scale = draw(st.sampled_from([1.0, 1.0, 5.0, 1e4]))
    quantize = allow_quantize and draw(st.booleans())
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    logits = make_logits(rng, n, sum(factors), dtype=dtype, layout=layout, scale=scale, quantize=quantize)
    return factors, logits, rng


def n_classes_and_k(draw, factors):
    n_codes = math.prod(factors)
    n_classes = draw(st.one_of(st.just(n_codes), st.integers(1, n_codes)))
    k = draw(st.one_of(st.integers(1, min(n_classes, 3 * max(factors) + 2)), st.integers(1, n_classes)))
    return n_classes, k


def tol(logits: torch.Tensor, factors) -> float:
    big = float(logits.detach().abs().max()) if logits.numel() else 0.0
    s = 1.0 + len(factors) * big
    return (1e-11 if logits.dtype == torch.float64 else 2e-6) * s


def out_dtype(logits):
    return torch.float64 if logits.dtype == torch.float64 else torch.float32


def random_targets(rng, n, factors):
    return torch.tensor(np.stack([rng.integers(0, f, size=n) for f in factors], axis=1).reshape(n, len(factors)))


# =========================================================================== cross-entropy


@SETTINGS
@given(cases(), st.sampled_from(["mean", "sum", "none"]))
def test_cross_entropy_matches_dense(case, reduction):
    factors, logits, rng = case
    n = logits.shape[0]
    targets = random_targets(rng, n, factors)
    got = multi_head_cross_entropy(logits, targets, factors, reduction=reduction)
    want = dense_cross_entropy(logits, targets, factors, reduction=reduction)
    assert got.dtype == out_dtype(logits)
    assert got.shape == ((n,) if reduction == "none" else ())
    if n == 0 and reduction == "mean":
        assert torch.isnan(got) and torch.isnan(want)
        return
    assert torch.isfinite(got).all()
    atol = tol(logits, factors) * (n if reduction == "sum" else 1)
    torch.testing.assert_close(got.to(torch.float64), want, atol=atol, rtol=0)


@SETTINGS
@given(cases(min_rows=1), st.sampled_from(["mean", "sum", "none"]))
def test_cross_entropy_gradient_matches_dense(case, reduction):
    factors, logits, rng = case
    n = logits.shape[0]
    targets = random_targets(rng, n, factors)
    x = logits.detach().clone().requires_grad_(True)
    base = logits.detach().to(torch.float64).requires_grad_(True)
    got = multi_head_cross_entropy(x, targets, factors, reduction=reduction)
    want = dense_cross_entropy(base, targets, factors, reduction=reduction)
    w = torch.tensor(rng.standard_normal(got.shape))
    (g,) = torch.autograd.grad(got, x, grad_outputs=w.to(got.dtype))
    (g_base,) = torch.autograd.grad(want, base, grad_outputs=w)
    assert g.shape == logits.shape and g.dtype == logits.dtype
    assert torch.isfinite(g).all()
    scale = float(w.abs().max()) if w.numel() else 1.0
    atol = (1e-12 if logits.dtype == torch.float64 else 2e-6) * len(factors) * max(scale, 1.0)
    torch.testing.assert_close(g.to(torch.float64), g_base, atol=atol, rtol=0)


@SETTINGS
@given(cases(min_rows=1, dtypes=(torch.float64,), allow_quantize=False))
def test_cross_entropy_is_sum_of_head_ces(case):
    """Independent of the dense baseline: sum over heads of F.cross_entropy."""
    factors, logits, rng = case
    targets = random_targets(rng, logits.shape[0], factors)
    parts = torch.split(logits, list(factors), dim=1)
    want = sum(F.cross_entropy(p, targets[:, h], reduction="none") for h, p in enumerate(parts))
    got = multi_head_cross_entropy(logits, targets, factors, reduction="none")
    torch.testing.assert_close(got, want, atol=tol(logits, factors), rtol=0)
    torch.testing.assert_close(
        multi_head_cross_entropy(logits, targets, factors), want.mean(), atol=tol(logits, factors), rtol=0
    )


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_cross_entropy_half_inputs_compute_in_float32(dtype):
    factors = (4, 3, 5)
    rng = np.random.default_rng(0)
    logits = make_logits(rng, 5, sum(factors), dtype=dtype, scale=3.0)
    targets = random_targets(rng, 5, factors)
    x = logits.clone().requires_grad_(True)
    got = multi_head_cross_entropy(x, targets, factors, reduction="none")
    assert got.dtype == torch.float32
    want = dense_cross_entropy(logits, targets, factors, reduction="none")
    torch.testing.assert_close(got.double(), want, atol=1e-4, rtol=0)
    got.sum().backward()
    assert x.grad.dtype == dtype and torch.isfinite(x.grad.float()).all()


@pytest.mark.parametrize("tdtype", [torch.int64, torch.int32, torch.int16, torch.uint8])
def test_cross_entropy_integer_target_dtypes(tdtype):
    factors = (6, 5)
    rng = np.random.default_rng(1)
    logits = make_logits(rng, 4, 11)
    targets = random_targets(rng, 4, factors)
    want = multi_head_cross_entropy(logits, targets, factors)
    torch.testing.assert_close(multi_head_cross_entropy(logits, targets.to(tdtype), factors), want)


def test_cross_entropy_errors():
    factors = (4, 3)
    logits = torch.zeros(5, 7, dtype=torch.float64)
    targets = torch.zeros(5, 2, dtype=torch.int64)
    multi_head_cross_entropy(logits, targets, factors)  # valid
    with pytest.raises(ValueError):  # wrong width
        multi_head_cross_entropy(torch.zeros(5, 8), targets, factors)
    with pytest.raises(ValueError):  # 1-D logits
        multi_head_cross_entropy(torch.zeros(7), targets, factors)
    with pytest.raises(ValueError):  # 3-D logits
        multi_head_cross_entropy(torch.zeros(5, 1, 7), targets, factors)
    with pytest.raises(ValueError):  # wrong number of heads in targets
        multi_head_cross_entropy(logits, torch.zeros(5, 3, dtype=torch.int64), factors)
    with pytest.raises(ValueError):  # wrong number of rows in targets
        multi_head_cross_entropy(logits, torch.zeros(4, 2, dtype=torch.int64), factors)
    with pytest.raises(ValueError):  # 1-D targets
        multi_head_cross_entropy(logits, torch.zeros(5, dtype=torch.int64), factors)
    for h, bad in [(0, 4), (1, 3), (0, -1), (1, -5), (1, 100)]:
        t = targets.clone()
        t[2, h] = bad
        with pytest.raises(ValueError):  # local label out of range
            multi_head_cross_entropy(logits, t, factors)
    with pytest.raises(TypeError):  # integer logits
        multi_head_cross_entropy(torch.zeros(5, 7, dtype=torch.int64), targets, factors)
    with pytest.raises(TypeError):  # bool logits
        multi_head_cross_entropy(torch.zeros(5, 7, dtype=torch.bool), targets, factors)
    with pytest.raises(TypeError):  # float targets
        multi_head_cross_entropy(logits, targets.double(), factors)
    with pytest.raises(TypeError):  # not a tensor
        multi_head_cross_entropy(np.zeros((5, 7)), targets, factors)
    for reduction in ("avg", "MEAN", None, "batchmean"):
        with pytest.raises(ValueError):
            multi_head_cross_entropy(logits, targets, factors, reduction=reduction)
    for bad_factors in [(), (4, 0), (4, -3), (4.0, 3), (True, 3)]:
        with pytest.raises(ValueError):
            multi_head_cross_entropy(logits, targets, bad_factors)


# =========================================================================== top-k


@settings(deadline=None, max_examples=max_examples(150))
@given(cases(), st.data())
def test_topk_matches_dense(case, data):
    factors, logits, _ = case
    n_classes, k = n_classes_and_k(data.draw, factors)
    values, indices = kronecker_topk(logits, factors, k, n_classes=n_classes)
    assert values.dtype == out_dtype(logits)
    base = dense_log_proba(logits, factors, n_classes)
    assert_topk_matches(values, indices, base, k, atol=tol(logits, factors))


@settings(deadline=None, max_examples=max_examples(40))
@given(cases(min_rows=1, dtypes=(torch.float64,), allow_quantize=False), st.data())
def test_topk_large_k_beyond_head_sizes(case, data):
    """k bigger than every head (and than the valid codes of most prefixes)."""
    factors, logits, _ = case
    n_codes = math.prod(factors)
    n_classes = data.draw(st.integers(1, n_codes))
    k = data.draw(st.integers(min(n_classes, max(factors) + 1), n_classes))
    values, indices = kronecker_topk(logits, factors, k, n_classes=n_classes)
    assert_topk_matches(values, indices, dense_log_proba(logits, factors, n_classes), k, atol=tol(logits, factors))


@SETTINGS
@given(factor_tuples(max_codes=MAX_CODES), st.data())
def test_topk_all_ties_returns_smallest_codes(factors, data):
    """All-equal logits: every code ties, so the answer is 0..k-1 in order."""
    n_classes, k = n_classes_and_k(data.draw, factors)
    n = data.draw(st.integers(1, 3))
    const = data.draw(st.sampled_from([0.0, 1.5, -7.0, 1e4]))
    dtype = data.draw(st.sampled_from(DTYPES))
    logits = torch.full((n, sum(factors)), const, dtype=dtype)
    values, indices = kronecker_topk(logits, factors, k, n_classes=n_classes)
    assert indices.tolist() == [list(range(k))] * n
    want = -sum(math.log(f) for f in factors)
    torch.testing.assert_close(values.double(), torch.full((n, k), want, dtype=torch.float64), atol=1e-5, rtol=0)


@SETTINGS
@given(factor_tuples(max_codes=MAX_CODES), st.data())
def test_topk_structured_ties(factors, data):
    """One head with well separated logits, every other head constant per row.

    Codes sharing the varying head's label tie exactly; the answer must list
    the varying head's labels by decreasing logit and, within each, the codes
    in increasing order, skipping padding codes.
    """
    n_classes, k = n_classes_and_k(data.draw, factors)
    j = data.draw(st.integers(0, len(factors) - 1))
    n = data.draw(st.integers(1, 3))
    dtype = data.draw(st.sampled_from(DTYPES))
    seed = data.draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    layout = data.draw(st.sampled_from(LAYOUTS))
    logits = make_logits(rng, n, sum(factors), dtype=dtype, layout=layout)
    offsets = np.cumsum((0,) + factors)
    codec = LabelCodec(factors)
    local = codec.encode(np.arange(n_classes))
    expected = []
    for r in range(n):
        for h, f in enumerate(factors):
            if h == j:
                logits[r, offsets[h] : offsets[h + 1]] = torch.tensor(rng.permutation(f) * 1.5, dtype=dtype)
            else:
                logits[r, offsets[h] : offsets[h + 1]] = float(rng.integers(-3, 4))
        row = logits[r, offsets[j] : offsets[j + 1]].double().cpu().numpy()
        rank = np.empty(factors[j], dtype=np.int64)
        rank[np.argsort(-row, kind="stable")] = np.arange(factors[j])
        order = np.lexsort((np.arange(n_classes), rank[local[:, j]]))  # by rank, then code
        expected.append(order[:k].tolist())
    values, indices = kronecker_topk(logits, factors, k, n_classes=n_classes)
    assert indices.tolist() == expected
    assert_topk_matches(values, indices, dense_log_proba(logits, factors, n_classes), k, atol=tol(logits, factors))


@SETTINGS
@given(st.integers(1, 45), st.data())
def test_topk_ties_across_prefixes(c, data):
    """Two identical heads: codes (a, b) and (b, a) tie exactly.

    The better of two tied codes can come from a worse-ranked head-0 prefix
    (e.g. head-0 label 1 beats label 0 but code 0*C+1 < 1*C+0), so ties must
    be broken by the code itself, not by the order prefixes were kept in.
    """
    n_classes, k = n_classes_and_k(data.draw, (c, c))
    n = data.draw(st.integers(1, 3))
    dtype = data.draw(st.sampled_from(DTYPES))
    layout = data.draw(st.sampled_from(LAYOUTS))
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    # distinct integers whose pairwise sums a+b (a <= b) are all distinct (a
    # Sidon set, Erdos-Turan: 2pk + (k^2 mod p)): only (a, b) / (b, a) tie,
    # every other pair of codes differs by >= 1, far above float32 rounding
    p = next(q for q in range(c, 2 * c + 3) if q > 1 and all(q % d for d in range(2, q)))
    sidon = np.array([2 * p * i + (i * i) % p for i in range(c)], dtype=np.float64)
    head = np.stack([rng.permutation(sidon) - sidon.max() / 2 for _ in range(n)])
    logits = make_logits(rng, n, 2 * c, dtype=dtype, layout=layout)
    logits[:, :c] = torch.tensor(head, dtype=dtype)
    logits[:, c:] = torch.tensor(head, dtype=dtype)
    x = logits[:, :c].double().cpu().numpy()  # half-integers: exact in both dtypes
    a, b = np.divmod(np.arange(n_classes), c)
    expected = []
    for r in range(n):
        score = x[r, a] + x[r, b]  # exact; (a, b) and (b, a) tie
        expected.append(np.lexsort((np.arange(n_classes), -score))[:k].tolist())
    values, indices = kronecker_topk(logits, (c, c), k, n_classes=n_classes)
    assert indices.tolist() == expected
    assert_topk_matches(values, indices, dense_log_proba(logits, (c, c), n_classes), k, atol=tol(logits, (c, c)))


def test_topk_ties_across_prefixes_example():
    # head 0 prefers label 1; codes 1 = (0, 1) and 2 = (1, 0) tie: 1 must come first
    logits = torch.tensor([[0.0, 1.0, 0.0, 1.0]], dtype=torch.float64)
    values, indices = kronecker_topk(logits, (2, 2), 4)
    assert indices.tolist() == [[3, 1, 2, 0]]
    assert values[0, 1] == values[0, 2]


@SETTINGS
@given(cases(min_rows=1), st.data())
def test_topk_never_returns_padding(case, data):
    """Padding codes are excluded even when they would score best."""
    factors, logits, _ = case
    n_codes = math.prod(factors)
    n_classes, k = n_classes_and_k(data.draw, factors)
    # make the last code of every head (i.e. the padding region) the most likely
    offsets = np.cumsum((0,) + factors)
    logits = logits.clone()
    for h in range(len(factors)):
        part = logits[:, offsets[h] : offsets[h + 1]]
        logits[:, offsets[h + 1] - 1] = part.max(dim=1).values + 50.0
    values, indices = kronecker_topk(logits, factors, k, n_classes=n_classes)
    assert (indices < n_classes).all() and (indices >= 0).all()
    assert_topk_matches(values, indices, dense_log_proba(logits, factors, n_classes), k, atol=tol(logits, factors))
    if n_classes == n_codes:
        assert (indices[:, 0] == n_codes - 1).all()


def test_topk_zero_rows_and_defaults():
    factors = (5, 4, 3)
    for dtype in DTYPES:
        values, indices = kronecker_topk(torch.zeros(0, 12, dtype=dtype), factors, 7, n_classes=50)
        assert values.shape == indices.shape == (0, 7)
        assert values.dtype == dtype and indices.dtype == torch.int64
    logits = make_logits(np.random.default_rng(3), 2, 12)
    v1, i1 = kronecker_topk(logits, factors, 60)
    v2, i2 = kronecker_topk(logits, factors, 60, n_classes=60)
    assert torch.equal(v1, v2) and torch.equal(i1, i2)
    assert sorted(i1[0].tolist()) == list(range(60))  # k == n_classes: a permutation of all codes


def test_topk_errors():
    factors = (5, 4)
    logits = torch.zeros(3, 9)
    for k, n_classes in [(0, None), (-1, None), (21, None), (18, 17), (2, 1), (0, 5)]:
        with pytest.raises(ValueError):
            kronecker_topk(logits, factors, k, n_classes=n_classes)
    for n_classes in (0, -1, 21, 100):
        with pytest.raises(ValueError):
            kronecker_topk(logits, factors, 1, n_classes=n_classes)
        with pytest.raises(ValueError):
            kronecker_log_mass(logits, factors, n_classes)
        with pytest.raises(ValueError):
            kronecker_log_proba(logits, factors, n_classes)
    with pytest.raises(ValueError):  # wrong width
        kronecker_topk(torch.zeros(3, 10), factors, 1)
    with pytest.raises(TypeError):
        kronecker_topk(torch.zeros(3, 9, dtype=torch.int32), factors, 1)
    with pytest.raises(TypeError):
        kronecker_topk(logits, factors, 2.0)
    with pytest.raises(TypeError):
        kronecker_topk(logits, factors, 1, n_classes=5.0)
    with pytest.raises(ValueError):
        kronecker_topk(logits, (5, 0, 4), 1)
    kronecker_topk(logits, factors, 20)  # k == prod is fine
    kronecker_topk(logits, factors, 1, n_classes=1)


# =========================================================================== log-mass / log-proba


@SETTINGS
@given(cases(), st.data())
def test_log_mass_matches_dense(case, data):
    factors, logits, _ = case
    n_classes, _ = n_classes_and_k(data.draw, factors)
    got = kronecker_log_mass(logits, factors, n_classes)
    assert got.shape == (logits.shape[0],) and got.dtype == out_dtype(logits)
    assert torch.isfinite(got).all()
    want = torch.logsumexp(dense_log_proba(logits, factors, n_classes), dim=1)
    torch.testing.assert_close(got.double(), want, atol=tol(logits, factors), rtol=0)
    assert (got <= tol(logits, factors)).all()
    if n_classes == math.prod(factors):
        assert (got == 0).all()


@SETTINGS
@given(cases(), st.data())
def test_log_proba_matches_dense(case, data):
    factors, logits, _ = case
    n_classes, _ = n_classes_and_k(data.draw, factors)
    n = logits.shape[0]
    got = kronecker_log_proba(logits, factors, n_classes)
    assert got.shape == (n, n_classes) and got.dtype == out_dtype(logits)
    assert not torch.isnan(got).any()
    base = dense_log_proba(logits, factors, n_classes)
    want = base - torch.logsumexp(base, dim=1, keepdim=True)
    atol = tol(logits, factors)
    torch.testing.assert_close(got.double(), want, atol=atol, rtol=0)
    if n:
        torch.testing.assert_close(
            torch.logsumexp(got.double(), dim=1), torch.zeros(n, dtype=torch.float64), atol=atol, rtol=0
        )
    if n_classes == math.prod(factors):  # plain log_softmax of the dense logits
        want_full = dense_logits(logits, factors).log_softmax(1)
        torch.testing.assert_close(got.double(), want_full, atol=atol, rtol=0)


@SETTINGS
@given(cases(), st.data())
def test_topk_minus_log_mass_is_log_proba(case, data):
    factors, logits, _ = case
    n_classes, k = n_classes_and_k(data.draw, factors)
    before = logits.clone()
    values, indices = kronecker_topk(logits, factors, k, n_classes=n_classes)
    mass = kronecker_log_mass(logits, factors, n_classes)
    proba = kronecker_log_proba(logits, factors, n_classes)
    assert torch.equal(logits, before)  # inputs are not modified
    renorm = values.double() - mass.double()[:, None]
    torch.testing.assert_close(renorm, proba.double().gather(1, indices), atol=2 * tol(logits, factors), rtol=0)
    # and the renormalised top-k are the top-k of log_proba (values)
    if logits.shape[0]:
        torch.testing.assert_close(
            renorm, torch.topk(proba.double(), k, dim=1).values, atol=2 * tol(logits, factors), rtol=0
        )


def test_log_mass_hand_computed():
    # two heads of 3, uniform: 7 valid codes out of 9
    logits = torch.zeros(1, 6, dtype=torch.float64)
    torch.testing.assert_close(kronecker_log_mass(logits, (3, 3), 7), torch.tensor([math.log(7 / 9)], dtype=torch.float64))
    # non-uniform, one head: mass of first 2 classes
    logits = torch.tensor([[0.0, math.log(2.0), math.log(3.0)]], dtype=torch.float64)
    torch.testing.assert_close(kronecker_log_mass(logits, (3,), 2), torch.tensor([math.log(3 / 6)], dtype=torch.float64))
    # zero rows
    assert kronecker_log_mass(torch.zeros(0, 6), (3, 3), 7).shape == (0,)
    assert kronecker_log_proba(torch.zeros(0, 6), (3, 3), 7).shape == (0, 7)
