"""Estimator habits (issue 18, items 1 and 4): ``n_jobs``, keyword-only parameters,
``sample_weight``, warnings only where they help, sparse ``y`` and ``Y``'s dtype, pickled
optimizer state."""

from __future__ import annotations

import pickle
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from sklearn.exceptions import ConvergenceWarning
from threadpoolctl import threadpool_limits

from skmhe import MHEClassifier, MHEMultiLabelClassifier
from skmhe import _base, _threads
from skmhe._sample_weight import mean_one_weights, weighted_mean
from skmhe.nn import ProductHead, SamplingHead, SigmoidCascadeHead, SoftmaxCascadeHead, SparseBatch

pytestmark = pytest.mark.usefixtures("one_thread")

METHODS = ("product", "cascade", "sampling")
FAST = dict(hidden_layer_sizes=(8,), max_iter=2, random_state=0, n_jobs=1)

_rng = np.random.RandomState(0)
X = _rng.randn(60, 6).astype(np.float32)
y = _rng.randint(0, 7, 60)
Y = sp.csr_matrix(np.stack([y % 2, y % 3 == 0, y > 3], axis=1).astype(np.int64))


@pytest.fixture
def two_threads():
    """Allow two torch threads in the test (the module runs at one), restored after."""
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(before)


# --------------------------------------------------------------------------- n_jobs


def test_resolve_n_jobs_follows_joblib_and_never_exceeds_the_ceiling(monkeypatch):
    monkeypatch.setattr(_threads, "available_cores", lambda: 8)
    monkeypatch.setattr(_threads.os, "getloadavg", lambda: (5.4, 0.0, 0.0))
    monkeypatch.setattr(_threads, "others_running_now", lambda: 6)
    assert _threads.resolve_n_jobs(None, ceiling=8) == 3  # 8 cores - a load of 5
    assert _threads.resolve_n_jobs(-1, ceiling=8) == 8
    assert _threads.resolve_n_jobs(-3, ceiling=8) == 6
    assert _threads.resolve_n_jobs(4, ceiling=8) == 4
    assert _threads.resolve_n_jobs(4, ceiling=2) == 2
    assert _threads.resolve_n_jobs(-20, ceiling=8) == 1
    assert _threads.idle_cores(cores=2, load=7.0) == 1
    for bad in (0, 1.5, "2", True):
        with pytest.raises(ValueError, match="n_jobs"):
            _threads.resolve_n_jobs(bad, ceiling=8)


def test_idle_cores_do_not_count_this_process_own_recent_work(monkeypatch):
    """A load average raised by this process (data loaded just before ``fit``) takes no core:
    the threads of other processes running now bound it; where the OS cannot tell, the average."""
    monkeypatch.setattr(_threads.os, "getloadavg", lambda: (1.9, 0.0, 0.0))
    monkeypatch.setattr(_threads, "others_running_now", lambda: 0)
    assert _threads.idle_cores(cores=2) == 2
    monkeypatch.setattr(_threads, "others_running_now", lambda: 1)
    assert _threads.idle_cores(cores=2) == 1
    monkeypatch.setattr(_threads, "others_running_now", lambda: None)
    assert _threads.idle_cores(cores=2) == 1  # round(1.9) = 2 others: at least 1 core


def test_others_running_now_leaves_out_this_process_threads(tmp_path):
    """The machine's runnable count less this process's threads in state R (a thread name may
    hold parentheses and spaces); no procfs: None."""
    (tmp_path / "loadavg").write_text("0.52 0.40 0.31 5/300 1234\n")
    tasks = tmp_path / "self" / "task"
    for tid, stat in {"11": "11 (python) R 1 2", "12": "12 (pool) S 1 2", "13": "13 (a) b) R 1 2"}.items():
        (tasks / tid).mkdir(parents=True)
        (tasks / tid / "stat").write_text(stat)
    assert _threads.others_running_now(str(tmp_path)) == 3
    (tasks / "14").mkdir()  # a thread that ended while the others were read: no stat file
    assert _threads.others_running_now(str(tmp_path)) == 3
    assert _threads.others_running_now(str(tmp_path / "missing")) is None
    real = _threads.others_running_now()
    assert real is None or (isinstance(real, int) and real >= 0)


