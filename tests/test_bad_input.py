"""Bad input and failed fits: every refusal is a clear error, and a failed call changes nothing.

Each case asserts the exception type and a message naming the problem. Calls
that fail on a fitted model must leave its predictions (and ``predict_proba``)
bit-identical; a first fit that fails must leave the estimator unfitted.
"""

from __future__ import annotations

import copy
import functools
import time
from contextlib import contextmanager

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.exceptions import DataConversionWarning, NotFittedError

from skmhe import MHEClassifier, MHEMultiLabelClassifier
from skmhe import _training
from skmhe._validation import FLOAT32_MAX, format_bytes
from skmhe.codec import LabelCodec
from skmhe.datasets import load_mulan, load_xc_repo, make_extreme_classification
from skmhe.metrics import inverse_propensity, precision_at_k
from skmhe.ops import kronecker_topk, multi_head_cross_entropy

pytestmark = [
    pytest.mark.usefixtures("one_thread"),
    pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning"),
]

METHODS = ("product", "cascade", "sampling")
PREDICTIONS = (
    "predict", "predict_proba", "predict_log_proba", "decision_function", "transform", "predict_topk"
)
FAST = dict(hidden_layer_sizes=(8,), max_iter=2, random_state=0)
FLOAT32_MESSAGE = r"beyond the float32 range in column {}"
DEVICE_MESSAGE = r"device must be 'auto', 'cpu', 'cuda' or 'cuda:N'"

_rng = np.random.RandomState(0)
X = _rng.randn(40, 5)
y = _rng.randint(0, 6, 40)
_dense_Y = (_rng.rand(40, 7) < 0.3).astype(int)
_dense_Y[np.arange(40), np.arange(40) % 7] = 1
Y = sp.csr_matrix(_dense_Y)


# --------------------------------------------------------------------------- helpers


@functools.lru_cache(maxsize=None)
def _fitted_once(kind: str):
    if kind == "multilabel":
        return MHEMultiLabelClassifier(**FAST).fit(X, Y)
    return MHEClassifier(method=kind, **FAST).fit(X, y)


def fitted(kind: str):
    """A fitted model of ``kind`` (a method of MHEClassifier, or "multilabel"), a private copy."""
    return copy.deepcopy(_fitted_once(kind))


def _outputs(model) -> list[np.ndarray]:
    pred = model.predict(X)
    pred = pred.toarray() if sp.issparse(pred) else np.asarray(pred)
    return [pred, model.predict_proba(X)]


@contextmanager
def unchanged(model):
    """Assert that ``model``'s attributes and outputs are bit-identical after the block."""
    names, classes = sorted(vars(model)), model.classes_.copy()
    before = _outputs(model)
    yield
    assert sorted(vars(model)) == names
    np.testing.assert_array_equal(model.classes_, classes)
    for old, new in zip(before, _outputs(model)):
        assert old.dtype == new.dtype and old.shape == new.shape
        assert old.tobytes() == new.tobytes()


def assert_unfitted(model) -> None:
    with pytest.raises(NotFittedError):
        model.predict(X)


def _call(model, method: str, X_):
    if method == "predict_topk":
        return model.predict_topk(X_, k=2)
    return getattr(model, method)(X_)


def _beyond_float32(column: int, sparse: bool, value: float = 1e39):
    X_ = X.copy()
    X_[3, column] = value
    return sp.csr_matrix(X_) if sparse else X_


# --------------------------------------------------------------------------- 1. values beyond float32


@pytest.mark.parametrize("kind", METHODS + ("multilabel",))
@pytest.mark.parametrize("sparse", [False, True])
def test_beyond_float32_refused_at_fit_and_leaves_unfitted(kind, sparse):
    model = MHEMultiLabelClassifier(**FAST) if kind == "multilabel" else MHEClassifier(method=kind, **FAST)
    target = Y if kind == "multilabel" else y
    with pytest.raises(ValueError, match=FLOAT32_MESSAGE.format(2)):
        model.fit(_beyond_float32(2, sparse), target)
    assert_unfitted(model)


