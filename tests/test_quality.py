"""Quality: the Multi-Head Product matches the dense softmax on a real 100-class task."""

import pytest

from skmhe import MHEClassifier
from skmhe.datasets import load_digit_pairs


@pytest.fixture(scope="module")
def digit_pairs():
    # label = 10 * a + b for two bundled digit images; train and test pairs come
    # from disjoint sets of images
    return load_digit_pairs(n_train=10000, n_test=3000, random_state=0)


def _accuracy(factors, data) -> float:
    X_train, X_test, y_train, y_test = data
    clf = MHEClassifier(
        factors=factors, method="product", hidden_layer_sizes=(256,), max_iter=15, batch_size=128, random_state=0
    ).fit(X_train, y_train)
    return clf.score(X_test, y_test)


def test_product_within_two_points_of_dense(digit_pairs):
    dense = _accuracy((100,), digit_pairs)
    product = _accuracy((10, 10), digit_pairs)
    assert dense > 0.85, f"dense baseline under-trained: {dense:.3f}"
    assert product >= dense - 0.02, f"MHP {product:.3f} vs dense {dense:.3f}"
