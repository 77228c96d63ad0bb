"""Fused multi-head cross-entropy kernel (``skmhe.kernels.cross_entropy``) and its op.

Checked against the dense float64 baseline (per-head cross-entropy of the
float64-cast logits, and ``F.cross_entropy`` of the outer-sum logits ``D``)
and against autograd through the torch reference op. Without CUDA the kernel
runs under ``TRITON_INTERPRET=1``, so shapes stay small. The variable is set
by ``conftest.py`` before any test module is imported: triton fixes compiled
vs interpreted for its own library at import (``skmhe.kernels.load`` raises a
clear error if that were broken).

Tolerances (absolute; ``X = 1 + max|logits|``):

* losses, per head: ``4e-6 * X`` against float64 (float32 accumulation, any
  input dtype, since the baseline uses the same rounded inputs);
* gradients as stored: float32 ``2e-6``, float16 ``1e-3``, bfloat16 ``8e-3``
  (half an ulp of the stored dtype at 1, plus float32 error), times the
  gradient scale; through the op (``grad_output`` weights up to 2, and
  the gradient rounded to the stored dtype twice), four times that.
"""

from __future__ import annotations

from _kernel_support import CUDA, DEVICE, DTYPES, HEAD_SIZES, LAYOUTS, TRITON_MARKS, forbid_kernel_launch, run_aot_script

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import event, given, settings
from hypothesis import strategies as st

from _strategies import max_examples
from _baseline import dense_cross_entropy
from _baseline import make_logits as _make_logits
from skmhe import kernels
from skmhe.ops import multi_head_cross_entropy

GRAD_ATOL = {torch.float32: 2e-6, torch.float16: 1e-3, torch.bfloat16: 8e-3}

pytestmark = [*TRITON_MARKS, pytest.mark.usefixtures("one_thread")]

SETTINGS = settings(deadline=None, max_examples=max_examples(100), derandomize=True)


def ce_kernels():
    return kernels.load("cross_entropy")


# --------------------------------------------------------------------------- data


@st.composite
def head_factors(draw, max_heads=4, max_width=1300):
    h = draw(st.integers(1, max_heads))
    out = []
    for _ in range(h):
        room = max_width - sum(out) - (h - len(out) - 1)
        size = draw(st.one_of(st.sampled_from(HEAD_SIZES), st.integers(1, 40)))
        out.append(max(1, min(size, room)))
    if h > 1 and draw(st.integers(0, 2)) == 0:  # equal heads: the (n * H, C) path
        out = [out[0]] * h
    return tuple(out)


def make_logits(rng, n, width, dtype, layout="contiguous", scale=1.0):
    """The shared baseline's logits on ``DEVICE``; ``scale >= 1e3`` saturates some at ``+-1e4``."""
    return _make_logits(rng, n, width, dtype, layout, scale, saturate=True, device=DEVICE)


def make_targets(rng, n, factors, transposed=False):
    t = np.stack([rng.integers(0, c, size=n) for c in factors], axis=1).reshape(n, len(factors))
    if transposed:
        return torch.tensor(np.ascontiguousarray(t.T), device=DEVICE).t()
    return torch.tensor(t, device=DEVICE)


def baseline_per_head(logits, targets, factors):
    """Float64 per-head cross-entropy ``(n, H)`` and gradient ``softmax - onehot``."""
    x = logits.detach().to(torch.float64)
    losses, grads = [], []
    for h, part in enumerate(torch.split(x, list(factors), dim=1)):
        t = targets[:, h].long()
        losses.append(F.cross_entropy(part, t, reduction="none"))
        grads.append(part.softmax(dim=1) - F.one_hot(t, factors[h]).to(torch.float64))
    return torch.stack(losses, dim=1), torch.cat(grads, dim=1)


def loss_tol(logits):
    return 4e-6 * (1.0 + float(logits.detach().abs().max().float()))


# --------------------------------------------------------------------------- kernel


