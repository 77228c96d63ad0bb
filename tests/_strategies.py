"""Hypothesis strategies shared by the test modules (test helper, not a test module)."""

from __future__ import annotations

from hypothesis import strategies as st

__all__ = ["factor_tuples"]


@st.composite
def factor_tuples(draw, max_heads=4, max_factor=50, max_codes=100_000):
    """Head sizes: 1 to ``max_heads`` heads (several heads drawn more often than
    one), each of 1 to ``max_factor`` labels, ``prod <= max_codes``, in random order."""
    h = draw(st.sampled_from([1] + [v for v in range(2, max_heads + 1) for _ in range(2)]))
    out, prod = [], 1
    for _ in range(h):
        f = draw(st.integers(1, max(1, min(max_factor, max_codes // prod))))
        out.append(f)
        prod *= f
    return tuple(draw(st.permutations(out)))
