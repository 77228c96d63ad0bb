"""Fused multi-head softmax cross-entropy: loss and gradient in one launch.

For every row ``i`` and head ``h`` (columns ``off_h .. off_h + C_h`` of the
concatenated logits ``x``) the kernel computes

* ``lse_ih = log sum_c exp(x[i, off_h + c])`` by an online (running max,
  rescaled running sum) reduction over ``BLOCK_C``-wide column blocks, so any
  head size works, powers of two or not;
* the loss ``loss[i, h] = lse_ih - x[i, off_h + t_ih]``;
* the gradient ``grad[i, off_h + c] = scale * (exp(x - lse) - [c == t_ih])``,
  written once into a preallocated buffer (which may be the logits buffer
  itself: every element is read before the same program overwrites it).

Loads are upcast to float32 in the kernel (float32, bfloat16 and float16
logits); the gradient is stored in the buffer's dtype. Heads that fit one
block (``SINGLE_BLOCK``) read the logits once; larger heads make a second
pass over their blocks for the gradient.

Two layouts of the work:

* general: a program owns ``BLOCK_N`` rows and loops over the heads (sizes
  and offsets read from a small table);
* equal heads (``EQUAL_HEADS``): multi-head CE is plain CE over the logits
  viewed as ``(n * H, C)``; a program owns ``BLOCK_N`` of these virtual rows
  (row ``r`` is row ``r // H``, head ``r % H``; any strides), which gives
  ``H`` times more programs for small batches.

Per-(row, head) losses go to an ``(n, H)`` float32 buffer; the caller sums
them (deterministically) for the reduction.
"""

from __future__ import annotations

import functools
import math

import torch
import triton
import triton.language as tl
from triton import knobs

from ._common import KERNEL_DTYPES, check_logits_dtype, head_offsets, needs_int64_columns, on_device

__all__ = ["BUILT_FOR_INTERPRETER", "KERNEL_DTYPES", "fused_cross_entropy", "choose_blocks"]

#: kernels below were decorated in this interpreter mode (see ``skmhe.kernels.load``)
BUILT_FOR_INTERPRETER = bool(knobs.runtime.interpret)

#: largest column block on a GPU; larger heads loop over blocks
MAX_BLOCK_C = 4096
#: target elements per program tile on a GPU (16 float32 registers per thread at 8 warps)
GPU_TILE = 4096
#: the interpreter pays per operation, not per element: big tiles are cheaper there
INTERPRETER_TILE = 1 << 16

_NEG_INF = tl.constexpr(float("-inf"))


