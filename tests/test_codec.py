"""Property tests for skmhe.LabelCodec (mixed-radix code, kron order)."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from _strategies import factor_tuples
from skmhe import LabelCodec

SETTINGS = settings(deadline=None, max_examples=80)


def onehot(i, c):
    v = np.zeros(c, dtype=np.int64)
    v[i] = 1
    return v


# --------------------------------------------------------------------------- round trip / order


@SETTINGS
@given(factor_tuples(), st.data())
def test_attributes(factors, data):
    codec = LabelCodec(factors)
    assert codec.factors == factors
    assert all(type(f) is int for f in codec.factors)
    assert codec.n_codes == math.prod(factors)
    assert codec.n_heads == len(factors)
    assert codec.strides == tuple(math.prod(factors[h + 1 :]) for h in range(len(factors)))
    assert codec == LabelCodec(list(factors)) and hash(codec) == hash(LabelCodec(factors))
    # numpy integer factors are accepted and normalised
    assert LabelCodec(np.asarray(factors, dtype=np.int64)).factors == factors


@SETTINGS
@given(factor_tuples(), st.data())
def test_encode_decode_round_trip(factors, data):
    codec = LabelCodec(factors)
    y = np.asarray(data.draw(st.lists(st.integers(0, codec.n_codes - 1), min_size=0, max_size=30)), dtype=np.int64)
    codes = codec.encode(y)
    assert codes.dtype == np.int64
    assert codes.shape == (len(y), len(factors))
    assert ((codes >= 0) & (codes < np.asarray(factors))).all()
    # mixed radix, head 0 most significant
    expected = np.zeros(len(y), dtype=np.int64)
    for h in range(len(factors)):
        expected = expected * factors[h] + codes[:, h]
    np.testing.assert_array_equal(expected, y)
    back = codec.decode(codes)
    assert back.dtype == np.int64 and back.shape == (len(y),)
    np.testing.assert_array_equal(back, y)
    # and the other way: decode then encode is the identity on valid local labels
    local = np.stack(
        [np.asarray(data.draw(st.lists(st.integers(0, f - 1), min_size=5, max_size=5))) for f in factors], axis=1
    )
    np.testing.assert_array_equal(codec.encode(codec.decode(local)), local)


@SETTINGS
@given(factor_tuples(max_codes=3000), st.data())
def test_kron_order(factors, data):
    """np.kron of the heads' one-hots puts its single 1 at the global label."""
    codec = LabelCodec(factors)
    y = data.draw(st.integers(0, codec.n_codes - 1))
    (local,) = codec.encode([y])
    v = np.ones(1, dtype=np.int64)
    for h, f in enumerate(factors):
        v = np.kron(v, onehot(local[h], f))
    assert v.shape == (codec.n_codes,)
    assert v.sum() == 1 and int(np.argmax(v)) == y


def test_kron_order_exhaustive_small():
    codec = LabelCodec((3, 1, 4, 2))
    y = np.arange(codec.n_codes)
    codes = codec.encode(y)
    # lexicographic order of the local labels == global order
    np.testing.assert_array_equal(codes, np.array(list(itertools.product(range(3), range(1), range(4), range(2)))))


def test_docstring_examples():
    codec = LabelCodec((10, 10))
    assert codec.encode([0, 42, 99]).tolist() == [[0, 0], [4, 2], [9, 9]]
    assert codec.decode([[4, 2]]).tolist() == [42]
    assert LabelCodec.for_n_classes(10000).factors == (100, 100)
    assert LabelCodec.for_n_classes(10007).factors == (101, 100)


def test_empty_and_integral_float_labels():
    codec = LabelCodec((3, 4))
    assert codec.encode([]).shape == (0, 2)
    assert codec.decode(np.zeros((0, 2), dtype=np.int64)).shape == (0,)
    np.testing.assert_array_equal(codec.encode(np.array([5.0, 11.0])), codec.encode([5, 11]))


# --------------------------------------------------------------------------- for_n_classes


def _brute_force(n, h):
    m = 1
    while m**h < n:
        m += 1
    cands = [
        c
        for c in itertools.combinations_with_replacement(range(m, 0, -1), h)  # non-increasing tuples
        if math.prod(c) >= n
    ]
    best = min(math.prod(c) for c in cands)
    spread = min(max(c) - min(c) for c in cands if math.prod(c) == best)
    return m, best, spread