def test_torch_threads_is_scoped_and_respects_threadpoolctl(two_threads):
    with _threads.torch_threads(1) as n:
        assert n == torch.get_num_threads() == 1
    assert torch.get_num_threads() == 2
    with pytest.raises(RuntimeError, match="boom"), _threads.torch_threads(1):
        raise RuntimeError("boom")
    assert torch.get_num_threads() == 2
    with threadpool_limits(limits=1, user_api="openmp"):
        with _threads.torch_threads(-1) as n:  # every core, but the user's limit is the ceiling
            assert n == torch.get_num_threads() == 1


def _spy_threads(monkeypatch, cls, name, seen):
    original = getattr(cls, name)

    def spy(*args, **kwargs):
        seen.append(torch.get_num_threads())
        return original(*args, **kwargs)

    monkeypatch.setattr(cls, name, spy)


@pytest.mark.parametrize(
    "make", [lambda: MHEClassifier(**FAST), lambda: MHEMultiLabelClassifier(**FAST)], ids=["single", "multi"]
)
def test_n_jobs_holds_inside_fit_and_predict_and_is_restored(two_threads, monkeypatch, make):
    target = y if isinstance(make(), MHEClassifier) else Y
    seen_train, seen_predict = [], []
    _spy_threads(monkeypatch, _base.MHEBase, "_train", seen_train)
    _spy_threads(monkeypatch, _base.MHEBase, "_feature_batches", seen_predict)
    model = make().fit(X, target)
    assert seen_train == [1] and torch.get_num_threads() == 2
    model.predict(X)
    model.predict_topk(X, k=2)
    assert seen_predict and set(seen_predict) == {1} and torch.get_num_threads() == 2
    seen_train.clear()

    def train_then_fail(*args, **kwargs):  # records the count, then fails as a diverging fit would
        seen_train.append(torch.get_num_threads())
        raise FloatingPointError("training loss became nan")

    monkeypatch.setattr(_base.MHEBase, "_train", train_then_fail)
    for n_jobs in (2, 1):
        with pytest.raises(FloatingPointError):
            model.set_params(n_jobs=n_jobs).fit(X, target)
        assert torch.get_num_threads() == 2  # restored when the fit raises too
    assert seen_train == [2, 1]


def test_n_jobs_zero_is_refused():
    with pytest.raises(ValueError, match="n_jobs"):
        MHEClassifier(**{**FAST, "n_jobs": 0}).fit(X, y)


# --------------------------------------------------------------------------- keyword-only


@pytest.mark.parametrize("cls", [MHEClassifier, MHEMultiLabelClassifier])
def test_every_parameter_is_keyword_only(cls):
    with pytest.raises(TypeError, match="positional"):
        cls((512,))


# --------------------------------------------------------------------------- sample_weight


def _heads(rng: torch.Generator):
    kw = dict(generator=rng)
    return {
        "product": (ProductHead(5, (3, 3), 8, **kw), "codes"),
        "cascade": (SoftmaxCascadeHead(5, (3, 3), 8, 4, 2, **kw), "codes"),
        "sampling": (SamplingHead(5, (3, 3), 8, 2, mode="batch", **kw), "codes"),
        "sigmoid cascade": (SigmoidCascadeHead(5, (3, 3), 8, 4, 2, **kw), "labels"),
    }


