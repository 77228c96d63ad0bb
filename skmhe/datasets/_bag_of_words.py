"""Sparse features of the synthetic generator: TF-IDF-like bags of class keywords and background words."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from sklearn.preprocessing import normalize

__all__ = ["bag_of_words", "hashed_keywords", "tfidf"]

ROW_CHUNK = 1 << 14  # rows drawn at a time (fixed: the output depends only on the seed)

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)


def _splitmix64(x: np.ndarray) -> np.ndarray:
    """SplitMix64 finaliser, elementwise on uint64 (wrapping arithmetic), computed in place on a copy."""
    z = x + _GOLDEN
    tmp = np.empty_like(z)
    for shift, mult in ((30, _MIX1), (27, _MIX2)):
        np.right_shift(z, np.uint64(shift), out=tmp)
        z ^= tmp
        z *= mult
    np.right_shift(z, np.uint64(31), out=tmp)
    z ^= tmp
    return z


def hashed_keywords(
    classes: np.ndarray, slots: np.ndarray, n_keywords: int, n_features: int, key: int
) -> np.ndarray:
    """Feature id of keyword ``slot`` of class ``classes``: a seeded hash, so nothing is stored per class.

    Parameters
    ----------
    classes, slots : ndarray of int
        Class ids and keyword slots in ``[0, n_keywords)``, same shape.
    n_keywords, n_features : int
        Keywords per class and vocabulary size.
    key : int
        Hash seed in ``[0, 2**64)``.

    Returns
    -------
    ndarray of int64, same shape, values in ``[0, n_features)``
    """
    x = classes.astype(np.uint64) * np.uint64(n_keywords) + slots.astype(np.uint64)
    return (_splitmix64(x ^ np.uint64(key)) % np.uint64(n_features)).astype(np.int64)


def bag_of_words(
    y: np.ndarray,
    n_features: int,
    n_keywords: int,
    keyword_prob: float,
    mean_words: float,
    rng: np.random.Generator,
) -> sp.csr_matrix:
    """Draw TF-IDF-like rows for labels ``y``.

    Each class owns ``n_keywords`` keyword features (hashed from the class id). A row has
    ``1 + Poisson(mean_words - 1)`` word tokens; each token is, with probability
    ``keyword_prob``, a keyword of the row's class chosen uniformly, otherwise a background
    word drawn from a Zipf-like (log-uniform) law over the whole vocabulary, feature ``r``
    having probability ``log(1 + 1 / (r + 1)) / log(n_features + 1)`` (feature 0 the most
    frequent).
    Repeated tokens add up to term frequencies; the matrix is then weighted by the smoothed
    inverse document frequency of the generated corpus (as ``TfidfTransformer`` does) and
    rows are L2-normalised.

    Parameters
    ----------
    y : ndarray of shape (n_samples,), int
        Class of each row.
    n_features, n_keywords : int
        Vocabulary size and keywords per class.
    keyword_prob : float
        Probability that a token is one of the class's keywords.
    mean_words : float
        Mean number of tokens per row, >= 1.
    rng : numpy.random.Generator
        Source of randomness.

    Returns
    -------
    X : scipy.sparse.csr_matrix of shape (n_samples, n_features), dtype float32
        Canonical CSR (sorted indices, no duplicates), int32 indices.
    """
    n_samples = y.shape[0]
    key = int(rng.integers(0, 2**63))
    log_span = np.log(n_features + 1.0)
    chunks = []
    for r0 in range(0, n_samples, ROW_CHUNK):
        r1 = min(n_samples, r0 + ROW_CHUNK)
        rows = np.arange(r1 - r0, dtype=np.int32)
        lengths = 1 + rng.poisson(mean_words - 1.0, size=r1 - r0)
        n_keyword = rng.binomial(lengths, keyword_prob)
        keyword_rows = np.repeat(rows, n_keyword)
        slots = rng.integers(0, n_keywords, size=keyword_rows.shape[0])
        keywords = hashed_keywords(y[r0:r1][keyword_rows], slots, n_keywords, n_features, key)
        background_rows = np.repeat(rows, lengths - n_keyword)
        # log-uniform (Zipf-like) background: P(word = r) = log(1 + 1 / (r + 1)) / log(n_features + 1)
        background = np.exp(rng.random(background_rows.shape[0]) * log_span).astype(np.int64) - 1
        np.clip(background, 0, n_features - 1, out=background)
        tokens = np.concatenate([keyword_rows, background_rows])
        words = np.concatenate([keywords, background]).astype(np.int32)
        ones = np.ones(tokens.shape[0], dtype=np.float32)
        # COO -> CSR sums repeated (row, word) pairs into term frequencies
        chunks.append(sp.coo_matrix((ones, (tokens, words)), shape=(r1 - r0, n_features)).tocsr())
    X = sp.vstack(chunks, format="csr", dtype=np.float32)
    del chunks
    return tfidf(X)


def tfidf(X: sp.csr_matrix) -> sp.csr_matrix:
    """Term counts to TF-IDF, in place: smoothed IDF of the corpus ``X`` (as
    ``TfidfTransformer``), then L2-normalised rows; canonical CSR."""
    X.sum_duplicates()  # canonical: sorted indices, no duplicates (no-op when already so)
    document_freq = np.bincount(X.indices, minlength=X.shape[1])
    idf = (np.log((1.0 + X.shape[0]) / (1.0 + document_freq)) + 1.0).astype(np.float32)
    X.data *= idf[X.indices]
    return normalize(X, norm="l2", copy=False)
