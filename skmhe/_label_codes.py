"""Data-aware label codes: which code each label gets, chosen from the training data.

Every method writes a label's code in mixed radix over the heads' factors. With the
labels in their given order, the classes that share a leading digit (a cascade's
group, a product head's class) are unrelated labels. This module chooses the codes
from the data instead, numpy and scipy only:

1. :func:`label_representations`: one vector per label, the mean of its rows of
   ``X`` (each row L2-normalised first, as in PIFA) after a random projection to
   at most ``n_components`` dimensions, centred across labels and normalised.
   One pass over ``X`` in row chunks: never densifies a sparse ``X``.
2. :func:`hierarchical_codes`: balanced recursive 2-means (as in Parabel and
   PECOS), with every split on a boundary of the mixed radix, so that each block
   of codes sharing a prefix (a group, a group of groups) is a cluster. For the
   cascade, sampling and the multi-label cascade.
3. :func:`additive_codes` (the product): starts from the hierarchical codes and
   refines them so that each label's vector is close to a *sum* of one vector per
   digit, the product's form (``logit = sum_h w_h[digit_h] . x``). Block
   coordinate descent: for each head, the labels that agree on every other
   digit get distinct digits by an optimal assignment, then the digit vectors
   are their least-squares means.

Codes stay a permutation of ``[0, n_labels)``: the padding codes are the same as
with the given order, and never predicted. Everything is equivariant to renaming
the labels (a label's code depends on its rows, not on its position), up to exact
ties.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.optimize import linear_sum_assignment

from ._radix import strides as radix_strides

__all__ = ["label_representations", "hierarchical_codes", "additive_codes", "resolve_label_order"]

#: the kinds of data-aware code, by what the output layer needs of a label's code
KINDS = ("hierarchical", "additive")
#: dimensions of the label representations (a random projection of wider X)
N_COMPONENTS = 64
#: above this many labels the additive search costs too much and the hierarchical codes serve
ADDITIVE_MAX_LABELS = 2**17
#: weight of the labels' standardised log-frequency beside their unit vectors (additive codes)
FREQUENCY_WEIGHT = 1.0

#: rows of X handled at once while forming the representations
_CHUNK_ROWS = 1 << 15
#: refinement passes of the 2-means at each split
_SPLIT_ITERATIONS = 4
#: sweeps over the heads of the additive refinement
_ADDITIVE_SWEEPS = 3
#: labels up to which the codes are reassigned all at once (one exact assignment), with restarts
_EXACT_SIDE = 256
#: starting points of the additive search (principal directions) at most and above that size
_SMALL_STARTS = 8
_LARGE_STARTS = 3
#: from this many labels on, only the hierarchical start (each start costs a full search)
_MANY_LABELS = 2**14
#: alternations of digit vectors and codes
_REFINE_ITERATIONS = 30
#: the same, one head at a time (large label sets: each costs a pass of assignments)
_FIBER_ITERATIONS = 4
#: cost-matrix entries up to which a one-to-one assignment is solved exactly
_EXACT_ASSIGNMENT_SIZE = 512 * 512


def resolve_label_order(
    label_order, classes: np.ndarray, X, Y: sp.csr_matrix, factors, kind: str, seed: int
) -> np.ndarray | None:
    """The code of each class under an estimator's ``label_order`` parameter.

    Parameters
    ----------
    label_order : "auto", "given" or array-like of shape (n_classes,)
        ``"given"``: the sorted order of ``classes`` (returns None).
        ``"auto"``: chosen from ``X`` and ``Y`` (:func:`label_representations`,
        then :func:`hierarchical_codes` or, with the labels' log-frequency
        appended, :func:`additive_codes` by ``kind``; hierarchical above
        ``2**17`` labels, where the additive search would cost too much); None
        when there is a single factor above 1 (every order is then the same
        model). An array: the classes listed in code order (a
        permutation of ``classes``).
    classes : ndarray of shape (n_classes,)
        The estimator's ``classes_``.
    X : ndarray or CSR matrix of shape (n_samples, n_features)
    Y : CSR matrix of shape (n_samples, n_classes)
        0/1 indicator of each row's classes (positions in ``classes``).
    factors : sequence of int
    kind : {"hierarchical", "additive"}
    seed : int

    Returns
    -------
    order : ndarray of int64, shape (n_classes,), or None
        The code of each class (for :class:`~skmhe.codec.LabelCodec`).
    """
    if isinstance(label_order, str):
        if label_order == "given" or sum(int(c) > 1 for c in factors) < 2:
            return None
        V = label_representations(X, Y, N_COMPONENTS, seed)
        if kind == "hierarchical" or len(classes) > ADDITIVE_MAX_LABELS:
            return hierarchical_codes(V, factors, seed)
        return additive_codes(_with_frequency(V, Y, FREQUENCY_WEIGHT), factors, seed)
    listed = np.asarray(label_order)
    if listed.ndim != 1 or listed.shape[0] != len(classes):
        raise ValueError(
            f"label_order must list the {len(classes)} classes in code order, got shape {listed.shape}"
        )
    position = np.searchsorted(classes, listed)
    position = np.clip(position, 0, len(classes) - 1)
    if not np.array_equal(classes[position], listed) or np.unique(position).size != len(classes):
        raise ValueError(
            "label_order must be a permutation of the classes (each class exactly once); "
            f"got {len(np.unique(listed))} distinct values, unknown ones: "
            f"{np.setdiff1d(listed, classes)[:10].tolist()}"
        )
    codes = np.empty(len(classes), dtype=np.int64)
    codes[position] = np.arange(len(classes))
    return codes


def _with_frequency(V: np.ndarray, Y: sp.csr_matrix, weight: float) -> np.ndarray:
    """``V`` with one more column: the labels' standardised log-frequency times ``weight``.

    The product's logit of a label is a sum over its digits, its bias (the
    log-prior, which spans several nats on Zipfian labels) included: codes that
    let the digits add up to the log-frequency too. Constant frequencies add
    nothing.
    """
    counts = np.asarray(Y.sum(axis=0), dtype=np.float64).ravel()
    log_count = np.log1p(counts)
    spread = log_count.std()
    column = np.zeros_like(log_count) if spread == 0 else (log_count - log_count.mean()) / spread
    return np.hstack([V, weight * column[:, None]])


def label_representations(X, Y: sp.csr_matrix, n_components: int, seed: int) -> np.ndarray:
    """One unit vector per label: its mean (row-normalised, projected) row of ``X``.

    Parameters
    ----------
    X : ndarray or CSR matrix of shape (n_samples, n_features)
    Y : CSR matrix of shape (n_samples, n_labels)
        0/1 indicator of each row's labels.
    n_components : int
        Dimensions kept: a Gaussian random projection is applied when ``X`` has
        more features than this.
    seed : int
        Seeds the projection.

    Returns
    -------
    V : ndarray of float64, shape (n_labels, min(n_features, n_components))
        Centred across labels, then each row scaled to unit norm (a label
        without rows gets zeros).
    """
    n_features = X.shape[1]
    project = n_features > n_components
    if project:
        rng = np.random.default_rng(seed)
        R = rng.standard_normal((n_features, n_components)).astype(np.float32)
        R /= np.sqrt(n_components)
    width = n_components if project else n_features
    sums = np.zeros((Y.shape[1], width), dtype=np.float64)
    for start in range(0, X.shape[0], _CHUNK_ROWS):
        rows = slice(start, min(start + _CHUNK_ROWS, X.shape[0]))
        chunk = X[rows]
        reduced = chunk @ R if project else chunk
        # a copy (normalised in place below; X itself is never written)
        reduced = np.array(reduced.toarray() if sp.issparse(reduced) else reduced, dtype=np.float64)
        if sp.issparse(chunk):
            norms = np.sqrt(np.asarray(chunk.multiply(chunk).sum(axis=1)).ravel())
        else:
            norms = np.linalg.norm(chunk, axis=1)
        reduced /= np.maximum(norms, 1e-12)[:, None]
        sums += Y[rows].T @ reduced
    counts = np.asarray(Y.sum(axis=0), dtype=np.float64).ravel()
    seen = counts > 0
    V = np.zeros_like(sums)
    V[seen] = sums[seen] / counts[seen, None]
    if seen.any():
        V[seen] -= V[seen].mean(axis=0)
    norms = np.linalg.norm(V, axis=1)
    V[norms > 0] /= norms[norms > 0, None]
    return V


def hierarchical_codes(V: np.ndarray, factors, seed: int) -> np.ndarray:
    """Balanced recursive 2-means codes: every code block sharing a prefix is a cluster.

    Parameters
    ----------
    V : ndarray of shape (n_labels, d)
        Label representations (:func:`label_representations`).
    factors : sequence of int
        The mixed radix; ``prod(factors) >= n_labels``.
    seed : int
        Seeds the starting direction of each split's power iteration (the same
        for every split, so the result does not depend on the labels' order).

    Returns
    -------
    codes : ndarray of int64, shape (n_labels,)
        A permutation of ``range(n_labels)``: the code of each label.
    """
    n = V.shape[0]
    codes = np.empty(n, dtype=np.int64)
    boundaries = [s for s in radix_strides(factors)[:-1] if s > 1]  # coarsest first
    start = np.random.default_rng(seed).standard_normal(V.shape[1])
    stack = [(np.arange(n), 0)]
    while stack:
        items, lo = stack.pop()
        hi = lo + items.size
        mid = _split_point(lo, hi, boundaries)
        if mid is None:  # one last-level group: ordered along the start direction
            codes[items[np.argsort(V[items] @ start, kind="stable")]] = lo + np.arange(items.size)
            continue
        left = _balanced_bisection(V[items], mid - lo, start)
        stack.append((items[left], lo))
        stack.append((np.delete(items, left), mid))
    return codes


def _split_point(lo: int, hi: int, boundaries: list[int]) -> int | None:
    """The radix boundary inside ``(lo, hi)`` nearest its middle, on the coarsest level that has one."""
    for s in boundaries:
        first, last = lo // s + 1, (hi - 1) // s
        if first <= last:
            middle = (lo + hi) / (2 * s)
            return int(min(max(round(middle), first), last)) * s
    return None


def _balanced_bisection(V: np.ndarray, n_left: int, start: np.ndarray) -> np.ndarray:
    """Positions of the ``n_left`` rows of ``V`` forming one side of a balanced 2-means split."""
    centred = V - V.mean(axis=0)
    direction = start
    for _ in range(3):  # power iteration towards the principal direction
        direction = centred.T @ (centred @ direction)
        norm = np.linalg.norm(direction)
        if norm == 0:
            break
        direction = direction / norm
    score = centred @ direction
    for _ in range(_SPLIT_ITERATIONS):
        left = np.argsort(-score, kind="stable")[:n_left]
        mask = np.zeros(V.shape[0], dtype=bool)
        mask[left] = True
        if mask.all() or not mask.any():
            break
        score = V @ (V[mask].mean(axis=0) - V[~mask].mean(axis=0))
    return np.sort(np.argsort(-score, kind="stable")[:n_left])


def additive_codes(V: np.ndarray, factors, seed: int) -> np.ndarray:
    """Codes whose digits' vectors add up to each label's vector (the product's form).

    Residual quantisation with balance, then refinement, minimising
    ``sum_i ||V_i - sum_h W_h[digit_h(code_i)]||^2``:

    1. digit by digit, most significant first: a balanced k-means of the
       residuals ``V - sum_{g<h} W_g[digit_g]`` into ``C_h`` shared centres
       ``W_h``, each label of a prefix going to a centre that still has room
       under that prefix;
    2. alternation until the codes settle: ``W`` by least squares, then the
       codes: up to 256 labels one optimal assignment of every label to
       every code (:func:`scipy.optimize.linear_sum_assignment`); above, one
       head at a time, the labels whose codes agree on every other digit
       swapping their digits ``h`` optimally.

    Step 1 starts from :func:`hierarchical_codes`'s groups and from the
    quantiles of the leading principal directions (8 up to 256 labels, 3 up
    to 16,384, none above); the codes with the least error win. Every start depends on the
    labels' vectors only, not on their order. Codes stay distinct and below
    ``n_labels`` throughout. Like k-means, this is a local search: a planted
    sum whose digits live in separate subspaces (digit pairs) is recovered,
    an arbitrary one not always.

    Parameters
    ----------
    V : ndarray of shape (n_labels, d)
    factors : sequence of int
    seed : int

    Returns
    -------
    codes : ndarray of int64, shape (n_labels,)
        A permutation of ``range(n_labels)``.
    """
    factors = tuple(int(c) for c in factors)
    start = hierarchical_codes(V, factors, seed)
    if sum(c > 1 for c in factors) < 2:
        return start
    best, best_error = None, np.inf
    for start in [start, *_principal_starts(V, _starts(V.shape[0]))]:
        codes, error = _refine(V, _residual_quantisation(V, start, factors), factors)
        if error < best_error * (1 - 1e-9) - 1e-12:  # a tie (e.g. the same code, renamed) keeps the first
            best, best_error = codes, error
    return best


def _starts(n: int) -> int:
    """Principal directions tried as starting points: more where each try is cheap, none for many labels."""
    if n <= _EXACT_SIDE:
        return _SMALL_STARTS
    return _LARGE_STARTS if n <= _MANY_LABELS else 0


def _principal_starts(V: np.ndarray, n_directions: int) -> list[np.ndarray]:
    """Codes in the order of each leading principal direction of ``V``.

    Where the digits' vectors lie in different subspaces, one of these
    directions sees a single digit, so its quantiles are that digit's groups.
    """
    centred = V - V.mean(axis=0)
    _, spread, directions = np.linalg.svd(centred, full_matrices=False)
    if spread.size == 0 or spread[0] == 0:
        return []
    directions = directions[: min(n_directions, int(np.sum(spread > 1e-6 * spread[0])))]  # not the null space
    starts = []
    for direction in directions:
        score = centred @ direction
        score *= np.sign(score[np.argmax(np.abs(score))]) or 1.0  # the SVD's sign is arbitrary
        codes = np.empty(V.shape[0], dtype=np.int64)
        codes[np.argsort(score, kind="stable")] = np.arange(V.shape[0])
        starts.append(codes)
    return starts


def _residual_quantisation(V: np.ndarray, start: np.ndarray, factors: tuple) -> np.ndarray:
    """Digit by digit, a balanced k-means of the residuals into shared centres."""
    n = V.shape[0]
    codes = np.zeros(n, dtype=np.int64)  # the prefix of the digits assigned so far
    residual = V.copy()
    for s, c in zip(radix_strides(factors), factors):
        digit = _balanced_kmeans(residual, codes, (start // s) % c, s, c, n)
        codes += digit * s
        residual -= _digit_means(residual, digit, c)[digit]
    return codes


def _digit_vectors(V: np.ndarray, digits: np.ndarray, factors: tuple) -> list[np.ndarray]:
    """Least-squares ``W_h`` for fixed digits (a few rounds of means of residuals)."""
    W = [np.zeros((c, V.shape[1])) for c in factors]
    total = np.zeros_like(V)
    for _ in range(3):
        for h, c in enumerate(factors):
            total -= W[h][digits[:, h]]
            W[h] = _digit_means(V - total, digits[:, h], c)
            total += W[h][digits[:, h]]
    return W


def _refine(V: np.ndarray, codes: np.ndarray, factors: tuple) -> tuple[np.ndarray, float]:
    """Alternate digit vectors and codes until the codes settle; the codes and their error."""
    n = V.shape[0]
    place = radix_strides(factors)
    for _ in range(_REFINE_ITERATIONS if n <= _EXACT_SIDE else _FIBER_ITERATIONS):
        digits = np.stack([(codes // s) % c for s, c in zip(place, factors)], axis=1)
        W = _digit_vectors(V, digits, factors)
        if n <= _EXACT_SIDE:  # every label against every code: one exact assignment
            grid = _grid(W, factors, n)
            cost = (grid * grid).sum(axis=1)[None, :] - 2.0 * (V @ grid.T)
            rows, cols = linear_sum_assignment(cost)
            new = np.empty(n, dtype=np.int64)
            new[rows] = cols
        else:  # one head at a time, within the labels agreeing on the other digits
            new = codes.copy()
            for h, (s, c) in enumerate(zip(place, factors)):
                if c == 1:
                    continue
                digit = (new // s) % c
                residual = V - sum(W[g][digits[:, g]] for g in range(len(factors)) if g != h)
                fiber = new - digit * s
                ones = np.ones(c, dtype=np.int64)
                new = fiber + _assign_within(residual, W[h], fiber, s, ones, n) * s
        if np.array_equal(new, codes):
            break
        codes = new
    digits = np.stack([(codes // s) % c for s, c in zip(place, factors)], axis=1)
    W = _digit_vectors(V, digits, factors)
    fitted = sum(W[h][digits[:, h]] for h in range(len(factors)))
    return codes, float(((V - fitted) ** 2).sum())


def _grid(W: list[np.ndarray], factors: tuple, n: int) -> np.ndarray:
    """``sum_h W_h[digit_h(code)]`` for the codes ``0..n-1``, shape ``(n, d)``."""
    codes = np.arange(n)
    return sum(W[h][(codes // s) % c] for h, (s, c) in enumerate(zip(radix_strides(factors), factors)))


def _balanced_kmeans(
    R: np.ndarray, prefix: np.ndarray, digit: np.ndarray, stride: int, n_values: int, n_labels: int
) -> np.ndarray:
    """Digit ``h`` of every label: shared centres, at most ``stride`` valid codes per (prefix, digit)."""
    capacity = np.full(n_values, stride, dtype=np.int64)
    for _ in range(_SPLIT_ITERATIONS + 2):
        centres = _digit_means(R, digit, n_values)
        new = _assign_within(R, centres, prefix, stride, capacity, n_labels)
        if np.array_equal(new, digit):
            break
        digit = new
    return digit


def _digit_means(R: np.ndarray, digit: np.ndarray, n_values: int) -> np.ndarray:
    sums = np.zeros((n_values, R.shape[1]))
    np.add.at(sums, digit, R)
    counts = np.bincount(digit, minlength=n_values)
    return sums / np.maximum(counts, 1)[:, None]


def _assign_within(
    R: np.ndarray, W: np.ndarray, fiber: np.ndarray, stride: int, capacity: np.ndarray, n_labels: int
) -> np.ndarray:
    """A digit per label, the labels of each ``fiber`` (code without this digit) sharing ``W``.

    Digit ``j`` takes at most ``capacity[j]`` labels of a fiber, and only as many
    as there are valid codes (``< n_labels``) under ``fiber + j * stride``.
    """
    out = np.empty(R.shape[0], dtype=np.int64)
    order = np.argsort(fiber, kind="stable")
    bounds = np.flatnonzero(np.diff(fiber[order])) + 1
    squared = (W * W).sum(axis=1)
    values = np.arange(W.shape[0])
    for members in np.split(order, bounds):
        room = np.clip(n_labels - (fiber[members[0]] + values * stride), 0, None)
        room = np.minimum(room, capacity)
        cost = squared[None, :] - 2.0 * (R[members] @ W.T)
        out[members] = _capacitated_assignment(cost, room)
    return out


def _capacitated_assignment(cost: np.ndarray, room: np.ndarray) -> np.ndarray:
    """Column of each row, column ``j`` taking at most ``room[j]`` rows (``room.sum() >= rows``).

    Exact (:func:`scipy.optimize.linear_sum_assignment`) when every room is 0 or
    1 and the problem is small; else greedy rounds: every unplaced row asks
    for its cheapest column with room left, and each column takes its
    cheapest askers.
    """
    m, k = cost.shape
    if room.max() <= 1 and m * k <= _EXACT_ASSIGNMENT_SIZE:
        allowed = np.flatnonzero(room)
        rows, cols = linear_sum_assignment(cost[:, allowed])
        out = np.empty(m, dtype=np.int64)
        out[rows] = allowed[cols]
        return out
    out = np.full(m, -1, dtype=np.int64)
    room = room.copy()
    while True:
        waiting = np.flatnonzero(out < 0)
        if waiting.size == 0:
            return out
        masked = np.where(room[None, :] > 0, cost[waiting], np.inf)
        wish = np.argmin(masked, axis=1)
        ranked = np.lexsort((masked[np.arange(waiting.size), wish], wish))
        wish_sorted = wish[ranked]
        first = np.searchsorted(wish_sorted, wish_sorted, side="left")
        take = (np.arange(ranked.size) - first) < room[wish_sorted]
        out[waiting[ranked[take]]] = wish_sorted[take]
        np.subtract.at(room, wish_sorted[take], 1)
