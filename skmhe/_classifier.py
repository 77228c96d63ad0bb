"""MHEClassifier: single-label extreme classification with a Multi-Head Product output."""

from __future__ import annotations

from numbers import Integral

import numpy as np
import scipy.sparse as sp
import torch
from sklearn.base import (
    BaseEstimator,
    ClassifierMixin,
    ClassNamePrefixFeaturesOutMixin,
    TransformerMixin,
    _fit_context,
)
from sklearn.utils._param_validation import Interval

from ._atomic import atomic_fit
from ._base import COMMON_PARAMETER_CONSTRAINTS, MHEBase, check_X, hidden_sizes
from ._calibration import CALIBRATION_PARAMETER_CONSTRAINTS, calibrate, start_calibration
from ._head_registry import LABEL_CODES, METHOD_PARAMETER_CONSTRAINTS, make_head
from ._sample_weight import check_sample_weight, weighted_mean
from ._scope import scoped_call
from ._validation import check_class_labels, describe_label_change, refuse_sparse_labels
from .codec import LabelCodec
from .nn.contract import SingleLabelHead


class MHEClassifier(
    ClassifierMixin, ClassNamePrefixFeaturesOutMixin, TransformerMixin, MHEBase, BaseEstimator
):
    """Multi-layer perceptron with a Multi-Head Encoding output layer.

    A label among ``C`` classes is written in mixed radix over ``H`` factors
    ``(C_1, ..., C_H)`` with ``prod(C_h) >= C``. The network outputs ``H``
    short logit vectors (``sum(C_h)`` numbers instead of ``C``), is trained
    with one softmax cross-entropy per head, and models the full label
    distribution as the Kronecker product of the heads' softmaxes
    (Liang et al., "Multi-Head Encoding for Extreme Label Classification",
    TPAMI 2024). Prediction and top-k are exact over the product space
    without materialising it; codes ``>= C`` are never predicted.

    ``method`` picks one of the paper's three single-label forms:

    * ``"cascade"`` (MHC, default): a softmax over the ``C_1`` groups, then a
      softmax over the labels of the chosen group, scored through label
      embeddings (``p(y) = p(group) * p(label | group)``, three levels for
      three factors); training scores only the true group's labels. A true
      distribution, within a point of the dense softmax's accuracy at a
      fraction of its cost: the default;
    * ``"product"`` (MHP): the Kronecker product of the head softmaxes, as
      above; the cheapest, exact top-k, but a product of independent heads
      (poor perplexity, weaker when classes sharing a digit are unrelated);
    * ``"sampling"`` (MHS): a full ``(C_1, C_2, d)`` softmax classifier,
      trained each step on the true group plus ``n_sampled_groups - 1``
      sampled groups only, used whole at test time.

    With ``factors=(n_classes,)`` every method is exactly a dense softmax
    MLP, the baseline every comparison uses. :meth:`transform` returns the
    last hidden layer, so a fitted model is also a feature extractor.

    Parameters
    ----------
    factors : tuple of int, default=None
        Head sizes. ``None`` picks balanced factors for ``n_heads`` heads with
        the least padding (:meth:`LabelCodec.for_n_classes`). Their product
        must be at least the number of classes.
    n_heads : int, default=2
        Number of heads when ``factors`` is None.
    method : {"cascade", "product", "sampling"}, default="cascade"
        The MHE output layer (see above). The cascade is the default: on PTB
        it is the only method within a point of the dense softmax's top-1 at
        several times its throughput (``benchmarks/RESULTS.md``, "Defaults").
    hidden_layer_sizes : array-like of shape (n_layers,), default=(256,)
        Width of each hidden layer of the backbone. ``()`` makes the model
        linear in the features.
    activation : {"identity", "logistic", "tanh", "relu"}, default="relu"
        Hidden-layer activation.
    alpha : float, default=1e-4
        L2 penalty on the weights, scaled by the batch size as in
        :class:`~sklearn.neural_network.MLPClassifier`.
    batch_size : int or "auto", default="auto"
        Minibatch size. ``"auto"``: the power of two nearest
        ``sqrt(n_samples)``, between 32 and 2048 (64 rows for 4,000 samples,
        1024 for a million): small data gets many small steps, large data
        large batches, which cost much less per row (measured in
        ``benchmarks/RESULTS.md``, "Defaults").
    learning_rate : {"cosine", "linear", "constant"}, default="cosine"
        Schedule of Adam's rate over the epoch budget of each :meth:`fit`: a
        linear warm-up over the first 5% of the steps from a tenth of
        ``learning_rate_init``, then a cosine (or linear) decay towards zero
        at ``max_iter`` epochs, so that a small fixed budget lands near its
        best. ``"constant"`` is :class:`~sklearn.neural_network.MLPClassifier`'s
        Adam. :meth:`partial_fit` always uses the constant peak rate.
    learning_rate_init : float or "auto", default="auto"
        Adam's peak rate. ``"auto"``: ``3e-3 * sqrt(batch_size / 64)``, the
        square-root scaling of the rate with the batch size. The input
        layer of sparse ``X`` updated lazily (``sparse_updates``) takes 32 times
        this rate, under row-wise Adagrad: each of its rows moves only in the
        steps whose batch holds its column, by steps that shrink with the
        row's own updates.
    max_iter : int or "auto", default="auto"
        Epoch budget of :meth:`fit` (the schedule's length). ``"auto"``:
        enough epochs for about 1,000 optimizer steps, between 2 and 10 (10
        epochs up to about 10,000 samples, 3 at 100,000, 2 from about 500,000
        on), so a default fit's cost grows about linearly with the data and
        ends by itself: two passes over a million rows at most.
    shuffle : bool, default=True
        Shuffle the samples every epoch.
    random_state : int, RandomState instance or None, default=None
        Seeds the initialisation, shuffling and validation split. An int
        makes CPU training reproducible at a given thread count: the default
        ``n_jobs=None`` follows the machine's load, and sums split over
        another number of threads can differ in the last bits, so pass an
        int ``n_jobs`` too where two fits must agree bit for bit. The global
        torch and numpy RNGs are never touched.
    tol : float, default=1e-4
        Minimal improvement of the validation score (or, without a validation
        split, of the training loss) over ``n_iter_no_change`` epochs.
    verbose : int, default=0
        ``1``: a progress bar over the epochs (loss, validation score,
        rows/s), one inside each long epoch, and a line per epoch with its
        loss, validation score, seconds and rows/s.
    warm_start : bool, default=False
        Continue from the previous fit's network (a new schedule over
        ``max_iter`` epochs).
    early_stopping : bool or "auto", default="auto"
        Hold out ``validation_fraction`` of the data (not stratified, which
        extreme label spaces rarely allow), stop when its accuracy stalls for
        ``n_iter_no_change`` epochs, and keep the best network. ``"auto"``
        (as :class:`~sklearn.ensemble.HistGradientBoostingClassifier`): on
        from 10,000 training samples; below that every sample trains and
        there is no validation split.
    validation_fraction : float, default=0.1
        Share of the training data held out for early stopping.
    n_iter_no_change : int, default=3
        Epochs without a ``tol`` improvement before stopping. The budget is at
        most 10 epochs and the rate decays, so three stalled epochs mean the
        score has peaked.
    device : str or torch.device, default="auto"
        ``"auto"`` trains on CUDA when available, else on the CPU.
    proba_memory_limit : int, default=4 * 2**30
        Bytes that :meth:`predict_proba` (and the other dense-output methods)
        may allocate for their ``(n_samples, n_classes)`` float64 result;
        above it they raise and point to :meth:`predict_topk`.
    sparse_updates : "auto" or bool, default="auto"
        Update the input layer lazily: sparse gradients and row-wise Adagrad
        (one accumulator a row, as for recommenders' embedding tables), so a
        step touches only the weight rows of the features present in the
        batch (the L2 penalty too). Much faster for wide sparse inputs
        (bag-of-words, one-hot word contexts), and a rare feature's row learns
        in the few steps that hold it. ``"auto"`` turns it on when the ``X`` of
        the first fit is a sparse matrix with at least 4096 features. Results
        differ from ``False`` (Adam on every weight).
    n_candidate_groups : int, default=8
        ``method="cascade"``: groups (prefixes) kept per level when predicting
        (the beam width; at least ``k`` are kept for top-``k``).
    embedding_size : int, default=32
        ``method="cascade"``: size of the label embeddings and queries. 32
        trains 1.45x faster than 64 on PTB at the same perplexity
        (``benchmarks/RESULTS.md``, "Defaults").
    n_sampled_groups : int, default=8
        ``method="sampling"``: groups in each row's training softmax, the
        true one included.
    sampling_mode : {"random", "batch"}, default="random"
        ``method="sampling"``: ``"random"`` draws the other groups uniformly
        for each row; ``"batch"`` uses the union of the batch's true groups.
    n_jobs : int or None, default=None
        Torch threads of each call (:meth:`fit`, :meth:`partial_fit`, the
        predictions, :meth:`transform`): set on entry and restored on exit,
        torch's thread count being process-wide. ``None``: the idle cores,
        ``cores - round(load)``, at least one, where the load is the smaller
        of the 1-minute load average and the other processes' threads
        running now (the average alone would count this process's own recent
        work, such as loading the data just before): one thread on
        a busy machine, where two threads made default fits 7x (sparse, 2,000
        classes) to 17x (digits) slower, and every core on a quiet one, where
        two threads trained 1.6x faster than one (``benchmarks/RESULTS.md``,
        "Threads"). ``-1``: every core; ``n``: ``n`` threads; ``-n``: every
        core but ``n - 1``. Never more than the process already allows
        (``OMP_NUM_THREADS``, :func:`torch.set_num_threads`,
        ``threadpoolctl.threadpool_limits``).
    calibration : {"auto", "temperature"} or None, default=None
        Temperature scaling after training: the logits of each softmax of the
        head (each head of ``"product"``, each level of ``"cascade"``, the one
        softmax of ``"sampling"`` or of the dense model) are divided by a
        temperature fitted to minimise the negative log-likelihood of the
        validation split that ``early_stopping`` holds out (at most 10,000 of
        its rows; temperatures within ``[0.01, 100]``). The probabilities of
        :meth:`predict_proba`, :meth:`predict_log_proba`,
        :meth:`predict_topk` and :meth:`log_likelihood` all use them; with
        several temperatures the top-ranked classes of ``"product"`` and
        ``"cascade"`` may change too (they did not in the measurements).
        ``"auto"``: calibrate when a validation split is held out (from
        10,000 samples with ``early_stopping="auto"``), else keep
        temperatures of 1. ``"temperature"``: the same, but a fit without a
        validation split raises. ``None`` (default): temperatures of 1, the
        network as trained. Off by default, as measured
        (``benchmarks/RESULTS.md``, "Calibration"): it cut the test log-loss
        of every method on sparse synthetic data (from 0.05-0.11 to at most
        0.0014) but lowered it for only two methods of four on PTB and for
        none on digit pairs, whose test images are never in the training
        (and validation) data: the temperatures suit data distributed as the
        validation split. :meth:`partial_fit` holds out nothing: it resets
        the temperatures to 1. The validation log-likelihood is unweighted
        (``sample_weight`` does not enter it).

    label_order : {"auto", "given"} or array-like of shape (n_classes,), default="auto"
        Which code each class gets. ``"auto"``: chosen from the training data
        before the network is built, from each class's mean (row-normalised,
        projected) row and its log-frequency: for the product and the cascade,
        codes whose digits' vectors add up to each class's (the product's
        logit is such a sum; the cascade's groups are then the first digit);
        for sampling, balanced 2-means clusters (:mod:`skmhe._label_codes`;
        measured in ``benchmarks/RESULTS.md``, "Label codes"). ``"given"``:
        the sorted order of the classes. An array: the classes listed in code
        order. Predictions, ``classes_`` and the
        columns of :meth:`predict_proba` are in the classes' order whatever
        the code. :meth:`partial_fit` chooses the code from its first call's
        data.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        Class labels.
    codec_ : LabelCodec
        The mixed-radix code of the class indices; ``codec_.order`` holds the
        code of each class (None for the given order).
    network_ : torch.nn.Module
        The trained network (backbone and product head).
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Defined when X has string feature names.
    n_iter_ : int
        Number of epochs run.
    t_ : int
        Number of training samples seen.
    loss_curve_ : list of float
        Mean training loss of each epoch.
    best_loss_ : float or None
        Lowest training loss (None with early stopping).
    validation_scores_ : list of float or None
        Validation accuracy per epoch (early stopping only).
    best_validation_score_ : float or None
        Best validation accuracy (early stopping only).
    batch_size_ : int
        The minibatch size of the last fit (``batch_size`` resolved).
    learning_rate_ : float
        Adam's peak rate of the last fit (``learning_rate_init`` resolved).
    seed_ : int
        Torch seed drawn from ``random_state`` for this fit.
    sparse_updates_ : bool
        Whether the input layer is updated lazily (see ``sparse_updates``).
    temperatures_ : ndarray of float64, shape (n_softmaxes,)
        The temperature of each softmax of the head (see ``calibration``);
        ones when not calibrated.

    See Also
    --------
    LabelCodec : the mixed-radix code.
    skmhe.ops.kronecker_topk : exact top-k over the product space.

    Examples
    --------
    >>> from skmhe import MHEClassifier
    >>> from skmhe.datasets import make_extreme_classification
    >>> X, y = make_extreme_classification(n_samples=2000, n_classes=100, random_state=0)
    >>> clf = MHEClassifier(max_iter=20, random_state=0).fit(X, y)
    >>> clf.codec_.factors
    (10, 10)
    >>> labels, proba = clf.predict_topk(X[:3], k=5)
    >>> labels.shape
    (3, 5)
    """

    _parameter_constraints: dict = {
        **COMMON_PARAMETER_CONSTRAINTS,
        **METHOD_PARAMETER_CONSTRAINTS,
        **CALIBRATION_PARAMETER_CONSTRAINTS,
        "factors": ["array-like", None],
        "n_heads": [Interval(Integral, 1, None, closed="left")],
    }

    def __init__(
        self,
        *,
        factors=None,
        n_heads=2,
        method="cascade",
        hidden_layer_sizes=(256,),
        activation="relu",
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
        n_candidate_groups=8,
        embedding_size=32,
        n_sampled_groups=8,
        sampling_mode="random",
        n_jobs=None,
        calibration=None,
        label_order="auto",
    ):
        self.factors = factors
        self.n_heads = n_heads
        self.method = method
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
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
        self.n_candidate_groups = n_candidate_groups
        self.embedding_size = embedding_size
        self.n_sampled_groups = n_sampled_groups
        self.sampling_mode = sampling_mode
        self.n_jobs = n_jobs
        self.calibration = calibration
        self.label_order = label_order

    # -- pieces used by MHEBase ---------------------------------------------
    def _make_codec(self, n_classes: int) -> LabelCodec:
        if self.factors is None:
            return LabelCodec.for_n_classes(n_classes, self.n_heads)
        codec = LabelCodec(self.factors)
        if codec.n_codes < n_classes:
            raise ValueError(
                f"factors {codec.factors} give {codec.n_codes} codes, fewer than the "
                f"{n_classes} classes in y"
            )
        return codec

    def _make_head(
        self, in_features: int, *, init_gain: float, generator: torch.Generator, sparse_grad: bool
    ) -> SingleLabelHead:
        return make_head(
            self.method,
            in_features,
            self.codec_.factors,
            len(self.classes_),
            embedding_size=self.embedding_size,
            n_candidate_groups=self.n_candidate_groups,
            n_sampled_groups=self.n_sampled_groups,
            sampling_mode=self.sampling_mode,
            init_gain=init_gain,
            generator=generator,
            sparse_grad=sparse_grad,
        )

    def _targets(self, y_index: np.ndarray) -> np.ndarray:
        return self.codec_.encode(y_index)

    def _validation_score(self, X, y_index: np.ndarray, sample_weight=None) -> float:
        return weighted_mean(self._topk_indices(X, 1)[0][:, 0] == y_index, sample_weight)

    def _calibrate(self, X_val, y_val) -> None:
        self.temperatures_ = calibrate(self, X_val, y_val)

    # -- label handling -------------------------------------------------------
    def _check_y(self, y, *, classes_known: bool = False) -> np.ndarray:
        return check_class_labels(y, classes_known=classes_known)

    def _positions(self, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Positions of ``y`` in ``classes_`` (clipped) and the mask of unseen labels."""
        idx = np.clip(np.searchsorted(self.classes_, y), 0, len(self.classes_) - 1)
        return idx.astype(np.int64), self.classes_[idx] != y

    def _index_of(self, y: np.ndarray) -> np.ndarray:
        """Positions of ``y`` in ``classes_``; ValueError for unseen labels."""
        idx, unseen = self._positions(y)
        if np.any(unseen):
            raise ValueError(
                f"y contains labels not seen in classes_: {np.unique(y[unseen])[:10].tolist()}"
            )
        return idx

    def _start(self, X, classes: np.ndarray, y: np.ndarray, sample_weight=None) -> np.ndarray:
        """New classes, label code and network for ``(X, y)``; returns ``y``'s class positions."""
        self.classes_ = classes
        y_index = self._index_of(y)
        rows = sp.csr_matrix(
            (np.ones(len(y_index), dtype=np.float32), (np.arange(len(y_index)), y_index)),
            shape=(len(y_index), len(classes)),
        )
        codec = self._make_codec(len(classes))
        self.codec_ = self._label_codes(X, rows, codec, LABEL_CODES[self.method], sample_weight)
        self._initialise(X)
        return y_index

    # -- public API -------------------------------------------------------------
    @_fit_context(prefer_skip_nested_validation=True)
    @atomic_fit(incremental=False)
    @scoped_call
    def fit(self, X, y, sample_weight=None):
        """Fit the model to ``X`` and ``y``.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Dense array, pandas DataFrame or scipy sparse matrix (CSR is used
            row by row, never densified whole).
        y : array-like of shape (n_samples,)
            Class labels of any type (ints, strings, ...).
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weight of each sample: its loss counts ``w`` times
            (an integer weight is the sample repeated, a zero weight the
            sample dropped), and so does its hit in the early-stopping
            validation score. The validation split is drawn as without
            weights. None: every sample weighs one.

        Returns
        -------
        self : MHEClassifier
        """
        continuing = self.warm_start and hasattr(self, "network_")
        refuse_sparse_labels(y, type(self).__name__)
        X, y = check_X(self, X, y=y, reset=not continuing)
        y = self._check_y(y)
        sample_weight = check_sample_weight(sample_weight, X)
        start_calibration(self, X.shape[0], continuing)
        if continuing:
            unseen = np.setdiff1d(np.unique(y), self.classes_)
            if unseen.size:
                raise ValueError(
                    "warm_start can only be used where `y` has the same classes as in the "
                    f"previous call to fit; new labels: {unseen[:10].tolist()}"
                )
            y_index = self._index_of(y)
        else:
            y_index = self._start(X, np.unique(y), y, sample_weight)
        self._train(X, y_index, incremental=False, sample_weight=sample_weight)
        return self

    @_fit_context(prefer_skip_nested_validation=True)
    @atomic_fit(incremental=True)
    @scoped_call
    def partial_fit(self, X, y, classes=None, sample_weight=None):
        """Train for one epoch over ``(X, y)``.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
        classes : array-like of shape (n_classes,), default=None
            All classes that will ever appear; required on the first call,
            ignored (but checked) afterwards.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weight of each sample's loss, as in :meth:`fit`
            (scaled to a mean of one within the call).

        Returns
        -------
        self : MHEClassifier

        Notes
        -----
        A call that raises leaves the model as it was. To that end a call that
        continues training first copies the network and the optimizer state
        (one extra copy of the weights and the Adam moments while it runs,
        e.g. about 15% of a one-batch step of a 2M-parameter network on a
        CPU). It trains the network as it is and holds out no validation split,
        so it leaves the temperatures at 1 (``temperatures_``): calibrated
        probabilities come from :meth:`fit` (see ``calibration``).
        """
        first = not hasattr(self, "network_")
        if first and classes is None:
            raise ValueError("classes must be passed on the first call to partial_fit.")
        refuse_sparse_labels(y, type(self).__name__)
        X, y = check_X(self, X, y=y, reset=first)
        y = self._check_y(y, classes_known=True)
        sample_weight = check_sample_weight(sample_weight, X)
        if classes is not None:
            classes = np.unique(np.asarray(classes))
            if not first and not np.array_equal(classes, self.classes_):
                raise ValueError(
                    "`classes` is not the same as on the first call to partial_fit: "
                    f"{describe_label_change(self.classes_, classes)}"
                )
        y_index = self._start(X, classes, y, sample_weight) if first else self._index_of(y)
        self._train(X, y_index, incremental=True, sample_weight=sample_weight)
        return self

    @scoped_call
    def predict_topk(self, X, k=5):
        """The ``k`` most probable classes of each sample, best first.

        ``method="product"``: exact over the product space, at a cost of
        ``O(n * (k + H) * max(factors))`` instead of ``O(n * n_classes)``.
        ``"cascade"``: a beam search keeping ``max(k, n_candidate_groups)``
        prefixes per level. ``"sampling"``: exact over the full classifier.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
        k : int, default=5
            ``1 <= k <= n_classes``.

        Returns
        -------
        labels : ndarray of shape (n_samples, k)
            Drawn from ``classes_``; ties go to the earlier class.
        proba : ndarray of float64, shape (n_samples, k)
            Their probabilities (the same values as :meth:`predict_proba`).
        """
        X = self._check_predict(X)
        idx, proba = self._topk_indices(X, self._check_k(k))
        return self.classes_[idx], proba

    @property
    def _n_features_out(self) -> int:
        return self.network_.backbone.out_features

    @scoped_call
    def transform(self, X):
        """The backbone's last hidden layer: the features the model learned.

        With Multi-Head Sampling this is the paper's pretraining product; any
        method works. Float32 input gives float32 output, anything else
        float64.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        features : ndarray of shape (n_samples, n_features_out)
            Rows of ``X`` as seen by the output layer: with
            ``hidden_layer_sizes=()`` that is ``X`` itself after validation
            (float32 values; a sparse matrix stays sparse).
        """
        dtype = np.float32 if getattr(X, "dtype", None) == np.float32 else np.float64
        X = self._check_predict(X)
        if not hidden_sizes(self.hidden_layer_sizes):
            return X.astype(dtype)
        out = np.empty((X.shape[0], self._n_features_out), dtype=dtype)
        for rows, features in self._feature_batches(X, self._n_features_out):
            out[rows] = features.cpu().numpy()
        return out

    @scoped_call
    def predict(self, X):
        """Most probable class of each sample.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        y : ndarray of shape (n_samples,)
        """
        X = self._check_predict(X)
        return self.classes_[self._topk_indices(X, 1)[0][:, 0]]

    @scoped_call
    def predict_log_proba(self, X):
        """Log-probability of every class (rows log-sum-exp to zero).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        log_proba : ndarray of float64, shape (n_samples, n_classes)

        Raises
        ------
        ValueError
            When the result would exceed ``proba_memory_limit`` bytes.
        """
        return self._dense_log_scores(self._check_predict(X))

    @scoped_call
    def predict_proba(self, X):
        """Probability of every class (rows sum to one).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        proba : ndarray of float64, shape (n_samples, n_classes)

        Raises
        ------
        ValueError
            When the result would exceed ``proba_memory_limit`` bytes; use
            :meth:`predict_topk` then.
        """
        out = self.predict_log_proba(X)
        return np.exp(out, out=out)  # in place: proba_memory_limit bounds the peak

    @scoped_call
    def log_likelihood(self, X, y):
        """Log-probability the model gives each sample's own label.

        ``log p(y_i | x_i)`` under the method's normalised model, computed
        without a dense probability matrix for the product and the cascade
        (``O(n * sum(factors))``); the mean
        of its negation is the cross-entropy, its ``exp`` the perplexity.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
            Labels; one not in ``classes_`` has probability 0 (``-inf``).

        Returns
        -------
        log_likelihood : ndarray of float64, shape (n_samples,)
        """
        X = self._check_predict(X)
        y = np.asarray(y)
        if y.ndim != 1 or y.shape[0] != X.shape[0]:
            raise ValueError(f"y must have shape ({X.shape[0]},), got {y.shape}")
        idx, unseen = self._positions(y)
        codes = torch.from_numpy(self.codec_.encode(idx))
        out = np.empty(X.shape[0], dtype=np.float64)
        head = self.network_.head
        device, width = self._device, head.inference_width(1)
        for rows, features in self._feature_batches(X, width):
            with torch.no_grad():
                out[rows] = head.log_likelihood(features, codes[rows].to(device)).cpu().numpy()
        out[unseen] = -np.inf
        return out

    @scoped_call
    def decision_function(self, X):
        """Class scores: log-probabilities, or their log-odds for two classes.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        scores : ndarray of shape (n_samples,) for two classes, else (n_samples, n_classes)
        """
        log_proba = self.predict_log_proba(X)
        if log_proba.shape[1] == 2:
            return log_proba[:, 1] - log_proba[:, 0]
        return log_proba
