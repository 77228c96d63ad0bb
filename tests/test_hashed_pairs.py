"""Property tests for the hashed label-column pairs (``skmhe.ops.hashed_pairs``, ``HashedPairTable``)
and the sigmoid cascade's term built on them (``pair_buckets``).

The op is checked against the per-label linear model written out densely in float64
(``W[l, j] = w[bucket(l, j)]``, scores ``X @ W.T``), its bucket hash against the formula in
Python integers, and the head against its model written out by hand: every label's last
logit plus its pairs' score, and the pairs' loss over the best paths and true labels.
"""

from __future__ import annotations

import math
from unittest import mock

import numpy as np
import pytest
import scipy.sparse as sp
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from _baseline import assert_topk_close
from _strategies import max_examples
from skmhe.nn import SigmoidCascadeHead, SparseBatch
from skmhe.nn import pairs as pairs_module
from skmhe.nn import cascade as cascade_module
from skmhe.nn import sigmoid_cascade
from skmhe.nn.pairs import HashedPairTable, as_sparse_batch
from skmhe.ops.candidates import select_candidates
from skmhe.ops.hashed_pairs import MAX_ID, hashed_pair_scores, pair_buckets
from test_candidates import (
    GROUP_WEIGHTS, all_prefixes, head_cases, level_logits, prefix_valid, randomize, ref_topk,
)

SETTINGS = settings(deadline=None, max_examples=max_examples(60))
HEAD_SETTINGS = settings(deadline=None, max_examples=max_examples(30))

pytestmark = pytest.mark.usefixtures("one_thread")  # tiny tensors


def python_bucket(code: int, column: int, n_buckets: int) -> int:
    """The documented hash in Python integers (no overflow possible)."""
    p = 2**31 - 1
    v = 0x5BD1E995 * code % p + 0x27D4EB2F * column % p
    v ^= v >> 15
    return (v * 0x165667B1 >> 16) % n_buckets


@st.composite
def csr_batches(draw, max_rows=6, max_columns=12):
    """(X as scipy CSR float64, its SparseBatch): empty rows and one-row batches drawn too."""
    n = draw(st.integers(1, max_rows))
    d = draw(st.integers(1, max_columns))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    density = draw(st.sampled_from([0.0, 0.3, 1.0]))
    dense = rng.standard_normal((n, d)) * (rng.random((n, d)) < density)
    X = sp.csr_matrix(dense)
    batch = SparseBatch(
        torch.tensor(X.indices, dtype=torch.int64),
        torch.tensor(X.indptr[:-1], dtype=torch.int64),
        torch.tensor(X.data, dtype=torch.float64),
    )
    return X, batch, rng


def dense_pair_weights(weight: torch.Tensor, n_codes: int, n_columns: int) -> torch.Tensor:
    """``W[l, j] = weight[bucket(l, j)]``, ``(n_codes, n_columns)``: the model written out."""
    codes, columns = torch.arange(n_codes).unsqueeze(1), torch.arange(n_columns).unsqueeze(0)
    buckets = pair_buckets(codes, columns, weight.shape[0])
    return weight[:, 0][buckets]


def laid_out(t: torch.Tensor, layout: str) -> torch.Tensor:
    """``t`` (2-D) as it is, transposed in memory, or a slice of a wider tensor (values unchanged)."""
    if layout == "transposed":
        return t.t().contiguous().t()
    if layout == "slice":
        wide = torch.zeros((t.shape[0], t.shape[1] + 3), dtype=t.dtype)
        wide[:, 2 : 2 + t.shape[1]] = t
        return wide[:, 2 : 2 + t.shape[1]]
    return t


# =========================================================================== the hash


@SETTINGS
@given(st.data())
def test_pair_buckets_are_the_formula_in_python_integers(data):
    ids = st.one_of(st.integers(0, 50), st.integers(0, MAX_ID - 1), st.just(MAX_ID - 1))
    codes = data.draw(st.lists(ids, min_size=1, max_size=8))
    columns = data.draw(st.lists(ids, min_size=len(codes), max_size=len(codes)))
    n_buckets = data.draw(st.sampled_from([1, 2, 7, 64, 2**26, 2**30]))
    got = pair_buckets(torch.tensor(codes), torch.tensor(columns), n_buckets)
    want = [python_bucket(c, j, n_buckets) for c, j in zip(codes, columns)]
    assert got.tolist() == want
    assert ((got >= 0) & (got < n_buckets)).all()


