"""Dense features of the synthetic generator: Gaussian class prototypes plus Gaussian noise, in chunks."""

from __future__ import annotations

import numpy as np

__all__ = ["dense_features"]

# Prototypes are drawn for this many classes at a time and samples are written in blocks of at
# most this many rows, so the working memory is a few tens of MiB whatever n_classes is. They
# are fixed constants (not derived from the machine) so that the output only depends on the seed.
CLASS_CHUNK = 1 << 15
ROW_CHUNK = 1 << 15


def dense_features(
    counts: np.ndarray,
    n_features: int,
    n_informative: int,
    class_sep: float,
    noise: float,
    destination: np.ndarray | None,
    shuffle_features: bool,
    rng: np.random.Generator,
) -> np.ndarray:
    """Draw ``X`` (float32) for samples grouped by class.

    Class ``k`` has a prototype ``class_sep * N(0, I)`` on ``n_informative`` columns (zero
    elsewhere); a sample is its class prototype plus ``noise * N(0, I)`` on every column.
    Prototypes are never all held at once: they are drawn ``CLASS_CHUNK`` classes at a time,
    and the samples of those classes (contiguous when sorted by class) are written in blocks
    of at most ``ROW_CHUNK`` rows.

    Parameters
    ----------
    counts : ndarray of shape (n_classes,)
        Samples per class; sample ``i`` in class-sorted order belongs to class
        ``searchsorted(cumsum(counts), i, side="right")``.
    n_features, n_informative : int
        Number of columns, and of columns carrying the prototypes.
    class_sep, noise : float
        Standard deviation of the prototype entries and of the noise.
    destination : ndarray of shape (n_samples,) or None
        Row of ``X`` receiving the ``i``-th sample in class-sorted order; ``None`` keeps
        that order.
    shuffle_features : bool
        Put the informative columns at random positions instead of the first ones.
    rng : numpy.random.Generator
        Source of randomness.

    Returns
    -------
    X : ndarray of shape (n_samples, n_features), dtype float32
    """
    n_classes = counts.shape[0]
    n_samples = int(counts.sum())
    if n_informative == n_features:
        columns = slice(None)
    elif shuffle_features:
        columns = np.sort(rng.choice(n_features, size=n_informative, replace=False))
    else:
        columns = slice(0, n_informative)
    starts = np.concatenate([[0], np.cumsum(counts)])
    X = np.empty((n_samples, n_features), dtype=np.float32)
    block = None if destination is None else np.empty((min(ROW_CHUNK, n_samples), n_features), np.float32)
    for c0 in range(0, n_classes, CLASS_CHUNK):
        c1 = min(n_classes, c0 + CLASS_CHUNK)
        prototypes = rng.standard_normal((c1 - c0, n_informative), dtype=np.float32)
        prototypes *= np.float32(class_sep)
        # local class id of each sample of this class chunk, in sorted order
        local = np.repeat(np.arange(c1 - c0), counts[c0:c1])
        s0 = int(starts[c0])
        for r0 in range(s0, int(starts[c1]), ROW_CHUNK):
            r1 = min(int(starts[c1]), r0 + ROW_CHUNK)
            out = X[r0:r1] if destination is None else block[: r1 - r0]
            rng.standard_normal(out=out, dtype=np.float32)
            out *= np.float32(noise)
            signal = prototypes[local[r0 - s0 : r1 - s0]]
            if isinstance(columns, slice):
                out[:, columns] += signal
            else:
                out[:, columns] = out[:, columns] + signal
            if destination is not None:
                X[destination[r0:r1]] = out
    return X
