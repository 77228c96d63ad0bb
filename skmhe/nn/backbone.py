"""Multi-layer perceptron backbone with a sparse-aware first layer."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from .layers import Batch, SparseLinear

ACTIVATIONS = {
    "identity": nn.Identity,
    "logistic": nn.Sigmoid,
    "tanh": nn.Tanh,
    "relu": nn.ReLU,
}


def init_gain(activation: str) -> float:
    """Glorot bound numerator, as in scikit-learn's MLP (2 for logistic, else 6)."""
    return 2.0 if activation == "logistic" else 6.0


class MLPBackbone(nn.Module):
    """Stack of ``SparseLinear -> activation`` layers.

    With no hidden layers it is the identity (and passes sparse batches
    through untouched, so the head becomes the sparse-aware layer).

    Parameters
    ----------
    n_features : int
        Input width.
    hidden_layer_sizes : sequence of int
        Width of each hidden layer.
    activation : {"identity", "logistic", "tanh", "relu"}
        Non-linearity after every hidden layer.
    generator : torch.Generator, optional
        Source of randomness for the initialisation.
    sparse_grad : bool, default=False
        Sparse gradients for the first (input) layer, see :class:`SparseLinear`.
    """

    def __init__(
        self,
        n_features: int,
        hidden_layer_sizes: Sequence[int],
        activation: str = "relu",
        *,
        generator: torch.Generator | None = None,
        sparse_grad: bool = False,
    ):
        super().__init__()
        sizes = [n_features, *hidden_layer_sizes]
        layers: list[nn.Module] = []
        for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
            layers.append(
                SparseLinear(
                    fan_in,
                    fan_out,
                    init_gain=init_gain(activation),
                    generator=generator,
                    sparse_grad=sparse_grad and i == 0,
                )
            )
            layers.append(ACTIVATIONS[activation]())
        self.layers = nn.ModuleList(layers)
        self.out_features = sizes[-1]

    def forward(self, x: Batch) -> Batch:
        for layer in self.layers:
            x = layer(x)
        return x