def test_pair_buckets_spread_pairs_like_random_draws():
    """1e6 pairs of 1,000 codes x 1,000 columns in 2**16 buckets: counts dispersed as a Poisson's
    (variance / mean near 1, as for independent uniform draws), none far in its tail."""
    buckets = pair_buckets(torch.arange(1000).unsqueeze(1), torch.arange(1000).unsqueeze(0), 2**16)
    counts = torch.bincount(buckets.flatten(), minlength=2**16).double()
    mean = 1e6 / 2**16
    assert abs(counts.mean().item() - mean) < 1e-9
    assert 0.9 < counts.var().item() / mean < 1.1
    assert counts.max().item() < mean + 8 * math.sqrt(mean), counts.max()


# =========================================================================== the op


@SETTINGS
@given(csr_batches(), st.data())
def test_hashed_pair_scores_match_the_dense_per_label_model(batch_case, data):
    X, batch, rng = batch_case
    n, d = X.shape
    n_codes = data.draw(st.integers(1, 13))
    n_buckets = data.draw(st.sampled_from([1, 2, 7, 31, 256]))
    k = data.draw(st.integers(0, 6))
    layout = data.draw(st.sampled_from(["contiguous", "transposed", "slice"]))
    codes = laid_out(torch.tensor(rng.integers(0, n_codes, (n, k)), dtype=torch.int64), layout)
    weight = torch.tensor(rng.standard_normal((n_buckets, 1)), requires_grad=True)
    got = hashed_pair_scores(*batch, codes, weight)
    want = (torch.tensor(X.toarray()) @ dense_pair_weights(weight, n_codes, d).t()).gather(1, codes)
    assert got.shape == (n, k) and got.dtype == torch.float64
    torch.testing.assert_close(got, want, atol=1e-12, rtol=0)

    # the gradient: dense, the dense model's once summed
    seed = torch.tensor(rng.standard_normal((n, k)))
    (grad,) = torch.autograd.grad((got * seed).sum(), weight)
    (want_grad,) = torch.autograd.grad((want * seed).sum(), weight, allow_unused=True)
    assert not grad.is_sparse and grad.shape == weight.shape
    want_grad = torch.zeros_like(weight) if want_grad is None else want_grad
    torch.testing.assert_close(grad, want_grad, atol=1e-12, rtol=0)

    # float32 table and values: the float64 scores within float32 rounding
    values32, weight32 = batch.values.float(), weight.detach().float()
    got32 = hashed_pair_scores(batch.indices, batch.offsets, values32, codes, weight32)
    assert got32.dtype == torch.float32
    torch.testing.assert_close(got32.double(), want.detach(), atol=1e-5, rtol=1e-5)


def test_hashed_pair_scores_refuse_misshapen_arguments():
    batch = SparseBatch(torch.tensor([0, 1]), torch.tensor([0]), torch.ones(2))
    weight = torch.zeros(4, 1)
    with pytest.raises(ValueError, match="codes must be a 2-D int64 tensor of 1 rows"):
        hashed_pair_scores(*batch, torch.zeros(2, 3, dtype=torch.int64), weight)
    with pytest.raises(ValueError, match="codes must be a 2-D int64"):
        hashed_pair_scores(*batch, torch.zeros(1, 3), weight)
    with pytest.raises(ValueError, match="weight must be"):
        hashed_pair_scores(*batch, torch.zeros(1, 3, dtype=torch.int64), torch.zeros(4))


@SETTINGS
@given(csr_batches(), st.integers(0, 40))
def test_table_scores_dense_and_sparse_batches_alike_and_in_pieces(batch_case, k):
    X, batch, rng = batch_case
    table = HashedPairTable(17).double()
    randomize(table, rng)
    codes = torch.tensor(rng.integers(0, 9, (X.shape[0], k)), dtype=torch.int64)
    dense = torch.tensor(X.toarray())
    converted = as_sparse_batch(dense)
    for got, want in zip(converted, batch):
        assert torch.equal(got, want)
    whole = table(batch, codes)
    torch.testing.assert_close(table(dense, codes), whole, atol=1e-12, rtol=0)
    with torch.no_grad(), mock.patch.object(pairs_module, "_INFERENCE_ENTRIES", 3):
        torch.testing.assert_close(table(batch, codes), whole.detach(), atol=1e-12, rtol=0)