@SETTINGS
@given(
    factors=head_factors(),
    n=st.integers(1, 5),
    dtype=st.sampled_from(DTYPES),
    scale=st.sampled_from([1.0, 4.0, 1e4]),
    layout=st.sampled_from(LAYOUTS),
    blocks=st.sampled_from([(None, None), (1, 16), (2, 64), (4, 256), (2, 4)]),
    grad_scale=st.sampled_from([1.0, 0.25]),
    seed=st.integers(0, 2**31 - 1),
)
def test_kernel_matches_float64_baseline(factors, n, dtype, scale, layout, blocks, grad_scale, seed):
    """Losses and gradient against float64, with NaN-poisoned output buffers.

    Small ``block_c`` forces the multi-block online log-sum-exp; ``block_n``
    below ``n`` leaves partly masked row blocks.
    """
    event(f"H={len(factors)}")
    event("equal heads" if len(set(factors)) == 1 else "unequal heads")
    event("multi-block" if blocks[1] is not None and max(factors) > blocks[1] else "single block")
    rng = np.random.default_rng(seed)
    width = sum(factors)
    logits = make_logits(rng, n, width, dtype, layout, scale)
    targets = make_targets(rng, n, factors, transposed=bool(seed % 2))
    loss_out = torch.full((n, len(factors)), math.nan, device=DEVICE)
    grad_out = torch.full((n, width), math.nan, dtype=dtype, device=DEVICE)
    block_n, block_c = blocks
    if block_c is not None and max(factors) > 64 * block_c:  # keep the interpreter's block loop short
        block_c *= 16
    loss, grad = ce_kernels().fused_cross_entropy(
        logits, targets, factors, grad_scale=grad_scale, grad_out=grad_out, loss_out=loss_out,
        block_n=block_n, block_c=block_c,
    )
    assert loss is loss_out and grad is grad_out
    assert torch.isfinite(loss).all(), loss  # every element written
    assert torch.isfinite(grad).all(), grad
    want_loss, want_grad = baseline_per_head(logits, targets, factors)
    torch.testing.assert_close(loss.double(), want_loss, atol=loss_tol(logits), rtol=0)
    torch.testing.assert_close(
        grad.double(), want_grad * grad_scale, atol=GRAD_ATOL[dtype] * grad_scale, rtol=0
    )


@pytest.mark.parametrize("factors", [(17, 17, 17), (100, 100), (3, 3, 3, 3)])
@pytest.mark.parametrize("block_n", [1, 4])
def test_equal_heads_path_matches_general_path(factors, block_n):
    rng = np.random.default_rng(7)
    n = 5
    logits = make_logits(rng, n, sum(factors), torch.float32, "transposed", 3.0)
    targets = make_targets(rng, n, factors, transposed=True)
    ce = ce_kernels()
    fast = ce.fused_cross_entropy(logits, targets, factors, block_n=block_n, equal_heads_path=True)
    general = ce.fused_cross_entropy(logits, targets, factors, block_n=block_n, equal_heads_path=False)
    torch.testing.assert_close(fast[0], general[0], atol=0, rtol=0)
    torch.testing.assert_close(fast[1], general[1], atol=0, rtol=0)
    want_loss, _ = baseline_per_head(logits, targets, factors)
    torch.testing.assert_close(fast[0].double(), want_loss, atol=loss_tol(logits), rtol=0)


@pytest.mark.parametrize("factors,block_c", [((5, 1000), 128), ((100, 3, 17), None), ((12, 12), 4)])
def test_gradient_in_place_into_logits(factors, block_c):
    """``grad_out=logits``: every element is read before its program overwrites it."""
    rng = np.random.default_rng(3)
    n = 3
    logits = make_logits(rng, n, sum(factors), torch.float32, "contiguous", 2.0)
    targets = make_targets(rng, n, factors)
    want_loss, want_grad = baseline_per_head(logits, targets, factors)
    buf = logits.clone()
    loss, grad = ce_kernels().fused_cross_entropy(buf, targets, factors, grad_out=buf, block_c=block_c)
    assert grad is buf
    torch.testing.assert_close(loss.double(), want_loss, atol=loss_tol(logits), rtol=0)
    torch.testing.assert_close(buf.double(), want_grad, atol=2e-6, rtol=0)


def test_strided_gradient_buffer_and_forward_only():
    rng = np.random.default_rng(5)
    factors, n = (9, 30, 4), 4
    logits = make_logits(rng, n, sum(factors), torch.float16, "slice", 3.0)
    targets = make_targets(rng, n, factors)
    want_loss, want_grad = baseline_per_head(logits, targets, factors)
    grad_out = torch.full((sum(factors), n), math.nan, dtype=torch.float32, device=DEVICE).t()
    loss, grad = ce_kernels().fused_cross_entropy(logits, targets, factors, grad_out=grad_out)
    assert torch.isfinite(grad_out).all()
    torch.testing.assert_close(grad_out.double(), want_grad, atol=2e-6, rtol=0)
    loss2, grad2 = ce_kernels().fused_cross_entropy(logits, targets, factors, compute_grad=False)
    assert grad2 is None
    torch.testing.assert_close(loss2, loss, atol=0, rtol=0)
    torch.testing.assert_close(loss.double(), want_loss, atol=loss_tol(logits), rtol=0)