@settings(deadline=None, max_examples=100)
@given(st.integers(1, 3000), st.integers(1, 4))
def test_for_n_classes_is_minimal(n, h):
    assume(h == 1 or n <= {2: 3000, 3: 1500, 4: 400}[h])
    factors = LabelCodec.for_n_classes(n, h).factors
    m, best, spread = _brute_force(n, h)
    assert len(factors) == h
    assert all(type(f) is int and f >= 1 for f in factors)
    assert list(factors) == sorted(factors, reverse=True)  # non-increasing
    assert all(f <= m for f in factors)
    assert math.prod(factors) >= n
    assert math.prod(factors) == best, (n, h, factors, best)
    assert max(factors) - min(factors) == spread, (n, h, factors, spread)


def test_for_n_classes_exhaustive_small():
    for h in (1, 2, 3):
        for n in range(1, 130):
            factors = LabelCodec.for_n_classes(n, h).factors
            m, best, spread = _brute_force(n, h)
            assert math.prod(factors) == best and max(factors) <= m, (n, h, factors)
            assert max(factors) - min(factors) == spread


@settings(deadline=None, max_examples=40)
@given(st.integers(1, 10**12), st.integers(1, 6))
def test_for_n_classes_large(n, h):
    factors = LabelCodec.for_n_classes(n, h).factors
    m = 1 if n == 1 else math.ceil(n ** (1 / h))
    while m**h < n:
        m += 1
    while m > 1 and (m - 1) ** h >= n:
        m -= 1
    assert len(factors) == h
    assert list(factors) == sorted(factors, reverse=True)
    assert max(factors) <= m
    assert math.prod(factors) >= n
    # least slack: no single factor can be decreased by one
    for i in range(h):
        if factors[i] > 1:
            smaller = list(factors)
            smaller[i] -= 1
            assert math.prod(smaller) < n


def test_for_n_classes_one_head_and_one_class():
    assert LabelCodec.for_n_classes(17, 1).factors == (17,)
    assert LabelCodec.for_n_classes(1, 3).factors == (1, 1, 1)
    assert LabelCodec.for_n_classes(1).factors == (1, 1)


@pytest.mark.parametrize(
    "n, h",
    [(0, 2), (-3, 2), (5, 0), (5, -1), (2.0, 2), (5, 2.0), (True, 2), (5, True), ("5", 2), (None, 2)],
)
def test_for_n_classes_rejects_bad_arguments(n, h):
    with pytest.raises(ValueError):
        LabelCodec.for_n_classes(n, h)


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    "factors",
    [
        (),
        [],
        (0,),
        (3, 0),
        (-2, 3),
        (2.0, 3),
        (2.5,),
        (True, 3),
        (3, False),
        (np.bool_(True),),
        ("3",),
        (None,),
        5,
        None,
    ],
)
def test_bad_factors(factors):
    with pytest.raises(ValueError):
        LabelCodec(factors)


@SETTINGS
@given(factor_tuples(max_codes=3000), st.data())
def test_encode_rejects_out_of_range(factors, data):
    codec = LabelCodec(factors)
    bad = data.draw(st.one_of(st.integers(-1000, -1), st.integers(codec.n_codes, codec.n_codes + 1000)))
    good = data.draw(st.lists(st.integers(0, codec.n_codes - 1), max_size=5))
    pos = data.draw(st.integers(0, len(good)))
    y = good[:pos] + [bad] + good[pos:]
    with pytest.raises(ValueError):
        codec.encode(y)


@SETTINGS
@given(factor_tuples(max_codes=3000), st.data())
def test_decode_rejects_out_of_range(factors, data):
    codec = LabelCodec(factors)
    local = np.stack([np.zeros(4, dtype=np.int64)] * len(factors), axis=1)
    h = data.draw(st.integers(0, len(factors) - 1))
    r = data.draw(st.integers(0, 3))
    local[r, h] = data.draw(st.one_of(st.integers(-100, -1), st.integers(factors[h], factors[h] + 100)))
    with pytest.raises(ValueError):
        codec.decode(local)


def test_bad_label_arrays():
    codec = LabelCodec((3, 4))
    with pytest.raises(ValueError):
        codec.encode([0.5, 1])  # not integral
    with pytest.raises(ValueError):
        codec.encode([np.nan])
    with pytest.raises(ValueError):
        codec.encode([["a"]])
    with pytest.raises(ValueError):
        codec.encode([[1, 2]])  # 2-D
    with pytest.raises(ValueError):
        codec.decode([1, 2])  # 1-D
    with pytest.raises(ValueError):
        codec.decode([[1, 2, 0]])  # wrong number of heads
    with pytest.raises(ValueError):
        codec.decode([[0.5, 1]])
