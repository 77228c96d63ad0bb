"""``make_xmc_multilabel``: synthetic extreme multi-label data with the statistics of real XMC sets."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from ._bag_of_words import hashed_keywords, tfidf
from ._validation import check_int, check_real, check_rng

__all__ = ["make_xmc_multilabel"]

ROW_CHUNK = 1 << 15  # rows drawn at a time (fixed: the output depends only on the seed)
LABEL_KEYWORDS = 8  # keyword features owned by each label
TOPIC_WORDS = 256  # vocabulary of each topic (Zipf-like within it)
#: share of a row's tokens that are keywords of its labels, words of its topic; the rest is background
LABEL_SHARE, TOPIC_SHARE = 0.25, 0.35
#: tokens drawn per stored entry asked for: repeated words merge into one entry
_TOKENS_PER_ENTRY = 1.33


def _log_uniform(rng: np.random.Generator, size: int, n: int) -> np.ndarray:
    """Zipf-like draws in ``[0, n)``: ``P(r) = log(1 + 1 / (r + 1)) / log(n + 1)``."""
    out = np.exp(rng.random(size) * np.log(n + 1.0)).astype(np.int64) - 1
    return np.clip(out, 0, n - 1, out=out)


class _LabelLaw:
    """Power-law label popularity, labels spread over topics, random label ids.

    ``cum`` is the cumulative popularity of the labels ordered by topic, so
    that a uniform draw in ``[lo[t], hi[t])`` is a label of topic ``t`` drawn by
    popularity, and one in ``[0, 1)`` a label of any topic.
    """

    def __init__(self, n_labels: int, n_topics: int, power: float, rng: np.random.Generator):
        popularity = (np.arange(n_labels, dtype=np.float64) + 1.0) ** -power  # by rank
        topic_of_rank = rng.integers(0, n_topics, size=n_labels)
        order = np.argsort(topic_of_rank, kind="stable")
        self.topic = topic_of_rank[order]  # topic of each position
        self.label = rng.permutation(n_labels)[order]  # label id of each position
        self.cum = np.cumsum(popularity[order])
        self.cum /= self.cum[-1]
        start = np.searchsorted(self.topic, np.arange(n_topics))
        end = np.searchsorted(self.topic, np.arange(n_topics), side="right")
        before = np.concatenate([[0.0], self.cum])
        self.lo, self.hi = before[start], before[end]

    def positions(self, u: np.ndarray) -> np.ndarray:
        return np.minimum(np.searchsorted(self.cum, u, side="right"), self.cum.shape[0] - 1)


def make_xmc_multilabel(
    n_samples: int = 10000,
    n_labels: int = 10000,
    *,
    n_features: int = 1 << 17,
    labels_per_row: float = 6.0,
    nnz_per_row: float = 100.0,
    n_topics: int | None = None,
    label_power: float = 0.8,
    topic_purity: float = 0.8,
    random_state=None,
) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """Generate extreme multi-label data (XMC) whose statistics match real sets.

    Built to resemble Amazon-670K or Wiki-500K at any size: a long tail of
    labels, a few labels a row, TF-IDF rows of about a hundred words, and
    labels tied to the words through latent topics, so that the task can be
    learned (and is not trivially separable).

    - Labels: label of popularity rank ``r`` is drawn with probability
      proportional to ``(r + 1) ** -label_power``; label ids are a random
      permutation of the ranks. With 5 labels a row and as many rows as
      labels, most labels have fewer than 10 positives.
    - Topics: each label belongs to one of ``n_topics`` topics (uniformly at
      random). A row draws its topic with probability proportional to the
      popularity of its labels, then ``1 + Poisson(labels_per_row - 1)``
      labels: each, with probability ``topic_purity``, from its topic (by
      popularity), otherwise from all labels. Repeated draws merge: with
      the defaults a row holds about 5 distinct labels.
    - Words: a row has about ``1.33 * nnz_per_row`` word tokens (Poisson): 25 %
      keywords of its labels (each label owns 8 hashed keywords), 35 % words
      of its topic (256 hashed words a topic, Zipf-like within it), 40 %
      background words Zipf-like over the whole vocabulary. Repeated tokens
      add up to term counts, weighted by the corpus's smoothed IDF; rows are
      L2-normalised. Stored entries: about ``nnz_per_row`` a row.

    Vectorised and drawn ``32,768`` rows at a time: 1e6 rows of 100 entries
    take about 25 s of one core and about ``12 * nnz`` bytes at peak.

    Parameters
    ----------
    n_samples : int, default=10000
        Rows, >= 1.
    n_labels : int, default=10000
        Labels, >= 1.
    n_features : int, default=131072
        Vocabulary size, >= 256.
    labels_per_row : float, default=6.0
        Mean labels drawn per row (before merging repeats), >= 1.
    nnz_per_row : float, default=100.0
        Mean stored entries per row, >= 1.
    n_topics : int or None, default=None
        Latent topics, in ``[1, n_labels]``. ``None``: ``ceil(n_labels / 100)``.
    label_power : float, default=0.8
        Power-law exponent of label popularity, >= 0 (0: uniform).
    topic_purity : float, default=0.8
        Probability that a label of a row comes from the row's topic, in ``[0, 1]``.
    random_state : int, numpy.random.Generator, numpy.random.RandomState or None, default=None
        Seed or generator; an int gives identical output on every call.

    Returns
    -------
    X : scipy.sparse.csr_matrix of float32, shape (n_samples, n_features)
        TF-IDF rows, unit L2 norm, sorted int32 indices.
    Y : scipy.sparse.csr_matrix of int64, shape (n_samples, n_labels)
        0/1 indicator, at least one label a row.

    Raises
    ------
    ValueError
        If a parameter is out of range; the message names it.

    See Also
    --------
    make_extreme_classification : single-label analogue.
    load_xc_repo : real XMC data in the Extreme Classification Repository format.

    Examples
    --------
    >>> from skmhe.datasets import make_xmc_multilabel
    >>> X, Y = make_xmc_multilabel(n_samples=1000, n_labels=5000, random_state=0)
    >>> X.shape, Y.shape, X.format, Y.format
    ((1000, 131072), (1000, 5000), 'csr', 'csr')
    """
    n_samples = check_int(n_samples, "n_samples", low=1)
    n_labels = check_int(n_labels, "n_labels", low=1)
    n_features = check_int(n_features, "n_features", low=TOPIC_WORDS)
    labels_per_row = check_real(labels_per_row, "labels_per_row", low=1.0)
    nnz_per_row = check_real(nnz_per_row, "nnz_per_row", low=1.0)
    n_topics = -(-n_labels // 100) if n_topics is None else check_int(n_topics, "n_topics", low=1, high=n_labels)
    label_power = check_real(label_power, "label_power", low=0.0)
    topic_purity = check_real(topic_purity, "topic_purity", low=0.0, high=1.0)
    rng = check_rng(random_state)
    law = _LabelLaw(n_labels, n_topics, label_power, rng)
    label_key, topic_key = (int(k) for k in rng.integers(0, 2**63, size=2))
    X_parts, Y_parts = [], []
    for r0 in range(0, n_samples, ROW_CHUNK):
        n = min(n_samples, r0 + ROW_CHUNK) - r0
        rows = np.arange(n, dtype=np.int32)
        topic = law.topic[law.positions(rng.random(n))]
        # labels: from the row's topic with probability topic_purity, else from all labels
        counts = 1 + rng.poisson(labels_per_row - 1.0, size=n)
        label_rows = np.repeat(rows, counts)
        t = topic[label_rows]
        u = rng.random(label_rows.shape[0])
        own = rng.random(label_rows.shape[0]) < topic_purity
        u[own] = law.lo[t[own]] + u[own] * (law.hi[t[own]] - law.lo[t[own]])
        labels = law.label[law.positions(u)]
        # words: keywords of the row's labels, words of its topic, background words
        tokens = rng.poisson(_TOKENS_PER_ENTRY * nnz_per_row, size=n)
        n_label = rng.binomial(tokens, LABEL_SHARE)
        n_topic = rng.binomial(tokens - n_label, TOPIC_SHARE / (1.0 - LABEL_SHARE))
        kw_rows = np.repeat(rows, n_label)
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
        which = starts[kw_rows] + (rng.random(kw_rows.shape[0]) * counts[kw_rows]).astype(np.int64)
        slots = rng.integers(0, LABEL_KEYWORDS, size=kw_rows.shape[0])
        keywords = hashed_keywords(labels[which], slots, LABEL_KEYWORDS, n_features, label_key)
        topic_rows = np.repeat(rows, n_topic)
        words = _log_uniform(rng, topic_rows.shape[0], TOPIC_WORDS)
        topic_words = hashed_keywords(topic[topic_rows], words, TOPIC_WORDS, n_features, topic_key)
        back_rows = np.repeat(rows, tokens - n_label - n_topic)
        background = _log_uniform(rng, back_rows.shape[0], n_features)
        X_rows = np.concatenate([kw_rows, topic_rows, back_rows])
        X_cols = np.concatenate([keywords, topic_words, background]).astype(np.int32)
        ones = np.ones(X_rows.shape[0], dtype=np.float32)
        X_parts.append(sp.csr_matrix((ones, (X_rows, X_cols)), shape=(n, n_features)))
        Y = sp.csr_matrix((np.ones(labels.shape[0], dtype=np.int64), (label_rows, labels)), shape=(n, n_labels))
        Y.sum_duplicates()
        Y.data[:] = 1
        Y_parts.append(Y)
    X = tfidf(sp.vstack(X_parts, format="csr", dtype=np.float32))
    del X_parts
    Y = sp.vstack(Y_parts, format="csr", dtype=np.int64)
    Y.sort_indices()
    return X, Y
