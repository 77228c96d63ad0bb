"""Temperature scaling of a fitted single-label model on its validation split (``calibration``).

A network trained for a few epochs can be far from calibrated: on sparse synthetic data the
product head's mean top-1 probability was 0.07 at 99 % accuracy. Temperature scaling (Guo et
al., "On Calibration of Modern Neural Networks", ICML 2017) divides the logits of each softmax
of the head by a temperature: the ``H`` heads of a product, the ``H`` levels of a cascade, the
one softmax of a dense or sampled classifier (:class:`skmhe.nn.SingleLabelHead`). After
training, the log-temperatures minimise the mean negative log-likelihood of the validation
split that early stopping holds out (L-BFGS in float64 on backbone features computed once);
the training loss never sees them. ``scikit-learn``'s ``CalibratedClassifierCV`` cannot do
this at extreme scale: it needs every class in every fold.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from sklearn.utils._param_validation import StrOptions
from torch import nn
from torch.func import functional_call

from .nn.contract import SingleLabelHead

CALIBRATION_PARAMETER_CONSTRAINTS: dict = {"calibration": [StrOptions({"auto", "temperature"}), None]}

#: validation rows the temperatures are fitted on at most (a seeded random subset beyond):
#: a few scalars need few rows (``benchmarks/RESULTS.md``, "Calibration")
MAX_ROWS = 10_000
#: and at most this many scores (rows times the head's inference width): the dense softmax
#: and the sampled classifier score every class of a row at each L-BFGS step
MAX_SCORES = 2**26
#: L-BFGS iterations (one to three scalars: it converges in a few)
MAX_ITER = 30
#: temperatures stay within ``[1 / BOUND, BOUND]`` (a validation split the model separates
#: perfectly would otherwise send them to zero)
BOUND = 100.0


class _LogLikelihood(nn.Module):
    """``head.log_likelihood`` as a module's forward, for :func:`torch.func.functional_call`."""

    def __init__(self, head: SingleLabelHead):
        super().__init__()
        self.head = head

    def forward(self, features, codes: torch.Tensor) -> torch.Tensor:
        return self.head.log_likelihood(features, codes)


def fit_log_temperatures(head: SingleLabelHead, batches, *, max_iter: int = MAX_ITER) -> torch.Tensor:
    """Log-temperatures minimising the mean negative log-likelihood of ``batches`` under ``head``.

    The head's weights are held fixed (and its own ``log_temperature`` untouched): only
    the ``log_temperature`` values passed to its ``log_likelihood`` vary, kept within
    ``+-log(BOUND)`` through ``log(BOUND) * tanh(u / log(BOUND))``.

    Parameters
    ----------
    head : SingleLabelHead
        A fitted head.
    batches : list of (features, codes)
        Backbone features of shape ``(n_i, d)`` and the digit rows ``(n_i, H)`` of their
        labels (:meth:`skmhe.LabelCodec.encode`), on the head's device.
    max_iter : int, default=MAX_ITER
        L-BFGS iterations.

    Returns
    -------
    log_temperature : Tensor of float64, shape like ``head.log_temperature``
        The best point L-BFGS evaluated; zeros (temperature 1) when none beat them.
    """
    module = _LogLikelihood(head)
    fixed = {name: p.detach() for name, p in module.named_parameters()}
    free = torch.zeros_like(head.log_temperature, dtype=torch.float64, requires_grad=True)
    n_rows = sum(codes.shape[0] for _, codes in batches)
    bound = math.log(BOUND)
    seen: list[tuple[float, torch.Tensor]] = []
    optimizer = torch.optim.LBFGS([free], lr=1.0, max_iter=max_iter, line_search_fn="strong_wolfe")

    def closure() -> float:
        optimizer.zero_grad()
        total = 0.0
        for features, codes in batches:  # gradients accumulate over the batches
            state = {**fixed, "head.log_temperature": bound * torch.tanh(free / bound)}
            loss = -functional_call(module, state, (features, codes)).sum() / n_rows
            loss.backward()
            total += loss.item()
        seen.append((total, bound * torch.tanh(free.detach() / bound)))
        return total

    closure()  # temperature 1: the point to beat
    if math.isfinite(seen[0][0]):
        optimizer.step(closure)
    finite = [(loss, log_t) for loss, log_t in seen if math.isfinite(loss) and bool(log_t.isfinite().all())]
    best = min(finite, key=lambda point: point[0], default=None)
    if best is None or best[0] >= seen[0][0]:
        return torch.zeros_like(free.detach())
    return best[1]


def start_calibration(estimator, n_samples: int, continuing: bool) -> None:
    """Check ``calibration`` before ``fit`` trains; a fit continuing a network trains it at temperature 1.

    Raises
    ------
    ValueError
        For ``calibration="temperature"`` where the fit holds out no validation split,
        naming how to get one.
    """
    if continuing:
        holds_out = estimator.validation_scores_ is not None
        with torch.no_grad():  # its early stopping scores the network it trains
            estimator.network_.head.log_temperature.zero_()
    else:
        holds_out = estimator._uses_validation(n_samples)
    if estimator.calibration == "temperature" and not holds_out:
        raise ValueError(
            "calibration='temperature' fits the temperatures on the validation split, but this "
            f"fit holds none out (early_stopping={estimator.early_stopping!r}, {n_samples} "
            "samples; 'auto' holds one out from 10,000 on): set early_stopping=True, or "
            "calibration='auto' or None"
        )


def calibrate(estimator, X_val, y_val: np.ndarray | None) -> np.ndarray:
    """Reset the head's temperatures to 1, then fit them on ``(X_val, y_val)`` if asked.

    ``X_val`` is None where the fit held out no validation split (and for
    ``partial_fit``): the temperatures then stay at 1. Otherwise, unless
    ``estimator.calibration`` is None, they are fitted (:func:`fit_log_temperatures`)
    on at most :data:`MAX_ROWS` validation rows and :data:`MAX_SCORES` scores.

    Returns
    -------
    temperatures : ndarray of float64, shape (n_softmaxes,)
        The head's temperatures after the call.
    """
    head = estimator.network_.head
    with torch.no_grad():
        head.log_temperature.zero_()
    if X_val is not None and estimator.calibration is not None:
        width = head.inference_width(1)
        n_keep = min(X_val.shape[0], MAX_ROWS, max(1, MAX_SCORES // width))
        if n_keep < X_val.shape[0]:
            rng = np.random.default_rng(estimator.seed_)
            keep = np.sort(rng.choice(X_val.shape[0], n_keep, replace=False))
            X_val, y_val = X_val[keep], y_val[keep]
        codes = torch.from_numpy(estimator.codec_.encode(y_val)).to(estimator._device)
        batches = [(features, codes[rows]) for rows, features in estimator._feature_batches(X_val, width)]
        log_t = fit_log_temperatures(head, batches)
        with torch.no_grad():
            head.log_temperature.copy_(log_t)
    return head.log_temperature.exp().cpu().numpy()
