"""Backbone + head, the network an estimator trains."""

from __future__ import annotations

import torch
from torch import nn

from .layers import Batch


class MHENetwork(nn.Module):
    """Compose a feature backbone and an output head.

    Parameters
    ----------
    backbone : nn.Module
        Maps a batch (dense or :class:`~skmhe.nn.SparseBatch`) to features.
    head : nn.Module
        Scores features: a :class:`~skmhe.nn.contract.Head` (``loss``, ``topk``,
        ``log_scores``, ``inference_width``), or any module with ``loss``.
    """

    def __init__(self, backbone: nn.Module, head: nn.Module):
        super().__init__()
        self.backbone = backbone
        self.head = head

    def forward(self, x: Batch) -> Batch:
        """The backbone's features of ``x`` (what every head method takes)."""
        return self.backbone(x)

    def loss(self, x: Batch, targets, sample_weight: torch.Tensor | None = None) -> torch.Tensor:
        """Training loss of a batch: the head's loss on the backbone's features.

        ``sample_weight`` (one weight a row) is passed to the head only when
        given, so a head without weights keeps working unweighted; the batch
        ``x`` itself (``inputs=``) only to a head whose ``takes_inputs`` is true.
        """
        features = self.backbone(x)
        kwargs = {"inputs": x} if getattr(self.head, "takes_inputs", False) else {}
        if sample_weight is not None:
            kwargs["sample_weight"] = sample_weight
        return self.head.loss(features, targets, **kwargs)

    def output_parameters(self) -> int:
        """Number of parameters in the output layer (the head)."""
        return sum(p.numel() for p in self.head.parameters())