@pytest.mark.parametrize("block_c", [None, 16])
def test_int64_column_offsets(block_c):
    """The int64 offset variant (for huge column strides) computes the same."""
    rng = np.random.default_rng(9)
    factors, n = (30, 7, 30), 3
    logits = make_logits(rng, n, sum(factors), torch.float32, "transposed", 2.0)
    targets = make_targets(rng, n, factors)
    ce = ce_kernels()
    wide = ce.fused_cross_entropy(logits, targets, factors, block_c=block_c, col64=True)
    narrow = ce.fused_cross_entropy(logits, targets, factors, block_c=block_c, col64=False)
    torch.testing.assert_close(wide[0], narrow[0], atol=0, rtol=0)
    torch.testing.assert_close(wide[1], narrow[1], atol=0, rtol=0)


def test_extreme_logits_stay_finite():
    """+-1e4 logits with the target at -1e4: losses near 2e4 per head, no overflow."""
    factors, n = (3, 17, 100), 4
    logits = torch.full((n, sum(factors)), -1e4, device=DEVICE)
    logits[:, ::5] = 1e4
    targets = torch.tensor([[1, 1, 1], [0, 0, 0], [2, 16, 99], [1, 3, 7]], device=DEVICE)
    for dtype in DTYPES:
        x = logits.to(dtype)
        loss, grad = ce_kernels().fused_cross_entropy(x, targets, factors, block_c=32)
        want_loss, want_grad = baseline_per_head(x, targets, factors)
        assert torch.isfinite(loss).all() and torch.isfinite(grad).all()
        torch.testing.assert_close(loss.double(), want_loss, atol=loss_tol(x), rtol=0)
        torch.testing.assert_close(grad.double(), want_grad, atol=GRAD_ATOL[dtype], rtol=0)


# --------------------------------------------------------------------------- op + autograd


@settings(deadline=None, max_examples=max_examples(60), derandomize=True)
@given(
    factors=head_factors(max_width=600),
    n=st.integers(1, 4),
    dtype=st.sampled_from(DTYPES),
    reduction=st.sampled_from(["mean", "sum", "none"]),
    scale=st.sampled_from([1.0, 3.0, 1e4]),
    layout=st.sampled_from(LAYOUTS),
    seed=st.integers(0, 2**31 - 1),
)
def test_op_matches_reference_and_autograd(factors, n, dtype, reduction, scale, layout, seed):
    rng = np.random.default_rng(seed)
    base = make_logits(rng, n, sum(factors), dtype, layout, scale)
    targets = make_targets(rng, n, factors)
    weights = torch.tensor(rng.uniform(0.5, 2.0, size=n), dtype=torch.float32, device=DEVICE)
    x_tri = base.detach().clone().requires_grad_(True)
    x_ref = base.detach().clone().requires_grad_(True)
    got = multi_head_cross_entropy(x_tri, targets, factors, reduction, backend="triton")
    want = multi_head_cross_entropy(x_ref, targets, factors, reduction, backend="torch")
    assert got.dtype == want.dtype == torch.float32 and got.shape == want.shape
    assert got.requires_grad and got.grad_fn is not None
    big_n = n if reduction == "sum" else 1
    torch.testing.assert_close(got, want, atol=loss_tol(base) * len(factors) * big_n, rtol=0)
    if math.prod(factors) <= 20000:  # the dense float64 baseline over all codes
        dense = dense_cross_entropy(base, targets, factors, reduction=reduction)
        torch.testing.assert_close(got.double(), dense, atol=loss_tol(base) * len(factors) * big_n, rtol=0)
    g = weights if reduction == "none" else weights[0]
    (got * g).sum().backward()
    (want * g).sum().backward()
    assert x_tri.grad.dtype == dtype and x_tri.grad.shape == base.shape
    assert torch.isfinite(x_tri.grad).all()
    torch.testing.assert_close(
        x_tri.grad.double(), x_ref.grad.double(), atol=4 * GRAD_ATOL[dtype], rtol=0
    )


@pytest.mark.parametrize("tdtype", [torch.int32, torch.int16, torch.uint8])
def test_op_integer_target_dtypes(tdtype):
    rng = np.random.default_rng(11)
    factors = (7, 13)
    logits = make_logits(rng, 3, sum(factors), torch.float32)
    targets = make_targets(rng, 3, factors)
    got = multi_head_cross_entropy(logits, targets.to(tdtype), factors, backend="triton")
    want = multi_head_cross_entropy(logits, targets, factors, backend="torch")
    torch.testing.assert_close(got, want, atol=1e-5, rtol=0)


