"""scikit-learn estimators: SparseMLPClassifier and SparseMLPRegressor.

This file knows scikit-learn. It validates input, encodes targets, builds the
skorch engine (:class:`~sksparse_nn._net.TorchNet`) with the callbacks the
hyperparameters ask for, and turns the trained network into fitted attributes and a
compact inference model (:class:`~sksparse_nn._module.CompactMLP`).
"""

import math
import threading
import warnings
from contextlib import contextmanager
from numbers import Integral, Real

import numpy as np
import scipy.sparse as sp
import torch
from scipy.special import expit
from skorch.callbacks import ProgressBar
from skorch.dataset import ValidSplit
from skorch.helper import predefined_split
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin, _fit_context
from sklearn.exceptions import ConvergenceWarning
from sklearn.preprocessing import LabelEncoder
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.multiclass import check_classification_targets, type_of_target
from sklearn.utils.validation import (
    _check_sample_weight,
    check_is_fitted,
    column_or_1d,
    validate_data,
)

from ._callbacks import (
    DelayedEarlyStopping,
    LastGoodWeights,
    MagnitudePruning,
    ProximalL1,
    SparsityLog,
    TrainSmaller,
    ValidationScore,
    optimizer_state_follows,
)
from ._module import CompactMLP, SparseMLP, pack_state, unpack_state
from ._net import NonFiniteLossError, TensorData, TorchNet, as_tensor_data
from ._pruning import selective_prune
from .schedules import SCHEDULE_NAMES, PruneSchedule, get_schedule

# Nets with fewer weights than this train faster on one torch thread (measured on
# the 2-core CI machine: a 50-100 unit net is slower on two threads).
_PARAMS_PER_THREAD = 50_000
_PREDICT_CHUNK = 16_384


_THREADS_LOCK = threading.Lock()
_THREADS_STATE = {"active": 0, "saved": None}


@contextmanager
def _torch_threads(n):
    """Use ``n`` torch threads while fitting, restore the user's setting afterwards.
    The setting is process-wide: while fits overlap (threads of one process), the
    first one's choice holds and the last one to finish restores the original."""
    with _THREADS_LOCK:
        if _THREADS_STATE["active"] == 0:
            _THREADS_STATE["saved"] = torch.get_num_threads()
            if n != _THREADS_STATE["saved"]:
                torch.set_num_threads(n)
        _THREADS_STATE["active"] += 1
    try:
        yield
    finally:
        with _THREADS_LOCK:
            _THREADS_STATE["active"] -= 1
            if _THREADS_STATE["active"] == 0 and torch.get_num_threads() != _THREADS_STATE["saved"]:
                torch.set_num_threads(_THREADS_STATE["saved"])


def _generators(seed, device):
    """Private random streams of one fit: weight init (CPU), batch order (CPU) and
    dropout (on the training device). The global torch RNG is never read or
    written, so fits are reproducible in threads too and the user's RNG state is
    left as it was."""
    dropout = torch.Generator(device=device)
    dropout.manual_seed(seed + 2)
    return (torch.Generator().manual_seed(seed), torch.Generator().manual_seed(seed + 1),
            dropout)


def _silence(*args, **kwargs):
    pass


