"""skmhe.nn: every output head keeps the one contract (loss, topk, log_scores, inference_width).

The estimators use a head only through :class:`skmhe.nn.Head`; these tests check each
head class against it on small random cases, and the method registry against the heads.
The heads' numbers themselves are checked against dense references in test_candidates.py.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from skmhe import _radix
from skmhe._head_registry import HEADS, METHODS, make_head
from skmhe.nn import (
    Head,
    MHENetwork,
    MLPBackbone,
    ProductHead,
    SamplingHead,
    SigmoidCascadeHead,
    SingleLabelHead,
    SoftmaxCascadeHead,
    SparseBatch,
)
from skmhe.nn.precision import exact, precise

pytestmark = pytest.mark.usefixtures("one_thread")  # tiny tensors

N_ROWS, D = 6, 5
CASES = [((12,), 12), ((4, 3), 12), ((4, 3), 10), ((3, 2, 2), 11)]


def build(cls, factors, n_classes, seed=0):
    """A head of class ``cls`` whose beam (cascades) is wide enough to be exact."""
    g = torch.Generator().manual_seed(seed)
    beam = math.prod(factors)
    if cls is ProductHead:
        return ProductHead(D, factors, n_classes, generator=g)
    if cls is SamplingHead:
        return SamplingHead(D, factors, n_classes, 2, generator=g)
    return cls(D, factors, n_classes, 4, beam, generator=g)


def targets(head, rng):
    """Training targets as the head takes them: digit rows, or a SparseBatch of label ids."""
    labels = rng.integers(0, head.n_classes, size=N_ROWS)
    if isinstance(head, SingleLabelHead):
        return torch.stack(_radix.codes_to_digits(torch.as_tensor(labels), head.factors), dim=1)
    sets = [sorted({int(a), int(b)}) for a, b in zip(labels, rng.integers(0, head.n_classes, size=N_ROWS))]
    indices = torch.tensor([i for s in sets for i in s])
    offsets = torch.tensor(np.cumsum([0] + [len(s) for s in sets[:-1]]))
    return SparseBatch(indices, offsets, torch.ones(indices.shape[0]))


HEAD_CLASSES = [ProductHead, SoftmaxCascadeHead, SamplingHead, SigmoidCascadeHead]


def test_contract_is_abstract():
    with pytest.raises(TypeError):
        Head()
    for cls in HEAD_CLASSES:
        assert issubclass(cls, Head) and not cls.__abstractmethods__, cls


@pytest.mark.parametrize("cls", HEAD_CLASSES, ids=lambda c: c.__name__)
@pytest.mark.parametrize(("factors", "n_classes"), CASES, ids=str)
def test_every_head_keeps_the_contract(cls, factors, n_classes):
    rng = np.random.default_rng(0)
    head = build(cls, factors, n_classes)
    assert isinstance(head, Head)
    assert head.factors == factors and head.n_classes == n_classes
    x = torch.tensor(rng.standard_normal((N_ROWS, D)), dtype=torch.float32)

    loss = head.loss(x, targets(head, rng))
    assert loss.dim() == 0 and torch.isfinite(loss)
    loss.backward()
    assert any(p.grad is not None for p in head.parameters())

    with torch.no_grad():
        dense = head.log_scores(x)
        assert dense.shape == (N_ROWS, n_classes) and dense.dtype == torch.float64
        assert torch.isfinite(dense).all()
        for k in (1, 3, n_classes):
            values, codes = head.topk(x, k)
            assert values.shape == codes.shape == (N_ROWS, k)
            assert codes.dtype == torch.int64
            assert ((codes >= 0) & (codes < n_classes)).all()
            assert (values[:, :-1] >= values[:, 1:]).all()  # best first
            torch.testing.assert_close(exact(values), dense.gather(1, codes), atol=1e-9, rtol=0)
            want = dense.sort(dim=1, descending=True).values[:, :k]
            torch.testing.assert_close(exact(values), want, atol=1e-9, rtol=0)

    widths = [head.inference_width(k) for k in range(1, n_classes + 1)]
    assert all(isinstance(w, int) and w >= 1 for w in widths)
    assert widths == sorted(widths)


@pytest.mark.parametrize("cls", [ProductHead, SoftmaxCascadeHead, SamplingHead], ids=lambda c: c.__name__)
def test_single_label_heads_are_normalised(cls):
    rng = np.random.default_rng(1)
    head = build(cls, (4, 3), 10)
    x = torch.tensor(rng.standard_normal((N_ROWS, D)))
    with torch.no_grad():
        log_proba = head.log_proba(x)
        torch.testing.assert_close(head.log_scores(x), log_proba)
        torch.testing.assert_close(log_proba.exp().sum(dim=1), torch.ones(N_ROWS, dtype=torch.float64))
        codes = targets(head, rng)
        flat = _radix.digits_to_codes(codes, head.factors)
        torch.testing.assert_close(head.log_likelihood(x, codes), log_proba.gather(1, flat[:, None])[:, 0])


def test_registry_maps_every_method_to_a_single_label_head():
    assert METHODS == tuple(HEADS) == ("product", "cascade", "sampling")
    options = dict(
        embedding_size=3, n_candidate_groups=2, n_sampled_groups=2, sampling_mode="random", init_gain=6.0
    )
    for method, cls in HEADS.items():
        assert issubclass(cls, SingleLabelHead)
        head = make_head(method, D, (4, 3), 10, generator=torch.Generator(), sparse_grad=False, **options)
        assert type(head) is cls and head.factors == (4, 3) and head.n_classes == 10
    with pytest.raises(ValueError, match="hidden layer"):
        make_head("sampling", D, (4, 3), 10, generator=torch.Generator(), sparse_grad=True, **options)


def test_network_composes_backbone_and_head():
    g = torch.Generator().manual_seed(0)
    backbone = MLPBackbone(7, (D,), "relu", generator=g)
    net = MHENetwork(backbone, build(ProductHead, (4, 3), 10))
    x = torch.randn(N_ROWS, 7, generator=g)
    assert net(x).shape == (N_ROWS, D)
    assert net.loss(x, targets(net.head, np.random.default_rng(0))).dim() == 0
    assert net.output_parameters() == (D + 1) * 7


def test_precision_rule():
    x = torch.ones(2, 3)
    assert precise(x).dtype == torch.float64  # CPU: float64
    batch = SparseBatch(torch.tensor([0, 2]), torch.tensor([0, 1]), torch.ones(2))
    assert precise(batch).values.dtype == torch.float64
    assert exact(torch.ones(2, dtype=torch.float16)).dtype == torch.float64


def test_radix_helpers():
    factors = (3, 1, 4)
    assert _radix.strides(factors) == (4, 4, 1)
    codes = np.arange(12)
    digits = np.stack(_radix.codes_to_digits(codes, factors), axis=1)
    np.testing.assert_array_equal(_radix.digits_to_codes(digits, factors), codes)
    np.testing.assert_array_equal(digits, [[c // 4, 0, c % 4] for c in codes])
    assert _radix.valid_prefixes(factors, 9) == [3, 3, 9]
    assert _radix.codes_to_digits(9, factors) == [2, 0, 1]
