"""Batch prediction over chunked Dask arrays (needs ``dask[array]``).

``predict``, ``predict_proba`` and ``transform`` need nothing from here:
wrap a fitted estimator in ``dask_ml.wrappers.ParallelPostFit``, or call
``X.map_blocks(est.predict, drop_axis=1, dtype=est.classes_.dtype)``. This
module adds :func:`predict_topk`, whose two outputs ``map_blocks`` cannot
return. The estimator travels to the workers pickled: its network on the CPU
and no optimizer state; a worker with a GPU moves it there when the
estimator's ``device`` is ``"auto"``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from sklearn.utils.validation import check_is_fitted

if TYPE_CHECKING:  # pragma: no cover
    import dask.array as da

__all__ = ["predict_topk"]


def _import_dask():
    try:
        import dask
        import dask.array as darray
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "skmhe.dask needs dask: pip install 'dask[array]' (and 'distributed' for a cluster)"
        ) from exc
    return dask, darray


def _topk_block(estimator, block, k: int) -> tuple[np.ndarray, np.ndarray]:
    return estimator.predict_topk(block, k)


def predict_topk(estimator, X: da.Array, k: int = 5) -> tuple[da.Array, da.Array]:
    """``estimator.predict_topk(X, k)`` over the row chunks of a Dask array, lazily.

    Each row chunk is one task, which returns both outputs: compute them
    together (``dask.compute(labels, scores)``) to run it once.

    Parameters
    ----------
    estimator : MHEClassifier or MHEMultiLabelClassifier
        A fitted estimator (anything with ``predict_topk`` and ``classes_``).
    X : dask.array.Array of shape (n_samples, n_features)
        Dense chunks or ``scipy.sparse`` CSR chunks. Chunks along the features
        are merged first (every task needs whole rows).
    k : int, default=5
        Number of labels per row, ``1 <= k <= n_classes``.

    Returns
    -------
    labels : dask.array.Array of shape (n_samples, k)
        The labels of each row, best first, with the dtype of ``classes_``.
    scores : dask.array.Array of float64, shape (n_samples, k)
        Their probabilities (scores for a multi-label model).

    Raises
    ------
    NotFittedError
        When ``estimator`` is not fitted.
    ValueError
        When ``X`` is not two-dimensional or ``k`` is out of range (checked
        here, before any task runs).

    Examples
    --------
    >>> import dask, dask.array as da
    >>> from skmhe import MHEClassifier
    >>> from skmhe.dask import predict_topk
    >>> from skmhe.datasets import make_extreme_classification
    >>> X, y = make_extreme_classification(n_samples=500, n_classes=20, random_state=0)
    >>> clf = MHEClassifier(max_iter=2, random_state=0).fit(X, y)
    >>> labels, scores = predict_topk(clf, da.from_array(X, chunks=(100, -1)), k=3)
    >>> labels, scores = dask.compute(labels, scores)
    >>> labels.shape
    (500, 3)
    """
    dask, darray = _import_dask()
    check_is_fitted(estimator)
    k = estimator._check_k(k)
    if X.ndim != 2:
        raise ValueError(f"X must be a 2-D dask array, got {X.ndim} dimensions")
    if X.numblocks[1] > 1:
        X = X.rechunk({1: -1})
    # one key for the estimator: pickled once, not once per chunk
    model = dask.delayed(estimator, pure=True)
    tasks = [
        dask.delayed(_topk_block, nout=2, pure=True)(model, block, k)
        for block in X.to_delayed()[:, 0]
    ]
    label_dtype = np.asarray(estimator.classes_).dtype

    def stack(index: int, dtype) -> da.Array:
        parts = [
            darray.from_delayed(task[index], (n, k), dtype=dtype, meta=np.empty((0, 0), dtype))
            for task, n in zip(tasks, X.chunks[0])
        ]
        return darray.concatenate(parts, axis=0)

    return stack(0, label_dtype), stack(1, np.float64)
