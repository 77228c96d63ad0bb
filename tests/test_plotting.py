"""plot_learning_curve: lines and labels of the returned Axes (Agg backend)."""

import builtins
import sys
from types import SimpleNamespace

import numpy as np
import pytest

matplotlib = pytest.importorskip("matplotlib", reason="matplotlib (optional) is not installed")
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from skmhe import MHEClassifier, plot_learning_curve  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def test_loss_and_validation_lines():
    model = SimpleNamespace(loss_curve_=[2.0, 1.5, 1.2], validation_scores_=[0.5, 0.7, 0.6])
    ax = plot_learning_curve(model, title="history")
    (loss,) = ax.get_lines()
    assert loss.get_label() == "training loss"
    np.testing.assert_array_equal(loss.get_xdata(), [1, 2, 3])
    np.testing.assert_array_equal(loss.get_ydata(), [2.0, 1.5, 1.2])
    score, best = ax.right_ax.get_lines()
    np.testing.assert_array_equal(score.get_ydata(), [0.5, 0.7, 0.6])
    assert best.get_label() == "best: 0.700 (epoch 2)" and list(best.get_xdata()) == [2]
    assert (ax.get_xlabel(), ax.get_ylabel(), ax.right_ax.get_ylabel()) == (
        "epoch", "training loss", "validation score")
    assert ax.get_title() == "history"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [
        "training loss", "validation score", "best: 0.700 (epoch 2)"]


def test_real_fit_on_given_axes_without_validation():
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(60, 4)), rng.integers(0, 3, 60)
    model = MHEClassifier(max_iter=3, early_stopping=False, random_state=0).fit(X, y)
    _, ax = plt.subplots()
    assert plot_learning_curve(model, ax=ax) is ax
    (loss,) = ax.get_lines()
    np.testing.assert_allclose(loss.get_ydata(), model.loss_curve_)
    assert len(ax.figure.axes) == 1 and not hasattr(ax, "right_ax")  # validation_scores_ is None


def test_errors(monkeypatch):
    with pytest.raises(ValueError, match="fit it first"):
        plot_learning_curve(MHEClassifier())
    real_import = builtins.__import__

    def no_matplotlib(name, *args, **kwargs):
        if name.startswith("matplotlib"):
            raise ImportError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_matplotlib)
    monkeypatch.delitem(sys.modules, "matplotlib.pyplot")
    with pytest.raises(ImportError, match="needs matplotlib, which is optional"):
        plot_learning_curve(SimpleNamespace(loss_curve_=[1.0], validation_scores_=None))
