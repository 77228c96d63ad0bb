"""Torch modules: sparse-aware MLP backbone and multi-head output layers."""

from .backbone import ACTIVATIONS, MLPBackbone, init_gain
from .heads import ProductHead
from .layers import SparseBatch, SparseLinear
from .model import MHENetwork

__all__ = [
    "ACTIVATIONS",
    "MLPBackbone",
    "MHENetwork",
    "ProductHead",
    "SparseBatch",
    "SparseLinear",
    "init_gain",
]