def test_table_starts_at_zero_and_is_updated_whole_by_adagrad():
    table = HashedPairTable(5)
    assert torch.equal(table.weight, torch.zeros(5, 1))
    assert table.adagrad_parameters() == [table.weight]
    assert not hasattr(table, "sparse_parameters")  # a dense gradient


# =========================================================================== the head


def inputs_for(n: int, n_columns: int, rng) -> SparseBatch:
    X = sp.csr_matrix(rng.standard_normal((n, n_columns)) * (rng.random((n, n_columns)) < 0.5))
    return SparseBatch(
        torch.tensor(X.indices, dtype=torch.int64),
        torch.tensor(X.indptr[:-1], dtype=torch.int64),
        torch.tensor(X.data, dtype=torch.float64),
    )


def dense_pair_logits(head, inputs: SparseBatch, n: int, n_columns: int) -> torch.Tensor:
    """``t`` of every row and code, ``(n, n_classes)``, float64."""
    indptr = np.append(inputs.offsets.numpy(), inputs.indices.shape[0])
    X = sp.csr_matrix((inputs.values.numpy(), inputs.indices.numpy(), indptr), shape=(n, n_columns))
    weights = dense_pair_weights(head.pairs.weight.double(), head.n_classes, n_columns)
    return torch.tensor(X.toarray()) @ weights.t()


#: the pairs' weight in the ranking: 1, the default, or any
PAIR_WEIGHTS = st.one_of(st.just(1.0), st.just(sigmoid_cascade.PAIR_WEIGHT), st.floats(0.05, 4.0))


def pair_head(factors, n_classes, d, groups, rng, group_weight: float = 1.0, pair_weight: float = 1.0):
    n_buckets = int(rng.integers(1, 40))
    head = SigmoidCascadeHead(
        d, factors, n_classes, 3, groups, pair_buckets=n_buckets, group_weight=group_weight,
        pair_weight=pair_weight,
    ).double()
    randomize(head, rng)
    return head


