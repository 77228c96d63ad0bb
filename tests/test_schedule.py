"""The training budget chosen from the data (batch size, rate, epochs, schedule) and its use in fit."""

import math
import warnings

import numpy as np
import scipy.sparse as sp
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.exceptions import ConvergenceWarning

from skmhe import MHEClassifier, MHEMultiLabelClassifier
from skmhe import _schedule as schedule
from skmhe._training import Trainer

pytestmark = pytest.mark.usefixtures("one_thread")


@given(st.integers(1, 10**8))
def test_auto_batch_size_is_a_power_of_two_near_sqrt_n(n):
    batch = schedule.auto_batch_size(n)
    low, high = schedule.AUTO_BATCH_RANGE
    assert 1 <= batch <= n
    if n >= low:
        assert low <= batch <= high and batch & (batch - 1) == 0
        if low * 2 <= math.sqrt(n) <= high / 2:
            assert math.sqrt(n) / 2 <= batch <= 2 * math.sqrt(n)


@given(st.integers(1, 10**7), st.integers(1, 10**7))
def test_larger_data_never_gets_a_smaller_batch(a, b):
    small, large = sorted((a, b))
    assert schedule.auto_batch_size(small) <= schedule.auto_batch_size(large)


@given(st.integers(1, 10**8), st.integers(1, 4096))
def test_auto_max_iter_covers_the_step_budget_within_its_range(n, batch):
    epochs = schedule.auto_max_iter(n, batch)
    low, high = schedule.AUTO_EPOCH_RANGE
    assert low <= epochs <= high
    steps = epochs * math.ceil(n / batch)
    assert steps >= schedule.AUTO_STEPS or epochs == high


def test_auto_learning_rate_scales_with_the_square_root_of_the_batch():
    ref = schedule.auto_learning_rate(schedule.AUTO_LR_BATCH)
    assert ref == pytest.approx(schedule.AUTO_LR)
    assert schedule.auto_learning_rate(4 * schedule.AUTO_LR_BATCH) == pytest.approx(2 * ref)


