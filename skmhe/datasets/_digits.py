"""``load_digit_pairs``: a real 100-class task built from scikit-learn's bundled 8x8 digits."""

from __future__ import annotations

import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from ._validation import check_int, check_real, check_rng

__all__ = ["load_digit_pairs"]

N_LABELS = 100


def _draw_pairs(images: np.ndarray, digits: np.ndarray, n_pairs: int, rng: np.random.Generator):
    """``n_pairs`` two-image samples with balanced labels ``10 * a + b``, images drawn with replacement."""
    labels = rng.permutation(np.arange(n_pairs, dtype=np.int64) % N_LABELS)
    by_digit = np.argsort(digits, kind="stable")
    per_digit = np.bincount(digits, minlength=10)
    first = np.concatenate([[0], np.cumsum(per_digit)[:-1]])
    halves = []
    for digit in (labels // 10, labels % 10):
        pick = first[digit] + np.floor(rng.random(n_pairs) * per_digit[digit]).astype(np.int64)
        halves.append(images[by_digit[pick]])
    return np.hstack(halves), labels


def load_digit_pairs(
    n_train: int = 20000,
    n_test: int = 5000,
    *,
    test_size: float = 0.3,
    random_state=0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Two-digit numbers from pairs of handwritten digits: a real 100-class task.

    The 1,797 8x8 images of :func:`sklearn.datasets.load_digits` (bundled, no
    download) are split, stratified by digit, into train and test images. A
    sample is the concatenation of two images of digits ``a`` and ``b`` (128
    features: the first image's 64 pixels, then the second's, scaled to ``[0, 1]``)
    with label ``10 * a + b``. Train pairs use train images only and test pairs
    test images only, so no image is shared between the two. Labels are balanced
    (every one of the 100 labels appears ``n // 100`` or ``n // 100 + 1`` times,
    so all are present when ``n >= 100``) and in random order; for each sample the
    two images are drawn uniformly, with replacement, among the images of its
    digits.

    Parameters
    ----------
    n_train : int, default=20000
        Number of training pairs, >= 1.
    n_test : int, default=5000
        Number of test pairs, >= 1.
    test_size : float, default=0.3
        Fraction of the digit images reserved for the test pairs, in ``(0, 1)``;
        each split must keep at least one image of every digit.
    random_state : int, numpy.random.Generator, numpy.random.RandomState or None, default=0
        Seed of the image split and of the pairing. An int gives identical output
        on every call.

    Returns
    -------
    X_train : ndarray of shape (n_train, 128), dtype float32
    X_test : ndarray of shape (n_test, 128), dtype float32
    y_train : ndarray of shape (n_train,), dtype int64
        Labels in ``[0, 100)``.
    y_test : ndarray of shape (n_test,), dtype int64

    Raises
    ------
    ValueError
        If a parameter is out of range; the message names it.

    Examples
    --------
    >>> from skmhe.datasets import load_digit_pairs
    >>> X_train, X_test, y_train, y_test = load_digit_pairs(1000, 300)
    >>> X_train.shape, X_test.shape, len(set(y_test.tolist()))
    ((1000, 128), (300, 128), 100)
    """
    n_train = check_int(n_train, "n_train", low=1)
    n_test = check_int(n_test, "n_test", low=1)
    test_size = check_real(test_size, "test_size", low=0.0, high=1.0, low_open=True)
    if test_size >= 1.0:
        raise ValueError(f"test_size must be < 1, got {test_size}")
    rng = check_rng(random_state)
    digits = load_digits()
    images = (digits.data / 16.0).astype(np.float32)
    target = digits.target.astype(np.int64)
    split_seed = int(rng.integers(0, 2**32 - 1))
    try:
        img_train, img_test, dig_train, dig_test = train_test_split(
            images, target, test_size=test_size, stratify=target, random_state=split_seed
        )
    except ValueError as exc:
        raise ValueError(f"test_size={test_size} leaves a split without some digit: {exc}") from None
    for name, part in (("train", dig_train), ("test", dig_test)):
        if np.unique(part).shape[0] < 10:
            raise ValueError(f"test_size={test_size} leaves the {name} images without some digit")
    X_train, y_train = _draw_pairs(img_train, dig_train, n_train, rng)
    X_test, y_test = _draw_pairs(img_test, dig_test, n_test, rng)
    return X_train, X_test, y_train, y_test
