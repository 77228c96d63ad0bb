"""``make_extreme_classification``: a synthetic many-class problem with planted, learnable structure."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from ._bag_of_words import bag_of_words
from ._labels import class_counts
from ._prototypes import dense_features
from ._validation import check_int, check_real, check_rng

__all__ = ["make_extreme_classification"]

DEFAULT_DENSE_FEATURES = 64
DEFAULT_SPARSE_FEATURES = 1 << 16
DEFAULT_KEYWORDS = 20


def make_extreme_classification(
    n_samples: int = 10000,
    n_features: int | None = None,
    n_classes: int = 1000,
    *,
    n_informative: int | None = None,
    class_sep: float = 1.0,
    noise: float = 1.0,
    sparse: bool = False,
    density: float = 0.001,
    imbalance: float = 0.0,
    shuffle: bool = True,
    random_state=None,
) -> tuple[np.ndarray | sp.csr_matrix, np.ndarray]:
    """Generate a single-label problem with very many classes and planted structure.

    In the spirit of :func:`sklearn.datasets.make_classification`, scaled to
    extreme label spaces (``n_classes`` up to ~1e6 and beyond). Every class has a
    hidden prototype and each sample is its class's prototype corrupted by noise,
    so a classifier can learn the task; ``class_sep / noise`` sets how hard it is.

    - Dense (default): class ``k`` has a prototype ``class_sep * N(0, I)`` on
      ``n_informative`` columns (zero on the others); a sample is its prototype
      plus ``noise * N(0, I)`` on all columns. With the defaults (64 features,
      ``class_sep = noise = 1``) the Bayes (nearest-prototype) accuracy is about
      99.9 % at 1,000 classes and 99 % at 100,000 classes, so errors come from what
      a model fails to learn from few samples per class, not from overlapping
      classes.
    - Sparse (``sparse=True``): a bag-of-words imitation of TF-IDF text. Class
      ``k`` owns ``n_informative`` keyword features, chosen by a seeded hash of
      ``k`` (nothing is stored per class). A row has ``1 + Poisson(density *
      n_features - 1)`` word tokens; each token is one of its class's keywords
      with probability ``class_sep / (class_sep + noise)`` and otherwise a
      background word drawn from a Zipf-like law over all features (feature
      ``r`` with probability ``log(1 + 1/(r + 1)) / log(n_features + 1)``,
      about ``1/r``). Term counts are weighted by the smoothed IDF of the
      generated corpus (as
      :class:`~sklearn.feature_extraction.text.TfidfTransformer`) and rows are
      L2-normalised.

    Class sizes are balanced (counts differ by at most one) or, with
    ``imbalance > 0``, follow a power law: class ``k`` gets a share proportional
    to ``(k + 1) ** -imbalance`` (``1`` is Zipf's law, as for word frequencies
    and the long tail of real extreme-classification data). Whenever
    ``n_samples >= n_classes`` every class has at least one sample.

    Memory: dense output is ``4 * n_samples * n_features`` bytes plus about
    ``40 * (n_samples + n_classes)`` bytes of bookkeeping; prototypes are drawn
    32,768 classes at a time, so they never cost more than
    ``128 KiB * n_informative``. At ``n_samples = n_classes = 1e6`` and 64
    features: 244 MiB for ``X`` and about 320 MiB at peak, built in ~2 s. Sparse
    output takes about 8 bytes per stored entry, and about three times that at
    peak (1e6 rows with the defaults: 350 MiB, 1.2 GiB peak, ~8 s).

    Parameters
    ----------
    n_samples : int, default=10000
        Number of samples, >= 1.
    n_features : int or None, default=None
        Number of features. ``None`` means 64 for dense output and ``2**16`` for
        sparse output.
    n_classes : int, default=1000
        Number of classes, >= 1. Labels are ``0, ..., n_classes - 1``.
    n_informative : int or None, default=None
        Dense: number of columns carrying the prototypes (``None``: all
        ``n_features``). Sparse: number of keyword features of each class
        (``None``: 20). Between 1 and ``n_features``.
    class_sep : float, default=1.0
        Signal strength, >= 0: standard deviation of the prototype entries (dense);
        keyword weight in the token mixture (sparse).
    noise : float, default=1.0
        Noise level, >= 0: standard deviation of the Gaussian noise (dense);
        background-word weight in the token mixture (sparse). ``class_sep`` and
        ``noise`` cannot both be 0 with ``sparse=True``.
    sparse : bool, default=False
        Return a TF-IDF-like ``scipy.sparse.csr_matrix`` instead of a dense array.
    density : float, default=0.001
        Sparse only: mean number of word tokens per row divided by
        ``n_features`` (in ``(0, 1]``, and ``density * n_features >= 1``). The
        default gives ~66 tokens per row at ``2**16`` features, close to
        product-description data such as Amazon-670K. Fewer entries are stored
        (~46 a row with the defaults) because repeated words merge into term
        frequencies. Ignored for dense output.
    imbalance : float, default=0.0
        Power-law exponent of the class sizes, >= 0 (``0``: balanced).
    shuffle : bool, default=True
        Shuffle the samples (otherwise they are sorted by class) and, for dense
        output with ``n_informative < n_features``, place the informative columns
        at random positions (otherwise they are the first ones).
    random_state : int, numpy.random.Generator, numpy.random.RandomState or None, default=None
        Seed or generator. An int gives identical output on every call; the global
        NumPy random state is never used.

    Returns
    -------
    X : ndarray of shape (n_samples, n_features), dtype float32, or scipy.sparse.csr_matrix
        The samples; sparse output has sorted int32 indices and unit-norm rows.
    y : ndarray of shape (n_samples,), dtype int64
        Class labels in ``[0, n_classes)``.

    Raises
    ------
    ValueError
        If a parameter is out of range; the message names it.

    See Also
    --------
    sklearn.datasets.make_classification : the few-class analogue.
    load_digit_pairs : a real 100-class task.
    load_ptb : a real 10,000-class task (next-word prediction).

    Examples
    --------
    >>> from skmhe.datasets import make_extreme_classification
    >>> X, y = make_extreme_classification(n_samples=500, n_classes=100, random_state=0)
    >>> X.shape, X.dtype, y.dtype, len(set(y.tolist()))
    ((500, 64), dtype('float32'), dtype('int64'), 100)
    >>> Xs, ys = make_extreme_classification(200, n_classes=50, sparse=True, random_state=0)
    >>> Xs.format, Xs.shape, Xs.dtype
    ('csr', (200, 65536), dtype('float32'))
    """
    n_samples = check_int(n_samples, "n_samples", low=1)
    n_classes = check_int(n_classes, "n_classes", low=1)
    if not isinstance(sparse, (bool, np.bool_)):
        raise ValueError(f"sparse must be a bool, got {sparse!r}")
    if not isinstance(shuffle, (bool, np.bool_)):
        raise ValueError(f"shuffle must be a bool, got {shuffle!r}")
    if n_features is None:
        n_features = DEFAULT_SPARSE_FEATURES if sparse else DEFAULT_DENSE_FEATURES
    n_features = check_int(
        n_features, "n_features", low=1, high=np.iinfo(np.int32).max if sparse else None
    )
    if n_informative is None:
        n_informative = min(DEFAULT_KEYWORDS, n_features) if sparse else n_features
    n_informative = check_int(n_informative, "n_informative", low=1, high=n_features)
    class_sep = check_real(class_sep, "class_sep", low=0.0)
    noise = check_real(noise, "noise", low=0.0)
    density = check_real(density, "density", low=0.0, high=1.0, low_open=True)
    imbalance = check_real(imbalance, "imbalance", low=0.0)
    if sparse:
        if class_sep + noise == 0.0:
            raise ValueError("class_sep and noise cannot both be 0 with sparse=True")
        if density * n_features < 1.0:
            raise ValueError(
                f"density * n_features must be >= 1 (at least one word per row), got "
                f"{density} * {n_features} = {density * n_features:g}"
            )
    rng = check_rng(random_state)

    counts = class_counts(n_samples, n_classes, imbalance, rng)
    y_sorted = np.repeat(np.arange(n_classes, dtype=np.int64), counts)
    if shuffle:
        permutation = rng.permutation(n_samples)
        y = y_sorted[permutation]
    else:
        y = y_sorted
    if sparse:
        keyword_prob = class_sep / (class_sep + noise)
        X = bag_of_words(y, n_features, n_informative, keyword_prob, density * n_features, rng)
        return X, y
    destination = None
    if shuffle:
        destination = np.empty(n_samples, dtype=np.int64)  # sorted position -> output row
        destination[permutation] = np.arange(n_samples)
        del permutation, y_sorted
    X = dense_features(counts, n_features, n_informative, class_sep, noise, destination, shuffle, rng)
    return X, y
