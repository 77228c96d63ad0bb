"""Temperature scaling (``MHEClassifier(calibration=...)``) and the top-1 calibration error.

Small generated problems: a short training leaves the model under-confident, which the
temperatures fitted on the validation split must correct, for every method.
"""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch
from sklearn.utils._param_validation import InvalidParameterError
from test_methods import check_outputs

from skmhe import MHEClassifier, _radix
from skmhe._calibration import BOUND, fit_log_temperatures
from skmhe.datasets import make_extreme_classification
from skmhe.metrics import expected_calibration_error
from skmhe.nn import ProductHead, SamplingHead, SingleLabelHead, SoftmaxCascadeHead

pytestmark = pytest.mark.usefixtures("one_thread")  # tiny networks

#: method -> extra parameters; "dense" is the one-factor model
METHODS = {"product": {}, "cascade": {}, "sampling": {}, "dense": {"factors": (24,)}}
N_CLASSES = 24


# --------------------------------------------------------------------------- the metric


def test_ece_of_two_bins_by_hand():
    # 0.9 lies in bin (13/15, 14/15], 0.3 in (4/15, 5/15]: each bin holds half the rows.
    # Bin of 0.9: both right, accuracy 1, gap 0.1; bin of 0.3: both wrong, gap 0.3.
    y_true, y_pred, conf = [0, 1, 2, 3], [0, 1, 9, 9], [0.9, 0.9, 0.3, 0.3]
    assert expected_calibration_error(y_true, y_pred, conf) == pytest.approx(0.5 * 0.1 + 0.5 * 0.3)
    # one bin: |accuracy - mean confidence| = |0.5 - 0.6|
    assert expected_calibration_error(y_true, y_pred, conf, n_bins=1) == pytest.approx(0.1)


def test_ece_averages_confidences_within_a_bin_and_keeps_the_ends():
    # 0.61 and 0.65 share the bin (9/15, 10/15]: mean confidence 0.63, accuracy 1/2
    assert expected_calibration_error([1, 1], [1, 0], [0.61, 0.65]) == pytest.approx(0.13)
    # confidence 1 falls in the last bin and 0 in the first: |1 - 1| and |0 - 0|
    assert expected_calibration_error([1, 2], [1, 0], [1.0, 0.0]) == 0.0
    # calibrated: 7 right out of 10 at confidence 0.7
    right = np.arange(10) < 7
    ece = expected_calibration_error(np.zeros(10), np.where(right, 0, 1), np.full(10, 0.7))
    assert ece == pytest.approx(0.0)


def test_ece_takes_the_first_column_of_topk_arrays():
    labels = np.array([[0, 5], [9, 1]])
    proba = np.array([[0.9, 0.05], [0.6, 0.3]])
    # row 0 right at 0.9 (gap 0.1), row 1 wrong at 0.6 (gap 0.6), in different bins
    assert expected_calibration_error([0, 1], labels, proba) == pytest.approx((0.1 + 0.6) / 2)


@pytest.mark.parametrize(
    "args, kwargs, match",
    [
        (([0, 1], [0], [0.5, 0.5]), {}, "same length"),
        (([0], [0], [1.5]), {}, r"\[0, 1\]"),
        (([0], [0], [np.nan]), {}, r"\[0, 1\]"),
        (([], [], []), {}, "at least one"),
        (([0], [0], [0.5]), {"n_bins": 0}, "n_bins"),
        (([[[0]]], [0], [0.5]), {}, "y_true must be 1-D"),
    ],
)
def test_ece_refuses_bad_input(args, kwargs, match):
    with pytest.raises(ValueError, match=match):
        expected_calibration_error(*args, **kwargs)


# --------------------------------------------------------------------------- the heads


def single_label_heads(seed=0):
    g = torch.Generator().manual_seed(seed)
    factors, n_classes, d = (4, 3), 11, 5
    return [
        ProductHead(d, factors, n_classes, generator=g),
        SoftmaxCascadeHead(d, factors, n_classes, 4, 4, generator=g),
        SoftmaxCascadeHead(d, (n_classes,), n_classes, 4, 4, generator=g),
        SamplingHead(d, factors, n_classes, 2, generator=g),
    ]


def _identity_temperatures(monkeypatch):
    """The heads as they were before temperatures: no division anywhere."""
    monkeypatch.setattr(SingleLabelHead, "tempered", lambda self, logits, softmax=0: logits)
    monkeypatch.setattr(ProductHead, "tempered_logits", lambda self, features: self(features))