class _BaseSparseMLP(BaseEstimator):
    """Shared machinery; see :class:`SparseMLPClassifier` for the parameters."""

    _parameter_constraints = {
        "hidden_layer_sizes": ["array-like", Interval(Integral, 1, None, closed="left")],
        "activation": [StrOptions({"relu", "tanh", "logistic", "identity"})],
        "l1": [Interval(Real, 0, None, closed="left")],
        "l2": [Interval(Real, 0, None, closed="left")],
        "input_l1": [Interval(Real, 0, None, closed="left")],
        "dropout": [Interval(Real, 0, 1, closed="left")],
        "batch_norm": ["boolean"],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "batch_size": [StrOptions({"auto"}), Interval(Integral, 1, None, closed="left")],
        "learning_rate_init": [Interval(Real, 0, None, closed="neither")],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "prune_schedule": [None, StrOptions(set(SCHEDULE_NAMES)), PruneSchedule],
        "target_sparsity": [Interval(Real, 0, 1, closed="left")],
        "neuron_threshold": [Interval(Real, 0, None, closed="left")],
        "selective_pruning_tol": [None, Interval(Real, 0, None, closed="left")],
        "random_state": ["random_state"],
        "device": [str, torch.device],
        "verbose": ["verbose"],
        "warm_start": ["boolean"],
        "n_threads": [None, Interval(Integral, 1, None, closed="left")],
    }

    def __init__(
        self,
        hidden_layer_sizes=(100,),
        activation="relu",
        *,
        l1=0.0,
        l2=0.0,
        input_l1=0.0,
        dropout=0.0,
        batch_norm=False,
        max_iter=200,
        batch_size="auto",
        learning_rate_init=1e-3,
        early_stopping=False,
        validation_fraction=0.1,
        n_iter_no_change=10,
        tol=1e-4,
        prune_schedule=None,
        target_sparsity=0.0,
        neuron_threshold=0.0,
        selective_pruning_tol=None,
        random_state=None,
        device="cpu",
        verbose=0,
        warm_start=False,
        n_threads=None,
    ):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.l1 = l1
        self.l2 = l2
        self.input_l1 = input_l1
        self.dropout = dropout
        self.batch_norm = batch_norm
        self.max_iter = max_iter
        self.batch_size = batch_size
        self.learning_rate_init = learning_rate_init
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.tol = tol
        self.prune_schedule = prune_schedule
        self.target_sparsity = target_sparsity
        self.neuron_threshold = neuron_threshold
        self.selective_pruning_tol = selective_pruning_tol
        self.random_state = random_state
        self.device = device
        self.verbose = verbose
        self.warm_start = warm_start
        self.n_threads = n_threads

    # ------------------------------------------------------------- sklearn API
    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None):
        """Train the network (and prune it, as the hyperparameters say).

        Parameters
        ----------
        X : array-like or sparse matrix of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
        sample_weight : array-like of shape (n_samples,), default=None
            Per-sample weights of the loss.

        Returns
        -------
        self
        """
        return self._fit(X, y, sample_weight, incremental=False)

    def _partial_fit(self, X, y, sample_weight=None, classes=None):
        if not hasattr(self, "net_"):
            self._validate_params()
        return self._fit(X, y, sample_weight, incremental=True, classes=classes)

    # ------------------------------------------------------------- internals
    def _hidden_sizes(self):
        sizes = self.hidden_layer_sizes
        if isinstance(sizes, Integral):
            sizes = (sizes,)
        sizes = tuple(sizes)
        if len(sizes) == 0:
            raise ValueError(
                "hidden_layer_sizes must name at least one hidden layer, got "
                f"{self.hidden_layer_sizes!r}."
            )
        for h in sizes:
            if not isinstance(h, Integral) or isinstance(h, bool) or h < 1:
                raise ValueError(
                    "hidden_layer_sizes must be positive integers, got "
                    f"{self.hidden_layer_sizes!r}."
                )
        return tuple(int(h) for h in sizes)

    def _device(self):
        try:
            device = torch.device(self.device)
        except (RuntimeError, TypeError) as exc:
            raise ValueError(f"device={self.device!r} is not a valid torch device.") from exc
        if device.type == "cuda" and not torch.cuda.is_available():
            raise ValueError(
                f"device={self.device!r} was requested but CUDA is not available on "
                "this machine; use device='cpu'."
            )
        if device.type == "mps" and not torch.backends.mps.is_available():
            raise ValueError(f"device={self.device!r} was requested but MPS is not available.")
        return device

    def _schedule(self):
        schedule = self.prune_schedule
        if schedule is None and self.target_sparsity > 0:
            schedule = "gradual"
        return get_schedule(schedule)

    def _n_threads(self, n_params):
        if self.n_threads is not None:
            return int(self.n_threads)
        avail = torch.get_num_threads()
        return max(1, min(avail, n_params // _PARAMS_PER_THREAD))

    def _validate_X(self, X, reset, ensure_all_finite=True):
        X = validate_data(
            self, X, reset=reset, accept_sparse=True,
            dtype=(np.float32, np.float64), ensure_min_samples=1,
            ensure_all_finite=ensure_all_finite,
        )
        return X.tocsr() if sp.issparse(X) else X

    def _fit(self, X, y, sample_weight, incremental, classes=None):
        sizes = self._hidden_sizes()
        device = self._device()
        schedule = self._schedule()
        first = not (hasattr(self, "net_") and (incremental or self.warm_start))

        X, y = validate_data(
            self, X, y, reset=first, accept_sparse=True,
            dtype=(np.float32, np.float64), multi_output=True,
            y_numeric=not self._is_classifier(),
        )
        if sp.issparse(X):
            X = X.toarray()
        X = np.ascontiguousarray(X, dtype=np.float32)
        if sample_weight is not None:
            sample_weight = _check_sample_weight(sample_weight, X, dtype=np.float32,
                                                 ensure_non_negative=True)
            if not sample_weight.sum() > 0:
                raise ValueError("sample_weight must not be all zero.")
        y_t = self._encode_y(y, first, classes, sample_weight)

        rng = check_random_state(self.random_state)
        seed = int(rng.randint(np.iinfo(np.int32).max))
        n = X.shape[0]
        batch_size = min(200, n) if self.batch_size == "auto" else min(self.batch_size, n)
        if self.batch_norm and n < 2:
            raise ValueError("batch_norm=True needs at least 2 samples to fit.")

        init_gen, shuffle_gen, dropout_gen = _generators(seed, device)
        if first:
            module = SparseMLP(X.shape[1], sizes, self._n_outputs, self.activation,
                               self.dropout, self.batch_norm, generator=init_gen)
            self._n_weights_built = module.n_weights()
            self.net_ = self._build_net(module, device)
            self.net_.initialize()
            self.selective_pruning_record_ = None
        net = self.net_
        net.batch_size = batch_size
        net.verbose = self.verbose
        net.shuffle_generator = shuffle_gen
        net.module_.dropout_generator = dropout_gen
        X_t = torch.as_tensor(X, device=device)
        y_t = y_t.to(device)
        w_t = None if sample_weight is None else torch.as_tensor(sample_weight, device=device)
        data = TensorData(X_t, y_t, w_t)
        need_valid = not incremental and (self.early_stopping
                                          or self.selective_pruning_tol is not None)
        train, valid = (self._split(data, y, seed) if need_valid else (data, None))
        epochs = 1 if incremental else self.max_iter
        steps_per_epoch = math.ceil(len(train) / batch_size)
        total_steps = epochs * steps_per_epoch
        self._set_training_callbacks(net, schedule, total_steps, steps_per_epoch,
                                     epochs, valid, seed, incremental)
        net.train_split = predefined_split(valid) if valid is not None else None

        n_params = sum(p.numel() for p in net.module_.parameters())
        with _torch_threads(self._n_threads(n_params)):
            epochs_before = len(net.history)
            self._train(net, train, epochs)
            epochs_run = len(net.history) - epochs_before
            if not incremental and self.selective_pruning_tol is not None:
                self._selective(net, train, valid, float(self.selective_pruning_tol),
                                max(1, self.max_iter // 10))
        self._finalize(net)
        if (not incremental and epochs_run == self.max_iter
                and not getattr(self, "_diverged", False)):
            warnings.warn(
                f"Stochastic Optimizer: Maximum iterations ({self.max_iter}) reached and "
                "the optimization hasn't converged yet.",
                ConvergenceWarning,
            )
        return self

    def _split(self, data, y, seed):
        labels = self._split_labels(y)
        for stratified in ((True, False) if labels is not None else (False,)):
            try:
                splitter = ValidSplit(self.validation_fraction, stratified=stratified,
                                      random_state=seed)
                train, valid = splitter(data, labels)
            except ValueError:
                continue
            if len(train) and len(valid):
                return as_tensor_data(train), as_tensor_data(valid)
        raise ValueError(
            f"validation_fraction={self.validation_fraction} leaves no sample for "
            f"training or for validation with {len(data)} samples; use more samples or "
            "early_stopping=False."
        )

    def _build_net(self, module, device):
        return TorchNet(
            module=module,
            criterion=self._criterion(),
            optimizer=torch.optim.Adam,
            # one fused kernel per step: ~30% less time per step on small nets
            optimizer__fused=device.type in ("cpu", "cuda"),
            lr=self.learning_rate_init,
            max_epochs=self.max_iter,
            batch_size=200,
            train_split=None,
            device=device,
            verbose=self.verbose,
            l2=self.l2,
            record_batches=self.verbose >= 2,
        )

    def _set_training_callbacks(self, net, schedule, total_steps, steps_per_epoch, epochs,
                                valid, seed, incremental):
        """(Re)build the callbacks for this call of fit / partial_fit."""
        kind = self._score_kind()
        cbs = [("shrink", TrainSmaller()),  # first: later snapshots see its result
               ("last_good", LastGoodWeights()),
               ("sparsity_log", SparsityLog(self._n_weights_built))]
        start_epoch = 0
        if self.l1 > 0 or self.input_l1 > 0:
            # _proximal_schedule: the CV estimators' slower input_l1 ramp
            prox = ProximalL1(self.l1, self.input_l1,
                              total_steps=None if incremental else total_steps,
                              **getattr(self, "_proximal_schedule", {}))
            cbs.append(("proximal", prox))
            if not incremental:  # stopping waits until the support is frozen
                start_epoch = max(start_epoch, math.ceil(prox.freeze_at * epochs))
        if schedule is not None and not incremental:
            cbs.append(("pruning", MagnitudePruning(schedule, float(self.target_sparsity),
                                                    total_steps, seed=seed)))
            end = schedule.end_step(total_steps)
            start_epoch = max(start_epoch, math.ceil(end / steps_per_epoch))
        if valid is not None:
            cbs.append(("valid_score", ValidationScore(kind)))
        if not incremental:
            start_epoch += len(net.history)  # epochs of earlier (warm-started) fits
            # early stopping: validation score, best weights restored; otherwise
            # scikit-learn's rule on the training loss
            es = self.early_stopping
            cbs.append(("stopping", DelayedEarlyStopping(
                start_epoch=start_epoch, monitor="valid_score" if es else "train_loss",
                lower_is_better=not es, load_best=es, patience=self.n_iter_no_change,
                threshold=self.tol, threshold_mode="abs", sink=_silence)))
        if self.verbose >= 2:
            cbs.append(("progress", ProgressBar(batches_per_epoch="auto")))
        net.callbacks = cbs
        net.initialize_callbacks()

    def _train(self, net, train, epochs):
        self._diverged = False
        try:
            net.notify("on_train_begin", X=train, y=None)
            try:
                net.fit_loop(train, None, epochs=epochs)
            except KeyboardInterrupt:
                self._interrupted(net)
            net.notify("on_train_end", X=train, y=None)
        except NonFiniteLossError as exc:
            good_epoch = self._restore_last_good(net)
            self._diverged = True
            if len(net.history) and "train_loss" not in net.history[-1]:
                net.history.record("train_loss", float(exc.value))
            warnings.warn(
                f"Training diverged: the loss became {exc.value} in epoch {exc.epoch}. "
                f"The weights from the end of epoch {good_epoch} were restored. "
                "Lower learning_rate_init (or scale the inputs) and fit again.",
                UserWarning,
            )
        # TrainSmaller may have cut unread input columns: read all of them again
        net.module_.expand_inputs_(on_resize=optimizer_state_follows(net.optimizer_))

    def _interrupted(self, net):
        """Early stopping interrupts after a finished epoch (nothing to do). Any other
        interrupt (Ctrl-C) can land mid-epoch, even between an optimizer step and
        the masks: go back to the weights of the last finished epoch and drop the
        unfinished epoch from the history, so weights, ``n_iter_`` and
        ``loss_curve_`` agree."""
        hist = net.history
        if not len(hist) or "train_loss" in hist[-1]:
            return
        good_epoch = self._restore_last_good(net)
        epoch = len(hist)
        del hist[-1]
        warnings.warn(
            f"fit was interrupted in epoch {epoch}; the model keeps the weights from the "
            f"end of epoch {good_epoch}.",
            UserWarning,
        )

    @staticmethod
    def _restore_last_good(net):
        """Load the weights of the last finished epoch (LastGoodWeights) and rebuild
        the optimizer; returns that epoch's number."""
        good = dict(net.callbacks_)["last_good"]
        net.module_.load_state_dict(good.state_)
        net.initialize_optimizer()
        return good.epoch_

    def _selective(self, net, train, valid, tol, finetune_epochs):
        """Trial-and-error neuron pruning on the validation split, then a short
        fine-tune; the fine-tune is kept only if it does not raise the loss."""
        module = net.module_
        Xv, yv = valid.X, valid.y

        def loss_fn(out, y):
            return net.get_loss(out, (y, valid.w))

        module.eval()
        record, base, after = selective_prune(module, Xv, yv, loss_fn, tol)
        net.initialize_optimizer()
        if record:
            if not module.batch_norm:
                # units the removals left with all inputs or outputs masked go now:
                # TrainSmaller would cut them during the fine-tune, and the snapshot
                # below must keep the shapes it restores into
                module.shrink_dead_(inputs=False)
            with torch.no_grad():
                before_ft = float(loss_fn(module.eval()(Xv), yv))
            snapshot = {k: v.clone() for k, v in module.state_dict().items()}
            self._train(net, train, finetune_epochs)
            with torch.no_grad():
                after_ft = float(loss_fn(module.eval()(Xv), yv))
            if not after_ft <= before_ft:
                module.load_state_dict(snapshot)
                after_ft = before_ft
            after = after_ft
        self.selective_pruning_record_ = {
            "removed": record,
            "n_removed": len(record),
            "validation_loss_before": base,
            "validation_loss_after": after,
            "hidden_layer_sizes_after": tuple(module.hidden_layer_sizes),
        }

    def prune_neurons(self, X, y, tol, fine_tune_epochs=None, sample_weight=None):
        """Selective (trial-and-error) neuron pruning of an already fitted model.

        Each hidden unit is tried out on ``(X, y)``; it stays out if the loss on that
        data stays within ``tol`` of the loss before pruning. Passes repeat until
        nothing more goes, then the model is fine-tuned for ``fine_tune_epochs``
        (default ``max(1, max_iter // 10)``) on the same data, kept only if it
        does not raise the loss. Use held-out data the model was not trained on.

        The record of what was removed and what it cost is in
        ``selective_pruning_record_``. Returns self.
        """
        check_is_fitted(self)
        X = self._validate_X(X, reset=False)
        if sp.issparse(X):
            X = X.toarray()
        X = np.asarray(X, dtype=np.float32)
        if sample_weight is not None:
            sample_weight = _check_sample_weight(sample_weight, X, dtype=np.float32)
        net = self.net_
        device = net.module_.linears[0].weight.device
        y_t = self._encode_y(np.asarray(y) if not hasattr(y, "iloc") else y.to_numpy(),
                             first=False, classes=None).to(device)
        w_t = None if sample_weight is None else torch.as_tensor(sample_weight, device=device)
        data = TensorData(torch.as_tensor(X, device=device), y_t, w_t)
        seed = int(check_random_state(self.random_state).randint(np.iinfo(np.int32).max))
        _, net.shuffle_generator, net.module_.dropout_generator = _generators(seed, device)
        epochs = max(1, self.max_iter // 10) if fine_tune_epochs is None else fine_tune_epochs
        batch_size = min(200, len(data)) if self.batch_size == "auto" else self.batch_size
        net.batch_size = min(batch_size, len(data))
        self._set_training_callbacks(net, None, epochs * math.ceil(len(data) / net.batch_size),
                                     1, epochs, None, seed, incremental=True)
        n_params = sum(p.numel() for p in net.module_.parameters())
        with _torch_threads(self._n_threads(n_params)):
            self._selective(net, data, data, float(tol), epochs)
        self._finalize(net)
        return self

    def _finalize(self, net):
        module = net.module_
        # sparsity is counted on the trained network as built, before compaction
        self.nonzero_weights_ = module.n_nonzero(retired=True)
        module.retired_nonzero = [0] * len(module.linears)
        self.sparsity_ = 1.0 - sum(self.nonzero_weights_) / self._n_weights_built
        removed = module.remove_dead_neurons(float(self.neuron_threshold))
        if any(removed):
            net.initialize_optimizer()
        module.masked = any(not bool(lin.mask.all()) for lin in module.linears)
        module.eval()
        self.hidden_layer_sizes_ = tuple(module.hidden_layer_sizes)
        self.compact_model_ = CompactMLP.from_module(module)
        self.n_features_selected_ = int(len(self.compact_model_.input_index))
        hist = net.history
        self.loss_curve_ = [float(h["train_loss"]) for h in hist if "train_loss" in h]
        self.n_iter_ = len(hist)
        if self.early_stopping:
            self.validation_scores_ = [float(h["valid_score"]) for h in hist if "valid_score" in h]
            self.best_validation_score_ = (max(self.validation_scores_)
                                           if self.validation_scores_ else None)
            self.best_loss_ = None
        else:
            self.validation_scores_ = None
            self.best_validation_score_ = None
            self.best_loss_ = min(self.loss_curve_) if self.loss_curve_ else None
        self.loss_ = self.loss_curve_[-1] if self.loss_curve_ else None
        self._warn_degenerate()

    def _warn_degenerate(self):
        if (sum(self.nonzero_weights_) == 0 or self.n_features_selected_ == 0
                or 0 in self.hidden_layer_sizes_):
            warnings.warn(
                "No path is left from the input to the output: every connection weight "
                "or every input feature was driven to zero, or a hidden layer was pruned "
                f"away entirely (hidden sizes now {self.hidden_layer_sizes_}, input "
                f"features read: {self.n_features_selected_}; l1={self.l1}, input_l1="
                f"{self.input_l1}, target_sparsity={self.target_sparsity}). The model "
                "ignores its input and predicts a constant. Lower the penalty or the "
                "target sparsity.",
                UserWarning,
            )

    def _decision(self, X):
        check_is_fitted(self)
        model = self.compact_model_
        # NaN/inf in X must raise. The activations cannot tell (tanh / logistic map
        # +-inf to finite values, relu maps -inf to 0), but the first layer's
        # pre-activations can (see CompactMLP.decision), which spares a pass over X;
        # sklearn's own scan runs only to word the error.
        X = self._validate_X(X, reset=False, ensure_all_finite=False)
        with np.errstate(over="ignore", invalid="ignore"):  # reported below
            if X.shape[0] <= _PREDICT_CHUNK and not sp.issparse(X):
                out, ok = model.decision(X, check_finite=True)
            else:
                parts, ok = [], True
                for start in range(0, X.shape[0], _PREDICT_CHUNK):
                    chunk = X[start:start + _PREDICT_CHUNK]
                    if sp.issparse(chunk):
                        chunk = chunk.toarray()
                    part, part_ok = model.decision(chunk, check_finite=True)
                    parts.append(part)
                    ok &= part_ok
                out = np.concatenate(parts)
        if not ok:
            self._validate_X(X, reset=False)  # raises sklearn's error for NaN/inf input
        if not np.isfinite(out).all():
            warnings.warn("The network's output overflowed for some samples (inf/nan).",
                          RuntimeWarning)
        return out

    # ------------------------------------------------------------ attributes
    @property
    def coefs_(self):
        """Effective weights per layer, scikit-learn layout ``(n_in, n_out)``, float64
        (batch norm folded in; features and units removed by pruning are absent from
        the hidden sizes, removed input features are zero rows)."""
        check_is_fitted(self)
        model = self.compact_model_
        out = []
        for i, W in enumerate(model.weights):
            W = W.toarray() if sp.issparse(W) else np.array(W)
            if i == 0:
                full = np.zeros((W.shape[0], self.n_features_in_))
                full[:, model.input_index] = W
                W = full
            out.append(W.T)
        return out

    @property
    def intercepts_(self):
        """Bias vectors per layer (float64, batch norm folded in)."""
        check_is_fitted(self)
        return [b.copy() for b in self.compact_model_.biases]

    @property
    def feature_importances_(self):
        """L2 norm of each input feature's outgoing weights, normalised to sum to 1;
        exactly 0 for features the network no longer reads."""
        check_is_fitted(self)
        W0 = self.compact_model_.weights[0]
        W0 = W0.toarray() if sp.issparse(W0) else W0
        imp = np.zeros(self.n_features_in_)
        imp[self.compact_model_.input_index] = np.linalg.norm(W0, axis=0)
        total = imp.sum()
        return imp / total if total > 0 else imp

    @property
    def penalty(self):
        """Always ``"l1"``: importances of dropped features are exactly zero, so
        ``SelectFromModel`` uses its near-zero default threshold (1e-5) and keeps
        exactly the features the network still reads."""
        return "l1"

    # ------------------------------------------------------------ persistence
    def __getstate__(self):
        # Pickle the network once, compactly (sparse tensors as flat indices +
        # values, masks as bits or as "the nonzero pattern"), with the per-epoch
        # history only: no optimizer moments, per-batch logs or dense copies.
        state = dict(super().__getstate__())  # a copy: never strip the live estimator
        net = state.pop("net_", None)
        packed = state.get("_packed_net")
        if net is not None:
            history = [{k: v for k, v in row.items() if k != "batches"} for row in net.history]
            packed = {"module": pack_state(net.module_), "history": history,
                      "device": str(net.device)}
            state["_packed_net"] = packed
        if packed is not None:
            state.pop("compact_model_", None)
        return state

    def __setstate__(self, state):
        super().__setstate__(state)
        packed = self.__dict__.get("_packed_net")
        if packed is not None and "compact_model_" not in self.__dict__:
            module = unpack_state(packed["module"])
            module.eval()
            self.compact_model_ = CompactMLP.from_module(module)

    def __getattr__(self, name):
        # the torch/skorch engine is rebuilt on first use after unpickling
        if name == "net_":
            packed = self.__dict__.get("_packed_net")
            if packed is not None:
                from skorch.history import History

                module = unpack_state(packed["module"])
                module.masked = any(not bool(lin.mask.all()) for lin in module.linears)
                device = torch.device(packed["device"])
                if device.type == "cuda" and not torch.cuda.is_available():
                    device = torch.device("cpu")
                net = self._build_net(module, device)
                net.initialize()
                net.history = History(packed["history"])
                self.__dict__["net_"] = net
                del self.__dict__["_packed_net"]
                return net
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        tags.non_deterministic = False
        return tags


class SparseMLPClassifier(ClassifierMixin, _BaseSparseMLP):
    """Multi-layer perceptron classifier that trains genuinely sparse networks.

    Parameters
    ----------
    hidden_layer_sizes : tuple of int, default=(100,)
        Units per hidden layer (before pruning).
    activation : {"relu", "tanh", "logistic", "identity"}, default="relu"
    l1 : float >= 0, default=0
        L1 strength on every connection weight, applied as a proximal
        (soft-threshold) step after each optimizer step, so weights become exactly
        zero. Roughly: a weight whose average loss gradient is smaller than ``l1``
        goes to zero. ``1e-4`` barely changes a network, ``1`` zeroes everything.
    l2 : float >= 0, default=0
        L2 strength (weight decay) on connection weights.
    input_l1 : float >= 0, default=0
        Group-lasso strength on each input feature's outgoing weights (proximal):
        whole features drop out with exactly zero weights (feature selection).
    dropout : float in [0, 1), default=0
        Dropout probability after each hidden activation.
    batch_norm : bool, default=False
        Batch normalisation before each hidden activation.
    max_iter : int, default=200
        Epochs.
    batch_size : int or "auto", default="auto"
        ``"auto"`` is ``min(200, n_samples)``.
    learning_rate_init : float, default=1e-3
        Adam's learning rate.
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the data, stop when the validation
        score has not improved by ``tol`` for ``n_iter_no_change`` epochs, restore
        the best weights.
    validation_fraction : float in (0, 1), default=0.1
    n_iter_no_change : int, default=10
    tol : float, default=1e-4
        Without early stopping, training stops when the training loss has not
        improved by ``tol`` for ``n_iter_no_change`` epochs (as scikit-learn's MLP).
    prune_schedule : None, "one_shot", "gradual", "iterative", "dynamic" or a
        :class:`~sksparse_nn.schedules.PruneSchedule`, default=None
        When weights are pruned by magnitude. None with ``target_sparsity > 0``
        means "gradual".
    target_sparsity : float in [0, 1), default=0
        Fraction of connection weights that are exactly zero at the end of fit.
    neuron_threshold : float >= 0, default=0
        After fit, hidden units whose incoming or outgoing weight norm is at most
        this are physically removed. 0 removes only exactly dead units (lossless).
    selective_pruning_tol : None or float >= 0, default=None
        If set, after training each hidden unit is tried out on the validation
        split and removed if the validation loss rises by at most this much
        (accumulated over all removals), passes repeat until nothing more goes,
        then a short fine-tune. See ``selective_pruning_record_``.
    random_state : int, RandomState or None, default=None
    device : str or torch.device, default="cpu"
        Where training runs ("cuda" for a GPU). Prediction runs on the CPU on the
        compacted network.
    verbose : int, default=0
        1: a per-epoch log; 2: also a progress bar over batches.
    warm_start : bool, default=False
        Continue training the fitted network on the next call of fit.
    n_threads : int or None, default=None
        Torch threads while fitting; None chooses by network size (one thread for
        small nets). The global setting is restored afterwards.

    Attributes
    ----------
    classes_, n_features_in_, feature_names_in_, n_outputs_
    net_ : the skorch net used for training (its ``history`` has per-epoch
        ``train_loss``, ``valid_loss``, ``valid_score``, ``sparsity``,
        ``neurons_alive``).
    compact_model_ : :class:`~sksparse_nn.CompactMLP` used by predict.
    coefs_, intercepts_ : lists of arrays (scikit-learn layout).
    loss_curve_, loss_, best_loss_, n_iter_ : as in scikit-learn's MLP.
    validation_scores_, best_validation_score_ : with early stopping.
    sparsity_ : fraction of exactly-zero connection weights, counted against the
        network as built (removed units count as zeros).
    nonzero_weights_ : list of nonzero weight counts per layer.
    hidden_layer_sizes_ : hidden sizes after neuron pruning.
    n_features_selected_ : input features the network still reads.
    feature_importances_ : normalised input weight norms (0 for dropped features).
    selective_pruning_record_ : dict or None.
    """

    def partial_fit(self, X, y, classes=None, sample_weight=None):
        """One epoch over ``(X, y)``; ``classes`` is required on the first call."""
        return self._partial_fit(X, y, sample_weight=sample_weight, classes=classes)

    def _is_classifier(self):
        return True

    def _score_kind(self):
        return "binary" if len(self.classes_) == 2 else "multiclass"

    def _criterion(self):
        if len(self.classes_) == 2:
            return torch.nn.BCEWithLogitsLoss(reduction="none")
        return torch.nn.CrossEntropyLoss(reduction="none")

    def _split_labels(self, y):
        return self._label_encoder.transform(y)

    def _encode_y(self, y, first, classes, sample_weight=None):
        y = np.asarray(y)
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        if y.ndim == 2 and y.shape[1] > 1:
            raise ValueError(
                f"{type(self).__name__} supports binary and multiclass targets, got a "
                f"{type_of_target(y)} target of shape {y.shape}."
            )
        y = y.ravel()
        self._check_label_types(y)
        check_classification_targets(y)
        if first:
            enc = LabelEncoder()
            if classes is not None:
                enc.fit(np.asarray(classes))
                self._check_seen(enc, y)
            elif getattr(self, "_incremental_call", False):
                raise ValueError("classes must be passed on the first call to partial_fit.")
            else:
                enc.fit(y)
            if len(enc.classes_) < 2:
                raise ValueError(
                    "The target has only one class "
                    f"({enc.classes_[0]!r}); a classifier needs samples of at least 2 "
                    "classes."
                )
            self._label_encoder = enc
            self.classes_ = enc.classes_
            self.n_outputs_ = 1 if len(self.classes_) == 2 else len(self.classes_)
            self.out_activation_ = "logistic" if len(self.classes_) == 2 else "softmax"
        else:
            self._check_seen(self._label_encoder, y)
        codes = self._label_encoder.transform(y)
        if len(self.classes_) == 2:
            return torch.as_tensor(codes.reshape(-1, 1), dtype=torch.float32)
        return torch.as_tensor(codes, dtype=torch.long)

    @staticmethod
    def _check_label_types(y):
        # sklearn's own message for str/int mixes is "Unknown label type: unknown"
        if y.dtype.kind == "O" and y.size:
            is_str = np.fromiter((isinstance(v, str) for v in y), dtype=bool, count=y.size)
            if is_str.any() and not is_str.all():
                kinds = sorted({type(v).__name__ for v in y})
                raise ValueError(
                    "y mixes string and non-string labels (types: "
                    f"{', '.join(kinds)}); use labels of one type, e.g. all strings."
                )

    @staticmethod
    def _check_seen(enc, y):
        unseen = np.setdiff1d(np.unique(y), enc.classes_)
        if len(unseen):
            raise ValueError(
                f"y contains labels not seen before: {unseen.tolist()}; known classes are "
                f"{enc.classes_.tolist()}."
            )

    @property
    def _n_outputs(self):
        return self.n_outputs_

    def _partial_fit(self, X, y, sample_weight=None, classes=None):
        self._incremental_call = not hasattr(self, "net_")
        try:
            return super()._partial_fit(X, y, sample_weight=sample_weight, classes=classes)
        finally:
            del self._incremental_call

    def predict_proba(self, X):
        """Class probabilities, float64, columns ordered as ``classes_``."""
        z = self._decision(X)
        if len(self.classes_) == 2:
            p = expit(z[:, 0]).astype(np.float64)
            return np.column_stack([1.0 - p, p])
        # softmax computed class-major: the reductions then run along the samples
        # (vectorised) instead of along rows of n_classes values (3x faster on
        # 10,000 x 10); the result is the (n_samples, n_classes) transpose view
        zt = np.array(z.T, dtype=np.float64, order="C")
        zt -= zt.max(axis=0)
        np.exp(zt, out=zt)
        zt /= zt.sum(axis=0)
        return zt.T

    def predict_log_proba(self, X):
        return np.log(self.predict_proba(X))

    def predict(self, X):
        z = self._decision(X)
        if len(self.classes_) == 2:
            return self.classes_[(z[:, 0] > 0).astype(int)]
        return self.classes_[np.argmax(z, axis=1)]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = False
        return tags


class SparseMLPRegressor(RegressorMixin, _BaseSparseMLP):
    """Multi-layer perceptron regressor that trains genuinely sparse networks.

    Same parameters and attributes as :class:`SparseMLPClassifier` (no
    ``classes_``). Targets are standardised internally (mean 0, variance 1 per
    output), so ``l1`` means the same on every target scale; ``loss_curve_`` is
    the mean squared error in that standardised scale. Multi-output ``y`` is
    supported.
    """

    def partial_fit(self, X, y, sample_weight=None):
        """One epoch over ``(X, y)``."""
        return self._partial_fit(X, y, sample_weight=sample_weight)

    def _is_classifier(self):
        return False

    def _score_kind(self):
        return "regression"

    def _criterion(self):
        return torch.nn.MSELoss(reduction="none")

    def _split_labels(self, y):
        return None

    def _encode_y(self, y, first, classes, sample_weight=None):
        y = np.asarray(y, dtype=np.float64)
        if first:
            self._y_ndim = y.ndim
            y2 = y.reshape(len(y), -1)
            self.n_outputs_ = y2.shape[1]
            self._y_mean = np.average(y2, axis=0, weights=sample_weight)
            scale = np.sqrt(np.average((y2 - self._y_mean) ** 2, axis=0, weights=sample_weight))
            self._y_scale = np.where(scale > 0, scale, 1.0)
            self.out_activation_ = "identity"
        y2 = y.reshape(len(y), -1)
        if y2.shape[1] != self.n_outputs_:
            raise ValueError(
                f"y has {y2.shape[1]} outputs but the model was fitted with {self.n_outputs_}."
            )
        return torch.as_tensor((y2 - self._y_mean) / self._y_scale, dtype=torch.float32)

    @property
    def _n_outputs(self):
        return self.n_outputs_

    def predict(self, X):
        z = self._decision(X) * self._y_scale + self._y_mean
        if self._y_ndim == 1:
            return z[:, 0]
        return z

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags
