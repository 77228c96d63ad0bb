"""Hypothesis strategies shared by the test modules (test helper, not a test module)."""

from __future__ import annotations

import os

from hypothesis import strategies as st

__all__ = ["factor_tuples", "max_examples"]

#: caps every property test's ``max_examples`` (e.g. ``10`` for a short run on a GPU)
BUDGET_ENV = "SKMHE_HYPOTHESIS_MAX_EXAMPLES"


def max_examples(n: int) -> int:
    """``n``, capped by ``$SKMHE_HYPOTHESIS_MAX_EXAMPLES`` when that is set to a positive integer."""
    cap = os.environ.get(BUDGET_ENV, "").strip()
    return min(n, int(cap)) if cap.isdigit() and int(cap) > 0 else n


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