@pytest.mark.parametrize("index", range(4))
def test_temperature_one_changes_no_bit(index, monkeypatch):
    head = single_label_heads()[index]
    x = torch.randn(7, 5, dtype=torch.float64)
    codes = torch.stack(_radix.codes_to_digits(torch.arange(7) % head.n_classes, head.factors), dim=1)
    outputs = lambda: (*head.topk(x, 3), head.log_proba(x), head.log_likelihood(x, codes))  # noqa: E731
    assert torch.equal(head.log_temperature, torch.zeros_like(head.log_temperature))
    tempered = outputs()
    _identity_temperatures(monkeypatch)
    for got, before in zip(tempered, outputs()):
        assert torch.equal(got, before)


@pytest.mark.parametrize("index", range(4))
def test_temperatures_apply_to_every_output_alike(index):
    head = single_label_heads()[index]
    x = torch.randn(7, 5, dtype=torch.float64)
    before = head.log_proba(x)
    with torch.no_grad():
        head.log_temperature.copy_(torch.linspace(-0.7, 0.9, head.log_temperature.numel()))
    log_proba = head.log_proba(x)
    assert not torch.allclose(log_proba, before)
    torch.testing.assert_close(torch.logsumexp(log_proba, dim=1), torch.zeros(7, dtype=torch.float64))
    values, top = head.topk(x, head.n_classes)
    torch.testing.assert_close(values, log_proba.gather(1, top))
    codes = torch.stack(_radix.codes_to_digits(top[:, 0], head.factors), dim=1)
    torch.testing.assert_close(head.log_likelihood(x, codes), values[:, 0])
    # the training loss ignores them (the sampled groups drawn alike)
    loss = lambda: (head.sampler.manual_seed(0) if isinstance(head, SamplingHead) else None,  # noqa: E731
                    head.loss(x.float(), codes))[1]
    tempered = loss()
    with torch.no_grad():
        head.log_temperature.zero_()
    assert torch.equal(tempered, loss())


def draw_codes(head, x, log_temperature, seed=0):
    """Digit rows drawn from the head's distribution at the given log-temperatures."""
    with torch.no_grad():
        head.log_temperature.fill_(log_temperature)
        proba = head.log_proba(x).exp()
        head.log_temperature.zero_()
    drawn = torch.multinomial(proba, 1, generator=torch.Generator().manual_seed(seed))[:, 0]
    return torch.stack(_radix.codes_to_digits(drawn, head.factors), dim=1)


@pytest.mark.parametrize("index", range(4))
def test_fitted_temperatures_find_the_temperature_of_the_labels(index):
    head = single_label_heads()[index]
    x = 3 * torch.randn(2000, 5, dtype=torch.float64)
    codes = draw_codes(head, x, np.log(0.5))  # labels of a sharper model: T = 0.5
    nll = lambda: -head.log_likelihood(x, codes).mean()  # noqa: E731
    before = nll()
    log_t = fit_log_temperatures(head, [(x[:1500], codes[:1500]), (x[1500:], codes[1500:])])
    assert not head.log_temperature.any()  # the head is left alone
    np.testing.assert_allclose(log_t.exp(), 0.5, rtol=0.25)
    with torch.no_grad():
        head.log_temperature.copy_(log_t)
    assert nll() < before


def test_temperatures_stay_bounded_when_the_labels_are_the_models_own():
    head = single_label_heads()[3]  # one softmax: its argmax is the top-1
    x = torch.randn(50, 5, dtype=torch.float64)
    codes = torch.stack(_radix.codes_to_digits(head.topk(x, 1)[1][:, 0], head.factors), dim=1)
    log_t = fit_log_temperatures(head, [(x, codes)])
    assert -np.log(BOUND) - 1e-9 <= float(log_t[0]) < -3  # sharper is always better: to the bound


# --------------------------------------------------------------------------- the estimator


@pytest.fixture(scope="module")
def data():
    X, y = make_extreme_classification(
        n_samples=900, n_features=30, n_classes=N_CLASSES, class_sep=2.0, random_state=0
    )
    return X[:600], y[:600], X[600:], y[600:]


