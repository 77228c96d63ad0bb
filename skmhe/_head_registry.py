"""Which output head ``MHEClassifier(method=...)`` builds: the registry of single-label heads.

A head takes explicit arguments, never the estimator (see :mod:`skmhe.nn.contract`).
"""

from __future__ import annotations

from collections.abc import Sequence
from numbers import Integral

import torch
from sklearn.utils._param_validation import Interval, StrOptions

from .nn import SAMPLING_MODES, ProductHead, SamplingHead, SoftmaxCascadeHead
from .nn.contract import SingleLabelHead

#: ``method`` -> the head class it builds (MHP, MHC, MHS of the paper)
HEADS: dict[str, type[SingleLabelHead]] = {
    "product": ProductHead,
    "cascade": SoftmaxCascadeHead,
    "sampling": SamplingHead,
}
METHODS = tuple(HEADS)
#: ``method`` -> the data-aware label code it uses (:mod:`skmhe._label_codes`): the
#: product's logit is a sum over digits; the cascade's groups did best as the first digit
#: of the same code (digit pairs: 0.950 against 0.898 for 2-means clusters, PTB equal);
#: the sampling head is indifferent (``benchmarks/RESULTS.md``, "Label codes")
LABEL_CODES: dict[str, str] = {
    "product": "additive",
    "cascade": "additive",
    "sampling": "hierarchical",
}

METHOD_PARAMETER_CONSTRAINTS: dict = {
    "method": [StrOptions(set(METHODS))],
    "n_candidate_groups": [Interval(Integral, 1, None, closed="left")],
    "embedding_size": [Interval(Integral, 1, None, closed="left")],
    "n_sampled_groups": [Interval(Integral, 1, None, closed="left")],
    "sampling_mode": [StrOptions(set(SAMPLING_MODES))],
}


def make_head(
    method: str,
    in_features: int,
    factors: Sequence[int],
    n_classes: int,
    *,
    embedding_size: int,
    n_candidate_groups: int,
    n_sampled_groups: int,
    sampling_mode: str,
    init_gain: float,
    generator: torch.Generator,
    sparse_grad: bool,
) -> SingleLabelHead:
    """The head :data:`HEADS` maps ``method`` to, over ``factors``, given only what it uses."""
    head_class = HEADS[method]
    if head_class is SoftmaxCascadeHead:
        return SoftmaxCascadeHead(
            in_features,
            factors,
            n_classes,
            embedding_size,
            n_candidate_groups,
            init_gain=init_gain,
            generator=generator,
            sparse_grad=sparse_grad,
        )
    if head_class is SamplingHead:
        if sparse_grad:
            raise ValueError(
                "method='sampling' scores dense features: with sparse X it needs at least "
                "one hidden layer (hidden_layer_sizes=() was given)"
            )
        return SamplingHead(
            in_features, factors, n_classes, n_sampled_groups, mode=sampling_mode, generator=generator
        )
    return head_class(
        in_features,
        factors,
        n_classes,
        init_gain=init_gain,
        generator=generator,
        sparse_grad=sparse_grad,
    )
