"""Exact Kronecker top-k kernel (``skmhe.kernels.topk``) and its op.

Checked against the torch reference op and the dense float64 baseline
(``torch.topk`` of the outer-sum joint log-probabilities restricted to codes
``< n_classes``), including padding codes (``n_classes < prod(factors)``),
``k`` beyond the head sizes, ties and extreme logits. Without CUDA the kernel
runs under ``TRITON_INTERPRET=1``, so shapes stay small. The variable is set
by ``conftest.py`` before any test module is imported: triton fixes compiled
vs interpreted for its own library at import (``skmhe.kernels.load`` raises a
clear error if that were broken).

Tolerance (absolute): ``2e-6 * (1 + H * max|logits|)`` on the values, for
every input dtype (the baseline uses the same rounded inputs; the kernel
accumulates in float32). Codes must be valid, distinct, and carry their own
joint value; they must equal the baseline's wherever the baseline's values
are separated by more than four tolerances (near-ties may come in either
order), and equal exactly in the tests built on exact ties.
"""

from __future__ import annotations

from _kernel_support import CUDA, DEVICE, DTYPES, HEAD_SIZES, LAYOUTS, TRITON_MARKS, forbid_kernel_launch, run_aot_script

import math

import numpy as np
import pytest
import torch
from hypothesis import event, given, settings
from hypothesis import strategies as st

from _strategies import max_examples
from _baseline import assert_topk_close, assert_topk_matches, dense_log_proba
from _baseline import make_logits as _make_logits
from skmhe import LabelCodec, kernels
from skmhe.ops import kronecker_topk

MAX_DENSE = 200_000  # codes materialised by the dense baseline

pytestmark = [*TRITON_MARKS, pytest.mark.usefixtures("one_thread")]


def topk_kernels():
    return kernels.load("topk")


# --------------------------------------------------------------------------- data and baselines


