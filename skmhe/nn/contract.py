"""The contract every output head keeps, whatever the method.

A head maps backbone features to scores of codes (labels written in mixed radix, see
:class:`skmhe.LabelCodec`); valid codes are ``< n_classes``. The estimators use a head
only through these four methods, so any head can serve any estimator loop:

* ``loss(features, targets)`` -- the mean training loss of a batch (targets: the digits
  ``(n, H)`` for single-label heads, a :class:`~skmhe.nn.SparseBatch` of label ids for
  multi-label ones);
* ``topk(features, k)`` -- ``(log_scores, codes)`` of the ``k`` best codes, both
  ``(n, k)``, best first;
* ``log_scores(features)`` -- dense float64 log-scores ``(n, n_classes)``;
* ``inference_width(k)`` -- how many values a row holds while its top ``k`` are found
  (it sets the inference chunk size).

Single-label heads are normalised models (:class:`SingleLabelHead`): their log-scores
are log-probabilities, and they also give ``log_likelihood(features, codes)``.
"""

from __future__ import annotations

from abc import ABCMeta, abstractmethod

import torch
from torch import nn

from .layers import Batch

__all__ = ["Head", "SingleLabelHead"]


class Head(nn.Module, metaclass=ABCMeta):
    """Abstract output head: ``loss``, ``topk``, ``log_scores``, ``inference_width``.

    Attributes every head sets: ``factors`` (tuple of int, the code's radix) and
    ``n_classes`` (int, valid codes are below it).
    """

    factors: tuple[int, ...]
    n_classes: int

    @abstractmethod
    def loss(self, features: Batch, targets) -> torch.Tensor:
        """Mean training loss of a batch (a scalar tensor)."""

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
    """A normalised single-label head: its log-scores are log-probabilities."""

    @abstractmethod
    def log_proba(self, features: Batch) -> torch.Tensor:
        """Log-probabilities of the valid codes, ``(n, n_classes)`` in float64."""

    @abstractmethod
    def log_likelihood(self, features: Batch, codes: torch.Tensor) -> torch.Tensor:
        """``log p(code | x)`` for the digit rows ``codes`` ``(n, H)``, shape ``(n,)``."""

    def log_scores(self, features: Batch) -> torch.Tensor:
        """The log-probabilities (:meth:`log_proba`)."""
        return self.log_proba(features)
