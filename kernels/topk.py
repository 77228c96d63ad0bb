"""Exact top-k over the Kronecker product of the heads' softmaxes, one program per row.

The joint score of code ``y = sum_h y_h * stride_h`` is
``sum_h lp_h[y_h]`` with ``lp_h = log_softmax(logits_h)``, and only codes
``< n_classes`` count. Like the torch reference (``skmhe.ops.kronecker_topk``)
the kernel merges the heads one at a time, keeping the best
``M = k + H - 1`` prefixes after each head, and masks every prefix with no
valid completion (``prefix >= limit_h = ceil(n_classes / stride_h)``).

Per row and head ``h`` the program

1. computes ``lp_h`` (online max / sum over ``BLOCK_C`` column blocks, the
   same ``(x - max) - log(sum)`` formula as ``torch.log_softmax``);
2. selects the head's best ``M`` labels twice: over all labels (``B``) and
   over the labels ``< R_h`` that complete the single *boundary* prefix
   ``P_h = limit_{h-1} - 1`` validly (``B_R``) -- every other kept prefix
   ``p < P_h`` has only valid completions. A plain per-head top-M would not
   be exact for the boundary prefix, whose best valid completions can lie
   outside ``B``;
3. merges: with the kept prefixes ``A`` sorted best first and the boundary
   prefix taken out (``A'``), a candidate ``(A'[i], B[j])`` can only be among
   the best ``M`` if ``(i + 1)(j + 1) <= M`` (everything up-left of it in the
   sorted grid beats it), so only these ``~M ln M`` pairs (a host-made
   table), plus the boundary prefix with each of ``B_R``, are scored;
4. keeps the best ``M`` candidates (``tl.topk`` on packed keys).

Ordering is by value, descending, ties to the smaller code, through one
64-bit key per candidate: the high 32 bits are the float32 value's bits
mapped to an order-preserving signed integer, the low 32 bits
``0xFFFFFFFF - code``. So codes must be ``< 2**32``. The key holds the exact
float32 value, so values are carried through the levels bit for bit, summed
in the reference's order ``((lp_0 + lp_1) + lp_2) + ...``.
"""

from __future__ import annotations

import functools
import math

import torch
import triton
import triton.language as tl
from triton import knobs

from ._common import KERNEL_DTYPES, check_logits_dtype, head_offsets, needs_int64_columns, on_device

__all__ = ["BUILT_FOR_INTERPRETER", "KERNEL_DTYPES", "MAX_CODES", "kronecker_topk", "pair_table"]

#: kernels below were decorated in this interpreter mode (see ``skmhe.kernels.load``)
BUILT_FOR_INTERPRETER = bool(knobs.runtime.interpret)

#: codes are packed into 32 bits
MAX_CODES = 2**32 - 1

#: largest column block on a GPU; larger heads are scanned block by block
MAX_BLOCK_C = 2048
#: the interpreter's selection costs O(BLOCK_C**2) memory: smaller blocks there
INTERPRETER_MAX_BLOCK_C = 256

_NEG_INF = tl.constexpr(float("-inf"))
_MIN_KEY = tl.constexpr(-(2**63))  # below every valid key: empty slot


@triton.jit
def _pack(val, code):
    """Order-preserving int64 key: larger key = larger value, then smaller code."""
    val = tl.where(val == 0.0, 0.0, val)  # -0.0 and +0.0 are the same value
    bits = val.to(tl.int32, bitcast=True)
    hi = tl.where(bits >= 0, bits, bits ^ 0x7FFFFFFF)
    return (hi.to(tl.int64) << 32) | (0xFFFFFFFF - code.to(tl.int64))


@triton.jit
def _key_value(key):
    hi = (key >> 32).to(tl.int32)
    bits = tl.where(hi >= 0, hi, hi ^ 0x7FFFFFFF)
    return bits.to(tl.float32, bitcast=True)


@triton.jit
def _key_code(key):
    return 0xFFFFFFFF - (key & 0xFFFFFFFF)