def short(method, **kw):
    """A short training: under-confident probabilities, a 20 % validation split."""
    params = dict(
        method="cascade" if method == "dense" else method,
        hidden_layer_sizes=(16,),
        max_iter=3,
        batch_size=32,
        learning_rate_init=1e-2,
        early_stopping=True,
        validation_fraction=0.2,
        random_state=0,
        n_candidate_groups=N_CLASSES,
        embedding_size=8,
        n_sampled_groups=2,
        **METHODS[method],
    )
    params.update(kw)
    return MHEClassifier(**params)


@pytest.fixture(scope="module")
def fitted(data):
    X, y = data[:2]
    return {(m, c): short(m, calibration=c).fit(X, y) for m in METHODS for c in ("auto", None)}


@pytest.mark.parametrize("method", METHODS)
def test_calibration_lowers_held_out_nll(fitted, data, method):
    X, y, X_test, y_test = data
    raw, cal = fitted[method, None], fitted[method, "auto"]
    assert np.array_equal(raw.temperatures_, np.ones_like(cal.temperatures_))
    assert cal.temperatures_.shape == (1 if method in ("sampling", "dense") else 2,)
    assert (cal.temperatures_ < 1).all()  # it was under-confident
    # the objective, on held-out rows (the ECE of 300 rows is too noisy to assert on)
    assert -cal.log_likelihood(X_test, y_test).mean() < -raw.log_likelihood(X_test, y_test).mean()
    check_outputs(cal, X_test, y_test, min_score=0.4)  # rows sum to 1, every output agrees


@pytest.mark.parametrize("method", METHODS)
def test_uncalibrated_is_the_calibrated_network_at_temperature_one(fitted, data, method):
    X_test = data[2]
    raw, cal = fitted[method, None], pickle.loads(pickle.dumps(fitted[method, "auto"]))
    with torch.no_grad():  # calibration runs after training: the networks are the same
        cal.network_.head.log_temperature.zero_()
    assert np.array_equal(cal.predict_proba(X_test), raw.predict_proba(X_test))


def test_pickling_keeps_the_temperatures(fitted, data):
    X_test = data[2]
    clf = fitted["product", "auto"]
    loaded = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(loaded.temperatures_, clf.temperatures_)
    assert torch.equal(loaded.network_.head.log_temperature, clf.network_.head.log_temperature)
    assert np.array_equal(loaded.predict_proba(X_test), clf.predict_proba(X_test))


def test_partial_fit_resets_and_warm_start_refits_the_temperatures(fitted, data):
    X, y = data[:2]
    clf = pickle.loads(pickle.dumps(fitted["product", "auto"]))
    clf.partial_fit(X, y)
    np.testing.assert_array_equal(clf.temperatures_, [1.0, 1.0])
    assert not clf.network_.head.log_temperature.any()
    clf.set_params(warm_start=True, max_iter=1).fit(X, y)
    assert (clf.temperatures_ != 1.0).all()


def test_no_validation_split(data):
    X, y = data[:2]
    auto = short("product", early_stopping="auto", max_iter=1).fit(X, y)  # 600 rows: no split
    np.testing.assert_array_equal(auto.temperatures_, [1.0, 1.0])
    before = auto.predict_proba(X)
    with pytest.raises(ValueError, match="calibration='temperature'.*early_stopping=True"):
        auto.set_params(calibration="temperature").fit(X, y)
    assert np.array_equal(auto.predict_proba(X), before)  # the failed fit left the model as it was


def test_invalid_calibration_is_refused(data):
    with pytest.raises(InvalidParameterError, match="calibration"):
        short("product", calibration="isotonic").fit(*data[:2])


@pytest.mark.parametrize("method", ["product", "cascade", "sampling"])
def test_a_head_pickled_before_temperatures_loads_at_temperature_one(method):
    """An old pickle (no ``log_temperature`` buffer) predicts as it did, temperatures of 1."""
    X, y = np.random.RandomState(0).randn(60, 4), np.arange(60) % 7
    clf = MHEClassifier(method=method, hidden_layer_sizes=(8,), max_iter=2, random_state=0).fit(X, y)
    head = clf.network_.head
    expected = clf.predict_proba(X)
    del head._buffers["log_temperature"]
    del head.n_softmaxes  # neither existed in a model pickled before temperatures
    loaded = pickle.loads(pickle.dumps(clf))
    n_softmaxes = {"product": 2, "cascade": 2, "sampling": 1}[method]
    np.testing.assert_array_equal(loaded.network_.head.log_temperature.numpy(), np.zeros(n_softmaxes))
    np.testing.assert_array_equal(loaded.predict_proba(X), expected)