@triton.jit
def _ce_head(
    x_ptrs,  # [BLOCK_N] pointers to each row's first logit of this head
    g_ptrs,  # [BLOCK_N] pointers to each row's first gradient element of this head
    t,  # [BLOCK_N] int32 targets (local labels)
    row_mask,  # [BLOCK_N]
    C,  # head size (runtime)
    stride_xc,
    stride_gc,
    grad_scale,
    BLOCK_N: tl.constexpr,
    BLOCK_C: tl.constexpr,
    SINGLE_BLOCK: tl.constexpr,
    WRITE_GRAD: tl.constexpr,
    COL64: tl.constexpr,
):
    """Loss of one head for ``BLOCK_N`` rows; writes its gradient when asked."""
    cols = tl.arange(0, BLOCK_C)
    if COL64:  # column offsets times a large column stride overflow int32
        cols = cols.to(tl.int64)
    if SINGLE_BLOCK:
        mask = row_mask[:, None] & (cols < C)[None, :]
        x = tl.load(x_ptrs[:, None] + cols[None, :] * stride_xc, mask=mask, other=_NEG_INF).to(tl.float32)
        m = tl.max(x, axis=1)
        m_safe = tl.where(m == _NEG_INF, 0.0, m)  # all -inf (padding rows): avoid inf - inf
        e = tl.exp(x - m_safe[:, None])
        s = tl.sum(e, axis=1)
        is_t = cols[None, :] == t[:, None]
        x_t = tl.sum(tl.where(is_t, x, 0.0), axis=1)
        s_safe = tl.where(row_mask, s, 1.0)
        loss = m_safe + tl.log(s_safe) - x_t
        if WRITE_GRAD:
            inv_s = grad_scale / s_safe
            g = e * inv_s[:, None] - tl.where(is_t, grad_scale, 0.0)
            tl.store(
                g_ptrs[:, None] + cols[None, :] * stride_gc,
                g.to(g_ptrs.dtype.element_ty),
                mask=mask,
            )
    else:
        m = tl.full([BLOCK_N], _NEG_INF, tl.float32)
        s = tl.zeros([BLOCK_N], tl.float32)
        x_t = tl.zeros([BLOCK_N], tl.float32)
        for c0 in range(0, C, BLOCK_C):
            c = c0 + cols
            mask = row_mask[:, None] & (c < C)[None, :]
            x = tl.load(x_ptrs[:, None] + c[None, :] * stride_xc, mask=mask, other=_NEG_INF).to(tl.float32)
            m_new = tl.maximum(m, tl.max(x, axis=1))
            m_safe = tl.where(m_new == _NEG_INF, 0.0, m_new)
            s = s * tl.exp(m - m_safe) + tl.sum(tl.exp(x - m_safe[:, None]), axis=1)
            x_t += tl.sum(tl.where(c[None, :] == t[:, None], x, 0.0), axis=1)
            m = m_new
        m_safe = tl.where(m == _NEG_INF, 0.0, m)
        s_safe = tl.where(row_mask, s, 1.0)
        loss = m_safe + tl.log(s_safe) - x_t
        if WRITE_GRAD:
            inv_s = grad_scale / s_safe
            for c0 in range(0, C, BLOCK_C):
                c = c0 + cols
                mask = row_mask[:, None] & (c < C)[None, :]
                x = tl.load(x_ptrs[:, None] + c[None, :] * stride_xc, mask=mask, other=_NEG_INF).to(tl.float32)
                g = tl.exp(x - m_safe[:, None]) * inv_s[:, None]
                g = g - tl.where(c[None, :] == t[:, None], grad_scale, 0.0)
                tl.store(
                    g_ptrs[:, None] + c[None, :] * stride_gc,
                    g.to(g_ptrs.dtype.element_ty),
                    mask=mask,
                )
    return loss


