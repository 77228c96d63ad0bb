"""Backbone + head, the network an estimator trains."""

from __future__ import annotations

from torch import nn

from .layers import Batch


class MHENetwork(nn.Module):
    """Compose a feature backbone and an output head.

    Parameters
    ----------
    backbone : nn.Module
        Maps a batch (dense or :class:`~skmhe.nn.SparseBatch`) to features.
    head : nn.Module
        Maps features to head logits; also provides ``loss`` and ``topk``.
    """

    def __init__(self, backbone: nn.Module, head: nn.Module):
        super().__init__()
        self.backbone = backbone
        self.head = head

    def forward(self, x: Batch):
        return self.head(self.backbone(x))
