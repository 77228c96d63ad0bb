"""The contract every output head keeps, whatever the method.

A head maps backbone features to scores of codes (labels written in mixed radix, see
:class:`skmhe.LabelCodec`); valid codes are ``< n_classes``. The estimators use a head
only through these four methods, so any head can serve any estimator loop:

* ``loss(features, targets, sample_weight=None)`` -- the mean training loss of a batch
  (targets: the digits ``(n, H)`` for single-label heads, a :class:`~skmhe.nn.SparseBatch`
  of label ids for multi-label ones), each row's loss times its weight when
  ``sample_weight`` is given (see :func:`row_mean`);
* ``topk(features, k)`` -- ``(log_scores, codes)`` of the ``k`` best codes, both
  ``(n, k)``, best first;
* ``log_scores(features)`` -- dense float64 log-scores ``(n, n_classes)``;
* ``inference_width(k)`` -- how many values a row holds while its top ``k`` are found
  (it sets the inference chunk size).

Single-label heads are normalised models (:class:`SingleLabelHead`): their log-scores
are log-probabilities, and they also give ``log_likelihood(features, codes)``. They hold
one temperature per softmax (buffer ``log_temperature``, zeros: the model as trained) that
``topk``, ``log_proba`` and ``log_likelihood`` divide the logits by and ``loss`` ignores.
"""

from __future__ import annotations

from abc import ABCMeta, abstractmethod

import torch
from torch import nn

from .layers import Batch

__all__ = ["Head", "SingleLabelHead", "row_mean"]


def row_mean(per_row: torch.Tensor, sample_weight: torch.Tensor | None = None) -> torch.Tensor:
    """Mean over rows of ``per_row``, each row's loss times its weight when weights are given.

    Parameters
    ----------
    per_row : Tensor of shape (n,)
        The loss of each row.
    sample_weight : Tensor of shape (n,), default=None
        Non-negative weight of each row. The mean is over the rows, not over
        the weights: the estimators scale the weights to a mean of one over
        the training rows, so that a minibatch's loss is an unbiased estimate
        of the weighted mean over the whole set (a batch of zero weights
        contributes nothing), and a batch holding every row gives exactly
        ``sum(w * loss) / sum(w)``, the loss of the data with each row
        repeated ``w`` times.

    Returns
    -------
    loss : Tensor
        A scalar.
    """
    if sample_weight is None:
        return per_row.mean()
    return (per_row * sample_weight.to(per_row.dtype)).mean()


class Head(nn.Module, metaclass=ABCMeta):
    """Abstract output head: ``loss``, ``topk``, ``log_scores``, ``inference_width``.

    Attributes every head sets: ``factors`` (tuple of int, the code's radix) and
    ``n_classes`` (int, valid codes are below it).
    """

    factors: tuple[int, ...]
    n_classes: int

    @abstractmethod
    def loss(self, features: Batch, targets, sample_weight: torch.Tensor | None = None) -> torch.Tensor:
        """Mean training loss of a batch (a scalar tensor), rows weighted as in :func:`row_mean`."""

    @abstractmethod
    def topk(self, features: Batch, k: int) -> tuple[torch.Tensor, torch.Tensor]:
        """``(log_scores, codes)`` of the ``k`` best valid codes, both ``(n, k)``, best first."""

    @abstractmethod
    def log_scores(self, features: Batch) -> torch.Tensor:
        """Log-score of every valid code, ``(n, n_classes)`` in float64."""

    @abstractmethod
    def inference_width(self, k: int) -> int:
        """Values a row needs while its top ``k`` codes are found (sets inference chunks)."""


class SingleLabelHead(Head):
    """A normalised single-label head: its log-scores are log-probabilities.

    Attributes
    ----------
    log_temperature : Tensor of float64, shape (n_softmaxes,)
        Log of the temperature of each softmax of the head (a product head's
        heads, a cascade's levels, one for a full softmax). Inference divides
        the logits of softmax ``i`` by ``exp(log_temperature[i])``; the
        training loss never does, and training never updates it (a buffer,
        not a parameter: it moves and pickles with the head). Zeros, the
        initial value, leave every output exactly as without it.
    """

    log_temperature: torch.Tensor

    #: softmaxes of the head (one temperature each); set by each head class
    n_softmaxes: int = 1

    def _init_temperatures(self, n_softmaxes: int) -> None:
        """Register ``log_temperature``: ``n_softmaxes`` zeros (temperatures of 1)."""
        self.n_softmaxes = int(n_softmaxes)
        self.register_buffer("log_temperature", torch.zeros(n_softmaxes, dtype=torch.float64))

    def __setstate__(self, state) -> None:
        """Heads pickled before temperatures existed load with temperatures of 1."""
        super().__setstate__(state)
        if "log_temperature" not in self._buffers:
            self._init_temperatures(self._pickled_softmaxes())

    def _pickled_softmaxes(self) -> int:
        """Softmaxes of a head pickled without ``n_softmaxes``: one per factor, else one."""
        factors = getattr(self, "factors", None)
        levels = getattr(self, "n_levels", None)
        return int(levels or (len(factors) if factors is not None and not self._single_softmax() else 1))

    def _single_softmax(self) -> bool:
        return False

    def tempered(self, logits: torch.Tensor, softmax: int = 0) -> torch.Tensor:
        """``logits`` of softmax ``softmax`` divided by its temperature, in their dtype.

        Bit for bit ``logits`` at temperature 1 (a division by one is exact).
        Infinite logits (masked padding) stay as they are and, while the
        temperature is being fitted, out of its gradient.
        """
        temperature = self.log_temperature[softmax].exp().to(logits.dtype)
        if not temperature.requires_grad:
            return logits / temperature
        finite = logits.isfinite()  # -inf / T would give a NaN gradient
        return torch.where(finite, torch.where(finite, logits, 0.0) / temperature, logits)

    @abstractmethod
    def log_proba(self, features: Batch) -> torch.Tensor:
        """Log-probabilities of the valid codes, ``(n, n_classes)`` in float64."""

    @abstractmethod
    def log_likelihood(self, features: Batch, codes: torch.Tensor) -> torch.Tensor:
        """``log p(code | x)`` for the digit rows ``codes`` ``(n, H)``, shape ``(n,)``."""

    def log_scores(self, features: Batch) -> torch.Tensor:
        """The log-probabilities (:meth:`log_proba`)."""
        return self.log_proba(features)
