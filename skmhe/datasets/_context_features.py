"""One-hot encoding of the previous words of each token: a sparse (n, context * V) matrix."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

__all__ = ["context_features"]


def context_features(ids: np.ndarray, context: int, n_words: int, pad_id: int) -> sp.csr_matrix:
    """Sparse one-hot features of the ``context`` tokens preceding each token of ``ids``.

    Row ``t`` has exactly ``context`` ones, at columns ``p * n_words + ids[t - context + p]``
    for ``p = 0, ..., context - 1`` (block ``context - 1`` holds the immediately preceding
    word); positions before the start of ``ids`` hold ``pad_id``. Multiplying by a
    ``(context * n_words, d)`` matrix is a lookup of ``context`` concatenated word
    embeddings.

    Parameters
    ----------
    ids : ndarray of shape (n,), int
        Token ids in ``[0, n_words)``.
    context : int
        Number of preceding tokens, >= 1.
    n_words : int
        Vocabulary size.
    pad_id : int
        Id used before the first token.

    Returns
    -------
    X : scipy.sparse.csr_matrix of shape (n, context * n_words), dtype float32
        Canonical CSR (sorted indices, no duplicates).
    """
    n = ids.shape[0]
    padded = np.concatenate([np.full(context, pad_id, dtype=np.int64), ids.astype(np.int64)])
    windows = np.lib.stride_tricks.sliding_window_view(padded, context)[:n]  # row t: ids[t-context:t]
    index_dtype = np.int32 if context * n_words <= np.iinfo(np.int32).max else np.int64
    offsets = np.arange(context, dtype=np.int64) * n_words
    indices = (windows + offsets).astype(index_dtype).ravel()
    indptr = np.arange(0, n * context + 1, context, dtype=np.int64)
    if indptr[-1] <= np.iinfo(np.int32).max and index_dtype == np.int32:
        indptr = indptr.astype(np.int32)
    data = np.ones(n * context, dtype=np.float32)
    return sp.csr_matrix((data, indices, indptr), shape=(n, context * n_words), copy=False)
