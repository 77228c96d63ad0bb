"""scikit-learn's own estimator checks on MHEClassifier."""

from sklearn.utils.estimator_checks import parametrize_with_checks

from skmhe import MHEClassifier

# Each entry: check name -> why it is expected to fail.
EXPECTED_FAILURES: dict[str, str] = {}


def _expected_failed_checks(estimator):
    return EXPECTED_FAILURES


@parametrize_with_checks(
    [MHEClassifier(hidden_layer_sizes=(32,), max_iter=100, random_state=0)],
    expected_failed_checks=_expected_failed_checks,
)
def test_sklearn_compatible(estimator, check):
    check(estimator)