@HEAD_SETTINGS
@given(head_cases(), st.data())
def test_pair_head_log_scores_and_topk_are_the_model_written_out(case, data):
    factors, n_classes, n, d, rng = case
    full_beam = data.draw(st.booleans())
    groups = all_prefixes(factors) if full_beam else data.draw(st.integers(1, 2))
    weight, pair_weight = data.draw(GROUP_WEIGHTS), data.draw(PAIR_WEIGHTS)
    head = pair_head(factors, n_classes, d, groups, rng, weight, pair_weight)
    n_columns = data.draw(st.integers(1, 6))
    x, inputs = torch.tensor(rng.standard_normal((n, d))), inputs_for(n, n_columns, rng)
    dense = level_logits(head, x)
    t = dense_pair_logits(head, inputs, n, n_columns)
    codes = torch.arange(n_classes)
    strides = [math.prod(factors[h + 1 :]) for h in range(len(factors))]
    want = F.logsigmoid(dense[-1][:, :n_classes] + pair_weight * t)  # the last level's own codes, stride 1
    for h in range(len(factors) - 1):
        want = want + weight * F.logsigmoid(dense[h])[:, codes // strides[h]]
    got = head.log_scores(x, inputs=inputs)
    torch.testing.assert_close(got, want, atol=1e-10, rtol=0)
    with pytest.raises(ValueError, match="inputs="):
        head.log_scores(x)

    k = data.draw(st.integers(1, n_classes))
    values, top = head.topk(x, k, inputs=inputs)
    assert values.shape == top.shape == (n, k)
    assert ((top >= 0) & (top < n_classes)).all() and all(len(set(r)) == k for r in top.tolist())
    torch.testing.assert_close(values, want.gather(1, top), atol=1e-10, rtol=0)  # each its exact score
    with mock.patch.object(cascade_module, "_GATHERED_VALUES", 1):  # the last logits a row at a time
        one_by_one = head.topk(x, k, inputs=inputs)
    torch.testing.assert_close(one_by_one[0], values, atol=1e-12, rtol=0)
    assert torch.equal(one_by_one[1], top)
    if full_beam:  # every label re-ranked: the exact top-k of the model
        with mock.patch.object(sigmoid_cascade, "RERANK", n_classes):
            assert_topk_close(*head.topk(x, k, inputs=inputs), *ref_topk(want, k), n_classes, atol=1e-9)


@HEAD_SETTINGS
@given(head_cases(), st.integers(1, 3), st.integers(0, 4), st.integers(1, 30))
def test_pair_head_loss_adds_the_pairs_bce_on_the_best_paths_and_true_labels(case, groups, max_labels, r):
    factors, n_classes, n, d, rng = case
    head = pair_head(factors, n_classes, d, groups, rng)
    plain = SigmoidCascadeHead(d, factors, n_classes, 3, groups).double()
    plain.load_state_dict({k: v for k, v in head.state_dict().items() if not k.startswith("pairs.")})
    n_columns = 5
    x = torch.tensor(rng.standard_normal((n, d)), requires_grad=True)
    inputs = inputs_for(n, n_columns, rng)
    sizes = rng.integers(0, max_labels + 1, size=n)
    rows = [sorted(rng.permutation(n_classes)[: int(size)].tolist()) for size in sizes]
    indices = torch.tensor([v for row in rows for v in row], dtype=torch.int64)
    offsets = torch.tensor(np.cumsum([0] + [len(row) for row in rows])[:-1], dtype=torch.int64)
    labels = SparseBatch(indices, offsets, torch.ones(indices.shape[0]))
    with mock.patch.object(sigmoid_cascade, "RERANK_TRAIN", r):
        loss = head.loss(x, labels, inputs=inputs)
    base = plain.loss(x, labels)

    # the last level's candidates as the cascade picks them, with their path scores
    dense = level_logits(head, x.detach())
    strides = [math.prod(factors[h + 1 :]) for h in range(len(factors))]
    truth = [[{y // s for y in row} for row in rows] for s in strides]
    valid0 = prefix_valid(factors, n_classes, 0)
    scores = dense[0].masked_fill(~valid0, -math.inf)
    path = F.logsigmoid(scores)
    candidates = torch.arange(factors[0]).expand(n, -1)
    target = torch.tensor([[g in truth[0][i] for g in range(factors[0])] for i in range(n)])
    parents = None
    for h in range(1, len(factors)):
        columns = select_candidates(scores, groups, forced=target)
        parents = columns if parents is None else parents.gather(1, columns)
        c = factors[h]
        candidates = (parents.unsqueeze(2) * c + torch.arange(c)).flatten(1)
        valid = prefix_valid(factors, n_classes, h)[candidates]
        logits = dense[h].gather(1, candidates).masked_fill(~valid, -math.inf)
        path = (path.gather(1, columns).unsqueeze(2) + F.logsigmoid(logits).view(n, -1, c)).flatten(1)
        target = torch.tensor([[int(v) in truth[h][i] for v in candidates[i]] for i in range(n)])
        scores, parents = logits, candidates
    t = dense_pair_logits(head, inputs, n, n_columns).detach()
    want = torch.zeros((), dtype=torch.float64)
    for i in range(n):
        finite = torch.isfinite(path[i])
        best = path[i].masked_fill(~finite, -math.inf).topk(min(r, int(finite.sum()))).indices.tolist()
        chosen = {int(candidates[i, j]) for j in best} | set(rows[i])
        for code in chosen:
            z = dense[-1][i, code] + t[i, code]
            want = want + F.binary_cross_entropy_with_logits(z, torch.tensor(float(code in rows[i])).double())
    want = want / n
    torch.testing.assert_close(loss - base, want, atol=1e-9, rtol=0)

    # the pairs' term trains the table only: the cascade's gradients are the plain head's
    (grad,) = torch.autograd.grad(loss, x, retain_graph=True)
    (base_grad,) = torch.autograd.grad(base, x)
    torch.testing.assert_close(grad, base_grad, atol=1e-10, rtol=0)
    with pytest.raises(ValueError, match="inputs="):
        head.loss(x, labels)
