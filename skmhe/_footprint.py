"""Parameter and optimizer-state counts of a network, from its shape alone (no network built)."""

from __future__ import annotations

import math
from collections.abc import Sequence

#: Adam (dense, fused or lazy ``SparseAdam``) keeps two moments as large as each parameter
ADAM_MOMENTS = 2
#: bytes per value: parameters and moments are float32
FLOAT32_BYTES = 4


def backbone_parameter_count(n_features: int, hidden_layer_sizes: Sequence[int]) -> int:
    """Weights and biases of the MLP backbone: ``sum_i (s_i + 1) * s_{i+1}`` over ``[n_features, *sizes]``."""
    sizes = [int(n_features), *(int(s) for s in hidden_layer_sizes)]
    return sum((a + 1) * b for a, b in zip(sizes[:-1], sizes[1:]))


def cascade_parameter_count(width: int, factors: Sequence[int], embedding_size: int | None) -> int:
    """Parameters of a cascade head (:class:`skmhe.nn.cascade.CascadeLevels`) on ``width`` features.

    Level 0 is a linear layer over ``factors[0]`` groups; every later level ``h``
    has a query projection (none when ``embedding_size`` is None: the
    features are the queries) and a table of ``prod(factors[:h+1])``
    embeddings with a bias each.
    """
    factors = [int(f) for f in factors]
    d = int(width) if embedding_size is None else int(embedding_size)
    query = 0 if embedding_size is None else (width + 1) * d
    count = (width + 1) * factors[0]
    for h in range(1, len(factors)):
        count += query + math.prod(factors[: h + 1]) * (d + 1)
    return count


def training_state(n_parameters: int, row_wise: Sequence[tuple[int, int]] = ()) -> dict[str, int]:
    """Parameters, optimizer state and their bytes (float32) for ``n_parameters`` parameters.

    Adam keeps two moments per parameter, except for the weights listed in
    ``row_wise`` as ``(rows, columns)``: sparse input layers, whose row-wise
    Adagrad keeps one value a row (:class:`skmhe._row_adagrad.RowAdagrad`).
    """
    by_rows = sum(int(r) * int(c) for r, c in row_wise)
    state = ADAM_MOMENTS * (n_parameters - by_rows) + sum(int(r) for r, _ in row_wise)
    return {
        "parameters": n_parameters,
        "optimizer_state": state,
        "bytes": FLOAT32_BYTES * (n_parameters + state),
    }