def _targets(kind: str, codes: np.ndarray, rows: np.ndarray):
    if kind == "codes":
        return torch.from_numpy(codes[rows])
    labels = [sorted({int(c), int(c) // 2}) for c in codes[rows, 0] * 3 + codes[rows, 1]]
    offsets = np.cumsum([0] + [len(r) for r in labels])[:-1]
    flat = np.concatenate(labels)
    return SparseBatch(torch.from_numpy(flat), torch.from_numpy(offsets), torch.ones(len(flat)))


@pytest.mark.parametrize("name", ["product", "cascade", "sampling", "sigmoid cascade"])
def test_integer_weights_are_repeated_rows_and_zero_weights_dropped_rows(name):
    """One full batch: the weighted loss and its gradients equal those of the repeated rows."""
    head, kind = _heads(torch.Generator().manual_seed(0))[name]
    head = head.double()
    rng = np.random.default_rng(0)
    n = 6
    features = torch.from_numpy(rng.normal(size=(n, 5)))
    codes = np.stack([rng.integers(0, 2, n), rng.integers(0, 3, n)], axis=1)  # codes < 8
    weights = np.array([2.0, 0.0, 1.0, 3.0, 0.0, 1.0])
    repeated = np.repeat(np.arange(n), weights.astype(int))

    def loss_and_grads(rows, w):
        head.zero_grad()
        w_t = None if w is None else torch.from_numpy(mean_one_weights(w))
        loss = head.loss(features[rows], _targets(kind, codes, rows), w_t)
        loss.backward()
        return loss.detach(), [p.grad.clone() if p.grad is not None else None for p in head.parameters()]

    weighted = loss_and_grads(np.arange(n), weights)
    plain = loss_and_grads(repeated, None)
    torch.testing.assert_close(weighted[0], plain[0], rtol=1e-12, atol=1e-12)
    for a, b in zip(weighted[1], plain[1]):
        if a is None or b is None:
            assert a is None and b is None or torch.count_nonzero(a if b is None else b) == 0
        else:
            torch.testing.assert_close(a.to_dense(), b.to_dense(), rtol=1e-10, atol=1e-12)
    ones = loss_and_grads(np.arange(n), np.ones(n))
    torch.testing.assert_close(ones[0], loss_and_grads(np.arange(n), None)[0], rtol=1e-12, atol=0)


def _one_full_batch_step(make, X_, target, sample_weight=None):
    params = dict(hidden_layer_sizes=(8,), max_iter=1, batch_size=10_000, shuffle=False, alpha=0.0,
                  learning_rate="constant", early_stopping=False, random_state=0, n_jobs=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return make(**params).fit(X_, target, sample_weight=sample_weight)


@pytest.mark.parametrize("cls", [MHEClassifier, MHEMultiLabelClassifier])
def test_fit_weights_equal_repeating_and_dropping_rows(cls):
    target = y if cls is MHEClassifier else Y
    make = (lambda **p: cls(method="product", **p)) if cls is MHEClassifier else cls
    w = np.tile([2, 0, 1], 20)
    rows = np.repeat(np.arange(len(X)), w)
    weighted = _one_full_batch_step(make, X, target, w.astype(float))
    repeated = _one_full_batch_step(make, X[rows], target[rows])
    np.testing.assert_allclose(weighted.loss_curve_, repeated.loss_curve_, rtol=1e-6)
    for a, b in zip(weighted.network_.parameters(), repeated.network_.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
    unweighted = _one_full_batch_step(make, X, target)
    assert not np.allclose(weighted.loss_curve_, unweighted.loss_curve_, rtol=1e-6)


@pytest.mark.parametrize("cls", [MHEClassifier, MHEMultiLabelClassifier])
@pytest.mark.parametrize(
    "bad, message",
    [
        (-np.ones(60), "Negative values"),
        (np.ones(59), r"sample_weight.shape"),
        (np.r_[np.nan, np.ones(59)], "NaN"),
        (np.zeros(60), "zero"),
    ],
)
def test_bad_weights_are_refused(cls, bad, message):
    target = y if cls is MHEClassifier else Y
    model = cls(**FAST).fit(X, target)
    before = model.predict_proba(X)
    with pytest.raises(ValueError, match=message):
        model.fit(X, target, sample_weight=bad)
    np.testing.assert_array_equal(model.predict_proba(X), before)


def test_weights_reach_partial_fit_and_the_validation_score():
    assert weighted_mean([1.0, 0.0], np.array([3.0, 1.0])) == 0.75
    assert weighted_mean([1.0, 0.0], np.array([0.0, 0.0])) == 0.5
    with pytest.raises(ValueError, match="zero on all"):
        mean_one_weights(np.zeros(3))
    w = np.where(y == 0, 0.0, 1.0)
    model = MHEClassifier(**FAST).partial_fit(X, y, classes=np.arange(7), sample_weight=w)
    again = MHEClassifier(**FAST).partial_fit(X, y, classes=np.arange(7))
    assert model.loss_curve_ != again.loss_curve_
    stopped = MHEClassifier(**{**FAST, "early_stopping": True}).fit(X, y, sample_weight=w + 1)
    assert len(stopped.validation_scores_) == stopped.n_iter_


# --------------------------------------------------------------------------- warnings


def test_default_fits_and_partial_fit_chunks_do_not_warn():
    many = np.arange(60) % 50  # more classes than half the rows, as a chunk of an extreme label space
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        MHEClassifier(hidden_layer_sizes=(8,), random_state=0, n_jobs=1).fit(X, y)
        MHEClassifier(hidden_layer_sizes=(8,), early_stopping=True, random_state=0, n_jobs=1).fit(X, y)
        MHEMultiLabelClassifier(hidden_layer_sizes=(8,), random_state=0, n_jobs=1).fit(X, Y)
        model = MHEClassifier(**FAST).partial_fit(X, many, classes=np.arange(1000))
        model.partial_fit(X, many)
    with pytest.warns(UserWarning, match="unique classes"):  # fit cannot know: it still says so
        MHEClassifier(**FAST).fit(X, many)


# --------------------------------------------------------------------------- sparse y, Y's dtype


def test_sparse_y_for_the_single_label_classifier_points_to_the_multilabel_one():
    model = MHEClassifier(**FAST)
    for call in (lambda: model.fit(X, Y), lambda: model.partial_fit(X, Y, classes=[0, 1])):
        with pytest.raises(TypeError, match="MHEMultiLabelClassifier"):
            call()


@pytest.mark.parametrize("dtype", [bool, np.int64, np.float32])
@pytest.mark.parametrize("sparse", [True, False])
def test_multilabel_predict_keeps_the_dtype_of_Y(dtype, sparse):
    target = Y.astype(dtype) if sparse else Y.toarray().astype(dtype)
    pred = MHEMultiLabelClassifier(**FAST).fit(X, target).predict(X)
    assert sp.issparse(pred) == sparse and pred.dtype == np.dtype(dtype)


# --------------------------------------------------------------------------- pickled optimizer


@pytest.mark.parametrize("lazy", [False, True])
@pytest.mark.parametrize("kind", [*METHODS, "multilabel"])
def test_training_after_pickling_continues_exactly(kind, lazy):
    """``lazy``: the input layer updated lazily (row-wise Adagrad's state pickled too)."""
    params = dict(FAST, warm_start=True, sparse_updates=lazy)
    if kind == "multilabel":
        make, target = (lambda: MHEMultiLabelClassifier(**params)), Y
    else:
        make, target = (lambda: MHEClassifier(method=kind, **params)), y
    kept = make().fit(X, target)
    assert ("input_rows" in kept._optimizer.lazy) == lazy
    loaded = pickle.loads(pickle.dumps(kept))
    reset = pickle.loads(pickle.dumps(kept))
    reset._optimizer = None  # what loading did before: fresh Adam moments
    for model in (kept, loaded, reset):
        model.fit(X, target)
        if kind != "multilabel":
            model.partial_fit(X, target)
    pairs = list(zip(kept.network_.parameters(), loaded.network_.parameters(), reset.network_.parameters()))
    assert all(torch.equal(a, b) for a, b, _ in pairs)
    assert not all(torch.equal(a, c) for a, _, c in pairs)  # so the state did matter


def test_loading_an_older_optimizer_state_keeps_the_model_and_drops_the_state():
    """A model pickled by an skmhe whose lazy optimizers differed (``"sparse"``: one lazy Adam)
    loads with a warning, predicts as it did, and continues training from fresh optimizer state."""
    model = MHEClassifier(**FAST, sparse_updates=True).fit(X, y)
    state = model.__getstate__()
    old = state["_optimizer_state"]
    lazy_adam = old["lazy"]["input_rows"]  # what one lazy Adam's state used to be
    state["_optimizer_state"] = {"dense": old["dense"], "sparse": lazy_adam, "decay": old["decay"]}
    loaded = MHEClassifier.__new__(MHEClassifier)
    with pytest.warns(UserWarning, match="optimizer state"):
        loaded.__setstate__(state)
    assert loaded._optimizer is None
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
    loaded.partial_fit(X, y)
    assert loaded._optimizer is not None
