"""Code shared by the skmhe estimators: devices, RNG, input checks, training, batching."""

from __future__ import annotations

import copy
import warnings
from numbers import Integral, Real

import numpy as np
import scipy.sparse as sp
import torch
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted, validate_data

from ._batching import RowSubset, iter_slices, rows_to_batch
from ._callbacks import History, NoImprovementStopping
from ._distributed import agreed_seed, data_parallel, training_device
from ._sample_weight import mean_one_weights
from ._schedule import (
    AUTO_EARLY_STOPPING_MIN_SAMPLES,
    AUTO_STEPS,
    SCHEDULES,
    auto_batch_size,
    auto_learning_rate,
    auto_max_iter,
    lr_schedule,
)
from ._label_codes import resolve_label_order
from ._threads import N_JOBS_CONSTRAINT
from ._training import Trainer, make_optimizer, restore_optimizer, sparse_gradient_parameters
from ._validation import check_float32_range, check_k, format_bytes
from .codec import LabelCodec
from .nn import MHENetwork, MLPBackbone, init_gain
from .nn.precision import exact, precise

#: ``sparse_updates="auto"`` turns lazy updates on for sparse X at least this wide; below
#: it the input layer is small and a dense Adam step is cheaper than coalescing
SPARSE_UPDATE_MIN_FEATURES = 4096

#: rows whose columns are put in the labels' order at once (dense outputs of a label-ordered code)
_PERMUTE_ROWS = 64
# elements per intermediate inference buffer (~64 MB of float32)
_INFERENCE_ELEMENTS = 2**24

COMMON_PARAMETER_CONSTRAINTS: dict = {
    "hidden_layer_sizes": ["array-like", Interval(Integral, 1, None, closed="left")],
    "activation": [StrOptions({"identity", "logistic", "tanh", "relu"})],
    "alpha": [Interval(Real, 0, None, closed="left")],
    "batch_size": [StrOptions({"auto"}), Interval(Integral, 1, None, closed="left")],
    "learning_rate": [StrOptions(set(SCHEDULES))],
    "learning_rate_init": [StrOptions({"auto"}), Interval(Real, 0, None, closed="neither")],
    "max_iter": [StrOptions({"auto"}), Interval(Integral, 1, None, closed="left")],
    "shuffle": ["boolean"],
    "random_state": ["random_state"],
    "tol": [Interval(Real, 0, None, closed="left")],
    "verbose": ["verbose"],
    "warm_start": ["boolean"],
    "early_stopping": [StrOptions({"auto"}), "boolean"],
    "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
    "n_iter_no_change": [Interval(Integral, 1, None, closed="left")],
    "device": [str, torch.device],
    "proba_memory_limit": [Interval(Integral, 1, None, closed="left")],
    "sparse_updates": [StrOptions({"auto"}), "boolean"],
    "n_jobs": N_JOBS_CONSTRAINT,
    "label_order": [StrOptions({"auto", "given"}), "array-like"],
}


def hidden_sizes(hidden_layer_sizes) -> tuple[int, ...]:
    """Normalise ``hidden_layer_sizes`` (int or sequence) to a tuple of positive ints."""
    if isinstance(hidden_layer_sizes, (Integral, np.integer)):
        sizes = (int(hidden_layer_sizes),)
    else:
        sizes = tuple(hidden_layer_sizes)
    if not all(isinstance(s, (Integral, np.integer)) and s > 0 for s in sizes):
        raise ValueError(f"hidden_layer_sizes must be positive ints, got {hidden_layer_sizes!r}")
    return tuple(int(s) for s in sizes)


def resolve_device(device) -> torch.device:
    """``"auto"`` -> CUDA when available, else CPU; other values as given.

    Raises
    ------
    ValueError
        For anything but ``"auto"``, ``"cpu"``, ``"cuda"`` or ``"cuda:N"``
        (strings or :class:`torch.device`), for CUDA where it is not
        available, and for a CUDA index beyond the visible devices.
    """
    if isinstance(device, str) and device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    accepted = "'auto', 'cpu', 'cuda' or 'cuda:N'"
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(f"device must be {accepted}, got {device!r}") from exc
    if dev.type not in ("cpu", "cuda"):
        raise ValueError(f"device must be {accepted}, got {device!r} (device type {dev.type!r})")
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device={device!r} was asked for but CUDA is not available")
    if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
        raise ValueError(
            f"device={device!r} was asked for but only {torch.cuda.device_count()} CUDA "
            "device(s) are visible"
        )
    return dev


