"""A linear layer that takes dense rows or a CSR batch (sparse-aware first layer)."""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn


class SparseBatch(NamedTuple):
    """Rows of a CSR matrix as the three flat tensors ``embedding_bag`` takes.

    Attributes
    ----------
    indices : Tensor of int64, shape (nnz,)
        Column of each stored value.
    offsets : Tensor of int64, shape (n_rows,)
        Start of each row in ``indices`` (``indptr[:-1]``).
    values : Tensor of float32, shape (nnz,)
        The stored values.
    """

    indices: torch.Tensor
    offsets: torch.Tensor
    values: torch.Tensor

    @property
    def n_rows(self) -> int:
        """Number of rows in the batch."""
        return int(self.offsets.shape[0])

    def to(self, device: torch.device | str) -> "SparseBatch":
        """Move all three tensors to ``device``."""
        return SparseBatch(*(t.to(device, non_blocking=True) for t in self))

    def double(self) -> "SparseBatch":
        """The same batch with float64 values."""
        return SparseBatch(self.indices, self.offsets, self.values.double())


Batch = torch.Tensor | SparseBatch


class SparseLinear(nn.Module):
    """``y = x @ W + b`` for dense ``x`` or a :class:`SparseBatch`.

    The weight is stored as ``(in_features, out_features)`` so a sparse batch
    is a weighted ``embedding_bag`` sum over its non-zero columns: the input
    matrix is never densified, and a bag-of-words or one-hot input costs
    ``O(nnz * out_features)``.

    Parameters
    ----------
    in_features, out_features : int
        Layer sizes.
    init_gain : float, default=6.0
        Glorot-uniform bound ``sqrt(init_gain / (fan_in + fan_out))`` (6 as
        scikit-learn's MLP uses for every activation but logistic, which uses 2).
    generator : torch.Generator, optional
        Source of randomness for the initialisation (global RNG untouched).
    sparse_grad : bool, default=False
        Give the weight a sparse gradient (only the rows of the columns
        present in a :class:`SparseBatch`), for a lazy optimizer such as
        ``torch.optim.SparseAdam``. Such a layer must then be fed sparse
        batches while training.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        *,
        init_gain: float = 6.0,
        generator: torch.Generator | None = None,
        sparse_grad: bool = False,
    ):
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        self.sparse_grad = sparse_grad
        bound = math.sqrt(init_gain / (in_features + out_features))
        weight = torch.empty(in_features, out_features).uniform_(-bound, bound, generator=generator)
        bias = torch.empty(out_features).uniform_(-bound, bound, generator=generator)
        self.weight = nn.Parameter(weight)
        self.bias = nn.Parameter(bias)

    def sparse_parameters(self) -> list[tuple[nn.Parameter, bool]]:
        """Parameters with sparse gradients, each with whether L2 applies to it."""
        return [(self.weight, True)] if self.sparse_grad else []

    def forward(self, x: Batch) -> torch.Tensor:
        if isinstance(x, SparseBatch):
            values = x.values.to(self.weight.dtype)
            if self.sparse_grad and self.weight.requires_grad and torch.is_grad_enabled():
                out = _SparseRowsBag.apply(self.weight, x.indices, x.offsets, values)
            else:
                out = F.embedding_bag(x.indices, self.weight, x.offsets, mode="sum", per_sample_weights=values)
            # a row's sum does not depend on the batch: float64 values only widen the result
            return out.to(x.values.dtype) + self.bias.to(x.values.dtype)
        # float64 rows (precise CPU inference) use float64 copies of the weights
        return torch.addmm(self.bias.to(x.dtype), x, self.weight.to(x.dtype))

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, "
            f"sparse_grad={self.sparse_grad}"
        )


class _SparseRowsBag(torch.autograd.Function):
    """``embedding_bag(mode="sum")`` whose weight gradient is sparse and already coalesced.

    ``embedding_bag(sparse=True)`` returns one gradient row per stored entry of
    the batch (``nnz x out_features`` values, summed later by a sort); here
    the distinct columns of the batch are found once and their rows computed
    as one weighted ``embedding_bag`` over ``grad_out`` (a bag per distinct column).
    """

    @staticmethod
    def forward(ctx, weight, indices, offsets, values):
        ctx.save_for_backward(indices, offsets, values)
        ctx.weight_shape = weight.shape
        return F.embedding_bag(indices, weight, offsets, mode="sum", per_sample_weights=values)

    @staticmethod
    def backward(ctx, grad_out):
        indices, offsets, values = ctx.saved_tensors
        n = grad_out.shape[0]
        counts = torch.diff(offsets, append=offsets.new_tensor([indices.shape[0]]))
        rows = torch.repeat_interleave(torch.arange(n, device=indices.device), counts)
        unique, inverse = torch.unique(indices, return_inverse=True)
        order = torch.argsort(inverse, stable=True)
        starts = torch.zeros(unique.shape[0], dtype=torch.int64, device=indices.device)
        starts[1:] = torch.cumsum(torch.bincount(inverse, minlength=unique.shape[0]), 0)[:-1]
        # row j of the gradient sums values * grad_out[row] over the entries of column unique[j]:
        # a weighted embedding_bag over grad_out, one bag a distinct column (the forward's
        # kernel; 5x faster than a sparse CSR product, which zero-fills and copies its result)
        rows_grad = F.embedding_bag(
            rows[order], grad_out, starts, mode="sum", per_sample_weights=values[order].to(grad_out.dtype)
        )
        grad = torch.sparse_coo_tensor(
            unique.unsqueeze(0), rows_grad, ctx.weight_shape, is_coalesced=True, check_invariants=False
        )
        return grad, None, None, None
