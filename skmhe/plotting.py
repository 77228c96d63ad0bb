"""Plots of a fitted model's training history (matplotlib, imported only when a plot is drawn)."""

from __future__ import annotations

__all__ = ["plot_learning_curve"]


def _pyplot():
    try:
        import matplotlib.pyplot as plt
    except ImportError as err:
        raise ImportError(
            "plot_learning_curve needs matplotlib, which is optional for skmhe: "
            "pip install matplotlib (or skmhe[demo])"
        ) from err
    return plt


def plot_learning_curve(estimator, *, ax=None, title: str | None = None):
    """Plot ``loss_curve_`` and, when kept, ``validation_scores_`` against the epoch.

    The training loss goes on ``ax`` (left axis); the validation score of each epoch
    (early stopping only) on a twin right axis, its best epoch marked.

    Parameters
    ----------
    estimator : fitted MHEClassifier or MHEMultiLabelClassifier
        Any fitted estimator with ``loss_curve_`` (a list of float, one per epoch) and
        optionally ``validation_scores_`` (None, or one float per epoch). For a
        ``Pipeline``, pass its last step (``pipeline[-1]``).
    ax : matplotlib.axes.Axes, default=None
        Where to draw; a new figure's axes when None.
    title : str, default=None
        Axes title.

    Returns
    -------
    matplotlib.axes.Axes
        ``ax``, holding the loss line; the validation line, if any, is on
        ``ax.right_ax``, its twin.

    Raises
    ------
    ImportError
        When matplotlib is not installed.
    ValueError
        When ``estimator`` has no training history (not fitted).

    Examples
    --------
    >>> from skmhe import MHEClassifier, plot_learning_curve  # doctest: +SKIP
    >>> ax = plot_learning_curve(MHEClassifier().fit(X, y))  # doctest: +SKIP
    >>> ax.figure.savefig("learning_curve.png")  # doctest: +SKIP
    """
    losses = getattr(estimator, "loss_curve_", None)
    if not losses:
        raise ValueError(
            f"{type(estimator).__name__} has no loss_curve_ to plot: fit it first "
            "(for a Pipeline, pass its last step)"
        )
    scores = getattr(estimator, "validation_scores_", None) or []
    if ax is None:
        _, ax = _pyplot().subplots(figsize=(6, 4))
    else:
        _pyplot()
    epochs = range(1, len(losses) + 1)
    handles = ax.plot(epochs, losses, marker="o", color="C0", label="training loss")
    ax.set_xlabel("epoch")
    ax.set_ylabel("training loss")
    if scores:
        right = ax.twinx()
        handles += right.plot(range(1, len(scores) + 1), scores, marker="s", color="C1",
                              label="validation score")
        best = max(range(len(scores)), key=scores.__getitem__)
        handles += right.plot([best + 1], [scores[best]], linestyle="none", marker="*", markersize=14,
                              color="C3", label=f"best: {scores[best]:.3f} (epoch {best + 1})")
        right.set_ylabel("validation score")
        ax.right_ax = right
    ax.legend(handles=handles, loc="best")
    if title is not None:
        ax.set_title(title)
    return ax