@pytest.mark.parametrize("kind", METHODS)
@pytest.mark.parametrize("sparse", [False, True])
def test_beyond_float32_refused_by_every_prediction_method(kind, sparse):
    model = fitted(kind)
    bad = _beyond_float32(4, sparse, value=-1e300)
    with unchanged(model):
        for method in PREDICTIONS:
            with pytest.raises(ValueError, match=FLOAT32_MESSAGE.format(4)):
                _call(model, method, bad)
        with pytest.raises(ValueError, match=FLOAT32_MESSAGE.format(4)):
            model.log_likelihood(bad, y)
        with pytest.raises(ValueError, match=FLOAT32_MESSAGE.format(4)):
            model.score(bad, y)


@pytest.mark.parametrize("sparse", [False, True])
def test_beyond_float32_refused_by_multilabel_predictions(sparse):
    model = fitted("multilabel")
    bad = _beyond_float32(0, sparse)
    with unchanged(model):
        for method in ("predict", "predict_proba", "decision_function", "predict_topk"):
            with pytest.raises(ValueError, match=FLOAT32_MESSAGE.format(0)):
                _call(model, method, bad)
        with pytest.raises(ValueError, match=FLOAT32_MESSAGE.format(0)):
            model.score(bad, Y)


def test_beyond_float32_message_names_the_feature():
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame(_beyond_float32(1, False), columns=list("abcde"))
    with pytest.raises(ValueError, match=r"column 1 \('b'\).*limit is \+-3.4028235e\+38"):
        MHEClassifier(**FAST).fit(frame, y)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    row=st.integers(0, 39),
    column=st.integers(0, 4),
    value=st.floats(min_value=3.5e38, max_value=1.7e308) | st.floats(min_value=-1.7e308, max_value=-3.5e38),
    sparse=st.booleans(),
)
def test_beyond_float32_any_position(row, column, value, sparse):
    X_ = X.copy()
    X_[row, column] = value
    X_ = sp.csr_matrix(X_) if sparse else X_
    model = _fitted_once("product")
    with pytest.raises(ValueError, match=FLOAT32_MESSAGE.format(column)):
        model.predict(X_)


def test_float32_limit_itself_is_accepted():
    model = fitted("product")
    X_ = X.copy()
    X_[0, 0] = FLOAT32_MAX
    assert model.predict(X_).shape == (40,)


# --------------------------------------------------------------------------- 2. atomic fits


@pytest.mark.parametrize("kind", METHODS)
def test_refused_refit_keeps_the_previous_model(kind):
    model = fitted(kind)
    model.set_params(factors=(2, 2))
    with unchanged(model):
        with pytest.raises(ValueError, match=r"factors \(2, 2\) give 4 codes, fewer than the 9 classes"):
            model.fit(X, np.arange(40) % 9)


def test_refused_refit_with_other_features_keeps_n_features_in():
    model = fitted("multilabel")
    with unchanged(model):
        with pytest.raises(ValueError, match="no positive label"):
            model.fit(np.ones((40, 9)), sp.csr_matrix((40, 7)))
    assert model.n_features_in_ == 5


@pytest.mark.parametrize("kind", METHODS + ("multilabel",))
def test_interrupted_network_build_keeps_the_previous_model(kind, monkeypatch):
    model = fitted(kind)

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(type(model), "_make_network", interrupted)
    target = Y if kind == "multilabel" else np.arange(40) % 9  # new classes
    with unchanged(model):
        with pytest.raises(KeyboardInterrupt):
            model.fit(X, target)


@pytest.mark.parametrize("kind", METHODS)
def test_failed_first_fit_and_partial_fit_leave_unfitted(kind):
    model = MHEClassifier(method=kind, factors=(2, 2), **FAST)
    with pytest.raises(ValueError, match="fewer than the 6 classes"):
        model.fit(X, y)
    assert_unfitted(model)
    with pytest.raises(ValueError, match="fewer than the 6 classes"):
        model.partial_fit(X, y, classes=np.arange(6))
    assert_unfitted(model)
    assert not [k for k in vars(model) if k.endswith("_") or k == "_optimizer"]


def _epoch_then(exc):
    """A ``Trainer.train_epoch`` that trains, then raises ``exc``: weights already moved."""
    original = _training.Trainer.train_epoch

    def train_epoch(self, X_, targets):
        original(self, X_, targets)
        raise exc

    return train_epoch