@st.composite
def head_factors(draw, max_heads=4, max_codes=MAX_DENSE):
    h = draw(st.integers(1, max_heads))
    out, prod = [], 1
    for _ in range(h):
        size = draw(st.one_of(st.sampled_from(HEAD_SIZES), st.sampled_from(HEAD_SIZES), st.integers(1, 30)))
        size = max(1, min(size, max_codes // prod))
        out.append(size)
        prod *= size
    return tuple(out)


@st.composite
def classes_and_k(draw, factors, max_k=40):
    """``n_classes`` (often just past a digit boundary) and ``k`` (often > a head size)."""
    n_codes = math.prod(factors)
    codec = LabelCodec(factors)
    boundary = [max(1, s * d + 1) for s in codec.strides for d in range(1, 3)]
    n_classes = draw(
        st.one_of(
            st.just(n_codes),
            st.integers(1, n_codes),
            st.sampled_from([min(b, n_codes) for b in boundary]),
        )
    )
    k = draw(st.one_of(st.integers(1, min(n_classes, max_k)), st.just(min(n_classes, max_k, max(factors) + 2))))
    return n_classes, k


def make_logits(rng, n, width, dtype, layout="contiguous", scale=1.0, quantize=False):
    """The shared baseline's logits on ``DEVICE``; ``scale >= 1e3`` saturates some at ``+-1e4``."""
    return _make_logits(rng, n, width, dtype, layout, scale, quantize, saturate=True, device=DEVICE)


def head_log_proba_of(logits, factors, codes):
    """Float64 joint log-probabilities of given codes, without the dense matrix."""
    parts = [p.log_softmax(dim=1) for p in torch.split(logits.detach().cpu().double(), list(factors), dim=1)]
    total = torch.zeros(codes.shape, dtype=torch.float64)
    for stride, c, lp in zip(LabelCodec(factors).strides, factors, parts):
        total += lp.gather(1, (codes.cpu() // stride) % c)
    return total


def tol(logits, factors):
    return 2e-6 * (1.0 + len(factors) * float(logits.detach().abs().max().float()))


def check_dense(values, indices, logits, factors, n_classes, k):
    """Against the dense float64 baseline (``torch.topk`` of the joint log-probabilities)."""
    assert values.dtype == torch.float32
    logp = dense_log_proba(logits.detach().cpu(), factors, n_classes)
    assert_topk_matches(values, indices, logp, k, atol=tol(logits, factors))


def check_reference(values, indices, logits, factors, n_classes, k):
    """Against the torch reference op (float32), asking it for one more code to see near-ties."""
    assert values.dtype == torch.float32
    atol = tol(logits, factors)
    kk = min(k + 1, n_classes)
    ref_v, ref_i = kronecker_topk(logits, factors, kk, n_classes, backend="torch")
    if kk > k:
        next_best = ref_v[:, k]
    else:
        next_best = torch.full((ref_v.shape[0],), -math.inf, dtype=torch.float64)
    assert_topk_close(values, indices, ref_v[:, :k], ref_i[:, :k], next_best, n_classes, atol)
    torch.testing.assert_close(
        head_log_proba_of(logits, factors, indices), values.cpu().double(), atol=atol, rtol=0
    )


# --------------------------------------------------------------------------- kernel


@settings(deadline=None, max_examples=max_examples(100), derandomize=True)
@given(
    factors=head_factors(),
    data=st.data(),
    n=st.integers(1, 4),
    dtype=st.sampled_from(DTYPES),
    scale=st.sampled_from([1.0, 3.0, 1e4]),
    quantize=st.booleans(),
    layout=st.sampled_from(LAYOUTS),
    small_blocks=st.booleans(),
    seed=st.integers(0, 2**31 - 1),
)
def test_kernel_matches_reference_and_dense(factors, data, n, dtype, scale, quantize, layout, small_blocks, seed):
    """NaN/-1-poisoned outputs, every element written, exact against both baselines."""
    n_classes, k = data.draw(classes_and_k(factors))
    event(f"H={len(factors)}")
    event("padding codes" if n_classes < math.prod(factors) else "no padding")
    event("k > a head size" if k > min(factors) else "k <= head sizes")
    event("a head of 1000" if 1000 in factors else "heads < 1000")
    rng = np.random.default_rng(seed)
    logits = make_logits(rng, n, sum(factors), dtype, layout, scale, quantize)
    values_out = torch.full((n, k), math.nan, device=DEVICE)
    indices_out = torch.full((n, k), -1, dtype=torch.int64, device=DEVICE)
    block_c = None
    if small_blocks:  # the multi-block scan of each head (a few blocks: the interpreter is slow)
        block_c = max(triton_next_power_of_2(k + len(factors) - 1), triton_next_power_of_2(max(factors)) // 8)
    values, indices = topk_kernels().kronecker_topk(
        logits, factors, k, n_classes, values_out=values_out, indices_out=indices_out, block_c=block_c
    )
    assert values is values_out and indices is indices_out
    assert torch.isfinite(values).all() and (indices >= 0).all()  # every element written
    check_reference(values, indices, logits, factors, n_classes, k)
    if math.prod(factors) <= MAX_DENSE:
        check_dense(values, indices, logits, factors, n_classes, k)


def triton_next_power_of_2(v: int) -> int:
    return 1 << max(0, (v - 1).bit_length())


@pytest.mark.parametrize(
    "factors,n_classes,k",
    [
        ((100, 50), 4999, 128),
        ((20, 20, 20), 7777, 128),
        ((3, 5, 7, 11), 1001, 128),
        ((300,), 299, 128),
        ((1000, 17), 16001, 130),
    ],
)
def test_large_k(factors, n_classes, k):
    rng = np.random.default_rng(k + n_classes)
    logits = make_logits(rng, 2, sum(factors), torch.float32, "transposed", 3.0)
    values, indices = topk_kernels().kronecker_topk(logits, factors, k, n_classes)
    check_reference(values, indices, logits, factors, n_classes, k)
    check_dense(values, indices, logits, factors, n_classes, k)


def test_every_n_classes_of_a_small_code():
    """Every boundary position of the padding: n_classes = 1 .. prod(factors)."""
    factors = (3, 4, 5)
    rng = np.random.default_rng(0)
    logits = make_logits(rng, 3, sum(factors), torch.float32, "contiguous", 2.0)
    for n_classes in range(1, 61):
        for k in sorted({min(n_classes, 6), n_classes}):
            values, indices = topk_kernels().kronecker_topk(logits, factors, k, n_classes)
            check_dense(values, indices, logits, factors, n_classes, k)


def test_padding_prefix_needs_its_own_candidates():
    """The boundary prefix's best valid completions lie outside the head's top-k.

    factors (2, 6), n_classes 8: prefix 1 may only complete with labels 0, 1.
    Head 1 prefers labels 2..5, so a plain per-head top-(k + 1) of head 1
    would miss code 7 = (1, 1), the second best.
    """
    logits = torch.tensor([[0.0, 5.0, -3.0, -1.5, 4.0, 2.5, 2.4, 2.3]], device=DEVICE)
    values, indices = topk_kernels().kronecker_topk(logits, (2, 6), 3, 8)
    ref_v, ref_i = kronecker_topk(logits, (2, 6), 3, 8, backend="torch")
    assert indices.tolist() == ref_i.tolist() == [[2, 7, 3]]
    torch.testing.assert_close(values, ref_v, atol=1e-6, rtol=0)


@pytest.mark.parametrize("factors,n_classes", [((3, 3), 9), ((3, 4, 5), 47), ((17,), 11), ((2, 1, 3, 2), 10)])
@pytest.mark.parametrize("dtype", DTYPES)
def test_all_ties_return_smallest_codes(factors, n_classes, dtype):
    k = min(n_classes, 7)
    for const in (0.0, -7.0, 1e4):
        logits = torch.full((2, sum(factors)), const, dtype=dtype, device=DEVICE)
        values, indices = topk_kernels().kronecker_topk(logits, factors, k, n_classes)
        assert indices.tolist() == [list(range(k))] * 2
        want = -sum(math.log(c) for c in factors)
        want = torch.full((2, k), want, dtype=torch.float64)
        torch.testing.assert_close(values.double().cpu(), want, atol=1e-5, rtol=0)


@settings(deadline=None, max_examples=max_examples(15), derandomize=True)
@given(c=st.integers(1, 20), data=st.data(), dtype=st.sampled_from(DTYPES), seed=st.integers(0, 2**31 - 1))
def test_ties_across_prefixes(c, data, dtype, seed):
    """Two identical heads: codes (a, b) and (b, a) tie exactly; the smaller code wins."""
    n_classes, k = data.draw(classes_and_k((c, c)))
    rng = np.random.default_rng(seed)
    head = torch.tensor(rng.standard_normal((2, c)) * 3, dtype=dtype, device=DEVICE)
    logits = torch.cat([head, head], dim=1)
    x = head.double().cpu().numpy()
    a, b = np.divmod(np.arange(n_classes), c)
    expected = [np.lexsort((np.arange(n_classes), -(x[r, a] + x[r, b])))[:k].tolist() for r in range(2)]
    values, indices = topk_kernels().kronecker_topk(logits, (c, c), k, n_classes)
    assert indices.tolist() == expected
    ref_v, ref_i = kronecker_topk(logits, (c, c), k, n_classes, backend="torch")
    assert ref_i.tolist() == expected
    torch.testing.assert_close(values, ref_v, atol=tol(logits, (c, c)), rtol=0)


def test_ties_across_prefixes_example():
    logits = torch.tensor([[0.0, 1.0, 0.0, 1.0]], device=DEVICE)
    values, indices = topk_kernels().kronecker_topk(logits, (2, 2), 4)
    assert indices.tolist() == [[3, 1, 2, 0]]
    assert values[0, 1] == values[0, 2]


@pytest.mark.skipif(CUDA, reason="on CUDA every kernel test runs tl.topk itself")
def test_interpreter_selection_matches_tl_topk(monkeypatch):
    """The interpreter's numpy stand-in for ``tl.topk`` selects exactly what ``tl.topk`` does
    on packed keys: value descending, ties to the smaller code, padding last."""
    import triton
    import triton.language as tl

    tk = topk_kernels()
    # the interpreter resolves a kernel's names in its module's globals (no closures)
    monkeypatch.setitem(globals(), "_probe_pack", tk._pack)
    monkeypatch.setitem(globals(), "_probe_select", tk._select_top)

    @triton.jit
    def kern(v_ptr, c_ptr, a_ptr, b_ptr, N: tl.constexpr, K: tl.constexpr):
        i = tl.arange(0, N)
        keys = _probe_pack(tl.load(v_ptr + i), tl.load(c_ptr + i))  # noqa: F821
        keys = tl.where(i % 7 == 3, -(2**63), keys)  # padding slots
        tl.store(a_ptr + tl.arange(0, K), tl.topk(keys, K))
        tl.store(b_ptr + tl.arange(0, K), _probe_select(keys, K))  # noqa: F821

    rng = np.random.default_rng(1)
    n, k = 64, 32
    values = torch.tensor(
        rng.choice([0.0, -0.0, 1.5, -1.5, -math.inf, -2e4, 3.25, -1e-30], size=n), dtype=torch.float32
    )
    codes = torch.tensor(rng.permutation(5000)[:n], dtype=torch.int64)
    a = torch.empty(k, dtype=torch.int64)
    b = torch.empty(k, dtype=torch.int64)
    kern[(1,)](values, codes, a, b, N=n, K=k)
    assert a.tolist() == b.tolist()
    valid = [(float(v), int(c)) for j, (v, c) in enumerate(zip(values, codes)) if j % 7 != 3]
    want = [c for v, c in sorted(valid, key=lambda vc: (-vc[0], vc[1]))][:k]
    got_codes = [0xFFFFFFFF - (key & 0xFFFFFFFF) for key in a.tolist()]
    assert got_codes == want


@pytest.mark.parametrize("block_c", [None, 8])
def test_int64_column_offsets(block_c):
    """The int64 offset variant (for huge column strides) computes the same."""
    rng = np.random.default_rng(8)
    factors = (30, 7, 30)
    logits = make_logits(rng, 2, sum(factors), torch.float32, "transposed", 2.0)
    tk = topk_kernels()
    wide = tk.kronecker_topk(logits, factors, 6, 5000, block_c=block_c, col64=True)
    narrow = tk.kronecker_topk(logits, factors, 6, 5000, block_c=block_c, col64=False)
    assert wide[1].tolist() == narrow[1].tolist()
    torch.testing.assert_close(wide[0], narrow[0], atol=0, rtol=0)
    check_dense(wide[0], wide[1], logits, factors, 5000, 6)


def test_strided_outputs_and_zero_rows():
    rng = np.random.default_rng(4)
    factors, k = (6, 7), 5
    logits = make_logits(rng, 3, 13, torch.bfloat16, "slice", 2.0)
    values_out = torch.full((k, 3), math.nan, device=DEVICE).t()
    indices_out = torch.full((k, 3), -1, dtype=torch.int64, device=DEVICE).t()
    values, indices = topk_kernels().kronecker_topk(
        logits, factors, k, 40, values_out=values_out, indices_out=indices_out
    )
    assert torch.isfinite(values_out).all() and (indices_out >= 0).all()
    check_dense(values, indices, logits, factors, 40, k)
    v0, i0 = topk_kernels().kronecker_topk(logits[:0], factors, k, 40)
    assert v0.shape == i0.shape == (0, k)


# --------------------------------------------------------------------------- op, autograd, dispatch


@settings(deadline=None, max_examples=max_examples(15), derandomize=True)
@given(
    factors=head_factors(max_codes=5000),
    data=st.data(),
    dtype=st.sampled_from(DTYPES),
    seed=st.integers(0, 2**31 - 1),
)
def test_op_values_and_gradient_match_reference(factors, data, dtype, seed):
    n_classes, k = data.draw(classes_and_k(factors, max_k=12))
    rng = np.random.default_rng(seed)
    base = make_logits(rng, 3, sum(factors), dtype, "contiguous", 2.0)
    x_tri = base.clone().requires_grad_(True)
    x_ref = base.clone().requires_grad_(True)
    v, i = kronecker_topk(x_tri, factors, k, n_classes, backend="triton")
    rv, ri = kronecker_topk(x_ref, factors, k, n_classes, backend="torch")
    check_dense(v.detach(), i, base, factors, n_classes, k)
    w = torch.tensor(rng.uniform(-1, 1, size=(3, k)), dtype=torch.float32, device=DEVICE)
    # gradient of the values at the *same* codes: use the reference at the kernel's codes
    (v * w).sum().backward()
    lp = [p.log_softmax(dim=1) for p in torch.split(x_ref.float(), list(factors), dim=1)]
    joint = sum(part.gather(1, (i // s) % c) for s, c, part in zip(LabelCodec(factors).strides, factors, lp))
    (joint * w).sum().backward()
    assert x_tri.grad.dtype == dtype
    atol = {torch.float32: 1e-5, torch.float16: 4e-3, torch.bfloat16: 3e-2}[dtype]
    torch.testing.assert_close(x_tri.grad.double(), x_ref.grad.double(), atol=atol * k, rtol=0)


def test_auto_backend_is_torch_on_cpu(monkeypatch):
    forbid_kernel_launch(monkeypatch)  # skips on CUDA
    values, indices = kronecker_topk(torch.randn(2, 9), (4, 5), 3, 17)
    assert values.shape == indices.shape == (2, 3)


def test_triton_backend_on_cpu_without_interpreter_raises(monkeypatch):
    monkeypatch.setenv("TRITON_INTERPRET", "0")
    with pytest.raises(RuntimeError, match="TRITON_INTERPRET") as info:
        kronecker_topk(torch.randn(2, 9), (4, 5), 3, backend="triton")
    assert "CUDA" in str(info.value)


def test_backend_argument_errors():
    logits = torch.randn(2, 9, device=DEVICE)
    with pytest.raises(ValueError, match="backend"):
        kronecker_topk(logits, (4, 5), 3, backend="gpu")
    with pytest.raises(TypeError, match="float64"):
        kronecker_topk(logits.double(), (4, 5), 3, backend="triton")
    # the shared validation runs before either backend
    with pytest.raises(ValueError, match="k must be"):
        kronecker_topk(logits, (4, 5), 18, 17, backend="triton")
    with pytest.raises(ValueError, match="n_classes"):
        kronecker_topk(logits, (4, 5), 3, 21, backend="triton")
    v, i = kronecker_topk(logits[:0], (4, 5), 3, backend="triton")
    assert v.shape == i.shape == (0, 3)


# --------------------------------------------------------------------------- GPU compilation

AOT_SCRIPT = r"""
fn = kernels.load("topk")._kronecker_topk_kernel
for dtype, kp, tb, block_c, single, col64 in [
    ("fp32", 16, 64, 128, True, False),
    ("bf16", 8, 32, 64, False, True),
    ("fp16", 1, 2, 16, True, False),  # k = 1, one head
]:
    sig = {name: "i64" if name.startswith("stride") else "i32" for name in fn.arg_names}
    sig.update(x_ptr="*" + dtype, tbl_ptr="*i64", pi_ptr="*i32", pj_ptr="*i32", val_ptr="*fp32", idx_ptr="*i64")
    consts = dict(KP=kp, TB=tb, BLOCK_C=block_c, SINGLE_BLOCK=single, COL64=col64, stride_xc=1)
    compile_sm90(fn, sig, consts, 4)
    print("compiled", dtype, kp, tb, block_c, single)
"""


@pytest.mark.skipif(CUDA, reason="the other tests compile the kernel natively")
def test_kernel_compiles_for_sm90():
    """Compile ahead of time for an H100 (sm_90): the real bitonic ``tl.topk`` (the
    interpreter runs a numpy stand-in), Triton's MLIR passes, LLVM and ptxas. No GPU
    needed. In a fresh process: triton's mode is fixed when it is imported."""
    out = run_aot_script(AOT_SCRIPT)
    assert out.count("compiled") == 3, out