def test_op_without_grad_and_backward_once():
    rng = np.random.default_rng(2)
    factors = (4, 6)
    logits = make_logits(rng, 3, 10, torch.float32)
    targets = make_targets(rng, 3, factors)
    with torch.no_grad():
        loss = multi_head_cross_entropy(logits, targets, factors, backend="triton")
    assert loss.grad_fn is None
    torch.testing.assert_close(loss, multi_head_cross_entropy(logits, targets, factors, backend="torch"))
    x = logits.clone().requires_grad_(True)
    loss = multi_head_cross_entropy(x, targets, factors, backend="triton")
    loss.backward(retain_graph=True)
    with pytest.raises(RuntimeError, match="once"):
        loss.backward()


# --------------------------------------------------------------------------- dispatch


def test_auto_backend_is_torch_on_cpu(monkeypatch):
    forbid_kernel_launch(monkeypatch)  # skips on CUDA
    logits = torch.randn(3, 10, requires_grad=True)
    targets = torch.tensor([[0, 1], [2, 3], [3, 5]])
    loss = multi_head_cross_entropy(logits, targets, (4, 6))  # backend="auto"
    assert "Fused" not in type(loss.grad_fn).__name__


def test_triton_backend_on_cpu_without_interpreter_raises(monkeypatch):
    monkeypatch.setenv("TRITON_INTERPRET", "0")
    logits = torch.randn(3, 10)
    targets = torch.tensor([[0, 1], [2, 3], [3, 5]])
    with pytest.raises(RuntimeError, match="TRITON_INTERPRET") as info:
        multi_head_cross_entropy(logits, targets, (4, 6), backend="triton")
    assert "CUDA" in str(info.value)


def test_backend_argument_errors():
    logits = torch.randn(3, 10, device=DEVICE)
    targets = torch.tensor([[0, 1], [2, 3], [3, 5]], device=DEVICE)
    with pytest.raises(ValueError, match="backend"):
        multi_head_cross_entropy(logits, targets, (4, 6), backend="cuda")
    with pytest.raises(TypeError, match="float64"):
        multi_head_cross_entropy(logits.double(), targets, (4, 6), backend="triton")
    # the shared validation runs before either backend
    with pytest.raises(ValueError, match="outside"):
        multi_head_cross_entropy(logits, targets + 5, (4, 6), backend="triton")
    with pytest.raises(ValueError, match="columns"):
        multi_head_cross_entropy(logits, targets, (4, 7), backend="triton")
    with pytest.raises(ValueError, match="reduction"):
        multi_head_cross_entropy(logits, targets, (4, 6), "avg", backend="triton")
    empty = multi_head_cross_entropy(logits[:0], targets[:0], (4, 6), "none", backend="triton")
    assert empty.shape == (0,)


# --------------------------------------------------------------------------- GPU compilation

AOT_SCRIPT = r"""
fn = kernels.load("cross_entropy")._multi_head_ce_kernel
for dtype, block_n, block_c, single, write_grad, equal, align, col64, num_warps in [
    ("bf16", 4, 1024, True, True, False, 4, False, 8),
    ("fp32", 1, 4096, False, True, False, 1, False, 8),
    ("fp16", 32, 128, True, True, True, 4, False, 8),
    ("fp32", 8, 256, False, False, True, 1, True, 4),
]:
    sig = {name: "i32" for name in fn.arg_names}
    sig.update(
        x_ptr="*" + dtype, t_ptr="*i64", g_ptr="*" + dtype, loss_ptr="*fp32", head_off_ptr="*i32",
        head_size_ptr="*i32", stride_xr="i64", stride_tr="i64", stride_th="i64", stride_gr="i64",
        grad_scale="fp32",
    )
    consts = dict(
        BLOCK_N=block_n, BLOCK_C=block_c, SINGLE_BLOCK=single, WRITE_GRAD=write_grad,
        EQUAL_HEADS=equal, ALIGN=align, COL64=col64, stride_xc=1, stride_gc=1,
    )
    compile_sm90(fn, sig, consts, num_warps)
    print("compiled", dtype, block_n, block_c, single, write_grad, equal, align)
"""


@pytest.mark.skipif(CUDA, reason="the other tests compile the kernel natively")
def test_kernel_compiles_for_sm90():
    """Compile ahead of time for an H100 (sm_90): Triton's real front end, MLIR passes,
    LLVM and ptxas, which the lenient interpreter skips. No GPU needed. In a fresh
    process: triton's mode (compiled or interpreted) is fixed when it is imported."""
    out = run_aot_script(AOT_SCRIPT)
    assert out.count("compiled") == 4, out
