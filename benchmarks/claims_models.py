"""Small torch models and a training loop for the paper-claim experiments (``bench_claims``).

* :class:`RankOneClassifier`: a learnable feature extractor ending in one
  scalar ``z``, then logits ``z * w (+ b)``: a rank-1 classifier, with or
  without a bias (without it, ``rank([W, B]) = 1``).
* :func:`gmhe_logits` / :class:`GMHENet`: G-MHE, the rank-G form of MHE
  (Liang et al., TPAMI 2024, Eq. 16): the network outputs ``G`` groups of
  ``H`` heads; the Kronecker products of each group's head outputs are summed
  over the groups and a softmax over the full label space is taken. Two
  readings of "head outputs": the heads' softmaxes (``form="proba"``: a mean
  of ``G`` product distributions; ``G = 1`` is exactly the Multi-Head
  Product) or their raw logits (``form="logit"``: full-space logits of rank
  at most ``G`` as a ``C_1 x C_2`` matrix, the low-rank approximation view).
* :class:`DenseNet`: the same backbone with one ``C``-wide softmax head.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


def mlp(n_features: int, hidden: Sequence[int]) -> tuple[nn.Module, int]:
    """ReLU MLP feature extractor and its output width (``n_features`` when ``hidden`` is empty)."""
    layers, width = [], n_features
    for h in hidden:
        layers += [nn.Linear(width, h), nn.ReLU()]
        width = h
    return nn.Sequential(*layers), width


class RankOneClassifier(nn.Module):
    """Feature extractor -> scalar ``z`` -> logits ``z * w + b`` (``b`` only with ``bias``).

    The classifier matrix ``W`` (``C x hidden``) factors as ``w u^T``: rank 1.
    Without the bias every logit vector is a multiple of ``w``, so the argmax is
    ``argmax(w)`` when ``z > 0`` and ``argmin(w)`` when ``z < 0``: at most two
    classes can ever be predicted, whatever the extractor learns.
    """

    def __init__(self, n_features: int, n_classes: int, hidden: Sequence[int], bias: bool):
        super().__init__()
        self.backbone, width = mlp(n_features, hidden)
        self.to_scalar = nn.Linear(width, 1)
        self.classifier = nn.Linear(1, n_classes, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.to_scalar(self.backbone(x)))


class DenseNet(nn.Module):
    """Feature extractor -> one ``C``-wide linear classifier (full rank)."""

    def __init__(self, n_features: int, n_classes: int, hidden: Sequence[int]):
        super().__init__()
        self.backbone, width = mlp(n_features, hidden)
        self.classifier = nn.Linear(width, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.backbone(x))


FORMS = ("proba", "logit")


def gmhe_logits(head_logits: torch.Tensor, factors: Sequence[int], form: str = "proba") -> torch.Tensor:
    """Full-space G-MHE logits from ``G`` groups of concatenated head logits.

    ``head_logits`` has shape ``(n, G, sum(factors))``; the result has shape
    ``(n, prod(factors))`` with codes in :class:`skmhe.LabelCodec` order (head
    0 most significant). The sum over groups of Kronecker products of the head
    outputs, read two ways:

    * ``"proba"``: the head outputs are the heads' softmaxes, so
      ``exp(L) = sum_g kron_h softmax(o_{g,h})`` and
      ``L = logsumexp_g(outer sum over heads of log_softmax(o_{g,h}))``. For
      ``G = 1`` ``L`` is exactly the outer sum of the heads' log-softmaxes (the
      Multi-Head Product); in general ``softmax(L) = exp(L) / G``, the mean of
      ``G`` product distributions.
    * ``"logit"``: the head outputs are raw logits, ``L = sum_g kron_h o_{g,h}``
      (products, not sums, of the heads' logits): with two heads ``L``
      reshaped to ``C_1 x C_2`` is a matrix of rank at most ``G``, the low-rank
      approximation of the dense logits; ``G >= min(C_1, C_2)`` can express
      any logits.
    """
    factors = [int(f) for f in factors]
    if head_logits.dim() != 3 or head_logits.shape[2] != sum(factors):
        raise ValueError(f"head_logits must be (n, G, {sum(factors)}), got {tuple(head_logits.shape)}")
    if form not in FORMS:
        raise ValueError(f"form must be one of {FORMS}, got {form!r}")
    parts = torch.split(head_logits, factors, dim=2)
    if form == "logit":
        joint = parts[0]
        for part in parts[1:]:
            joint = (joint[..., :, None] * part[..., None, :]).flatten(-2)
        return joint.sum(dim=1)
    parts = [p.log_softmax(dim=-1) for p in parts]
    joint = parts[0]
    for part in parts[1:]:
        joint = (joint[..., :, None] + part[..., None, :]).flatten(-2)
    return torch.logsumexp(joint, dim=1)


class GMHENet(nn.Module):
    """Feature extractor -> ``G`` groups of ``H`` heads -> full-space logits (:func:`gmhe_logits`).

    ``G * sum(factors)`` outputs instead of ``C``; the loss is the softmax
    cross-entropy over the ``n_classes`` first codes of the full space.
    """

    def __init__(self, n_features: int, factors: Sequence[int], groups: int, hidden: Sequence[int],
                 n_classes: int | None = None, form: str = "proba"):
        super().__init__()
        self.factors, self.groups, self.form = tuple(int(f) for f in factors), int(groups), form
        self.n_classes = n_classes or math.prod(self.factors)
        self.backbone, width = mlp(n_features, hidden)
        self.heads = nn.Linear(width, self.groups * sum(self.factors))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.heads(self.backbone(x)).view(x.shape[0], self.groups, sum(self.factors))
        return gmhe_logits(out, self.factors, self.form)[:, : self.n_classes]


def frobenius_loss(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Mean over rows of ``||logits - onehot(y)||^2`` (the Frobenius-norm fit of the label matrix)."""
    return ((logits - F.one_hot(y, logits.shape[1]).to(logits.dtype)) ** 2).sum(dim=1).mean()


def train(model: nn.Module, X: np.ndarray, y: np.ndarray, *, loss: str = "ce", epochs: int = 30,
          lr: float = 1e-3, batch_size: int = 128, seed: int = 0) -> list[float]:
    """Minibatch Adam on ``loss`` (``"ce"``: softmax cross-entropy, ``"mse"``: :func:`frobenius_loss`).

    Returns the mean training loss of each epoch.
    """
    Xt, yt = torch.as_tensor(X, dtype=torch.float32), torch.as_tensor(y, dtype=torch.long)
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    fn = F.cross_entropy if loss == "ce" else frobenius_loss
    curve = []
    model.train()
    for _ in range(epochs):
        order, total = torch.randperm(len(yt), generator=gen), 0.0
        for start in range(0, len(yt), batch_size):
            rows = order[start : start + batch_size]
            value = fn(model(Xt[rows]), yt[rows])
            opt.zero_grad(set_to_none=True)
            value.backward()
            opt.step()
            total += value.detach().item() * len(rows)
        curve.append(total / len(yt))
    return curve


@torch.no_grad()
def predict(model: nn.Module, X: np.ndarray, batch_size: int = 4096) -> np.ndarray:
    """Argmax class of each row."""
    model.eval()
    Xt = torch.as_tensor(X, dtype=torch.float32)
    return torch.cat([model(Xt[i : i + batch_size]).argmax(dim=1) for i in range(0, len(Xt), batch_size)]).numpy()