if BUILT_FOR_INTERPRETER:

    @triton.jit
    def _select_top(x, K: tl.constexpr):
        """The ``K`` largest of the distinct keys ``x`` (padding ``_MIN_KEY`` aside), largest first.

        Interpreter version: ``tl.topk``'s bitonic network reduces with a custom
        combine function, which the interpreter runs element by element in
        Python; ranking by comparison counts is a handful of numpy operations.
        Same result as ``tl.topk`` (a sorted selection of the keys).
        """
        N: tl.constexpr = x.shape[0]
        if N * N <= 1048576:  # triton's largest tensor
            idx = tl.arange(0, N)
            beats = (x[None, :] > x[:, None]) | ((x[None, :] == x[:, None]) & (idx[None, :] < idx[:, None]))
            rank = tl.sum(beats.to(tl.int32), axis=1)
            slot = tl.arange(0, K)
            top = tl.max(tl.where(rank[None, :] == slot[:, None], x[None, :], _MIN_KEY), axis=1)
        else:  # correct, but slow in the interpreter
            top = tl.topk(x, K)
        return top

else:

    @triton.jit
    def _select_top(x, K: tl.constexpr):
        """The ``K`` largest keys of ``x``, largest first (bitonic top-k)."""
        return tl.topk(x, K)


@triton.jit
def _merge_top(run, keys, KB: tl.constexpr):
    """Best ``KB`` of the sorted ``run`` ([KB]) and the block ``keys``."""
    block_top = _select_top(keys, KB)
    return _select_top(tl.reshape(tl.join(run, block_top), [2 * KB]), KB)


@triton.jit
def _head_topk(
    x_row,  # pointer to this row's first logit of the head
    C,  # head size
    R,  # labels < R form the restricted list
    stride_xc,
    KB: tl.constexpr,
    BLOCK_C: tl.constexpr,
    SINGLE_BLOCK: tl.constexpr,
    WANT_FULL: tl.constexpr,
    COL64: tl.constexpr,
):
    """Keys of the head's best ``KB`` labels: over all labels, and over labels < R.

    Each list is sorted best first and padded with ``_MIN_KEY``.
    """
    cols = tl.arange(0, BLOCK_C)
    if COL64:  # column offsets times a large column stride overflow int32
        cols = cols.to(tl.int64)
    if SINGLE_BLOCK:
        valid = cols < C
        x = tl.load(x_row + cols * stride_xc, mask=valid, other=_NEG_INF).to(tl.float32)
        m = tl.max(x, axis=0)
        m_safe = tl.where(m == _NEG_INF, 0.0, m)
        log_s = tl.log(tl.sum(tl.exp(x - m_safe), axis=0))
        key = _pack((x - m_safe) - log_s, cols)
        part = _select_top(tl.where(cols < R, key, _MIN_KEY), KB)
        if WANT_FULL:
            full = _select_top(tl.where(valid, key, _MIN_KEY), KB)
        else:
            full = part
    else:
        m = tl.full([1], _NEG_INF, tl.float32)
        s = tl.zeros([1], tl.float32)
        for c0 in range(0, C, BLOCK_C):
            c = c0 + cols
            x = tl.load(x_row + c * stride_xc, mask=c < C, other=_NEG_INF).to(tl.float32)
            m_new = tl.maximum(m, tl.max(x, axis=0))
            m_safe = tl.where(m_new == _NEG_INF, 0.0, m_new)
            s = s * tl.exp(m - m_safe) + tl.sum(tl.exp(x - m_safe), axis=0)
            m = m_new
        m_safe = tl.where(m == _NEG_INF, 0.0, m)
        log_s = tl.log(s)
        part = tl.full([KB], _MIN_KEY, tl.int64)
        full = tl.full([KB], _MIN_KEY, tl.int64)
        for c0 in range(0, C, BLOCK_C):
            c = c0 + cols
            x = tl.load(x_row + c * stride_xc, mask=c < C, other=_NEG_INF).to(tl.float32)
            key = _pack((x - m_safe) - log_s, c)
            part = _merge_top(part, tl.where(c < R, key, _MIN_KEY), KB)
            if WANT_FULL:
                full = _merge_top(full, tl.where(c < C, key, _MIN_KEY), KB)
        if not WANT_FULL:
            full = part
    return full, part