def check_X(estimator, X, *, reset: bool, y="no_validation"):
    """sklearn validation of ``X`` (and ``y``): finite, 2-D, numeric; CSR stays sparse.

    Values beyond the float32 range are refused (see :func:`check_float32_range`).

    Returns float32 ``X`` (ndarray or CSR), and ``y`` unless it is left at
    ``"no_validation"``. Raises
    ValueError/TypeError before any torch work.
    """
    kwargs = dict(accept_sparse="csr", dtype=(np.float32, np.float64), reset=reset)
    no_y = isinstance(y, str) and y == "no_validation"
    if no_y:
        X = validate_data(estimator, X, **kwargs)
    else:  # y=None here raises sklearn's "requires y to be passed" error
        X, y = validate_data(estimator, X, y, **kwargs)
    check_float32_range(X, getattr(estimator, "feature_names_in_", None))
    if sp.issparse(X):
        X = X.astype(np.float32) if X.dtype != np.float32 else X
        X.sort_indices()
    else:
        X = np.asarray(X, dtype=np.float32)
    return X if no_y else (X, y)


class MHEBase:
    """Mixin holding what every skmhe estimator shares.

    Subclasses provide ``_make_head(in_features, *, init_gain, generator,
    sparse_grad)`` (their output head, see :mod:`skmhe.nn.contract`),
    ``_targets(y_index)`` (training targets for the head's loss) and
    ``_validation_score(X, y_index, sample_weight)``; the backbone, the top-k and the dense
    output loops are here, once.
    """

    # -- configuration -------------------------------------------------
    def _batch_size(self, n_samples: int) -> int:
        if self.batch_size == "auto":
            return auto_batch_size(n_samples)
        return max(1, min(int(self.batch_size), n_samples))

    def _learning_rate(self, batch_size: int, n_samples: int) -> float:
        """Peak rate for steps of ``batch_size`` rows over ``n_samples`` training rows."""
        if self.learning_rate_init == "auto":
            return auto_learning_rate(batch_size)
        return float(self.learning_rate_init)

    def _max_iter(self, n_samples: int, batch_size: int, steps: int = AUTO_STEPS) -> int:
        if self.max_iter == "auto":
            return auto_max_iter(n_samples, batch_size, steps)
        return int(self.max_iter)

    def _auto_steps(self, y_index) -> int:
        """The steps ``max_iter="auto"`` budgets for these training targets."""
        return AUTO_STEPS

    def _uses_validation(self, n_samples: int) -> bool:
        """Whether ``fit`` holds out a validation split (``early_stopping``)."""
        if self.early_stopping == "auto":
            return n_samples >= AUTO_EARLY_STOPPING_MIN_SAMPLES
        return bool(self.early_stopping)

    def _draw_seed(self) -> int:
        return int(check_random_state(self.random_state).randint(np.iinfo(np.int32).max))

    @property
    def _device(self) -> torch.device:
        return next(self.network_.parameters()).device

    def _label_codes(
        self, X, Y: sp.csr_matrix, codec: LabelCodec, kind: str, sample_weight=None
    ) -> LabelCodec:
        """``codec`` with the label order that ``label_order`` asks for (``Y``: the rows' classes).

        A row's weight counts as that many copies of it, in the labels' means and frequencies.
        """
        if sample_weight is not None:
            Y = sp.csr_matrix(sp.diags(np.asarray(sample_weight, dtype=np.float64)) @ Y)
        seed = agreed_seed(self._draw_seed())  # every rank of a data-parallel fit: the same code
        order = resolve_label_order(self.label_order, self.classes_, X, Y, codec.factors, kind, seed)
        return codec if order is None else LabelCodec(codec.factors, order)

    # -- training ------------------------------------------------------
    def _lazy_input(self, sparse_X: bool, n_features: int) -> bool:
        """Whether ``sparse_updates`` resolves to lazy input-layer updates for such ``X``."""
        if self.sparse_updates == "auto":
            return bool(sparse_X and n_features >= SPARSE_UPDATE_MIN_FEATURES)
        return bool(self.sparse_updates)

    def _initialise(self, X) -> None:
        """Fresh network, optimizer state and history for data shaped like ``X``."""
        n_features = X.shape[1]
        self.sparse_updates_ = self._lazy_input(sp.issparse(X), n_features)
        self.seed_ = agreed_seed(self._draw_seed())  # rank 0's seed on every rank
        generator = torch.Generator().manual_seed(self.seed_)
        device = training_device(resolve_device(self.device))
        self.network_ = self._make_network(n_features, generator).to(device)
        self._optimizer = None
        self.n_iter_, self.t_ = 0, 0
        self.loss_curve_ = []
        validation = self._uses_validation(X.shape[0])
        self.validation_scores_ = [] if validation else None
        self.best_loss_ = np.inf if not validation else None
        self.best_validation_score_ = -np.inf if validation else None

    def _train(self, X, y_index: np.ndarray, *, incremental: bool, sample_weight=None) -> None:
        """Run the training loop: the epoch budget for fit, one epoch for partial_fit.

        ``sample_weight`` (checked by :func:`~skmhe._sample_weight.check_sample_weight`,
        or None) weights each training row's loss and each validation row's
        score; the validation split is drawn as without weights. The training
        rows' weights are scaled to a mean of one (see
        :func:`~skmhe.nn.contract.row_mean`).

        ``fit`` runs ``max_iter`` epochs (``"auto"``: see
        :func:`skmhe._schedule.auto_max_iter`) under the ``learning_rate``
        schedule, stopping early on the validation score when a validation
        split is held out. ``partial_fit`` runs one epoch at the constant
        peak rate. Inside an initialised ``torch.distributed`` process group of
        several ranks, every rank must call it with the same data: training is
        then data-parallel (see :mod:`skmhe._distributed`).
        """
        n = X.shape[0]
        replica = data_parallel(self.network_, sparse_gradient_parameters(self.network_), n)
        score = X_val = y_val = None
        if self.validation_scores_ is not None and not incremental:
            weights = () if sample_weight is None else (sample_weight,)
            # the split's row indices (the rows train_test_split(X, ...) would take): the
            # training rows are read from X in place, only the validation rows are copied
            train_rows, val_rows, y_index, y_val, *split_weights = train_test_split(
                np.arange(n), y_index, *weights, test_size=self.validation_fraction,
                random_state=self.seed_ + self.n_iter_,
            )
            X, X_val = RowSubset(X, train_rows), X[val_rows]
            if X_val.shape[0] == 0 or X.shape[0] == 0:
                raise ValueError(
                    f"validation_fraction={self.validation_fraction} leaves an empty "
                    f"training or validation set for {n} samples"
                )
            sample_weight, w_val = split_weights or (None, None)
            score = self._scorer(X_val, y_val, replica, w_val)
        n_train = X.shape[0]
        sample_weight = mean_one_weights(sample_weight)
        batch_size = self._batch_size(n_train)
        peak = self._learning_rate(batch_size, n_train)
        epochs = 1 if incremental else self._max_iter(n_train, batch_size, self._auto_steps(y_index))
        if self._optimizer is None:
            self._optimizer = make_optimizer(self.network_, peak, self.alpha, batch_size)
        self.batch_size_, self.learning_rate_ = batch_size, peak
        kind = "constant" if incremental else self.learning_rate
        steps = epochs * -(-n_train // batch_size)
        trainer = Trainer(
            network=self.network_,
            optimizer=self._optimizer,
            device=self._device,
            batch_size=batch_size,
            shuffle=self.shuffle,
            generator=torch.Generator().manual_seed(self.seed_ + self.n_iter_),
            verbose=int(self.verbose),
            sparse_batches=self.sparse_updates_,
            replica=replica,
            learning_rate=lr_schedule(kind, peak, steps),
        )
        history = History()
        stopper = None
        if not incremental:
            monitor = "loss" if score is None else "val_score"
            stopper = NoImprovementStopping(monitor, self.tol, self.n_iter_no_change)
        stopped = trainer.fit(
            X,
            self._targets(y_index),
            max_epochs=epochs,
            stopper=stopper,
            history=history,
            score=score,
            sample_weight=sample_weight,
        )
        self._record(history, n_train=n_train)
        self._calibrate(X_val, y_val)
        if not incremental and not stopped and kind == "constant" and len(history.epochs) == epochs:
            warnings.warn(
                f"Stochastic Optimizer: Maximum iterations ({epochs}) reached and "
                "the optimization hasn't converged yet.",
                ConvergenceWarning,
                stacklevel=3,
            )

    def _calibrate(self, X_val, y_val) -> None:
        """After training, on the validation split (None without one): nothing by default."""

    def _scorer(self, X_val, y_val, replica, w_val=None):
        """The validation score as a function of nothing, each rank scoring its share of the rows.

        ``w_val``: the validation rows' weights (None: unweighted).
        """
        if replica is None:
            return lambda: self._validation_score(X_val, y_val, w_val)
        return lambda: replica.mean_over_shards(
            lambda rows: self._validation_score(X_val[rows], y_val[rows], None if w_val is None else w_val[rows]),
            X_val.shape[0],
        )

    def _record(self, history: History, n_train: int) -> None:
        losses = history.column("loss")
        self.loss_curve_.extend(losses)
        self.n_iter_ += len(losses)
        self.t_ += len(losses) * n_train
        if self.validation_scores_ is not None:
            self.validation_scores_.extend(history.column("val_score"))
            if self.validation_scores_:
                self.best_validation_score_ = max(self.validation_scores_)
        if self.best_loss_ is not None and losses:
            self.best_loss_ = min(self.best_loss_, min(losses))

    # -- the network -----------------------------------------------------
    def _make_network(self, n_features: int, generator: torch.Generator) -> MHENetwork:
        """The shared MLP backbone and the subclass's head (:meth:`_make_head`) on top."""
        sizes = hidden_sizes(self.hidden_layer_sizes)
        backbone = MLPBackbone(
            n_features, sizes, self.activation, generator=generator, sparse_grad=self.sparse_updates_
        )
        head = self._make_head(
            backbone.out_features,
            init_gain=init_gain(self.activation),
            generator=generator,
            sparse_grad=self.sparse_updates_ and not sizes,
        )
        return MHENetwork(backbone, head)

    # -- inference -----------------------------------------------------
    def _topk_indices(self, X, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Positions in ``classes_`` of each row's ``k`` best labels, and their scores.

        The scores are the ``exp`` of the head's log-scores: probabilities for a
        normalised (single-label) head, products of sigmoids for the multi-label one.
        """
        labels = np.empty((X.shape[0], k), dtype=np.int64)
        scores = np.empty((X.shape[0], k), dtype=np.float64)
        head = self.network_.head
        topk = lambda features, **inputs: head.topk(features, k, **inputs)  # noqa: E731
        for rows, (values, codes) in self._feature_batches(X, head.inference_width(k), topk):
            labels[rows] = self.codec_.to_labels(codes.cpu().numpy())
            scores[rows] = exact(values).exp().cpu().numpy()
        return labels, scores

    def _dense_log_scores(self, X) -> np.ndarray:
        """The head's float64 log-score of every label, ``(n_samples, n_classes)``."""
        n_classes = len(self.classes_)
        self._check_dense_output(X.shape[0], n_classes)
        out = np.empty((X.shape[0], n_classes), dtype=np.float64)
        head = self.network_.head
        order = self.codec_.order  # label i's column is its code's
        for rows, values in self._feature_batches(X, 2 * self.codec_.n_codes, head.log_scores):
            values = values.cpu().numpy()
            if order is None:
                out[rows] = values
            else:  # in place, a few rows at a time: no second (rows, n_classes) buffer
                target = out[rows]
                for part in iter_slices(values.shape[0], _PERMUTE_ROWS):
                    np.take(values[part], order, axis=1, out=target[part], mode="clip")
        return out

    def _inference_rows(self, width: int) -> int:
        return int(max(1, min(8192, _INFERENCE_ELEMENTS // max(1, width))))

    def _feature_batches(self, X, width: int, fn=None):
        """Yield ``(row_slice, fn(features))`` over ``X`` in memory-bounded chunks.

        ``width`` is the number of values a row needs downstream (its scores),
        which sets the chunk size; ``fn`` (default identity) runs without
        autograd, on the backbone's features of the chunk (and the chunk
        itself, ``inputs=``, for a head whose ``takes_inputs`` is true). The forward pass
        runs at :func:`skmhe.nn.precision.precise` precision (float64 on the
        CPU, so that a row's outputs do not depend on its chunk).
        """
        self.network_.eval()
        device = self._device
        takes_inputs = getattr(self.network_.head, "takes_inputs", False)
        for rows in iter_slices(X.shape[0], self._inference_rows(width)):
            with torch.no_grad():
                batch = precise(rows_to_batch(X, rows, device))
                features = self.network_(batch)
                if fn is None:
                    out = features
                else:
                    out = fn(features, **({"inputs": batch} if takes_inputs else {}))
            yield rows, out

    def _check_predict(self, X):
        check_is_fitted(self)
        return check_X(self, X, reset=False)

    def _check_k(self, k) -> int:
        """``k`` for a top-k query: an int in ``[1, len(classes_)]``."""
        return check_k(k, len(self.classes_))

    def _check_dense_output(self, n_rows: int, n_columns: int) -> None:
        """Refuse a dense float64 ``(n_rows, n_columns)`` result above ``proba_memory_limit``."""
        needed = n_rows * n_columns * 8
        if needed > self.proba_memory_limit:
            raise ValueError(
                f"a dense ({n_rows}, {n_columns}) score matrix needs {format_bytes(needed)}, "
                f"above proba_memory_limit={self.proba_memory_limit} bytes "
                f"({format_bytes(self.proba_memory_limit)}); use "
                "predict_topk(X, k) for the top labels, or raise proba_memory_limit"
            )

    # -- persistence -----------------------------------------------------
    def __getstate__(self):
        state = dict(super().__getstate__())  # a copy: popping must not touch the live estimator
        optimizer = state.pop("_optimizer", None)
        if optimizer is not None:  # Adam's moments, on the CPU: warm_start / partial_fit go on exactly
            state["_optimizer_state"] = optimizer.state_dict()
        net = state.get("network_")
        if net is not None and next(net.parameters()).device.type != "cpu":
            state["network_"] = copy.deepcopy(net).to("cpu")
        return state

    def __setstate__(self, state):
        net = state.get("network_")
        if net is not None:
            try:
                state["network_"] = net.to(resolve_device(state.get("device", "cpu")))
            except ValueError:  # e.g. trained on CUDA, loaded on a CPU-only machine
                state["network_"] = net.to("cpu")
        optimizer_state = state.pop("_optimizer_state", None)
        if net is not None and "_optimizer" not in state:
            net = state["network_"]
            state["_optimizer"] = None if optimizer_state is None else _restored(net, optimizer_state)
        super().__setstate__(state)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        if tags.transformer_tags is not None:
            tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags


def _restored(network, optimizer_state: dict):
    """The pickled optimizer of ``network``, or None (fresh state on the next step) if it no longer fits."""
    try:
        return restore_optimizer(network, optimizer_state)
    except (KeyError, ValueError):  # saved by an skmhe whose optimizers differed
        warnings.warn(
            "the pickled optimizer state does not fit this version of skmhe (its lazy optimizers "
            "changed); the model is loaded as it was, and further training starts fresh optimizer state",
            UserWarning,
        )
        return None
