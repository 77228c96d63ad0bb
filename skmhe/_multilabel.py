"""MHEMultiLabelClassifier: extreme multi-label classification with a Multi-Head Cascade."""

from __future__ import annotations

import math
from numbers import Integral, Real

import numpy as np
import scipy.sparse as sp
import torch
from sklearn.base import BaseEstimator, ClassifierMixin, _fit_context
from sklearn.utils._param_validation import Interval, StrOptions

from ._atomic import atomic_fit
from ._base import COMMON_PARAMETER_CONSTRAINTS, MHEBase, check_X, hidden_sizes
from ._footprint import backbone_parameter_count, cascade_parameter_count, training_state
from ._label_sets import (
    check_label_space,
    decode_label_sets,
    encode_label_sets,
    indicator_dtype,
    within_label_space,
)
from ._sample_weight import check_sample_weight, weighted_mean
from ._schedule import AUTO_RARE_LABEL_STEPS, RARE_LABEL_POSITIVES
from ._scope import scoped_call
from ._validation import describe_label_change
from .codec import LabelCodec
from .nn import SigmoidCascadeHead

#: largest automatic group size (candidate labels a row costs: n_candidate_groups * group_size)
_MAX_AUTO_GROUP = 128
#: ``embedding_size=None`` scores the features directly while the label table stays this small
_MAX_AUTO_TABLE = 2**26
_AUTO_EMBEDDING = 128
#: most automatic groups: past 128 x 2,048 labels the groups grow instead, so that the group
#: head (one ``width x groups`` layer, the largest product of a step) stays this wide
_MAX_AUTO_GROUPS = 2048
#: ``batch_size="auto"`` takes at least ``n_labels / 256`` rows (a power of two, at most 8,192):
#: past 1e5 labels a step updates most of the label table whatever its rows, so a batch must
#: be large enough to pay for it (1e6 labels: 4.4 CPU-s per 1,000 rows at batch 1,024, 1.5
#: at 4,096; ``benchmarks/RESULTS.md``, "Scale")
_LABELS_PER_BATCH_ROW, _MAX_AUTO_BATCH = 256, 8192
#: ``n_levels="auto"`` is flat (one dense layer over every label) up to this many labels
_AUTO_FLAT_MAX_LABELS = 1024
#: ``n_levels="auto"`` has two levels up to this many labels (2,048 groups of at most 128), three
#: past it: two levels would need larger groups, and at 1e6 labels the 2,045 groups of 489
#: cost a step 40 % more than three levels of 100 (fewer candidate labels a row); at 1e5 labels
#: three levels gave the same mean P@1 over three seeds, P@5 one point lower
#: (``benchmarks/RESULTS.md``, "Scale")
_AUTO_TWO_LEVEL_MAX_LABELS = _MAX_AUTO_GROUP * _MAX_AUTO_GROUPS
#: ``pair_buckets``: the most buckets, and the size of ``"auto"`` (1e5 labels, the group weight
#: on: P@1 / P@5 0.8913 / 0.4025, 0.8942 / 0.4046, 0.8953 / 0.4051 and 0.8955 / 0.4067 with 2**22,
#: 2**23, 2**24 and 2**26 buckets; 2**26 took 1.18x 2**22's time, 2**24 the time of 2**23; at a
#: group weight of 1, 2**24 0.8919 against 2**22's 0.8878; ``benchmarks/RESULTS.md``, "Scale")
MAX_PAIR_BUCKETS, AUTO_PAIR_BUCKETS = 2**30, 2**24