@triton.jit
def _multi_head_ce_kernel(
    x_ptr,
    t_ptr,
    g_ptr,
    loss_ptr,  # (n, H) float32, contiguous
    head_off_ptr,  # (H,) int32 column offsets
    head_size_ptr,  # (H,) int32 head sizes
    n_rows,
    n_total,  # rows of the launch: n, or n * H with EQUAL_HEADS
    n_heads,
    equal_c,  # head size when EQUAL_HEADS
    stride_xr,
    stride_xc,
    stride_tr,
    stride_th,
    stride_gr,
    stride_gc,
    grad_scale,
    BLOCK_N: tl.constexpr,
    BLOCK_C: tl.constexpr,
    SINGLE_BLOCK: tl.constexpr,
    WRITE_GRAD: tl.constexpr,
    EQUAL_HEADS: tl.constexpr,
    ALIGN: tl.constexpr,  # a power of two dividing every head size
    COL64: tl.constexpr,  # int64 column offsets
):
    pid = tl.program_id(0)
    offs_n = tl.arange(0, BLOCK_N)
    if EQUAL_HEADS:
        # virtual rows of the (n * H, C) view: r -> (row r // H, head r % H)
        equal_c = (equal_c // ALIGN) * ALIGN  # same value, provably a multiple of ALIGN
        vrows = pid * BLOCK_N + offs_n  # int32: the launcher checks n * H < 2**31
        vmask = vrows < n_total
        rows32 = vrows // n_heads
        heads = vrows - rows32 * n_heads
        rows = rows32.to(tl.int64)
        col0 = (heads * equal_c).to(tl.int64)
        t = tl.load(t_ptr + rows * stride_tr + heads * stride_th, mask=vmask, other=0).to(tl.int32)
        loss = _ce_head(
            x_ptr + rows * stride_xr + col0 * stride_xc,
            g_ptr + rows * stride_gr + col0 * stride_gc,
            t,
            vmask,
            equal_c,
            stride_xc,
            stride_gc,
            grad_scale,
            BLOCK_N,
            BLOCK_C,
            SINGLE_BLOCK,
            WRITE_GRAD,
            COL64,
        )
        tl.store(loss_ptr + vrows, loss, mask=vmask)
    else:
        rows = pid.to(tl.int64) * BLOCK_N + offs_n
        row_mask = rows < n_rows
        x_rows = x_ptr + rows * stride_xr
        g_rows = g_ptr + rows * stride_gr
        for h in range(n_heads):
            # ALIGN divides every head size and offset: lets loads vectorise
            off = tl.multiple_of(tl.load(head_off_ptr + h), ALIGN).to(tl.int64)
            C = tl.multiple_of(tl.load(head_size_ptr + h), ALIGN)
            t = tl.load(t_ptr + rows * stride_tr + h * stride_th, mask=row_mask, other=0).to(tl.int32)
            loss = _ce_head(
                x_rows + off * stride_xc,
                g_rows + off * stride_gc,
                t,
                row_mask,
                C,
                stride_xc,
                stride_gc,
                grad_scale,
                BLOCK_N,
                BLOCK_C,
                SINGLE_BLOCK,
                WRITE_GRAD,
                COL64,
            )
            tl.store(loss_ptr + rows * n_heads + h, loss, mask=row_mask)


@functools.lru_cache(maxsize=256)
def _head_table(factors: tuple[int, ...], device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    return (
        torch.tensor(head_offsets(factors), dtype=torch.int32, device=device),
        torch.tensor(factors, dtype=torch.int32, device=device),
    )


def _pow2_divisor(factors: tuple[int, ...], cap: int = 16) -> int:
    """Largest power of two ``<= cap`` dividing every head size (hence every offset)."""
    g = math.gcd(*factors)
    return min(g & -g, cap)


@functools.lru_cache(maxsize=16)
def _sm_count(device_index: int) -> int:
    return torch.cuda.get_device_properties(device_index).multi_processor_count


def choose_blocks(
    n_rows: int, max_c: int, device: torch.device, interpret: bool
) -> tuple[int, int, int]:
    """``(BLOCK_N, BLOCK_C, num_warps)`` for ``n_rows`` (virtual) rows of width ``max_c``."""
    block_c = min(triton.next_power_of_2(max(max_c, 1)), MAX_BLOCK_C)
    rows_p2 = triton.next_power_of_2(max(n_rows, 1))
    if interpret:
        block_n = max(1, min(INTERPRETER_TILE // block_c, rows_p2, 256))
        return block_n, block_c, 4
    block_n = max(1, min(GPU_TILE // block_c, rows_p2, 128))
    if device.type == "cuda":  # keep at least ~2 programs per SM when the batch allows
        target = 2 * _sm_count(device.index if device.index is not None else torch.cuda.current_device())
        while block_n > 1 and triton.cdiv(n_rows, block_n) < target:
            block_n //= 2
    tile = block_n * block_c
    num_warps = 8 if tile >= 4096 else (4 if tile >= 512 else 2)
    return block_n, block_c, num_warps


def fused_cross_entropy(
    logits: torch.Tensor,
    targets: torch.Tensor,
    factors: tuple[int, ...],
    *,
    grad_scale: float = 1.0,
    compute_grad: bool = True,
    grad_out: torch.Tensor | None = None,
    loss_out: torch.Tensor | None = None,
    block_n: int | None = None,
    block_c: int | None = None,
    equal_heads_path: bool = True,
    col64: bool | None = None,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Per-(row, head) cross-entropy and its gradient in one kernel launch.

    Arguments are assumed validated (``skmhe.ops`` checks them): ``logits``
    is ``(n, sum(factors))`` float32/bfloat16/float16 with any strides,
    ``targets`` an integer ``(n, H)`` tensor of local labels in range, on the
    same device.

    Parameters
    ----------
    grad_scale : float
        The gradient written is ``grad_scale * (softmax - onehot)`` per head
        (``1 / n`` for a mean reduction).
    compute_grad : bool
        Skip the gradient (forward only) when False.
    grad_out : Tensor, optional
        ``(n, sum(factors))`` buffer for the gradient, any strides and float
        dtype; may be ``logits`` itself (in place). Allocated (logits' dtype,
        contiguous) when omitted.
    loss_out : Tensor, optional
        Contiguous ``(n, H)`` float32 buffer for the losses.
    block_n, block_c : int, optional
        Override the tile (powers of two); for tests of the multi-block path.
    equal_heads_path : bool
        Use the ``(n * H, C)`` virtual-row layout when all heads are equal.
    col64 : bool, optional
        Force (or forbid) int64 column offsets; by default they are used when
        ``width * column stride`` could overflow int32 (of the logits or of
        ``grad_out``; see ``_common.needs_int64_columns``).

    Returns
    -------
    loss : Tensor of float32, shape (n, H)
        ``logsumexp(x_h) - x_h[t_h]`` for each row and head.
    grad : Tensor or None
        The gradient buffer (``None`` when ``compute_grad`` is False).
    """
    check_logits_dtype(logits)
    n, width = logits.shape
    n_heads = len(factors)
    if width != sum(factors) or targets.shape != (n, n_heads):
        raise ValueError("logits/targets shapes do not match factors")
    if targets.device != logits.device:
        raise ValueError(f"targets are on {targets.device} but logits on {logits.device}")
    device = logits.device
    if loss_out is None:
        loss_out = torch.empty((n, n_heads), dtype=torch.float32, device=device)
    elif (
        loss_out.shape != (n, n_heads)
        or loss_out.dtype != torch.float32
        or not loss_out.is_contiguous()
        or loss_out.device != device
    ):
        raise ValueError(f"loss_out must be a contiguous float32 (n, H) tensor on {device}")
    if compute_grad:
        if grad_out is None:
            grad_out = torch.empty((n, width), dtype=logits.dtype, device=device)
        elif grad_out.shape != (n, width) or not grad_out.is_floating_point() or grad_out.device != device:
            raise ValueError(f"grad_out must be a float ({n}, {width}) tensor on {device}")
        g_arg, stride_g = grad_out, grad_out.stride()
    else:
        grad_out = None
        g_arg, stride_g = loss_out, (0, 0)  # never written (WRITE_GRAD is off)
    if n == 0:
        return loss_out, grad_out

    interpret = bool(knobs.runtime.interpret)
    equal = equal_heads_path and n_heads > 1 and len(set(factors)) == 1 and n * n_heads < 2**31
    n_virtual = n * n_heads if equal else n
    bn, bc, num_warps = choose_blocks(n_virtual, max(factors), device, interpret)
    if block_c is not None:
        bc = int(block_c)
    if block_n is not None:
        bn = int(block_n)
    for name, v in (("block_n", bn), ("block_c", bc)):
        if v < 1 or v & (v - 1):
            raise ValueError(f"{name} must be a power of two, got {v}")
    head_off, head_size = _head_table(tuple(factors), device)
    if col64 is None:
        col64 = needs_int64_columns(width, bc, logits.stride(1), stride_g[1])
    grid = (triton.cdiv(n_virtual, bn),)
    with on_device(device):
        _multi_head_ce_kernel[grid](
            logits,
            targets,
            g_arg,
            loss_out,
            head_off,
            head_size,
            n,
            n_virtual,
            n_heads,
            factors[0],
            logits.stride(0),
            logits.stride(1),
            targets.stride(0),
            targets.stride(1),
            stride_g[0],
            stride_g[1],
            float(grad_scale),
            BLOCK_N=bn,
            BLOCK_C=bc,
            SINGLE_BLOCK=max(factors) <= bc,
            WRITE_GRAD=bool(compute_grad),
            EQUAL_HEADS=equal,
            ALIGN=_pow2_divisor(factors),
            COL64=bool(col64),
            num_warps=num_warps,
        )
    return loss_out, grad_out