@triton.jit
def _kronecker_topk_kernel(
    x_ptr,
    tbl_ptr,  # (5, H) int64: offset, size, limit, R, boundary prefix (-1: none)
    pi_ptr,  # (T1,) int32: prefix rank i of the scored pairs, (i + 1)(j + 1) <= M
    pj_ptr,  # (T1,) int32: label rank j
    val_ptr,
    idx_ptr,
    n_heads,
    k,
    M,
    T1,
    stride_xr,
    stride_xc,
    stride_vr,
    stride_vc,
    stride_ir,
    stride_ic,
    KP: tl.constexpr,  # next_power_of_2(M): kept prefixes and per-head lists
    TB: tl.constexpr,  # next_power_of_2(T1 + M): candidates per level
    BLOCK_C: tl.constexpr,
    SINGLE_BLOCK: tl.constexpr,
    COL64: tl.constexpr,  # int64 column offsets
):
    row = tl.program_id(0).to(tl.int64)
    x_row = x_ptr + row * stride_xr
    pos = tl.arange(0, KP)

    # level 0: prefixes are head-0 labels; those >= limit_0 (= R_0) have no valid completion
    size0 = tl.load(tbl_ptr + n_heads)
    r0 = tl.load(tbl_ptr + 3 * n_heads)
    _, A = _head_topk(x_row, size0, r0, stride_xc, KP, BLOCK_C, SINGLE_BLOCK, False, COL64)
    A = tl.where(pos < M, A, _MIN_KEY)

    # the scored (prefix rank, label rank) pairs, then the boundary prefix with B_R[j]
    t = tl.arange(0, TB)
    is_pair = t < T1
    pi = tl.load(pi_ptr + t, mask=is_pair, other=0)
    pj = tl.load(pj_ptr + t, mask=is_pair, other=0)
    jb = t - T1
    is_bnd = (t >= T1) & (jb < M)
    b_pos = tl.minimum(tl.maximum(tl.where(is_pair, pj, jb), 0), KP - 1)

    for h in range(1, n_heads):
        off = tl.load(tbl_ptr + h)
        size = tl.load(tbl_ptr + n_heads + h)
        limit = tl.load(tbl_ptr + 2 * n_heads + h)
        r = tl.load(tbl_ptr + 3 * n_heads + h)
        boundary = tl.load(tbl_ptr + 4 * n_heads + h)
        B, BR = _head_topk(x_row + off * stride_xc, size, r, stride_xc, KP, BLOCK_C, SINGLE_BLOCK, True, COL64)

        a_ok = A != _MIN_KEY
        a_code = _key_code(A)
        i_b = tl.min(tl.where(a_ok & (a_code == boundary), pos, KP), axis=0)  # KP: not kept
        # rank i in A' (A without the boundary prefix) -> position in A
        a_pos = tl.where(is_pair, pi + (pi >= i_b).to(tl.int32), i_b)
        ok = (is_pair | is_bnd) & (a_pos < M)
        ak = tl.gather(A, tl.minimum(a_pos, KP - 1), 0)
        bk = tl.where(is_pair, tl.gather(B, b_pos, 0), tl.gather(BR, b_pos, 0))
        ok = ok & (ak != _MIN_KEY) & (bk != _MIN_KEY)
        val = _key_value(ak) + _key_value(bk)
        code = _key_code(ak) * size + _key_code(bk)
        ok = ok & (code < limit)
        A = _select_top(tl.where(ok, _pack(val, code), _MIN_KEY), KP)
        A = tl.where(pos < M, A, _MIN_KEY)

    out = pos < k
    pos64 = pos.to(tl.int64)
    tl.store(val_ptr + row * stride_vr + pos64 * stride_vc, _key_value(A), mask=out)
    tl.store(idx_ptr + row * stride_ir + pos64 * stride_ic, _key_code(A), mask=out)