class MHEMultiLabelClassifier(ClassifierMixin, MHEBase, BaseEstimator):
    """Multi-layer perceptron with a Multi-Head Cascade (MHC) multi-label output.

    The labels are cut into groups of ``group_size``: clusters of similar
    labels by default (``label_order``). A group head scores the groups with sigmoids; a
    second stage scores only the labels of the candidate groups, through a
    query projection of the features and a table of label embeddings. While
    training, the candidates are the ``n_candidate_groups`` best groups plus
    every group holding a true label (forced in), and the loss is binary
    cross-entropy over all groups and over the candidate labels. A label's
    score is ``sigmoid(group logit) ** w * sigmoid(label logit)``, ``w`` =
    :data:`skmhe.nn.sigmoid_cascade.GROUP_WEIGHT` (0.5: a group's sigmoid is
    surer than its labels' order warrants, measured); prediction
    scores the labels of the top ``n_candidate_groups`` groups only. With
    ``n_levels=3`` the groups are themselves grouped (for very large ``L``);
    ``n_levels=1`` is the flat one-vs-all output layer (the dense baseline).
    (Liang et al., "Multi-Head Encoding for Extreme Label Classification",
    TPAMI 2024.)

    Parameters
    ----------
    hidden_layer_sizes : array-like of shape (n_layers,), default=(1024,)
        Width of each hidden layer of the backbone.
    activation : {"identity", "logistic", "tanh", "relu"}, default="relu"
        Hidden-layer activation.
    n_levels : {1, 2, 3} or "auto", default="auto"
        Levels of the cascade: 1 flat, 2 groups then labels, 3 groups of
        groups, groups, labels. ``"auto"``: flat up to 1,024 labels, where
        one dense layer over every label is both cheaper per step and at
        least as accurate as the cascade (measured on Bibtex and Corel5k,
        ``benchmarks/RESULTS.md``, "Defaults"); 2 up to 262,144 labels
        (2,048 groups of 128); 3 past it, where two levels would need
        larger groups: at 1e6 labels three levels of 100 train a step
        about 30 % cheaper than 2,045 groups of 489 (at 1e5 labels three
        levels gave the same mean P@1 as two, and P@5 one point lower;
        ``benchmarks/RESULTS.md``, "Scale"). The level count of
        the last fit is ``codec_.n_heads``.
    group_size : int, default=None
        Labels per last-level group. ``None``: ``ceil(L ** (1 / n_levels))``,
        at most 128, and with two levels at least ``ceil(L / 2048)``: past
        262,144 labels (only when ``n_levels=2`` is asked for) the groups
        grow rather than the group head, whose ``width x groups`` product
        was the largest of a step. The group count is ``ceil(L / group_size)``; the
        last group may be short (its padding is never predicted).
    n_candidate_groups : int, default=10
        Groups (prefixes) kept per level, for training (plus the forced true
        groups) and prediction.
    embedding_size : int, default=None
        Size of the label embeddings and of the queries projected from the
        features. ``None``: the features themselves are the queries (no
        projection; embeddings as wide as the last hidden layer) while
        ``n_labels * width <= 2**26``, else 128.
    threshold : float, default=0.5
        :meth:`predict` returns the labels scoring at least this.
    predict_k : int, default=None
        When set, :meth:`predict` returns exactly the ``predict_k`` best labels
        of each sample instead of thresholding.
    pair_buckets : int or "auto", default="auto"
        Size of a hashed table that gives each label a linear model of its
        own over the columns of ``X`` (label-column pairs hashed into
        ``pair_buckets`` values, :mod:`skmhe.ops.hashed_pairs`): the "wide"
        term ``t`` added to the label's last logit, ``sigmoid(z + t)``. It
        learns the residual of the cascade on each training row's 10 best
        labels and its true ones, and re-ranks the beam's 20 best labels at
        prediction (:class:`~skmhe.nn.SigmoidCascadeHead`), weighted there by
        :data:`skmhe.nn.sigmoid_cascade.PAIR_WEIGHT`: ``sigmoid(z + 1.2 t)``
        (learned on training rows, the residual is too small for new ones:
        P@1 +0.2 at 1e5 labels, measured). ``0``: none.
        ``"auto"``: ``2**24`` where the cascade has two levels (1,025 to
        262,144 labels by default) and ``X`` is bag-of-words-like (the input
        layer updated lazily, ``sparse_updates_``: by default a sparse ``X``
        of 4,096 columns or more), else none: on 1e5-label XMC data P@1
        0.875 to 0.888 and P@5 0.384 to 0.393 in 1.21x the training time
        with ``2**22`` buckets, 0.895 and 0.405 with ``2**24``
        (``benchmarks/RESULTS.md``, "Scale"). Costs two float32 values a
        bucket (the value and its Adagrad sum) and, while training, its
        gradient.
    alpha, batch_size, learning_rate, learning_rate_init, max_iter, shuffle, \
random_state, tol, verbose, warm_start, early_stopping, validation_fraction, \
n_iter_no_change, device, proba_memory_limit, sparse_updates, n_jobs
        As in :class:`MHEClassifier` (same meaning, same defaults, shared
        code): ``"auto"`` batch size, rate and epoch budget from the number
        of samples, a cosine schedule, early stopping from 10,000 samples.
        Early stopping watches precision@1 on the held-out rows. Where the
        training rows hold fewer than 10 positives a label on average (extreme
        data, where most labels are rare), the ``"auto"`` epoch budget is about
        1,500 steps instead of 1,000 (at 1e5 labels 9 epochs instead of 6:
        P@1 2 points higher in 1.5x the time; ``benchmarks/RESULTS.md``,
        "Scale"). Here the
        ``"auto"`` batch is also at least ``n_labels / 256`` rows (the power of
        two nearest it, at most 8,192): at 1e5 labels and more a step updates
        most of the label table, whatever its rows. The ``"auto"`` rate stays
        that of the batch the rows alone call for (a batch raised for the
        label table's cost is not a reason to step further: at 1e5 labels the
        raised batch's rate made one draw of three unstable at its peak, P@1
        2 points lower).

    label_order : {"auto", "given"} or array-like of shape (n_labels,), default="auto"
        Which labels share a group. ``"auto"``: balanced clusters of the
        labels' mean (row-normalised, projected) feature rows, as Parabel's
        PIFA clustering, chosen in ``fit`` before the network is built
        (:mod:`skmhe._label_codes`); the flat layer (one level) needs none.
        ``"given"``: contiguous groups of the labels in their order. An
        array: the labels (``classes_`` values) listed in code order.
        :meth:`partial_fit` chooses the groups from its first chunk.
        Predictions and columns stay in the labels' order.

    Attributes
    ----------
    classes_ : ndarray of shape (n_labels,)
        Label of each column: ``arange(n_labels)`` for an indicator ``Y``, the
        sorted label values for label lists, the classes for 1-D ``y``.
    codec_ : LabelCodec
        The label code; its factors are the cascade's levels.
    y_format_ : {"sparse", "dense", "lists", "multiclass"}
        How ``Y`` was given to fit; :meth:`predict` answers the same way.
    network_ : torch.nn.Module
        The trained network.
    n_features_in_, feature_names_in_, n_iter_, t_, loss_curve_, best_loss_, \
validation_scores_, best_validation_score_, seed_, sparse_updates_, \
batch_size_, learning_rate_
        As in :class:`MHEClassifier`.

    Notes
    -----
    Memory. With ``F`` features, one hidden layer of width ``w`` (the
    default), ``L`` labels in ``G = ceil(L / g)`` groups of ``g`` (two levels)
    and label embeddings of size ``d``, the network has

    ``P = (F + 1) w + (w + 1) G + (w + 1) d + (d + 1) G g``

    parameters: the input layer, the group head, the query projection (absent,
    and ``d = w``, when ``embedding_size`` resolves to None) and the label
    table with its biases (``G g >= L`` rows, the last group padded). More
    hidden layers add ``(w_i + 1) w_{i+1}`` each; ``n_levels=1`` is
    ``(F + 1) w + (w + 1) L``; ``n_levels=3`` adds a level of group
    embeddings. Adam keeps two moments per parameter (the lazy Adam of tables
    of 65,536 rows or more too), except the input layer of sparse ``X``
    updated lazily (``sparse_updates``): its row-wise Adagrad keeps one value
    a row. The model and its optimizer hold ``3 P - 2 F w + F`` float32
    values (``3 P`` for dense ``X``), four bytes each; :meth:`memory_estimate`
    computes it. ``pair_buckets = M`` adds ``M`` parameters and ``M``
    optimizer values (Adagrad, one a bucket). With the defaults at
    ``F = 100,000`` sparse features and ``L = 1,000,000`` (three levels of
    100, ``d = 128``; each level after the first has its own query
    projection and table) that is ``P = 233`` million, 2.0 GB. :meth:`predict_topk` scores chunks of rows
    and never forms an ``(n_samples, n_labels)`` matrix.

    See Also
    --------
    MHEClassifier : single-label classification.
    skmhe.metrics.precision_at_k : ranking metrics over :meth:`predict_topk`.

    Examples
    --------
    >>> import scipy.sparse as sp
    >>> from sklearn.datasets import make_multilabel_classification
    >>> from skmhe import MHEMultiLabelClassifier
    >>> X, Y = make_multilabel_classification(n_samples=300, n_classes=20, random_state=0)
    >>> clf = MHEMultiLabelClassifier(max_iter=30, random_state=0).fit(X, sp.csr_matrix(Y))
    >>> labels, scores = clf.predict_topk(X[:2], k=3)
    >>> labels.shape
    (2, 3)
    """

    _parameter_constraints: dict = {
        **COMMON_PARAMETER_CONSTRAINTS,
        "n_levels": [StrOptions({"auto"}), Interval(Integral, 1, 3, closed="both")],
        "group_size": [Interval(Integral, 1, None, closed="left"), None],
        "n_candidate_groups": [Interval(Integral, 1, None, closed="left")],
        "embedding_size": [Interval(Integral, 1, None, closed="left"), None],
        "threshold": [Interval(Real, 0, 1, closed="both")],
        "predict_k": [Interval(Integral, 1, None, closed="left"), None],
        "pair_buckets": [StrOptions({"auto"}), Interval(Integral, 0, MAX_PAIR_BUCKETS, closed="both")],
    }

    def __init__(
        self,
        *,
        hidden_layer_sizes=(1024,),
        activation="relu",
        n_levels="auto",
        group_size=None,
        n_candidate_groups=10,
        embedding_size=None,
        threshold=0.5,
        predict_k=None,
        pair_buckets="auto",
        alpha=1e-4,
        batch_size="auto",
        learning_rate="cosine",
        learning_rate_init="auto",
        max_iter="auto",
        shuffle=True,
        random_state=None,
        tol=1e-4,
        verbose=False,
        warm_start=False,
        early_stopping="auto",
        validation_fraction=0.1,
        n_iter_no_change=3,
        device="auto",
        proba_memory_limit=4 * 2**30,
        sparse_updates="auto",
        n_jobs=None,
        label_order="auto",
    ):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.n_levels = n_levels
        self.group_size = group_size
        self.n_candidate_groups = n_candidate_groups
        self.embedding_size = embedding_size
        self.threshold = threshold
        self.predict_k = predict_k
        self.pair_buckets = pair_buckets
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.warm_start = warm_start
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.device = device
        self.proba_memory_limit = proba_memory_limit
        self.sparse_updates = sparse_updates
        self.n_jobs = n_jobs
        self.label_order = label_order

    # -- pieces used by MHEBase ---------------------------------------------
    def _levels(self, n_labels: int) -> int:
        if self.n_levels == "auto":
            if n_labels <= _AUTO_FLAT_MAX_LABELS:
                return 1
            return 2 if n_labels <= _AUTO_TWO_LEVEL_MAX_LABELS else 3
        return int(self.n_levels)

    def _batch_size(self, n_samples: int) -> int:
        size = super()._batch_size(n_samples)
        if self.batch_size != "auto" or not hasattr(self, "classes_"):
            return size
        by_labels = 2 ** round(math.log2(max(1.0, len(self.classes_) / _LABELS_PER_BATCH_ROW)))
        return int(min(n_samples, max(size, min(_MAX_AUTO_BATCH, by_labels))))

    def _learning_rate(self, batch_size: int, n_samples: int) -> float:
        """The ``"auto"`` rate of the rows' own ``"auto"`` batch, not of one raised for the labels.

        :meth:`_batch_size` raises the batch past the rows' own for the label table's cost
        only; the rate keeps to the rows' batch (1e4 and 1e5 labels, ``benchmarks/RESULTS.md``,
        "Scale": the raised batch's rate at 1e5 labels P@1 0.8953 / 0.8724 / 0.8940 over three
        draws against 0.8962 / 0.8934 / 0.9005; half the rows' rate at 1e4 labels P@5 0.6213
        against 0.6436).
        """
        if self.batch_size == "auto":
            batch_size = min(batch_size, super()._batch_size(n_samples))
        return super()._learning_rate(batch_size, n_samples)

    def _auto_steps(self, Y: sp.csr_matrix) -> int:
        """More steps (:data:`~skmhe._schedule.AUTO_RARE_LABEL_STEPS`) where labels are rare."""
        if Y.nnz < RARE_LABEL_POSITIVES * Y.shape[1]:
            return AUTO_RARE_LABEL_STEPS
        return super()._auto_steps(Y)

    def _make_codec(self, n_labels: int) -> LabelCodec:
        levels = self._levels(n_labels)
        if levels == 1:
            return LabelCodec((n_labels,))
        size = self.group_size
        if size is None:
            size = min(_MAX_AUTO_GROUP, math.ceil(n_labels ** (1 / levels)))
            if levels == 2:
                size = max(size, -(-n_labels // _MAX_AUTO_GROUPS))
        size = max(1, min(int(size), n_labels))
        n_groups = -(-n_labels // size)
        if levels == 2:
            return LabelCodec((n_groups, size))
        return LabelCodec((*LabelCodec.for_n_classes(n_groups, 2).factors, size))

    def _make_head(
        self, in_features: int, *, init_gain: float, generator: torch.Generator, sparse_grad: bool
    ) -> SigmoidCascadeHead:
        return SigmoidCascadeHead(
            in_features,
            self.codec_.factors,
            len(self.classes_),
            self._embedding_size(in_features),
            self.n_candidate_groups,
            init_gain=init_gain,
            generator=generator,
            sparse_grad=sparse_grad,
            pair_buckets=self._pair_buckets(len(self.codec_.factors), self.sparse_updates_),
        )

    def _pair_buckets(self, n_levels: int, lazy_input: bool) -> int:
        """The size of the label-column pairs' table (``pair_buckets``), 0 for none."""
        if self.pair_buckets == "auto":
            return AUTO_PAIR_BUCKETS if n_levels == 2 and lazy_input else 0
        return int(self.pair_buckets)

    def _embedding_size(self, width: int, n_labels: int | None = None) -> int | None:
        if self.embedding_size is not None:
            return int(self.embedding_size)
        n_labels = len(self.classes_) if n_labels is None else n_labels
        return None if n_labels * width <= _MAX_AUTO_TABLE else _AUTO_EMBEDDING

    def _targets(self, Y: sp.csr_matrix) -> sp.csr_matrix:
        """``Y`` with its columns moved to the labels' codes (the head's columns)."""
        order = self.codec_.order
        if order is None:
            return Y
        coded = sp.csr_matrix((Y.data, order[Y.indices], Y.indptr), shape=Y.shape)
        coded.sort_indices()
        return coded

    def _validation_score(self, X, Y: sp.csr_matrix, sample_weight=None) -> float:
        top = self._topk_indices(X, 1)[0][:, 0]
        return weighted_mean(np.asarray(Y[np.arange(Y.shape[0]), top]).ravel() != 0, sample_weight)

    # -- public API -------------------------------------------------------------
    @_fit_context(prefer_skip_nested_validation=True)
    @atomic_fit(incremental=False)
    @scoped_call
    def fit(self, X, y, sample_weight=None):
        """Fit the model to ``X`` and the label sets ``y``.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Dense array, pandas DataFrame or scipy sparse matrix (TF-IDF, bag
            of words: fed to a sparse first layer, never densified whole).
        y : sparse matrix or array-like of shape (n_samples, n_labels), or list of label lists
            A 0/1 indicator (sparse or dense), the label list of each sample
            (``MultiLabelBinarizer`` semantics), or one label per sample
            (1-D; the model then behaves as a multiclass classifier).
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weight of each sample: its loss counts ``w`` times
            (an integer weight is the sample repeated, a zero weight the
            sample dropped), and so does its precision@1 in the
            early-stopping validation score. The validation split is drawn as without
            weights. None: every sample weighs one.

        Returns
        -------
        self : MHEMultiLabelClassifier
        """
        continuing = self.warm_start and hasattr(self, "network_")
        X = check_X(self, X, reset=not continuing)
        Y, classes, form = encode_label_sets(y, X.shape[0])
        sample_weight = check_sample_weight(sample_weight, X)
        if continuing:
            if not np.array_equal(classes, self.classes_):
                raise ValueError(
                    "warm_start needs the same labels as the previous fit: got "
                    f"{len(classes)} labels, had {len(self.classes_)}"
                )
        else:
            self._start(X, classes, form, y, Y, sample_weight)
        self._train(X, Y, incremental=False, sample_weight=sample_weight)
        return self

    def _start(self, X, classes: np.ndarray, form: str, y, Y: sp.csr_matrix, sample_weight=None) -> None:
        """A fresh label space, label code (from ``X`` and the indicator ``Y``) and network."""
        self.classes_, self.y_format_, self._y_dtype = classes, form, indicator_dtype(y)
        codec = self._make_codec(len(classes))
        self.codec_ = self._label_codes(X, Y, codec, "hierarchical", sample_weight)
        self._initialise(X)

    @_fit_context(prefer_skip_nested_validation=True)
    @atomic_fit(incremental=True)
    @scoped_call
    def partial_fit(self, X, y, classes=None):
        """Train for one epoch over ``(X, y)``, for data streamed in chunks.

        The first call fixes the label space: ``classes`` when given, else
        the columns of an indicator ``y`` (or the labels of the first chunk
        for label lists and 1-D ``y``). Every later chunk must fit in it. Each
        call runs one epoch at the constant peak rate (no schedule, no
        early stopping), as :meth:`MHEClassifier.partial_fit`.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
        y : sparse matrix or array-like of shape (n_samples, n_labels), or list of label lists
            As in :meth:`fit`; an indicator must have ``n_labels`` columns on
            every call.
        classes : array-like of shape (n_labels,), default=None
            Every label that will ever appear, distinct; checked (not needed)
            after the first call. For an indicator, its length is the width
            and its ``j``-th smallest value names column ``j`` (usually
            ``np.arange(n_labels)``).

        Returns
        -------
        self : MHEMultiLabelClassifier

        Raises
        ------
        ValueError
            An indicator narrower or wider than the label space, a label
            outside it, values other than 0 and 1, or ``classes`` other than
            on the first call. The model is then left exactly as it was.

        Notes
        -----
        A call that continues training first copies the network and the
        optimizer state (see :func:`skmhe._atomic.atomic_fit`), so that one
        that raises leaves the model as it was.
        """
        first = not hasattr(self, "network_")
        X = check_X(self, X, reset=first)
        Y, labels, form = encode_label_sets(y, X.shape[0])
        if classes is not None:
            classes = check_label_space(classes)
            if not first and not np.array_equal(classes, self.classes_):
                raise ValueError(
                    "`classes` is not the same as on the first call to partial_fit: "
                    f"{describe_label_change(self.classes_, classes)}"
                )
        if first:
            space = labels if classes is None else classes
            Y = within_label_space(Y, labels, form, space)
            self._start(X, space, form, y, Y)
        else:
            Y = within_label_space(Y, labels, form, self.classes_)
        self._train(X, Y, incremental=True)
        return self

    def memory_estimate(self, n_features: int, n_labels: int, *, sparse: bool = True) -> dict[str, int]:
        """Size of the model and of its optimizer state for data of this shape, before fitting.

        The parameters are counted from the formula in the class Notes (the
        backbone, the group head, the query projection and the label table),
        for the current parameters; no network is built.

        Parameters
        ----------
        n_features : int
            Columns of ``X``.
        n_labels : int
            Columns of the indicator ``Y``.
        sparse : bool, default=True
            Whether ``X`` will be a sparse matrix: its input layer is then
            updated lazily (``sparse_updates``, on by default from 4,096
            columns) by row-wise Adagrad, one optimizer value a row.

        Returns
        -------
        estimate : dict
            ``"parameters"`` (weights and biases), ``"optimizer_state"`` (Adam's
            two moments per parameter, lazy or not, but one value a row of a
            lazily updated input layer) and ``"bytes"`` (both, in float32).
            Training adds the gradients (of the dense parameters; of the rows
            a batch holds for the input layer and the label tables) and the
            batch's activations; early stopping on a
            validation split (``early_stopping="auto"`` from 10,000 rows) keeps
            one copy of the parameters, the best ones so far, written over in
            place at each improvement: in memory below 256 MiB, in a temporary
            file from there (:mod:`skmhe._spill`); a ``partial_fit`` (or warm start) that
            continues training adds one copy of the parameters and optimizer
            state (see :func:`skmhe._atomic.atomic_fit`).
        """
        sizes = hidden_sizes(self.hidden_layer_sizes)
        width = sizes[-1] if sizes else int(n_features)
        factors = self._make_codec(int(n_labels)).factors
        embedding = self._embedding_size(width, int(n_labels))
        head = cascade_parameter_count(width, factors, embedding)
        if not self._lazy_input(sparse, n_features):
            row_wise = []
        elif sizes:
            row_wise = [(n_features, sizes[0])]
        else:  # the head reads X: its group layer and its query projections
            queries = [] if embedding is None else [(n_features, embedding)] * (len(factors) - 1)
            row_wise = [(n_features, factors[0]), *queries]
        # one value a bucket, and Adagrad's one sum a bucket
        pairs = self._pair_buckets(len(factors), self._lazy_input(sparse, n_features))
        if pairs:
            row_wise = [*row_wise, (pairs, 1)]
        return training_state(backbone_parameter_count(n_features, sizes) + head + pairs, row_wise)

    @scoped_call
    def predict_topk(self, X, k=5):
        """The ``k`` best-scoring labels of each sample, best first.

        Only the labels of the top ``max(k, n_candidate_groups)`` groups of
        each level are scored.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
        k : int, default=5
            ``1 <= k <= n_labels``.

        Returns
        -------
        labels : ndarray of shape (n_samples, k)
            Column indices of the indicator ``Y`` (the label values when fit
            on label lists or 1-D ``y``); ties go to the earlier label.
        scores : ndarray of float64, shape (n_samples, k)
            Each label's score, in ``(0, 1)``: the product of the sigmoids
            along its path, those above the last level raised to
            ``GROUP_WEIGHT`` (see the class).
        """
        X = self._check_predict(X)
        idx, scores = self._topk_indices(X, self._check_k(k))
        return self.classes_[idx], scores

    @scoped_call
    def predict_proba(self, X):
        """Score of every label, in the open interval ``(0, 1)``.

        For a model fit on 1-D ``y`` the scores are normalised to sum to one
        per row (multiclass probabilities).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        proba : ndarray of float64, shape (n_samples, n_labels)

        Raises
        ------
        ValueError
            When the result would exceed ``proba_memory_limit`` bytes; use
            :meth:`predict_topk` then.
        """
        X = self._check_predict(X)
        log_scores = self._dense_log_scores(X)
        if self.y_format_ == "multiclass":
            log_scores -= np.logaddexp.reduce(log_scores, axis=1, keepdims=True)
        tiny = np.finfo(np.float64).tiny
        proba = np.exp(log_scores, out=log_scores)  # in place: proba_memory_limit bounds the peak
        return np.clip(proba, tiny, np.nextafter(1.0, 0.0), out=proba)

    @scoped_call
    def decision_function(self, X):
        """Log-odds of every label's score (positive where the score exceeds 1/2).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        scores : ndarray of float64, shape (n_samples, n_labels)
            Shape ``(n_samples,)`` for a model fit on 1-D ``y`` with two classes
            (the log-odds of the second class against the first).
        """
        X = self._check_predict(X)
        log_scores = self._dense_log_scores(X)
        if self.y_format_ == "multiclass":
            log_scores -= np.logaddexp.reduce(log_scores, axis=1, keepdims=True)
            if log_scores.shape[1] == 2:
                return log_scores[:, 1] - log_scores[:, 0]
            return log_scores
        return log_scores - np.log(-np.expm1(np.minimum(log_scores, -1e-300)))

    @scoped_call
    def predict(self, X):
        """Predicted label sets, in the form ``y`` was given to fit.

        The labels scoring at least ``threshold`` among the candidates, or the
        ``predict_k`` best when it is set; for 1-D ``y`` the single best label.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        Y : csr_matrix, ndarray, list of tuples or 1-D ndarray
            Sparse indicator if fit on a sparse ``Y``, dense 0/1 array if on a
            dense one (both in the dtype of that ``Y``: bool in, bool out), a
            tuple of labels per sample if on label lists, labels if on 1-D ``y``.
        """
        X = self._check_predict(X)
        n, n_labels = X.shape[0], len(self.classes_)
        if self.y_format_ == "multiclass":
            return self.classes_[self._topk_indices(X, 1)[0][:, 0]]
        if self.predict_k is not None:
            k = min(int(self.predict_k), n_labels)
        else:
            k = min(n_labels, max(self.n_candidate_groups, 1) * self.codec_.factors[-1])
        idx, scores = self._topk_indices(X, k)
        keep = np.ones_like(scores, dtype=bool) if self.predict_k else scores >= self.threshold
        rows = np.repeat(np.arange(n), k).reshape(n, k)
        Y = sp.csr_matrix(
            (np.ones(int(keep.sum()), dtype=np.int64), (rows[keep], idx[keep])), shape=(n, n_labels)
        )
        return decode_label_sets(Y, self.classes_, self.y_format_, getattr(self, "_y_dtype", np.int64))

    def score(self, X, y, sample_weight=None):
        """Subset accuracy: the share of samples whose predicted label set is exact.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
        y : labels in any form :meth:`fit` takes
        sample_weight : array-like of shape (n_samples,), default=None

        Returns
        -------
        score : float
        """
        predicted = self.predict(X)
        if self.y_format_ == "lists":
            hits = np.array([set(p) == set(t) for p, t in zip(predicted, y)], dtype=float)
            return float(np.average(hits, weights=sample_weight))
        return super().score(X, y, sample_weight=sample_weight)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        tags.target_tags.multi_output = True
        return tags