@pytest.mark.parametrize("exc", [FloatingPointError("loss became nan"), MemoryError("out of memory")])
@pytest.mark.parametrize("warm_start", [False, True])
def test_failed_continued_training_restores_weights_and_optimizer(exc, warm_start, monkeypatch):
    model = fitted("product").set_params(warm_start=warm_start)
    model.partial_fit(X, y)  # Adam moments exist
    reference = copy.deepcopy(model)
    with monkeypatch.context() as patch:
        patch.setattr(_training.Trainer, "train_epoch", _epoch_then(exc))
        with unchanged(model):
            with pytest.raises(type(exc)):
                model.partial_fit(X, y)
            with pytest.raises(type(exc)):
                model.fit(X, y)
    assert model.n_iter_ == reference.n_iter_ and model.loss_curve_ == reference.loss_curve_
    model.partial_fit(X, y)
    reference.partial_fit(X, y)  # same optimizer state: the same next step
    assert model.predict_proba(X).tobytes() == reference.predict_proba(X).tobytes()


def test_failed_first_training_leaves_unfitted(monkeypatch):
    monkeypatch.setattr(_training.Trainer, "train_epoch", _epoch_then(FloatingPointError("nan")))
    model = MHEMultiLabelClassifier(**FAST)
    with pytest.raises(FloatingPointError):
        model.fit(X, Y)
    assert_unfitted(model)


# --------------------------------------------------------------------------- labels


def test_partial_fit_classes_change_names_the_difference():
    model = MHEClassifier(**FAST).partial_fit(X, y, classes=np.arange(20))
    with unchanged(model):
        with pytest.raises(ValueError, match=r"2 labels added: \[20, 21\]$"):
            model.partial_fit(X, y, classes=np.arange(22))
        with pytest.raises(ValueError, match=r"1 label removed: \[19\]$"):
            model.partial_fit(X, y, classes=np.arange(19))
        with pytest.raises(ValueError, match=r"12 labels added: \[100, .*109, \.\.\.\]; 1 label removed"):
            model.partial_fit(X, y, classes=np.r_[np.arange(19), np.arange(100, 112)])


def test_partial_fit_first_call_needs_classes_and_seen_labels():
    model = MHEClassifier(**FAST)
    with pytest.raises(ValueError, match="classes must be passed on the first call"):
        model.partial_fit(X, y)
    with pytest.raises(ValueError, match=r"labels not seen in classes_: \[5\]"):
        model.partial_fit(X, y, classes=np.arange(5))
    assert_unfitted(model)


@pytest.mark.parametrize("kind", METHODS)
def test_unseen_labels_in_later_partial_fit_and_warm_start(kind):
    model = fitted(kind)
    with unchanged(model):
        with pytest.raises(ValueError, match=r"labels not seen in classes_: \[7\]"):
            model.partial_fit(X, np.where(y == 0, 7, y))
        model.set_params(warm_start=True)
        with pytest.raises(ValueError, match=r"warm_start .* new labels: \[9\]"):
            model.fit(X, np.where(y == 0, 9, y))


_label_kinds = st.sampled_from(
    [
        ("continuous", lambda r: r.rand(40)),
        ("continuous", lambda r: r.rand(40) + r.randint(0, 3, 40)),
        ("continuous-multioutput", lambda r: r.rand(40, 2)),
        ("multilabel-indicator", lambda r: (r.rand(40, 3) < 0.5).astype(int)),
        ("multiclass-multioutput", lambda r: r.randint(0, 4, (40, 2))),
    ]
)


@settings(max_examples=10, deadline=None)
@given(kind=_label_kinds, seed=st.integers(0, 2**16))
def test_unsupported_label_kinds(kind, seed):
    name, make = kind
    model = _fitted_once("cascade")
    labels = make(np.random.RandomState(seed))
    if name == "multilabel-indicator" and np.unique(labels, axis=0).shape[0] == 1:
        return
    with unchanged(model):
        with pytest.raises(ValueError, match=rf"(Unknown label type: {name}|y should be a 1d array)"):
            model.fit(X, labels)


