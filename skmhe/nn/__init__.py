"""Torch modules: sparse-aware MLP backbone and the multi-head output layers (one head contract)."""

from .backbone import ACTIVATIONS, MLPBackbone, init_gain
from .cascade import CascadeLevels, SoftmaxCascadeHead
from .contract import Head, SingleLabelHead
from .heads import ProductHead
from .layers import SparseBatch, SparseLinear
from .model import MHENetwork
from .sampling import SAMPLING_MODES, SamplingHead
from .sigmoid_cascade import SigmoidCascadeHead
from .tables import EmbeddingTable

__all__ = [
    "ACTIVATIONS",
    "CascadeLevels",
    "EmbeddingTable",
    "Head",
    "MLPBackbone",
    "MHENetwork",
    "ProductHead",
    "SAMPLING_MODES",
    "SamplingHead",
    "SigmoidCascadeHead",
    "SingleLabelHead",
    "SoftmaxCascadeHead",
    "SparseBatch",
    "SparseLinear",
    "init_gain",
]
