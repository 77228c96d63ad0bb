"""The single-label MHE methods: which head ``MHEClassifier(method=...)`` builds."""

from __future__ import annotations

from numbers import Integral

import torch
from sklearn.utils._param_validation import Interval, StrOptions

from .codec import LabelCodec
from .nn import SAMPLING_MODES, ProductHead, SamplingHead, SoftmaxCascadeHead

METHODS = ("product", "cascade", "sampling")

METHOD_PARAMETER_CONSTRAINTS: dict = {
    "method": [StrOptions(set(METHODS))],
    "n_candidate_groups": [Interval(Integral, 1, None, closed="left")],
    "embedding_size": [Interval(Integral, 1, None, closed="left")],
    "n_sampled_groups": [Interval(Integral, 1, None, closed="left")],
    "sampling_mode": [StrOptions(set(SAMPLING_MODES))],
}


def make_head(
    estimator,
    in_features: int,
    codec: LabelCodec,
    n_classes: int,
    *,
    init_gain: float,
    generator: torch.Generator,
    sparse_grad: bool,
):
    """The output head for ``estimator.method`` over ``codec``'s factors."""
    if estimator.method == "cascade":
        return SoftmaxCascadeHead(
            in_features,
            codec.factors,
            n_classes,
            estimator.embedding_size,
            estimator.n_candidate_groups,
            init_gain=init_gain,
            generator=generator,
            sparse_grad=sparse_grad,
        )
    if estimator.method == "sampling":
        if sparse_grad:
            raise ValueError(
                "method='sampling' scores dense features: with sparse X it needs at least "
                "one hidden layer (hidden_layer_sizes=() was given)"
            )
        return SamplingHead(
            in_features,
            codec.factors,
            n_classes,
            estimator.n_sampled_groups,
            mode=estimator.sampling_mode,
            generator=generator,
        )
    return ProductHead(
        in_features,
        codec.factors,
        n_classes,
        init_gain=init_gain,
        generator=generator,
        sparse_grad=sparse_grad,
    )


def scores_per_row(estimator, codec: LabelCodec, k: int) -> int:
    """Values a row needs while predicting its top ``k`` (sets inference chunks)."""
    if estimator.method == "sampling":
        return codec.n_codes
    if estimator.method == "cascade":
        return max(codec.factors) * max(k, estimator.n_candidate_groups) + estimator.embedding_size
    return max(sum(codec.factors), max(codec.factors) * (k + codec.n_heads))
