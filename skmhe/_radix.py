"""Mixed-radix arithmetic, written once: strides, digits <-> codes, valid-prefix limits.

Head 0 is the most significant digit: ``code = sum_h digit_h * strides[h]`` with
``strides[h] = prod(factors[h+1:])``. The functions take plain ints, NumPy arrays
or torch tensors alike (they only use ``*``, ``+``, ``//`` and ``%``), so the codec,
the ops and every head share them.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["strides", "digits_to_codes", "codes_to_digits", "valid_prefixes"]


def strides(factors: Sequence[int]) -> tuple[int, ...]:
    """``strides[h] = prod(factors[h+1:])``: the weight of digit ``h`` in a code."""
    out = [1] * len(factors)
    for h in range(len(factors) - 2, -1, -1):
        out[h] = out[h + 1] * int(factors[h + 1])
    return tuple(out)


def digits_to_codes(digits, factors: Sequence[int]):
    """Codes of the digit rows ``digits`` (shape ``(n, H)``), shape ``(n,)``."""
    codes = digits[:, 0] * 0
    for h, c in enumerate(factors):
        codes = codes * int(c) + digits[:, h]
    return codes


def codes_to_digits(codes, factors: Sequence[int]) -> list:
    """Digit ``h`` of every code, one array (or tensor) per head, each shaped like ``codes``."""
    return [(codes // s) % int(c) for s, c in zip(strides(factors), factors)]


def valid_prefixes(factors: Sequence[int], n_classes: int) -> list[int]:
    """Prefixes over heads ``0..h`` with at least one valid code (``< n_classes``) below them.

    ``valid_prefixes(factors, n)[h] = ceil(n / strides[h])``: a prefix at or past it
    completes only to padding codes.
    """
    return [-(-int(n_classes) // s) for s in strides(factors)]
