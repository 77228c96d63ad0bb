"""MHEMultiLabelClassifier at scale: the memory formula, streamed top-k."""

import numpy as np
import pytest
import scipy.sparse as sp
import torch

import skmhe._base as base
from skmhe import MHEMultiLabelClassifier
from skmhe._multilabel import AUTO_PAIR_BUCKETS


def _data(n=120, n_features=40, n_labels=50, seed=0):
    rng = np.random.RandomState(seed)
    X = sp.random(n, n_features, density=0.2, random_state=rng, format="csr", dtype=np.float32)
    Y = sp.random(n, n_labels, density=0.06, random_state=rng, format="csr")
    Y.data[:] = 1
    Y = Y.tolil()
    Y[np.arange(n), np.arange(n) % n_labels] = 1  # every row has a label
    return X, Y.tocsr()


def _optimizer_values(model) -> int:
    """Values of the optimizer state actually held: Adam's moments (dense and lazy), row-wise sums."""
    total = 0
    for opt in (model._optimizer.dense, *model._optimizer.lazy.values()):
        for state in opt.state.values():  # every tensor but the step counts
            total += sum(v.numel() for v in state.values() if isinstance(v, torch.Tensor) and v.ndim)
    return total


@pytest.mark.parametrize(
    "params",
    [
        dict(n_levels=1, hidden_layer_sizes=(16,)),
        dict(n_levels=2, hidden_layer_sizes=(16,), group_size=7),  # padded last group
        dict(n_levels=2, hidden_layer_sizes=(16, 8), embedding_size=5),
        dict(n_levels=3, hidden_layer_sizes=(), embedding_size=4, sparse_updates=True),
        dict(n_levels=2, hidden_layer_sizes=(16,), sparse_updates=True),
        dict(n_levels=2, hidden_layer_sizes=(16,), pair_buckets=1000),  # a value and a sum a bucket
    ],
)
def test_memory_estimate_is_the_real_parameter_and_moment_count(params):
    X, Y = _data()
    model = MHEMultiLabelClassifier(max_iter=1, batch_size=40, random_state=0, **params)
    estimate = model.memory_estimate(X.shape[1], Y.shape[1])
    model.partial_fit(X, Y)  # one epoch: every moment exists
    n_params = sum(p.numel() for p in model.network_.parameters())
    assert estimate["parameters"] == n_params
    assert estimate["optimizer_state"] == _optimizer_values(model)
    assert estimate["bytes"] == 4 * (n_params + estimate["optimizer_state"])
    pairs = model.network_.head.pairs  # Adagrad: one sum a bucket ("auto": two levels, lazy input)
    buckets = 0 if pairs is None else pairs.n_buckets
    assert buckets == (1000 if params.get("pair_buckets") else AUTO_PAIR_BUCKETS if model.sparse_updates_ and
                       len(model.codec_.factors) == 2 else 0)
    if not model.sparse_updates_:  # Adam everywhere else: two moments a parameter
        assert estimate["optimizer_state"] == 2 * (n_params - buckets) + buckets
    elif params.get("hidden_layer_sizes") == (16,):  # row-wise Adagrad on the 40 x 16 input layer
        assert estimate["optimizer_state"] == 2 * (n_params - 40 * 16 - buckets) + 40 + buckets


def test_memory_estimate_follows_the_auto_embedding_rule():
    model = MHEMultiLabelClassifier()
    small, large = model.memory_estimate(100, 2_000), model.memory_estimate(100, 100_000)
    # 2,000 labels: the features are the queries (d = 1024, no projection); 100,000: d = 128
    assert small["parameters"] == 101 * 1024 + 1025 * 45 + 1025 * 45 * 45
    assert large["parameters"] == 101 * 1024 + 1025 * 782 + 1025 * 128 + 129 * 782 * 128


def test_auto_levels_are_three_past_2048_groups_of_128():
    """``n_levels="auto"``: two levels up to 262,144 labels, then three (each with its query and table)."""
    model = MHEMultiLabelClassifier()
    two, three = model.memory_estimate(100, 262_144), model.memory_estimate(100, 262_145)
    assert two["parameters"] == 101 * 1024 + 1025 * 2048 + 1025 * 128 + 129 * 2048 * 128
    # 262,145 labels: 64 x 64 x 65 codes; a query projection and a table for each level after the first
    assert three["parameters"] == 101 * 1024 + 1025 * 64 + 2 * 1025 * 128 + 129 * 64 * 64 + 129 * 64 * 64 * 65
    forced = MHEMultiLabelClassifier(n_levels=2).memory_estimate(100, 262_145)  # groups grow instead
    assert forced["parameters"] == 101 * 1024 + 1025 * 2033 + 1025 * 128 + 129 * 2033 * 129  # 2,033 of 129


def test_memory_estimate_gives_a_lazy_sparse_input_layer_one_value_a_row():
    """The Notes' ``3 P - 2 F w + F`` for sparse ``X`` from 4,096 features, ``3 P`` otherwise; the
    pairs' table ("auto" for sparse ``X`` there, two levels) adds ``M`` parameters and ``M`` sums."""
    model = MHEMultiLabelClassifier(pair_buckets=0)
    wide, dense, narrow = (
        model.memory_estimate(8192, 100_000),
        model.memory_estimate(8192, 100_000, sparse=False),
        model.memory_estimate(4095, 100_000),
    )
    assert dense["optimizer_state"] == 2 * wide["parameters"]
    assert wide["optimizer_state"] == 2 * wide["parameters"] - 2 * 8192 * 1024 + 8192
    assert wide["bytes"] == 4 * (3 * wide["parameters"] - 2 * 8192 * 1024 + 8192)
    assert narrow["optimizer_state"] == 2 * narrow["parameters"]  # below the lazy threshold
    assert MHEMultiLabelClassifier(sparse_updates=False).memory_estimate(8192, 100_000) == dense
    auto = MHEMultiLabelClassifier().memory_estimate(8192, 100_000)
    assert auto["parameters"] - wide["parameters"] == AUTO_PAIR_BUCKETS
    assert auto["optimizer_state"] - wide["optimizer_state"] == AUTO_PAIR_BUCKETS
    assert MHEMultiLabelClassifier().memory_estimate(8192, 100_000, sparse=False) == dense


def test_predict_topk_streams_rows_and_never_scores_every_label(monkeypatch):
    X, Y = _data(n=90)
    model = MHEMultiLabelClassifier(
        hidden_layer_sizes=(16,), n_levels=2, group_size=5, n_candidate_groups=2, max_iter=3, random_state=0
    ).fit(X, Y)
    whole = model.predict_topk(X, 4)
    seen = []
    head = model.network_.head
    topk = head.topk

    def counted(features, k):
        seen.append(features.shape[0])
        return topk(features, k)

    def refuse(*args, **kwargs):
        raise AssertionError("predict_topk scored every label")

    monkeypatch.setattr(head, "topk", counted)
    monkeypatch.setattr(head, "log_scores", refuse)
    monkeypatch.setattr(head, "all_child_logits", refuse)
    monkeypatch.setattr(base, "_INFERENCE_ELEMENTS", 3 * head.inference_width(4))
    chunked = model.predict_topk(X, 4)
    assert max(seen) == 3 and sum(seen) == 90  # chunks of 3 rows, every row once
    np.testing.assert_array_equal(chunked[0], whole[0])
    np.testing.assert_allclose(chunked[1], whole[1], rtol=1e-12)
