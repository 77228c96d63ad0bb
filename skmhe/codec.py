"""Mixed-radix label codec: global labels <-> per-head local labels."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from ._radix import digits_to_codes, strides

__all__ = ["LabelCodec"]


def _check_factors(factors: Sequence[int]) -> tuple[int, ...]:
    try:
        factors = tuple(factors)
    except TypeError:
        raise ValueError(f"factors must be a sequence of positive ints, got {factors!r}") from None
    if len(factors) == 0:
        raise ValueError("factors must contain at least one head size, got an empty sequence")
    out = []
    for f in factors:
        if isinstance(f, (bool, np.bool_)) or not isinstance(f, (int, np.integer)):
            raise ValueError(f"factors must be positive ints, got {f!r} in {factors!r}")
        if f < 1:
            raise ValueError(f"factors must be >= 1, got {int(f)} in {factors!r}")
        out.append(int(f))
    return tuple(out)


class LabelCodec:
    """Mixed-radix code of global labels over per-head factors.

    A global label ``y`` in ``[0, n_codes)`` is written as ``H`` local labels
    ``(y_0, ..., y_{H-1})`` with head 0 the most significant digit::

        y = sum_h y_h * prod_{j > h} C_j

    This is the order of ``np.kron`` of the heads' one-hot vectors, so the
    joint distribution of a multi-head product classifier is the Kronecker
    product of the heads' distributions in this same order.

    A codec may also hold a *label order*: the code of each label, a
    permutation of ``range(n_labels)`` chosen from the data
    (:mod:`skmhe._label_codes`), so that labels sharing a digit are similar.
    :meth:`encode` then maps labels through it and :meth:`decode` back;
    without one, label ``y`` has code ``y`` (the given order). Codes from
    ``n_labels`` to ``n_codes`` stay padding either way.

    Parameters
    ----------
    factors : sequence of int
        Head sizes ``(C_1, ..., C_H)``, each >= 1.
    order : array-like of int, shape (n_labels,), default=None
        The code of each label ``0..n_labels-1``: a permutation of
        ``range(n_labels)``, ``n_labels <= prod(factors)``. ``None``: the
        identity over every code.

    Attributes
    ----------
    factors : tuple of int
        The head sizes.
    n_codes : int
        ``prod(factors)``, the number of representable codes.
    strides : tuple of int
        ``strides[h] = prod(factors[h+1:])``.
    order : ndarray of int64, shape (n_labels,) or None
        The code of each label, or None for the given order.

    Examples
    --------
    >>> codec = LabelCodec((10, 10))
    >>> codec.encode([0, 42, 99]).tolist()
    [[0, 0], [4, 2], [9, 9]]
    >>> codec.decode([[4, 2]]).tolist()
    [42]
    """

    def __init__(self, factors: Sequence[int], order=None):
        self.factors = _check_factors(factors)
        self.n_codes = math.prod(self.factors)
        self.strides = strides(self.factors)
        self.order = None if order is None else _check_order(order, self.n_codes)
        self._labels_of_codes = None if self.order is None else np.argsort(self.order)

    @property
    def n_heads(self) -> int:
        """Number of heads ``H``."""
        return len(self.factors)

    def __repr__(self) -> str:
        order = "" if self.order is None else f", order=<{self.order.size} codes>"
        return f"LabelCodec(factors={self.factors}{order})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, LabelCodec) or other.factors != self.factors:
            return False
        if self.order is None or other.order is None:
            return self.order is None and other.order is None
        return np.array_equal(self.order, other.order)

    def __setstate__(self, state):  # codecs pickled before label orders existed
        state.setdefault("order", None)
        state.setdefault("_labels_of_codes", None)
        self.__dict__.update(state)

    def __hash__(self) -> int:
        return hash(self.factors)

    @classmethod
    def for_n_classes(cls, n_classes: int, n_heads: int = 2) -> "LabelCodec":
        """Balanced factors covering ``n_classes`` codes with the least slack.

        Every factor is at most ``m``, the smallest integer with
        ``m ** n_heads >= n_classes``; among such factorisations the one with
        the smallest product ``>= n_classes`` is chosen (then the most
        balanced). Factors are sorted in non-increasing order.

        Parameters
        ----------
        n_classes : int
            Number of labels to cover, >= 1.
        n_heads : int, default=2
            Number of heads, >= 1.

        Returns
        -------
        codec : LabelCodec

        Examples
        --------
        >>> LabelCodec.for_n_classes(10000).factors
        (100, 100)
        >>> LabelCodec.for_n_classes(10007).factors
        (101, 100)
        """
        for name, v in (("n_classes", n_classes), ("n_heads", n_heads)):
            if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, np.integer)) or v < 1:
                raise ValueError(f"{name} must be an int >= 1, got {v!r}")
        n_classes, n_heads = int(n_classes), int(n_heads)
        best = _search_factors(n_classes, n_heads, _least_root(n_classes, n_heads))
        return cls(best)

    def _as_labels(self, y) -> np.ndarray:
        arr = np.asarray(y)
        if arr.dtype.kind not in "iu":
            if arr.dtype.kind == "f" and arr.size and np.all(np.isfinite(arr)) and np.all(arr == np.round(arr)):
                arr = arr.astype(np.int64)
            elif arr.size == 0:
                arr = arr.astype(np.int64)
            else:
                raise ValueError(f"labels must be integers, got dtype {arr.dtype}")
        return arr.astype(np.int64, copy=False)

    @property
    def n_labels(self) -> int:
        """Labels the codec maps: ``len(order)``, or ``n_codes`` without an order."""
        return self.n_codes if self.order is None else int(self.order.size)

    def to_codes(self, y) -> np.ndarray:
        """Labels -> their codes (through :attr:`order`), shape preserved.

        Parameters
        ----------
        y : array-like of int
            Labels in ``[0, n_labels)``.

        Returns
        -------
        codes : ndarray of int64, shaped like ``y``
        """
        y = self._as_labels(y)
        if y.size and (y.min() < 0 or y.max() >= self.n_labels):
            bad = y[(y < 0) | (y >= self.n_labels)].ravel()[0]
            raise ValueError(
                f"label {int(bad)} is outside [0, {self.n_labels}) for factors {self.factors}"
            )
        return y if self.order is None else self.order[y]

    def to_labels(self, codes) -> np.ndarray:
        """Codes -> their labels (inverse of :meth:`to_codes`), shape preserved.

        Parameters
        ----------
        codes : array-like of int
            Codes in ``[0, n_labels)`` (padding codes have no label).

        Returns
        -------
        labels : ndarray of int64, shaped like ``codes``
        """
        codes = self._as_labels(codes)
        if self.order is None:
            return codes
        if codes.size and (codes.min() < 0 or codes.max() >= self.n_labels):
            bad = codes[(codes < 0) | (codes >= self.n_labels)].ravel()[0]
            raise ValueError(f"code {int(bad)} is padding or outside [0, {self.n_labels})")
        return self._labels_of_codes[codes]

    def encode(self, y) -> np.ndarray:
        """Labels -> local labels (the digits of their codes).

        Parameters
        ----------
        y : array-like of int, shape (n,)
            Labels in ``[0, n_labels)`` (``[0, n_codes)`` without an order).

        Returns
        -------
        codes : ndarray of int64, shape (n, H)
        """
        y = self._as_labels(y)
        if y.ndim != 1:
            raise ValueError(f"encode expects a 1-D array of labels, got shape {y.shape}")
        y = self.to_codes(y)
        _check_int64_strides(self.factors, self.strides)
        strides = np.asarray(self.strides, dtype=np.int64)
        factors = np.asarray(self.factors, dtype=np.int64)
        return (y[:, None] // strides[None, :]) % factors[None, :]

    def decode(self, codes) -> np.ndarray:
        """Local labels -> global labels (inverse of :meth:`encode`).

        Parameters
        ----------
        codes : array-like of int, shape (n, H)

        Returns
        -------
        y : ndarray of int64, shape (n,)
        """
        codes = self._as_labels(codes)
        if codes.ndim != 2 or codes.shape[1] != self.n_heads:
            raise ValueError(f"decode expects shape (n, {self.n_heads}), got {codes.shape}")
        factors = np.asarray(self.factors, dtype=np.int64)
        if codes.size and ((codes < 0).any() or (codes >= factors[None, :]).any()):
            raise ValueError(f"local labels must lie in [0, C_h) for factors {self.factors}")
        return self.to_labels(digits_to_codes(codes, self.factors))


_INT64_MAX = int(np.iinfo(np.int64).max)


def _check_order(order, n_codes: int) -> np.ndarray:
    """``order`` as int64, refused unless it is a permutation of ``range(len(order))`` within the codes."""
    arr = np.asarray(order)
    if arr.ndim != 1 or arr.dtype.kind not in "iu":
        raise ValueError(f"order must be a 1-D array of ints, got shape {arr.shape} and dtype {arr.dtype}")
    arr = arr.astype(np.int64)
    if arr.size > n_codes:
        raise ValueError(f"order maps {arr.size} labels but the factors give only {n_codes} codes")
    if not np.array_equal(np.sort(arr), np.arange(arr.size)):
        raise ValueError(f"order must be a permutation of range({arr.size}) (each code used once)")
    arr.setflags(write=False)
    return arr


def _check_int64_strides(factors: tuple[int, ...], strides: tuple[int, ...]) -> None:
    """Refuse factors whose mixed-radix arithmetic does not fit int64 codes."""
    if strides and max(strides) > _INT64_MAX:
        raise ValueError(
            f"factors {factors} need place values up to {max(strides)}, above the int64 "
            f"limit {_INT64_MAX} (2**63 - 1) of the codes; use fewer or smaller factors"
        )


def _least_root(n: int, n_heads: int) -> int:
    """The smallest ``m >= 1`` with ``m ** n_heads >= n``, in integer arithmetic.

    Never forms a power with more than ``n.bit_length()`` factors, so any
    ``n_heads`` answers at once.
    """
    if n <= 1:
        return 1
    if n_heads >= (n - 1).bit_length():  # 2 ** n_heads >= n
        return 2
    m = max(2, math.ceil(n ** (1.0 / n_heads)))
    while m**n_heads < n:  # float rounding of the root
        m += 1
    while m > 1 and (m - 1) ** n_heads >= n:
        m -= 1
    return m


def _search_factors(n: int, n_heads: int, m: int) -> tuple[int, ...]:
    """Non-increasing factors <= m with the least product >= n (then most balanced).

    Among equally good factorisations the lexicographically greatest wins.
    Factors of 1 only pad: a least product has at most ``n.bit_length()``
    factors above 1 (dropping the smallest of more would still reach ``n``),
    so the search runs over that many factors in ``[2, m]`` and pads with
    ones, iteratively, whatever ``n_heads`` is.
    """
    if n <= 1 or m <= 1:
        return (1,) * n_heads
    best: list = []  # [(product, spread, factors)] once found; read live by the search
    for n_big in range(1, min(n_heads, n.bit_length()) + 1):
        for cand in _covering_factors(n, n_big, m, best):
            padded = cand + (1,) * (n_heads - n_big)
            key = (math.prod(cand), padded[0] - padded[-1], padded)
            better = not best or key[:2] < best[0][:2]
            if better or (key[:2] == best[0][:2] and padded > best[0][2]):
                best[:] = [key]
    return best[0][2]


def _covering_factors(n: int, n_factors: int, m: int, best: list):
    """Yield non-increasing tuples of ``n_factors`` ints in ``[2, m]`` with product >= n.

    The last factor of each is the least that reaches ``n``. Prefixes that
    cannot end at or below the product of ``best[0]`` (once ``best`` holds a
    candidate, updated by the caller between yields) are skipped.
    Depth-first, with an explicit stack.
    """
    stack: list[tuple[tuple[int, ...], int]] = [((), 1)]
    while stack:
        prefix, prod = stack.pop()
        left = n_factors - len(prefix)
        if best and prod * 2**left > best[0][0]:
            continue
        cap = prefix[-1] if prefix else m
        if left == 1:
            last = max(2, -(-n // prod))
            if last <= cap:
                yield prefix + (last,)
            continue
        # the least f with prod * f ** left >= n, up to the cap
        for f in range(max(2, _least_root(-(-n // prod), left)), cap + 1):
            if best and prod * f * 2 ** (left - 1) > best[0][0]:
                break
            stack.append((prefix + (f,), prod * f))