def pair_table(m: int) -> tuple[list[int], list[int]]:
    """Pairs ``(i, j)`` with ``(i + 1) * (j + 1) <= m``: the only grid cells that can
    rank among the best ``m`` of the sum of two lists sorted best first."""
    pi, pj = [], []
    for i in range(m):
        for j in range(m // (i + 1)):
            pi.append(i)
            pj.append(j)
    return pi, pj


def _strides(factors: tuple[int, ...]) -> list[int]:
    strides = [1] * len(factors)
    for h in range(len(factors) - 2, -1, -1):
        strides[h] = strides[h + 1] * factors[h + 1]
    return strides


def head_table(factors: tuple[int, ...], n_classes: int) -> list[list[int]]:
    """Rows: column offset, size, limit, R and boundary prefix of each head."""
    strides = _strides(factors)
    offsets = head_offsets(factors)
    limits = [-(-n_classes // s) for s in strides]
    rs, boundaries = [limits[0]], [-1]
    for h in range(1, len(factors)):
        p_b = limits[h - 1] - 1  # the last kept-able prefix: the only one with invalid completions
        r = limits[h] - p_b * factors[h]
        if r == factors[h]:
            rs.append(factors[h])
            boundaries.append(-1)
        else:
            rs.append(r)
            boundaries.append(p_b)
    return [offsets, list(factors), limits, rs, boundaries]


@functools.lru_cache(maxsize=256)
def _device_tables(
    factors: tuple[int, ...], n_classes: int, m: int, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, int]:
    tbl = torch.tensor(head_table(factors, n_classes), dtype=torch.int64, device=device)
    pi, pj = pair_table(m)
    return (
        tbl,
        torch.tensor(pi, dtype=torch.int32, device=device),
        torch.tensor(pj, dtype=torch.int32, device=device),
        len(pi),
    )


def kronecker_topk(
    logits: torch.Tensor,
    factors: tuple[int, ...],
    k: int,
    n_classes: int | None = None,
    *,
    values_out: torch.Tensor | None = None,
    indices_out: torch.Tensor | None = None,
    block_c: int | None = None,
    col64: bool | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Best ``k`` codes ``< n_classes`` of each row and their joint log-probabilities.

    Arguments are assumed validated (``skmhe.ops`` checks them): ``logits``
    is ``(n, sum(factors))`` float32/bfloat16/float16, any strides, and
    ``1 <= k <= n_classes <= prod(factors)``.

    Parameters
    ----------
    values_out, indices_out : Tensor, optional
        ``(n, k)`` float32 and int64 buffers (any strides) for the result.
    block_c : int, optional
        Column block (a power of two ``>= next_power_of_2(k + H - 1)``);
        for tests of the multi-block path.
    col64 : bool, optional
        Force (or forbid) int64 column offsets; by default they are used when
        ``width * column stride`` of the logits could overflow int32 (see
        ``_common.needs_int64_columns``).

    Returns
    -------
    values : Tensor of float32, shape (n, k)
        Sorted descending.
    indices : Tensor of int64, shape (n, k)
        The codes; ties go to the smaller code.
    """
    check_logits_dtype(logits)
    factors = tuple(int(c) for c in factors)
    n, width = logits.shape
    if width != sum(factors):
        raise ValueError("logits width does not match factors")
    n_codes = math.prod(factors)
    n_classes = n_codes if n_classes is None else int(n_classes)
    if not 1 <= k <= n_classes <= n_codes:
        raise ValueError(f"need 1 <= k <= n_classes <= prod(factors), got k={k}, n_classes={n_classes}")
    if n_classes > MAX_CODES:
        raise ValueError(f"the Triton top-k packs codes into 32 bits: n_classes must be <= {MAX_CODES}")
    device = logits.device
    if values_out is None:
        values_out = torch.empty((n, k), dtype=torch.float32, device=device)
    elif values_out.shape != (n, k) or values_out.dtype != torch.float32 or values_out.device != device:
        raise ValueError(f"values_out must be a float32 ({n}, {k}) tensor on {device}")
    if indices_out is None:
        indices_out = torch.empty((n, k), dtype=torch.int64, device=device)
    elif indices_out.shape != (n, k) or indices_out.dtype != torch.int64 or indices_out.device != device:
        raise ValueError(f"indices_out must be an int64 ({n}, {k}) tensor on {device}")
    if n == 0:
        return values_out, indices_out

    n_heads = len(factors)
    m = k + n_heads - 1
    kp = triton.next_power_of_2(m)
    tbl, pi, pj, t1 = _device_tables(factors, n_classes, m, device)
    tb = triton.next_power_of_2(t1 + m)
    max_c = max(factors)
    if block_c is None:
        interpret = bool(knobs.runtime.interpret)
        cap = INTERPRETER_MAX_BLOCK_C if interpret else MAX_BLOCK_C
        block_c = max(kp, min(triton.next_power_of_2(max_c), cap))
    elif block_c < kp or block_c & (block_c - 1):
        raise ValueError(f"block_c must be a power of two >= {kp}, got {block_c}")
    num_warps = 8 if max(tb, block_c) >= 2048 else 4
    if col64 is None:
        col64 = needs_int64_columns(width, block_c, logits.stride(1))
    with on_device(device):
        _kronecker_topk_kernel[(n,)](
            logits,
            tbl,
            pi,
            pj,
            values_out,
            indices_out,
            n_heads,
            k,
            m,
            t1,
            logits.stride(0),
            logits.stride(1),
            values_out.stride(0),
            values_out.stride(1),
            indices_out.stride(0),
            indices_out.stride(1),
            KP=kp,
            TB=tb,
            BLOCK_C=block_c,
            SINGLE_BLOCK=max_c <= block_c,
            COL64=bool(col64),
            num_warps=num_warps,
        )
    return values_out, indices_out
