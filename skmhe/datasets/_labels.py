"""Per-class sample counts of the synthetic generator: balanced or Zipf-like, every class covered."""

from __future__ import annotations

import numpy as np

__all__ = ["class_counts"]


def class_counts(n_samples: int, n_classes: int, imbalance: float, rng: np.random.Generator) -> np.ndarray:
    """Number of samples of each class.

    Class ``k`` gets a share proportional to ``(k + 1) ** -imbalance`` (``imbalance=0``:
    balanced; ``imbalance=1``: Zipf's law, class 0 the most frequent). When
    ``n_samples >= n_classes`` every class first gets one sample and the remaining
    ``n_samples - n_classes`` are apportioned by those shares; otherwise the
    ``n_samples`` are apportioned directly (so only the largest shares, or a random
    subset when balanced, are present). Apportionment is by largest remainder with
    random tie-breaking, so counts are exact (balanced counts differ by at most one)
    rather than multinomial draws.

    Parameters
    ----------
    n_samples : int
        Total number of samples, >= 1.
    n_classes : int
        Number of classes, >= 1.
    imbalance : float
        Power-law exponent, >= 0.
    rng : numpy.random.Generator
        Source of the tie-breaking randomness.

    Returns
    -------
    counts : ndarray of shape (n_classes,), dtype int64
        Non-negative counts summing to ``n_samples``.
    """
    if imbalance == 0.0:
        share = np.full(n_classes, 1.0 / n_classes)
    else:
        share = np.arange(1, n_classes + 1, dtype=np.float64) ** -imbalance
        share /= share.sum()
    base = 1 if n_samples >= n_classes else 0
    to_share = n_samples - base * n_classes
    quota = to_share * share
    counts = np.floor(quota).astype(np.int64)
    left = int(np.clip(to_share - counts.sum(), 0, n_classes))
    if left:
        # largest fractional parts first; random order among equal ones
        order = np.lexsort((rng.random(n_classes), -(quota - counts)))
        counts[order[:left]] += 1
    counts += base
    # float rounding can leave the total off by a unit in extreme cases: fix on the largest class
    counts[int(np.argmax(counts))] += n_samples - int(counts.sum())
    return counts