@pytest.mark.parametrize(
    "bad_Y, message",
    [
        (np.full((40, 3), 2), r"dense Y must hold only 0 and 1, found \[2"),
        (sp.csr_matrix(np.full((40, 3), 0.5)), r"sparse Y must hold only 0 and 1"),
        (np.zeros((40, 3), dtype=int), "no positive label at all"),
        (np.ones((39, 3), dtype=int), "Y has 39 rows but X has 40 samples"),
        (np.ones((40, 3, 1), dtype=int), r"1-D labels or a 2-D indicator, got shape \(40, 3, 1\)"),
        (np.full((40, 3), np.nan), "Y contains NaN or infinity"),
        (np.full((40, 3), "a"), "numeric 0/1 indicator"),
        (None, "requires y to be passed"),
    ],
)
def test_multilabel_bad_Y(bad_Y, message):
    model = fitted("multilabel")
    with unchanged(model):
        with pytest.raises(ValueError, match=message):
            model.fit(X, bad_Y)
        with pytest.raises(ValueError, match=message):
            MHEMultiLabelClassifier(**FAST).fit(X, bad_Y)


def test_multilabel_column_vector_warns():
    model = MHEMultiLabelClassifier(**FAST)
    with pytest.warns(DataConversionWarning, match="column-vector y was passed"):
        model.fit(X, (y[:, None] > 2).astype(int))
    assert model.y_format_ == "multiclass"


def test_multilabel_warm_start_needs_same_labels():
    model = fitted("multilabel").set_params(warm_start=True)
    with unchanged(model):
        with pytest.raises(ValueError, match="warm_start needs the same labels .* got 9 labels, had 7"):
            model.fit(X, sp.hstack([Y, Y[:, :2]]).tocsr())


# --------------------------------------------------------------------------- X of the wrong form


@pytest.mark.parametrize(
    "bad_X, message",
    [
        (X[:, :4], "X has 4 features, but MHEClassifier is expecting 5"),
        (X[0], "Expected 2D array, got 1D array"),
        (np.full((2, 5), "a"), "could not convert string to float"),
        (X[:0], r"Found array with 0 sample\(s\)"),
        (np.full((2, 5), np.nan), "Input X contains NaN"),
        (np.full((2, 5), -np.inf), "Input X contains infinity"),
        (sp.csr_matrix(np.full((2, 5), np.inf)), "Input X contains infinity"),
    ],
)
@pytest.mark.parametrize("kind", METHODS)
def test_bad_X_at_prediction(bad_X, message, kind):
    model = fitted(kind)
    with unchanged(model):
        for method in PREDICTIONS:
            with pytest.raises(ValueError, match=message):
                _call(model, method, bad_X)


def test_bad_X_and_y_at_fit():
    model = fitted("product")
    with unchanged(model):
        with pytest.raises(ValueError, match=r"inconsistent numbers of samples: \[40, 30\]"):
            model.fit(X, y[:30])
        with pytest.raises(ValueError, match=r"y must have shape \(40,\), got \(3,\)"):
            model.log_likelihood(X, y[:3])


# --------------------------------------------------------------------------- parameters


@pytest.mark.parametrize("device", ["mps", "xla", "hpu", "meta", "gpu", "cuda:x", "", torch.device("meta")])
@pytest.mark.parametrize("kind", ["product", "multilabel"])
def test_unsupported_devices(device, kind):
    model = fitted(kind)
    target = Y if kind == "multilabel" else y
    with unchanged(model):
        model.set_params(device=device)
        with pytest.raises(ValueError, match=DEVICE_MESSAGE):
            model.fit(X, target)
        if kind == "product":
            with pytest.raises(ValueError, match=DEVICE_MESSAGE):
                model.partial_fit(X, target)
    fresh = MHEClassifier(device=device, **FAST)
    with pytest.raises(ValueError, match=DEVICE_MESSAGE):
        fresh.fit(X, y)
    assert_unfitted(fresh)


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_without_cuda():
    with pytest.raises(ValueError, match="CUDA is not available"):
        MHEClassifier(device="cuda:0", **FAST).fit(X, y)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_index_beyond_visible_devices():
    model = MHEClassifier(device=f"cuda:{torch.cuda.device_count()}", **FAST)
    with pytest.raises(ValueError, match=r"only \d+ CUDA device\(s\) are visible"):
        model.fit(X, y)
    assert_unfitted(model)