@pytest.mark.parametrize("kind", ["cosine", "linear"])
def test_schedule_warms_up_then_decays_to_its_floor(kind):
    peak, total = 0.01, 1000
    rate = schedule.lr_schedule(kind, peak, total)
    warmup = int(schedule.WARMUP_SHARE * total)
    rates = np.array([rate(t) for t in range(total + 50)])
    assert rates[0] == pytest.approx(peak / 10)
    assert np.all(np.diff(rates[: warmup + 1]) > 0)  # warm-up rises
    assert rates[warmup] == pytest.approx(peak)
    assert np.all(np.diff(rates[warmup:]) <= 1e-15)  # then never rises
    assert rates[total // 2 + warmup // 2] == pytest.approx(peak / 2, rel=0.05)
    assert np.all(rates[total:] == pytest.approx(peak / 100))  # past the budget: the floor


def test_constant_schedule_and_bad_kind():
    assert schedule.lr_schedule("constant", 0.1, 100)(57) == 0.1
    with pytest.raises(ValueError, match="learning_rate must be one of"):
        schedule.lr_schedule("step", 0.1, 100)


@pytest.fixture(scope="module")
def blobs():
    rng = np.random.default_rng(0)
    centers = rng.normal(size=(12, 8)) * 3
    y = rng.integers(0, 12, size=600)
    return (centers[y] + rng.normal(size=(600, 8))).astype(np.float32), y


def test_fit_resolves_and_records_the_auto_budget(blobs):
    X, y = blobs
    clf = MHEClassifier(hidden_layer_sizes=(16,), random_state=0).fit(X, y)
    assert clf.batch_size_ == schedule.auto_batch_size(len(X))
    assert clf.learning_rate_ == pytest.approx(schedule.auto_learning_rate(clf.batch_size_))
    budget = schedule.auto_max_iter(len(X), clf.batch_size_)
    assert 1 <= clf.n_iter_ <= budget
    assert clf.validation_scores_ is None  # 600 rows: early_stopping="auto" holds nothing out
    # the optimizer ends at the schedule's last rate, not at the peak
    steps = clf.n_iter_ * math.ceil(len(X) / clf.batch_size_)
    rate = schedule.lr_schedule("cosine", clf.learning_rate_, budget * math.ceil(len(X) / clf.batch_size_))
    assert clf._optimizer.dense.param_groups[0]["lr"] == pytest.approx(rate(steps - 1))


def test_early_stopping_auto_switches_on_for_large_data():
    rng = np.random.default_rng(1)
    n = schedule.AUTO_EARLY_STOPPING_MIN_SAMPLES
    X = rng.normal(size=(n, 4)).astype(np.float32)
    y = (X[:, 0] > 0).astype(int) + 2 * (X[:, 1] > 0)
    clf = MHEClassifier(hidden_layer_sizes=(8,), max_iter=2, random_state=0).fit(X, y)
    assert len(clf.validation_scores_) == clf.n_iter_ == 2
    assert clf.best_validation_score_ == max(clf.validation_scores_) > 0.3  # chance: 0.25
    small = MHEClassifier(hidden_layer_sizes=(8,), max_iter=2, random_state=0).fit(X[: n - 1], y[: n - 1])
    assert small.validation_scores_ is None and len(small.loss_curve_) == 2


def test_multilabel_uses_the_same_budget(blobs):
    X, y = blobs
    Y = np.stack([y % 2, y % 3 == 0, y > 5], axis=1).astype(int)
    clf = MHEMultiLabelClassifier(hidden_layer_sizes=(16,), random_state=0).fit(X, Y)
    assert clf.batch_size_ == schedule.auto_batch_size(len(X))
    assert clf.n_iter_ <= schedule.auto_max_iter(len(X), clf.batch_size_)


def test_a_batch_raised_for_the_labels_keeps_the_rows_rate():
    rng = np.random.default_rng(0)
    n, n_labels = 200, 40_000  # the labels call for 128 rows a step, the rows for 32
    X = sp.random(n, 50, density=0.2, format="csr", random_state=0, dtype=np.float32)
    Y = sp.csr_matrix((np.ones(2 * n), rng.integers(0, n_labels, 2 * n), np.arange(0, 2 * n + 1, 2)),
                      shape=(n, n_labels))
    common = dict(hidden_layer_sizes=(8,), max_iter=1, random_state=0)
    clf = MHEMultiLabelClassifier(**common).fit(X, Y)
    rows_batch = schedule.auto_batch_size(n)
    assert clf.codec_.n_heads > 1 and clf.batch_size_ == 4 * rows_batch
    assert clf.learning_rate_ == pytest.approx(schedule.auto_learning_rate(rows_batch))
    assert clf._optimizer.dense.param_groups[0]["lr"] <= clf.learning_rate_
    given_batch = MHEMultiLabelClassifier(batch_size=clf.batch_size_, **common).fit(X, Y)
    assert given_batch.learning_rate_ == pytest.approx(schedule.auto_learning_rate(clf.batch_size_))
    given_rate = MHEMultiLabelClassifier(learning_rate_init=0.01, **common).fit(X, Y)
    assert given_rate.learning_rate_ == 0.01  # a rate given is taken as it is


def test_convergence_warning_only_for_a_constant_rate_that_ran_out(blobs):
    X, y = blobs
    common = dict(hidden_layer_sizes=(8,), max_iter=2, random_state=0, tol=0.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        MHEClassifier(**common).fit(X, y)  # the cosine budget ended: no warning
    with pytest.warns(ConvergenceWarning, match="Maximum iterations"):
        MHEClassifier(learning_rate="constant", **common).fit(X, y)


def test_keyboard_interrupt_keeps_the_epochs_done(blobs, monkeypatch):
    X, y = blobs
    calls = {"n": 0}
    original = Trainer.train_epoch

    def interrupted(self, X, targets):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return original(self, X, targets)

    monkeypatch.setattr(Trainer, "train_epoch", interrupted)
    with pytest.warns(UserWarning, match="interrupted by the user after 2 complete epochs"):
        clf = MHEClassifier(hidden_layer_sizes=(8,), max_iter=10, random_state=0).fit(X, y)
    assert clf.n_iter_ == 2 and len(clf.loss_curve_) == 2
    assert clf.predict(X).shape == (len(X),)


def test_verbose_shows_progress_and_rows_per_second(blobs, capsys):
    X, y = blobs
    MHEClassifier(hidden_layer_sizes=(8,), max_iter=2, verbose=1, random_state=0).fit(X, y)
    captured = capsys.readouterr()
    assert "Iteration 2, loss = " in captured.out and "rows/s" in captured.out
    assert "epochs" in captured.err  # the tqdm bar


@settings(max_examples=10, deadline=None)
@given(st.sampled_from(["auto", 0, -1, 1.5, "fast"]))
def test_bad_budget_parameters_are_refused(value):
    if value == "auto":
        MHEClassifier(max_iter=value, learning_rate_init=value)._validate_params()
        return
    with pytest.raises(ValueError, match="max_iter"):
        MHEClassifier(max_iter=value)._validate_params()


def test_multilabel_budgets_more_steps_where_labels_are_rare(monkeypatch, blobs):
    def indicator(n_rows, n_labels, seed):
        labels = np.random.default_rng(seed).integers(0, n_labels, size=n_rows)
        ones = np.ones(n_rows, dtype=np.int64)
        return sp.csr_matrix((ones, (np.arange(n_rows), labels)), shape=(n_rows, n_labels))

    clf = MHEMultiLabelClassifier()
    rare = indicator(1000, 500, 0)  # 2 positives a label
    common = indicator(1000, 20, 1)  # 50 positives a label
    assert clf._auto_steps(rare) == schedule.AUTO_RARE_LABEL_STEPS > schedule.AUTO_STEPS
    assert clf._auto_steps(common) == schedule.AUTO_STEPS
    # 40,000 rows of 256: 157 steps an epoch, 7 epochs for 1,000 steps and 10 for 1,500
    assert clf._max_iter(40_000, 256, clf._auto_steps(rare)) == 10
    assert clf._max_iter(40_000, 256, clf._auto_steps(common)) == 7
    assert MHEMultiLabelClassifier(max_iter=3)._max_iter(40_000, 256, clf._auto_steps(rare)) == 3
    assert MHEClassifier()._auto_steps(rare) == schedule.AUTO_STEPS  # single-label: one budget
    # fit asks with the targets it trains on
    X, y = blobs
    seen = []
    auto_steps = MHEMultiLabelClassifier._auto_steps
    monkeypatch.setattr(
        MHEMultiLabelClassifier, "_auto_steps", lambda self, Y: seen.append(Y.shape) or auto_steps(self, Y)
    )
    small = MHEMultiLabelClassifier(hidden_layer_sizes=(8,), max_iter=1, random_state=0)
    small.fit(X, indicator(len(X), 30, 2))
    assert seen == [(len(X), 30)]