_bad_params = st.one_of(
    st.tuples(st.just("max_iter"), st.integers(max_value=0)),
    st.tuples(st.just("n_heads"), st.integers(max_value=0)),
    st.tuples(st.just("batch_size"), st.integers(max_value=0) | st.just("big")),
    st.tuples(st.just("alpha"), st.floats(max_value=-1e-9, allow_nan=False)),
    st.tuples(st.just("learning_rate_init"), st.floats(max_value=0.0, allow_nan=False)),
    st.tuples(st.just("validation_fraction"), st.floats(min_value=1.0) | st.floats(max_value=0.0)),
    st.tuples(st.just("method"), st.text(max_size=8).filter(lambda s: s not in METHODS)),
    st.tuples(st.just("activation"), st.sampled_from(["softmax", "gelu", "ReLU", ""])),
    st.tuples(st.just("proba_memory_limit"), st.integers(max_value=0)),
    st.tuples(st.just("sparse_updates"), st.sampled_from(["yes", "on", 2])),
    st.tuples(st.just("hidden_layer_sizes"), st.sampled_from([(-1,), (0,), (4, 0)])),
    st.tuples(st.just("device"), st.integers() | st.none()),
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(param=_bad_params)
def test_invalid_parameter_values(param):
    name, value = param
    model = _fitted_once("sampling")
    before = _outputs(model)
    bad = copy.deepcopy(model).set_params(**{name: value})
    with pytest.raises(ValueError, match=name):
        bad.fit(X, y)
    bad.set_params(**{name: model.get_params()[name]})
    for old, new in zip(before, _outputs(bad)):
        assert old.tobytes() == new.tobytes()


@pytest.mark.parametrize("k, exc, message", [(0, ValueError, r"k must be in \[1, n_classes=6\], got 0"),
                                             (7, ValueError, r"k must be in \[1, n_classes=6\], got 7"),
                                             (1.5, TypeError, "k must be an int"),
                                             (True, TypeError, "k must be an int")])
def test_bad_k(k, exc, message):
    model = fitted("cascade")
    with unchanged(model):
        with pytest.raises(exc, match=message):
            model.predict_topk(X, k=k)


@pytest.mark.parametrize("kind", METHODS + ("multilabel",))
def test_dense_output_limit_message_in_a_fitting_unit(kind):
    model = fitted(kind).set_params(proba_memory_limit=100)
    with pytest.raises(ValueError, match=r"needs \d+\.\d\d KiB, above proba_memory_limit=100 bytes \(100 B\)"):
        model.predict_proba(X)


@pytest.mark.parametrize("kind", ["product", "multilabel", "multilabel-1d"])
def test_predict_proba_peaks_at_its_checked_size(kind):
    import tracemalloc

    rng = np.random.RandomState(1)
    X_, y_ = rng.randn(500, 5), rng.randint(0, 300, 500)
    if kind == "product":
        model = MHEClassifier(**FAST).fit(X_, y_)
    else:
        target = y_ if kind == "multilabel-1d" else sp.csr_matrix(np.eye(300, dtype=int)[y_])
        model = MHEMultiLabelClassifier(**FAST).fit(X_, target)
    checked = X_.shape[0] * len(model.classes_) * 8
    tracemalloc.start()
    try:
        model.predict_proba(X_)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 1.25 * checked, peak / checked


def test_format_bytes_units():
    assert format_bytes(10) == "10 B"
    assert format_bytes(1536) == "1.50 KiB"
    assert format_bytes(5 * 2**20) == "5.00 MiB"
    assert format_bytes(3 * 2**30) == "3.00 GiB"
    assert format_bytes(2**42) == "4.00 TiB"


# --------------------------------------------------------------------------- codec


@pytest.mark.parametrize(
    "factors, labels, message",
    [
        ((2**32,) * 3, [5], r"above the int64 limit 9223372036854775807"),
        ((4, 4), [16], r"label 16 is outside \[0, 16\)"),
        ((4, 4), [-1], r"label -1 is outside"),
        ((4, 4), [1.5], "labels must be integers"),
        ((4, 4), [[1, 2]], "encode expects a 1-D array"),
    ],
)
def test_codec_encode_refuses(factors, labels, message):
    with pytest.raises(ValueError, match=message):
        LabelCodec(factors).encode(labels)


@pytest.mark.parametrize(
    "factors, message",
    [((), "at least one head"), ((3, 0), "must be >= 1"), ((3, 2.0), "positive ints"), (5, "sequence")],
)
def test_codec_bad_factors(factors, message):
    with pytest.raises(ValueError, match=message):
        LabelCodec(factors)


def test_codec_decode_bad_codes():
    with pytest.raises(ValueError, match=r"decode expects shape \(n, 2\)"):
        LabelCodec((3, 3)).decode([1, 2])
    with pytest.raises(ValueError, match=r"local labels must lie in \[0, C_h\)"):
        LabelCodec((3, 3)).decode([[1, 3]])


@pytest.mark.parametrize("n_heads", [900, 1000, 5000, 10**5])
def test_many_heads_answer_at_once(n_heads):
    start = time.perf_counter()
    factors = LabelCodec.for_n_classes(10**6, n_heads).factors
    assert time.perf_counter() - start < 1.0
    assert factors == (2,) * 20 + (1,) * (n_heads - 20)


def test_many_heads_fit():
    model = MHEClassifier(n_heads=1000, **FAST).fit(X, y)
    assert model.codec_.factors[:4] == (2, 2, 2, 1) and model.codec_.n_heads == 1000


# --------------------------------------------------------------------------- ops, metrics, loaders


def test_ops_refuse_bad_arguments():
    logits, targets = torch.zeros(2, 4), torch.tensor([[0, 1], [1, 0]])
    with pytest.raises(ValueError, match=r"logits has 5 columns but factors \(2, 2\) sum to 4"):
        kronecker_topk(torch.zeros(2, 5), (2, 2), 1)
    with pytest.raises(TypeError, match="logits must be a floating tensor"):
        kronecker_topk(torch.zeros(2, 4, dtype=torch.long), (2, 2), 1)
    with pytest.raises(ValueError, match=r"targets hold local labels outside \[0, C_h\)"):
        multi_head_cross_entropy(logits, targets + 1, (2, 2))
    with pytest.raises(ValueError, match="reduction must be one of"):
        multi_head_cross_entropy(logits, targets, (2, 2), reduction="avg")
    with pytest.raises(ValueError, match="backend must be one of"):
        multi_head_cross_entropy(logits, targets, (2, 2), backend="cuda")


def test_metrics_refuse_bad_arguments():
    truth = np.eye(3, dtype=int)
    with pytest.raises(ValueError, match="k must be an int >= 1, got 0"):
        precision_at_k(truth, np.zeros((3, 1), int), k=0)
    with pytest.raises(ValueError, match="0/1 indicator"):
        precision_at_k(truth * 2, np.zeros((3, 1), int), k=1)
    with pytest.raises(ValueError, match="y_pred_topk has 2 rows but y_true has 3"):
        precision_at_k(truth, np.zeros((2, 1), int), k=1)
    with pytest.raises(ValueError, match="ranks the same label more than once"):
        precision_at_k(truth, np.zeros((3, 2), int), k=2)
    with pytest.raises(ValueError, match="B must be > 0"):
        inverse_propensity(truth, B=0)


def test_loaders_refuse_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="n_samples must be >= 1, got 0"):
        make_extreme_classification(n_samples=0, n_classes=5)
    with pytest.raises(ValueError, match="n_classes must be >= 1, got -1"):
        make_extreme_classification(n_samples=10, n_classes=-1)
    with pytest.raises(FileNotFoundError, match="Mulan folder not found"):
        load_mulan(tmp_path / "nosuchset")
    header = tmp_path / "header.txt"
    header.write_text("two 3 4\n0 1:1\n")
    with pytest.raises(ValueError, match="first line must be 'n_rows n_features n_labels'"):
        load_xc_repo(header)
    labels = tmp_path / "labels.txt"
    labels.write_text("1 3 4\n7 1:1\n")
    with pytest.raises(ValueError, match=r"labels must be integers in \[0, 4\)"):
        load_xc_repo(labels)

