"""scikit-learn estimators: SparseMLPClassifier and SparseMLPRegressor.

This file knows scikit-learn. It validates input, encodes targets, builds the
skorch engine (:class:`~sksparse_nn._net.TorchNet`) with the callbacks the
hyperparameters ask for, and turns the trained network into fitted attributes and a
compact inference model (:class:`~sksparse_nn._module.CompactMLP`).
"""

import copy
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
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import LabelEncoder
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.multiclass import check_classification_targets, type_of_target
from sklearn.utils.validation import (
    _check_sample_weight,
    check_consistent_length,
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


# Parameters that describe the fitted network, and when a new value set on a
# fitted model takes effect (see set_params and docs/user_guide/hyperparameters.rst).
_NEXT_FIT = "the next fit"
_FITTED_NETWORK_PARAMS = {
    "hidden_layer_sizes": "the next fit from scratch (a warm start raises)",
    "activation": "the next fit from scratch (a warm start raises)",
    "batch_norm": "the next fit from scratch (a warm start raises)",
    "l1": _NEXT_FIT,
    "input_l1": _NEXT_FIT,
    "l2": "the next fit, partial_fit, prune or prune_neurons",
    "dropout": "the next fit, partial_fit, prune or prune_neurons",
    "prune_schedule": _NEXT_FIT + " (prune(X, y, target_sparsity, schedule=...) prunes "
                      "the fitted model now)",
    "target_sparsity": _NEXT_FIT + " (prune(X, y, target_sparsity) prunes the fitted "
                       "model now)",
    "neuron_threshold": "the end of the next fit, partial_fit, prune or prune_neurons",
    "selective_pruning_tol": _NEXT_FIT + " (prune_neurons(X, y, tol) prunes the fitted "
                             "model now)",
}


def _same_value(a, b):
    if a is b:
        return True
    try:
        return bool(np.array_equal(np.asarray(a, dtype=object), np.asarray(b, dtype=object)))
    except Exception:  # values numpy cannot compare: treat as changed
        return False


def _set_on_fitted_message(cls, changed):
    when = "; ".join(f"{name}: at {_FITTED_NETWORK_PARAMS[name]}" for name in changed)
    msg = (f"{', '.join(changed)} set on a fitted {cls}: the fitted model does not "
           f"change now, only at a later call ({when}).")
    if set(changed) - _ARCHITECTURE:
        msg += (" To continue training the fitted network with the new value, set it "
                "together with warm_start=True (no warning then).")
    return msg


_ARCHITECTURE = {"hidden_layer_sizes", "activation", "batch_norm"}


class _MultilabelBCE(torch.nn.BCEWithLogitsLoss):
    """Per-sample binary cross-entropy summed over the labels: MLPClassifier's
    multilabel loss (``binary_log_loss`` sums over labels, averages over samples),
    so ``l1`` and ``input_l1`` weigh the same against it as in the single-label
    case instead of shrinking with the number of labels."""

    def __init__(self):
        super().__init__(reduction="none")

    def forward(self, input, target):
        return super().forward(input, target).sum(dim=1)


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
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training samples; CSR/CSC matrices are never densified (each
            mini-batch is multiplied as a sparse matrix).
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            Class labels, a multilabel indicator matrix (classifier), or targets.
        sample_weight : array-like of shape (n_samples,), default=None
            Per-sample weights of the loss.

        Returns
        -------
        self : object
            The fitted estimator.
        """
        return self._fit(X, y, sample_weight, incremental=False)

    def _partial_fit(self, X, y, sample_weight=None, classes=None):
        if not hasattr(self, "net_"):
            self._validate_params()
        return self._fit(X, y, sample_weight, incremental=True, classes=classes)

    def set_params(self, **params):
        """Set parameters (as scikit-learn's ``set_params``).

        On a fitted model, a parameter that describes the fitted network (its
        shape, penalties, pruning) changes nothing until the next training call;
        a warning says so, unless the same call sets ``warm_start=True`` (the
        explicit "continue training with these values" idiom). On an unfitted
        estimator (``clone``, ``GridSearchCV``) it never warns.

        Parameters
        ----------
        **params : dict
            Estimator parameters, nested ones as ``prune_schedule__end``.

        Returns
        -------
        self : object
            The estimator.
        """
        fitted = "net_" in self.__dict__ or "_packed_net" in self.__dict__
        before = self.get_params(deep=False) if fitted else None
        super().set_params(**params)
        if fitted and params.get("warm_start") is not True:
            changed = [name for name in _FITTED_NETWORK_PARAMS
                       if (name in params and not _same_value(before[name], params[name]))
                       or any(key.startswith(name + "__") for key in params)]
            if changed:
                warnings.warn(_set_on_fitted_message(type(self).__name__, changed),
                              UserWarning, stacklevel=2)
        return self

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
        if not first:
            self._check_same_network(sizes, device, incremental)

        X, y = validate_data(
            self, X, y, reset=first, accept_sparse=True,
            dtype=(np.float32, np.float64), multi_output=True,
            y_numeric=not self._is_classifier(),
        )
        X = self._as_float32(X)
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

        _, shuffle_gen, dropout_gen = _generators(seed, device)
        if first:
            # the initial weights are scikit-learn's draws: with the same random_state
            # the network starts where MLPClassifier/MLPRegressor start
            init_gen = (np.random.RandomState(self.random_state)
                        if isinstance(self.random_state, Integral)
                        else np.random.RandomState(seed))
            module = SparseMLP(X.shape[1], sizes, self._n_outputs, self.activation,
                               self.dropout, self.batch_norm, generator=init_gen)
            self._n_weights_built = module.n_weights()
            self._hidden_sizes_built = sizes
            self.net_ = self._build_net(module, device)
            self.net_.initialize()
            self.selective_pruning_record_ = None
            self.pruning_record_ = None
        net = self.net_
        net.batch_size = batch_size
        net.verbose = self.verbose
        self._sync_training_params(net)
        net.shuffle_generator = shuffle_gen
        net.module_.dropout_generator = dropout_gen
        # sparse X stays a scipy CSR matrix: each mini-batch becomes a torch sparse
        # tensor (TensorBatches) and the first layer a sparse @ dense product
        X_t = X if sp.issparse(X) else torch.as_tensor(X, device=device)
        y_t = y_t.to(device)
        w_t = None if sample_weight is None else torch.as_tensor(sample_weight, device=device)
        data = TensorData(X_t, y_t, w_t)
        need_valid = not incremental and (self.early_stopping
                                          or self.selective_pruning_tol is not None)
        train, valid = (self._split(data, y, seed) if need_valid else (data, None))
        steps_per_epoch = math.ceil(len(train) / batch_size)
        if incremental:
            epochs = 1
            calls = getattr(self, "_partial_calls", None)
            replan = calls is None or "sparsity_log" not in dict(net.callbacks_)
            if calls is None:
                calls = 0
                self._warn_partial_fit_ignores()
                self._partial_steps_per_epoch = steps_per_epoch
                self._partial_steps = 0  # optimizer steps of the stream so far
                if not first:
                    # partial_fit after fit: fit's plan is complete; training goes
                    # on with its masks and frozen support, no schedule restarts
                    calls = self.max_iter
                    self._partial_steps = self.max_iter * steps_per_epoch
            if replan:
                # partial_fit plans max_iter calls of one epoch each (epochs measured
                # by the first block): L1 warm-up/freeze and the prune schedule count
                # steps across calls, so they advance call by call; the callbacks
                # are kept from call to call (with their step counters). A net
                # rebuilt after unpickling gets its plan back at the call it was at.
                spe = self._partial_steps_per_epoch
                self._set_training_callbacks(net, schedule, self.max_iter * spe, spe,
                                             self.max_iter, None, seed, incremental)
                for name in ("pruning", "proximal"):
                    cb = dict(net.callbacks_).get(name)
                    if cb is not None:
                        cb.step_ = self._partial_steps
            self._partial_calls = calls
        else:
            self._partial_calls = None
            epochs = self.max_iter
            self._set_training_callbacks(net, schedule, epochs * steps_per_epoch,
                                         steps_per_epoch, epochs, valid, seed, incremental)
        net.train_split = predefined_split(valid) if valid is not None else None

        with _torch_threads(self._n_threads(self._work_per_row(net, X))):
            epochs_before = len(net.history)
            self._train(net, train, epochs)
            epochs_run = len(net.history) - epochs_before
            if not incremental and self.selective_pruning_tol is not None:
                self._selective(net, train, valid, float(self.selective_pruning_tol),
                                max(1, self.max_iter // 10), self._fit_data_note(train, valid))
            if incremental:
                self._partial_calls += 1
                self._partial_steps += steps_per_epoch
                if self._partial_calls == self.max_iter:
                    self._complete_plan(net)
        self._finalize(net, incremental=incremental)
        # A prune schedule or the L1 warm-up/freeze makes max_iter the plan of the run
        # (its phases are fractions of it): running all of it is not a failure to
        # converge, and raising max_iter would stretch the schedule too.
        if (not incremental and epochs_run == self.max_iter
                and not self._schedule_fixes_length(schedule)
                and not getattr(self, "_diverged", False)):
            warnings.warn(
                f"Stochastic Optimizer: Maximum iterations ({self.max_iter}) reached and "
                "the optimization hasn't converged yet.",
                ConvergenceWarning,
            )
        return self

    def _schedule_fixes_length(self, schedule):
        """True when the run's phases are fractions of ``max_iter`` (a prune schedule,
        or the L1 / input-L1 warm-up and freeze)."""
        return schedule is not None or self.l1 > 0 or self.input_l1 > 0

    def _check_same_network(self, sizes, device, incremental):
        """A warm start or a later ``partial_fit`` continues the fitted network. A
        parameter that would build a different network cannot take effect there,
        so it is an error (never silently ignored)."""
        module = self.net_.module_
        changes = []
        built = getattr(self, "_hidden_sizes_built", None)
        if built is not None and tuple(sizes) != tuple(built):
            changes.append(f"hidden_layer_sizes={sizes} (fitted with {built})")
        if self.activation != module.activation:
            changes.append(f"activation={self.activation!r} (fitted with "
                           f"{module.activation!r})")
        if bool(self.batch_norm) != module.batch_norm:
            changes.append(f"batch_norm={self.batch_norm} (fitted with {module.batch_norm})")
        fitted_device = torch.device(self.net_.device)
        if device.type != fitted_device.type:
            changes.append(f"device={self.device!r} (fitted on {fitted_device})")
        if changes:
            how = "partial_fit" if incremental else "fit with warm_start=True"
            raise ValueError(
                f"{how} continues the fitted network, but {'; '.join(changes)} "
                "would build a different one. Set the fitted value back, or fit from "
                "scratch with warm_start=False."
            )

    def _sync_training_params(self, net):
        """Training parameters that live in the engine built at the first fit
        (dropout in the module, learning rate and L2 in the optimizer) follow the
        estimator's current values on every call, so a warm start or partial_fit
        uses what ``get_params`` shows."""
        net.module_.dropout = float(self.dropout)
        lr = float(self.learning_rate_init)
        if net.lr != lr:
            net.lr = lr
            for group in net.optimizer_.param_groups:
                group["lr"] = lr
        if float(net.l2) != float(self.l2):
            old = net.optimizer_
            net.l2 = float(self.l2)
            net.initialize_optimizer()  # the parameter groups depend on l2 > 0
            net.optimizer_.state.update(old.state)  # Adam's moments carry over

    def _fit_data_note(self, train, valid):
        return {
            "val": f"the validation split of fit (validation_fraction="
                   f"{self.validation_fraction}: {len(valid)} samples): units were "
                   "selected on it; neither training nor the fine-tune trained on it",
            "train": f"the training split of fit ({len(train)} samples), which the "
                     "fine-tune trained on",
        }

    @staticmethod
    def _work_per_row(net, X):
        """Multiply-adds per sample, the measure the thread choice goes by: the
        parameter count for dense input; for sparse input the first layer costs
        its units times the nonzeros of a row, not times its width (a (100,) net
        on 40,000 TF-IDF columns does about 6,000, not 4 million: measured on the
        loaded 2-core machine, 0.9 s on one thread against 12 s on two for a
        4,000 x 8,000 matrix)."""
        n_params = sum(p.numel() for p in net.module_.parameters())
        if not sp.issparse(X):
            return n_params
        first = net.module_.linears[0].weight
        nnz_per_row = X.nnz / max(X.shape[0], 1)
        return n_params - first.numel() + int(first.shape[0] * math.ceil(nnz_per_row))

    @staticmethod
    def _as_float32(X):
        """float32 rows for training: a CSR matrix stays sparse (only its values
        are cast), a dense array becomes C-contiguous."""
        if sp.issparse(X):
            X = sp.csr_array(X)
            if X.dtype != np.float32:
                X = X.astype(np.float32)
            X.sum_duplicates()
            return X
        return np.ascontiguousarray(X, dtype=np.float32)

    def _warn_partial_fit_ignores(self):
        """partial_fit trains one epoch per call on the block it is given: what
        needs a held-out split of the whole data set is fit's alone."""
        ignored = []
        if self.early_stopping:
            ignored.append("early_stopping=True (with validation_fraction, "
                           "n_iter_no_change, tol)")
        if self.selective_pruning_tol is not None:
            ignored.append(f"selective_pruning_tol={self.selective_pruning_tol} (call "
                           "prune_neurons(X_val, y_val, tol) on held-out data instead)")
        if ignored:
            warnings.warn(
                "partial_fit trains one epoch per call and holds no validation split, "
                "so it does not apply " + "; ".join(ignored) + ". Use fit for them.",
                UserWarning,
            )

    def _complete_plan(self, net):
        """After the max_iter-th partial_fit call the plan is complete: when the
        blocks were smaller than the first one (fewer steps than planned), the
        prune schedule's final update and the L1 support freeze are applied now,
        so the network is at ``target_sparsity`` whatever the block sizes."""
        cbs = dict(net.callbacks_)
        pruning = cbs.get("pruning")
        if pruning is not None and pruning.step_ < pruning.final_step_:
            pruning.step_ = pruning.final_step_
            pruning._update(net)
        prox = cbs.get("proximal")
        if prox is not None and prox.total_steps and not prox.frozen_:
            prox._freeze(net.module_)

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
                                valid, seed, incremental, planned=True):
        """(Re)build the callbacks for fit, or for the planned calls of partial_fit
        (``incremental``: no stopping). ``planned=False`` (a fine-tune): the L1
        penalty is on at full strength from the first step, no warm-up or freeze."""
        kind = self._score_kind()
        cbs = [("shrink", TrainSmaller()),  # first: later snapshots see its result
               ("last_good", LastGoodWeights()),
               ("sparsity_log", SparsityLog(self._n_weights_built))]
        start_epoch = 0
        if self.l1 > 0 or self.input_l1 > 0:
            # _proximal_schedule: the CV estimators' slower input_l1 ramp
            prox = ProximalL1(self.l1, self.input_l1,
                              total_steps=total_steps if planned else None,
                              **getattr(self, "_proximal_schedule", {}))
            cbs.append(("proximal", prox))
            if not incremental:  # stopping waits until the support is frozen
                start_epoch = max(start_epoch, math.ceil(prox.freeze_at * epochs))
        if schedule is not None:
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

    @staticmethod
    @torch.no_grad()
    def _eval_loss(net, data):
        """Eval-mode loss of the network on ``data`` (a TensorData), in chunks."""
        module = net.module_
        module.eval()
        n = len(data)
        out = torch.cat([module(data.rows(slice(i, i + _PREDICT_CHUNK)))
                         for i in range(0, n, _PREDICT_CHUNK)])
        return float(net.get_loss(out, (data.y, data.w)))

    def _selective(self, net, train, valid, tol, finetune_epochs, data_note):
        """Trial-and-error neuron pruning on ``valid``, then a short fine-tune on
        ``train``; the fine-tune is kept only if it does not raise the loss on
        ``valid``. The record names the data behind every number (``data_note``)."""
        module = net.module_
        Xv, yv = valid.rows(), valid.y

        def loss_fn(out, y):
            return net.get_loss(out, (y, valid.w))

        module.eval()
        record, base, after_removal = selective_prune(module, Xv, yv, loss_fn, tol)
        net.initialize_optimizer()
        after_ft = train_after = None
        kept, epochs = False, 0
        if record and finetune_epochs > 0:
            if not module.batch_norm:
                # units the removals left with all inputs or outputs masked go now:
                # TrainSmaller would cut them during the fine-tune, and the snapshot
                # below must keep the shapes it restores into
                module.shrink_dead_(inputs=False)
            before_ft = self._eval_loss(net, valid)
            snapshot = {k: v.clone() for k, v in module.state_dict().items()}
            self._train(net, train, finetune_epochs)
            epochs = finetune_epochs
            kept = self._eval_loss(net, valid) <= before_ft
            if not kept:
                module.load_state_dict(snapshot)
            train_after = self._eval_loss(net, train)
            if train is not valid:  # a loss on data the fine-tune did not train on
                after_ft = self._eval_loss(net, valid)
        self.selective_pruning_record_ = {
            "removed": record,
            "n_removed": len(record),
            "val_loss_before": base,
            "val_loss_after_removal": after_removal,
            "val_loss_after_fine_tune": after_ft,
            "train_loss_after_fine_tune": train_after,
            "fine_tune_epochs": epochs,
            "fine_tune_kept": kept,
            "hidden_layer_sizes_after": tuple(module.hidden_layer_sizes),
            "data": data_note,
        }

    def prune_neurons(self, X, y, tol, fine_tune_epochs=None, sample_weight=None):
        """Remove hidden units of a fitted model by trial and error (selective pruning).

        Each hidden unit is tried out on ``(X, y)``; it stays out if the loss on that
        data stays within ``tol`` of the loss before pruning. Passes repeat until
        nothing more goes, then the model is fine-tuned on the same data, and the
        fine-tune is kept only if it does not raise the loss on that data. Use
        held-out data the model was not trained on. To prune connection weights
        instead of units, see :meth:`prune`.

        Parameters
        ----------
        X : array-like or sparse matrix of shape (n_samples, n_features)
            Held-out data: units are selected on it and the fine-tune trains on it.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            Its targets.
        tol : float >= 0
            Largest accumulated rise of the loss on ``(X, y)`` the removals may cost.
        fine_tune_epochs : int >= 0 or None, default=None
            Epochs of fine-tuning after the removals; None means
            ``max(1, max_iter // 10)``, 0 none.
        sample_weight : array-like of shape (n_samples,), default=None
            Per-sample weights of the loss.

        Returns
        -------
        self : object
            The pruned estimator, with ``selective_pruning_record_``:
            ``val_loss_before`` and ``val_loss_after_removal`` are losses on
            ``(X, y)`` before and after the removals (before any fine-tune);
            ``train_loss_after_fine_tune`` is the loss on ``(X, y)`` after the
            fine-tune, which trained on it, so it is a training loss;
            ``val_loss_after_fine_tune`` is None (no data was left out). ``data``
            says which data each number comes from. Judge the result on other data
            (e.g. ``score`` on a test set).
        """
        check_is_fitted(self)
        if not isinstance(tol, Real) or isinstance(tol, bool) or not tol >= 0:
            raise ValueError(f"tol must be a float >= 0, got {tol!r}.")
        if fine_tune_epochs is not None and (
                not isinstance(fine_tune_epochs, Integral) or isinstance(fine_tune_epochs, bool)
                or fine_tune_epochs < 0):
            raise ValueError(f"fine_tune_epochs must be None or an int >= 0, got "
                             f"{fine_tune_epochs!r}.")
        X = self._as_float32(self._validate_X(X, reset=False))
        if sample_weight is not None:
            sample_weight = _check_sample_weight(sample_weight, X, dtype=np.float32)
        net = self.net_
        device = net.module_.linears[0].weight.device
        y_t = self._encode_y(np.asarray(y) if not hasattr(y, "iloc") else y.to_numpy(),
                             first=False, classes=None).to(device)
        w_t = None if sample_weight is None else torch.as_tensor(sample_weight, device=device)
        data = TensorData(X if sp.issparse(X) else torch.as_tensor(X, device=device), y_t, w_t)
        seed = int(check_random_state(self.random_state).randint(np.iinfo(np.int32).max))
        _, net.shuffle_generator, net.module_.dropout_generator = _generators(seed, device)
        epochs = max(1, self.max_iter // 10) if fine_tune_epochs is None else fine_tune_epochs
        batch_size = min(200, len(data)) if self.batch_size == "auto" else self.batch_size
        net.batch_size = min(batch_size, len(data))
        self._set_training_callbacks(net, None,
                                     max(epochs, 1) * math.ceil(len(data) / net.batch_size),
                                     1, epochs, None, seed, incremental=True, planned=False)
        note = {
            "val": f"the (X, y) passed to prune_neurons ({len(data)} samples): units were "
                   "selected on it",
            "train": "the same (X, y), which the fine-tune trained on: "
                     "train_loss_after_fine_tune is a training loss, and no held-out loss "
                     "after the fine-tune exists (val_loss_after_fine_tune is None)",
        }
        with _torch_threads(self._n_threads(self._work_per_row(net, X))):
            self._selective(net, data, data, float(tol), int(epochs), note)
        self._finalize(net)
        return self

    def prune(self, X, y, target_sparsity=0.9, *, schedule="gradual", fine_tune_epochs=None,
              validation_fraction=0.1, sample_weight=None):
        """Prune the connection weights of a fitted model, fine-tuning as it goes.

        The fitted network is pruned on a schedule (the same schedules as
        ``prune_schedule``, run over the fine-tune instead of a whole fit) until
        ``sparsity_as_built_`` reaches ``target_sparsity``, as ``fit`` does with its
        own ``target_sparsity``, and trained on ``(X, y)`` meanwhile, by the same
        engine as ``fit``. Units left without weights are then deleted, as after
        ``fit``. To remove
        whole hidden units by trial and error instead, see :meth:`prune_neurons`.

        ``l1`` and ``input_l1`` are not applied during the fine-tune (the schedule
        decides which weights stay; the zeros they made count as pruned first);
        ``dropout``, ``l2``, ``learning_rate_init``, ``batch_size`` and
        ``neuron_threshold`` are. If training diverges or is interrupted, or an
        error is raised, the model is left as it was before the call.

        Parameters
        ----------
        X : array-like or sparse matrix of shape (n_samples, n_features)
            Data to fine-tune on (typically the training data).
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            Its targets.
        target_sparsity : float in (0, 1), default=0.9
            Fraction of the connection weights of the network as built that are
            zero or gone after pruning (``sparsity_as_built_``, the count ``fit``'s
            ``target_sparsity`` aims at). ``sparsity_``, the zero fraction of
            ``coefs_``, ends lower when whole units were deleted: their weights
            leave ``coefs_`` rather than count as zeros there.
        schedule : {"gradual", "one_shot", "iterative", "dynamic"} or \
                :class:`~sksparse_nn.schedules.PruneSchedule`, default="gradual"
            When the weights go, as fractions of the fine-tune. ``"gradual"``:
            from 10% to 60% of it on a cubic ramp, then the survivors train on.
            Iterative schedules with ``rewind_epoch`` are not supported here.
        fine_tune_epochs : int >= 1 or None, default=None
            Epochs of the fine-tune; None means ``max(50, max_iter // 2)``. On
            ``load_digits``, dense (128, 64) networks pruned to 90% with the
            defaults changed test accuracy by -0.4 to +0.2 points on
            standardised inputs and by -2.0 to -0.2 on raw pixels (5 seeds).
        validation_fraction : float in (0, 1) or None, default=0.1
            Part of ``(X, y)`` held out of the fine-tune, on which the loss and
            score before and after are measured (``pruning_record_``). None:
            fine-tune on all of it (the record then has no held-out numbers).
        sample_weight : array-like of shape (n_samples,), default=None
            Per-sample weights of the loss.

        Returns
        -------
        self : object
            The pruned estimator, with ``pruning_record_``, a dict: ``target_sparsity``, ``schedule``,
            ``fine_tune_epochs``, ``sparsity_before`` / ``sparsity_after``
            (``sparsity_``), ``sparsity_as_built_before`` / ``_after``,
            ``hidden_layer_sizes_before`` / ``_after``,
            ``val_loss_before`` / ``val_loss_after`` and ``val_score_before`` /
            ``val_score_after`` (loss and ``score`` on the held-out part),
            ``train_loss_after_fine_tune`` (loss on the part it trained on) and
            ``data`` (which data each number comes from).

        Examples
        --------
        >>> from sklearn.datasets import load_digits
        >>> from sksparse_nn import SparseMLPClassifier
        >>> X, y = load_digits(return_X_y=True)
        >>> clf = SparseMLPClassifier((32,), max_iter=5, random_state=0).fit(X / 16, y)
        >>> clf = clf.prune(X / 16, y, target_sparsity=0.8, fine_tune_epochs=5)
        >>> round(clf.sparsity_as_built_, 2)
        0.8
        """
        check_is_fitted(self)
        target, sched, epochs = self._check_prune_args(
            target_sparsity, schedule, fine_tune_epochs, validation_fraction)
        X = self._as_float32(self._validate_X(X, reset=False))  # CSR stays sparse
        y = y.to_numpy() if hasattr(y, "iloc") else np.asarray(y)
        check_consistent_length(X, y)
        if sample_weight is not None:
            sample_weight = _check_sample_weight(sample_weight, X, dtype=np.float32,
                                                 ensure_non_negative=True)
        net = self.net_
        device = net.module_.linears[0].weight.device
        y_t = self._encode_y(y, first=False, classes=None).to(device)
        seed = int(check_random_state(self.random_state).randint(np.iinfo(np.int32).max))
        fit_idx, val_idx = self._prune_split(y, validation_fraction, seed)

        def part(idx):
            if idx is None:
                return None
            i = torch.as_tensor(idx, device=device)
            rows = X[idx]
            return TensorData(rows if sp.issparse(rows) else torch.as_tensor(rows, device=device),
                              y_t[i],
                              None if sample_weight is None
                              else torch.as_tensor(sample_weight[idx], device=device))

        train, valid = part(fit_idx), part(val_idx)
        if not self.sparsity_as_built_ < target:
            warnings.warn(
                f"The model is already {self.sparsity_as_built_:.1%} sparse "
                f"(sparsity_as_built_), at least target_sparsity={target}: nothing to "
                "prune; the model is unchanged.",
                UserWarning,
            )
            return self
        # the schedule prunes the network as it is now (units already deleted are
        # gone): its target leaves (1 - target) of the weights as built
        module_target = 1.0 - (1.0 - target) * self._n_weights_built / net.module_.n_weights()

        record = {"target_sparsity": target, "schedule": sched, "fine_tune_epochs": epochs,
                  "sparsity_before": self.sparsity_,
                  "sparsity_as_built_before": self.sparsity_as_built_,
                  "hidden_layer_sizes_before": self.hidden_layer_sizes_}
        if valid is not None:
            record["val_loss_before"] = self._eval_loss(net, valid)
            record["val_score_before"] = self._score_part(X, y, sample_weight, val_idx)
        saved = self._backup()
        try:
            finished = self._prune_train(net, train, valid, sched, module_target, epochs,
                                         seed)
            if not finished:
                self._restore(saved)
                return self
            self._finalize(net)
            record["sparsity_after"] = self.sparsity_
            record["sparsity_as_built_after"] = self.sparsity_as_built_
            record["hidden_layer_sizes_after"] = self.hidden_layer_sizes_
            if valid is not None:
                record["val_loss_after"] = self._eval_loss(net, valid)
                record["val_score_after"] = self._score_part(X, y, sample_weight, val_idx)
            else:
                record.update(val_loss_before=None, val_score_before=None,
                              val_loss_after=None, val_score_after=None)
            record["train_loss_after_fine_tune"] = self._eval_loss(net, train)
        except BaseException:
            self._restore(saved)
            raise
        record["data"] = {
            "val": (f"validation_fraction={validation_fraction} of the (X, y) passed to "
                    f"prune ({len(val_idx)} samples), held out of the fine-tune"
                    if valid is not None else "none held out (validation_fraction=None)"),
            "train": f"the rest of (X, y) ({len(fit_idx)} samples), which the fine-tune "
                     "trained on",
        }
        self.pruning_record_ = record
        return self

    def _backup(self):
        # a deep copy drops the optimizer's per-parameter state (Adam's moments):
        # keep it as a state_dict, which maps by position and loads into the copy
        return (copy.deepcopy(self.__dict__),
                copy.deepcopy(self.net_.optimizer_.state_dict()))

    def _restore(self, saved):
        attrs, optimizer_state = saved
        self.__dict__.clear()
        self.__dict__.update(attrs)
        self.net_.optimizer_.load_state_dict(optimizer_state)

    def _check_prune_args(self, target_sparsity, schedule, fine_tune_epochs,
                          validation_fraction):
        if (not isinstance(target_sparsity, Real) or isinstance(target_sparsity, bool)
                or not 0 < target_sparsity < 1):
            raise ValueError(f"target_sparsity must be a float in (0, 1), got "
                             f"{target_sparsity!r}.")
        if not (isinstance(schedule, PruneSchedule)
                or (isinstance(schedule, str) and schedule in SCHEDULE_NAMES)):
            raise ValueError(
                f"schedule must be one of {sorted(SCHEDULE_NAMES)} or a PruneSchedule "
                f"object from sksparse_nn.schedules, got {schedule!r}."
            )
        sched = get_schedule(schedule)
        if sched.rewind_epoch is not None:
            raise ValueError(
                "prune does not support rewind_epoch (rewinding goes back to weights "
                "from early in a fit from scratch); use Iterative(rewind_epoch=None) or "
                "fit with prune_schedule=... instead."
            )
        sched.unit_caps(list(self.hidden_layer_sizes_), float(target_sparsity),
                        float(target_sparsity))  # a wrong max_units raises here
        if fine_tune_epochs is None:
            fine_tune_epochs = max(50, self.max_iter // 2)
        elif (not isinstance(fine_tune_epochs, Integral) or isinstance(fine_tune_epochs, bool)
              or fine_tune_epochs < 1):
            raise ValueError(f"fine_tune_epochs must be None or an int >= 1, got "
                             f"{fine_tune_epochs!r}.")
        if validation_fraction is not None and (
                not isinstance(validation_fraction, Real)
                or isinstance(validation_fraction, bool) or not 0 < validation_fraction < 1):
            raise ValueError(f"validation_fraction must be None or a float in (0, 1), got "
                             f"{validation_fraction!r}.")
        return float(target_sparsity), sched, int(fine_tune_epochs)

    def _prune_split(self, y, validation_fraction, seed):
        idx = np.arange(len(y))
        if validation_fraction is None:
            return idx, None
        strata = (y if self._is_classifier() and y.ndim == 1 else None,)
        for stratify in (strata[0], None) if strata[0] is not None else (None,):
            try:
                fit_idx, val_idx = train_test_split(idx, test_size=validation_fraction,
                                                    random_state=seed, stratify=stratify)
            except ValueError:
                continue
            if len(fit_idx) and len(val_idx):
                return np.sort(fit_idx), np.sort(val_idx)
        raise ValueError(
            f"validation_fraction={validation_fraction} leaves no sample for the fine-tune "
            f"or for validation with {len(y)} samples; pass more samples or "
            "validation_fraction=None."
        )

    def _score_part(self, X, y, sample_weight, idx):
        return float(self.score(X[idx], y[idx],
                                sample_weight=None if sample_weight is None
                                else sample_weight[idx]))

    def _prune_train(self, net, train, valid, schedule, target, epochs, seed):
        """The fine-tune of :meth:`prune` through ``_train`` (the engine of ``fit``).
        Returns False (after a warning) when it diverged or was interrupted."""
        device = net.module_.linears[0].weight.device
        _, net.shuffle_generator, net.module_.dropout_generator = _generators(seed, device)
        batch_size = min(200, len(train)) if self.batch_size == "auto" else self.batch_size
        net.batch_size = min(batch_size, len(train))
        net.verbose = self.verbose
        self._sync_training_params(net)
        total_steps = epochs * math.ceil(len(train) / net.batch_size)
        cbs = [("shrink", TrainSmaller()),  # first, as in fit
               ("last_good", LastGoodWeights()),
               ("sparsity_log", SparsityLog(self._n_weights_built)),
               ("pruning", MagnitudePruning(schedule, target, total_steps, seed=seed))]
        if valid is not None:
            cbs.append(("valid_score", ValidationScore(self._score_kind())))
        if self.verbose >= 2:
            cbs.append(("progress", ProgressBar(batches_per_epoch="auto")))
        net.callbacks = cbs
        net.initialize_callbacks()
        net.train_split = predefined_split(valid) if valid is not None else None
        epochs_before = len(net.history)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            with _torch_threads(self._n_threads(self._work_per_row(net, train.X))):
                self._train(net, train, epochs)
        if self._diverged or len(net.history) - epochs_before < epochs:
            what = ("diverged (lower learning_rate_init and call prune again)"
                    if self._diverged else "was interrupted")
            warnings.warn(f"prune {what}; the model is kept as it was before the call.",
                          UserWarning)
            return False
        for w in caught:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
        return True

    def _finalize(self, net, incremental=False):
        module = net.module_
        # what target_sparsity sets: zeros of the trained network as built, before
        # dead units go (units cut out during training count as they were when cut)
        self.sparsity_as_built_ = (1.0 - sum(module.n_nonzero(retired=True))
                                   / self._n_weights_built)
        if incremental:
            # between partial_fit calls the training network stays as it is (masks,
            # Adam moments, units cut while training and their counts): the dead
            # units are removed from a copy that becomes the compact model
            module = copy.deepcopy(module)
        else:
            module.retired_nonzero = [0] * len(module.linears)
        removed = module.remove_dead_neurons(float(self.neuron_threshold))
        if any(removed) and not incremental:
            net.initialize_optimizer()
        module.masked = any(not bool(lin.mask.all()) for lin in module.linears)
        module.eval()
        self.hidden_layer_sizes_ = tuple(module.hidden_layer_sizes)
        self.hidden_units_kept_ = [np.asarray(ix, dtype=np.intp) for ix in module.unit_index]
        self.compact_model_ = CompactMLP.from_module(module)
        self.n_features_selected_ = int(len(self.compact_model_.input_index))
        self._count_nonzero()
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

    def _count_nonzero(self):
        """``sparsity_`` and ``nonzero_weights_`` count ``coefs_``, the fitted network
        as the user sees it (removed units are absent, unread inputs are zero rows)."""
        coefs = self.coefs_
        self.nonzero_weights_ = [int(np.count_nonzero(W)) for W in coefs]
        nonzero, size = sum(self.nonzero_weights_), sum(W.size for W in coefs)
        self.sparsity_ = 1.0 - nonzero / size if size else 1.0

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
                    chunk = X[start:start + _PREDICT_CHUNK]  # sparse rows stay sparse
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
        """Always ``"l1"``, so ``SelectFromModel`` keeps exactly the features read.

        Importances of dropped features are exactly zero, so
        ``SelectFromModel`` uses its near-zero default threshold (1e-5) and keeps
        exactly the features the network still reads.
        """
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


# The two estimators share every hyperparameter and fitted attribute: one text
# for both docstrings, so they cannot drift apart.
_PARAMETERS_DOC = """\
    hidden_layer_sizes : tuple of int, default=(100,)
        Units per hidden layer before pruning; ``hidden_layer_sizes_`` holds
        what is left after fit.
    activation : {"relu", "tanh", "logistic", "identity"}, default="relu"
        Activation of the hidden layers.
    l1 : float >= 0, default=0
        L1 strength on every connection weight, applied as a proximal
        (soft-threshold) step after each optimizer step, so weights become exactly
        zero. Roughly: a weight whose average loss gradient is smaller than ``l1``
        goes to zero. ``1e-4`` barely changes a network, ``1`` zeroes everything.
        The penalty starts after 25% of the steps; after 80% the zero pattern is
        frozen and the survivors are refitted without shrinkage.
    l2 : float >= 0, default=0
        L2 strength (weight decay) on connection weights, not biases.
    input_l1 : float >= 0, default=0
        Group-lasso strength on each input feature's outgoing weights (proximal):
        whole features drop out with exactly zero weights (feature selection).
    dropout : float in [0, 1), default=0
        Dropout probability after each hidden activation.
    batch_norm : bool, default=False
        Batch normalisation before each hidden activation (folded into the
        weights for prediction).
    max_iter : int, default=200
        Number of epochs.
    batch_size : int or "auto", default="auto"
        Mini-batch size; ``"auto"`` is ``min(200, n_samples)``.
    learning_rate_init : float, default=1e-3
        Adam's learning rate.
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the data, stop when the validation
        score has not improved by ``tol`` for ``n_iter_no_change`` epochs, restore
        the best weights. Stopping waits until a prune schedule or the L1 support
        is final.
    validation_fraction : float in (0, 1), default=0.1
        Fraction of the training data held out for early stopping and selective
        pruning.
    n_iter_no_change : int, default=10
        Epochs without an improvement of at least ``tol`` before training stops.
    tol : float, default=1e-4
        Without early stopping, training stops when the training loss has not
        improved by ``tol`` for ``n_iter_no_change`` epochs (as scikit-learn's MLP).
    prune_schedule : str, PruneSchedule or None, default=None
        When weights are pruned by magnitude: "one_shot", "gradual",
        "iterative", "dynamic", or a :class:`~sksparse_nn.schedules.PruneSchedule`
        object (its parameters are then tunable, e.g. ``prune_schedule__end``).
        None with ``target_sparsity > 0`` means "gradual".
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
    random_state : int, RandomState instance or None, default=None
        Seeds the weight initialisation, the shuffling, dropout and the
        validation split; the global torch random state is left untouched.
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
"""

_ATTRIBUTES_DOC = """\
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (n_features,)
        Names of features seen during fit, when ``X`` had string column names.
    n_outputs_ : int
        Number of network outputs.
    net_ : skorch.NeuralNet
        The skorch net used for training; its ``history`` has per-epoch
        ``train_loss``, ``valid_loss``, ``valid_score``, ``sparsity`` and
        ``neurons_alive``.
    compact_model_ : CompactMLP
        The inference network ``predict`` uses (removed units and unread inputs
        are gone from its matrices).
    coefs_ : list of ndarray
        Effective weights per layer, scikit-learn layout ``(n_in, n_out)``
        (batch norm folded in).
    intercepts_ : list of ndarray
        Bias vector per layer.
    loss_curve_ : list of float
        Training loss per epoch.
    loss_ : float
        Training loss of the last epoch.
    best_loss_ : float
        Lowest training loss reached.
    n_iter_ : int
        Epochs run.
    validation_scores_ : list of float or None
        Validation score per epoch, with ``early_stopping=True``.
    best_validation_score_ : float or None
        Best validation score, with ``early_stopping=True``.
    sparsity_ : float
        Fraction of exactly-zero connection weights in ``coefs_`` (the fitted
        network: removed units are absent, unread inputs are zero rows).
    nonzero_weights_ : list of int
        Nonzero weights of each ``coefs_`` layer; their sum is the number of
        nonzeros in ``coefs_``.
    sparsity_as_built_ : float
        What ``target_sparsity`` sets: the fraction of zero weights of the trained
        network counted against the network as built, before dead units were
        removed (removed units count as zeros).
    hidden_layer_sizes_ : tuple of int
        Hidden sizes after neuron removal.
    hidden_units_kept_ : list of ndarray of int
        One array per hidden layer: the indices of the units left, numbered as
        in the network as built (``hidden_layer_sizes``).
    n_features_selected_ : int
        Input features the network still reads.
    feature_importances_ : ndarray of shape (n_features,)
        L2 norm of each input's outgoing weights, normalised to sum to 1;
        exactly 0 for features the network no longer reads.
    selective_pruning_record_ : dict or None
        Units removed by selective pruning and the losses before and after, each
        named by the data it was measured on (see :meth:`prune_neurons`).
    pruning_record_ : dict or None
        Set by :meth:`prune`: losses and scores before and after, and the data
        each was measured on.
"""


class SparseMLPClassifier(ClassifierMixin, _BaseSparseMLP):
    __doc__ = f"""Multi-layer perceptron classifier that trains genuinely sparse networks.

    Binary, multiclass and multilabel targets. Sparsity comes from an L1 proximal step
    (``l1``, ``input_l1``), magnitude pruning on a schedule (``prune_schedule``,
    ``target_sparsity``) and neuron removal; prediction runs on the compacted
    network. See the :ref:`user guide <user_guide>`.

    Multilabel indicator targets (a 0/1 matrix of shape ``(n_samples, n_labels)``)
    are taken as :class:`~sklearn.neural_network.MLPClassifier` takes them: one
    sigmoid output per label, ``predict`` returns the indicator matrix,
    ``predict_proba`` the label probabilities, ``classes_`` is ``arange(n_labels)``.

    Parameters
    ----------
{_PARAMETERS_DOC}
    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        Class labels.
{_ATTRIBUTES_DOC}
    See Also
    --------
    SparseMLPRegressor : The regressor.
    sklearn.neural_network.MLPClassifier : The dense MLP of scikit-learn.

    Examples
    --------
    >>> from sklearn.datasets import load_breast_cancer
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.preprocessing import StandardScaler
    >>> from sksparse_nn import SparseMLPClassifier
    >>> X, y = load_breast_cancer(return_X_y=True)
    >>> clf = make_pipeline(StandardScaler(), SparseMLPClassifier(
    ...     (32,), target_sparsity=0.9, max_iter=20, random_state=0)).fit(X, y)
    >>> round(float(clf[-1].sparsity_as_built_), 2)
    0.9
    """

    def partial_fit(self, X, y, classes=None, sample_weight=None):
        """Train one epoch over ``(X, y)``, one of ``max_iter`` planned epochs.

        The L1 warm-up and freeze and the prune schedule advance call by call
        (optimizer steps per epoch are measured on the first block) and reach
        ``target_sparsity`` after ``max_iter`` calls; later calls keep the masks.
        ``early_stopping`` and ``selective_pruning_tol`` need a held-out split of
        the whole data set and are not applied (the first call warns). This is
        the method ``dask_ml.wrappers.Incremental`` drives block by block.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            A block of samples (sparse matrices stay sparse).
        y : array-like of shape (n_samples,) or (n_samples, n_labels)
            Labels, or a multilabel indicator matrix.
        classes : array-like of shape (n_classes,), default=None
            Every class of the stream; required on the first call for
            single-label targets (a block may lack some classes).
        sample_weight : array-like of shape (n_samples,), default=None
            Per-sample weights of the loss.

        Returns
        -------
        self : object
            The estimator, trained one more epoch.
        """
        return self._partial_fit(X, y, sample_weight=sample_weight, classes=classes)

    def _is_classifier(self):
        return True

    def _score_kind(self):
        if self._multilabel:
            return "multilabel"
        return "binary" if len(self.classes_) == 2 else "multiclass"

    @property
    def _multilabel(self):
        return getattr(self, "_label_kind", None) == "multilabel"

    def _criterion(self):
        # multilabel: one sigmoid + binary cross-entropy per label, as MLPClassifier
        if self._multilabel:
            return _MultilabelBCE()
        if len(self.classes_) == 2:
            return torch.nn.BCEWithLogitsLoss(reduction="none")
        return torch.nn.CrossEntropyLoss(reduction="none")

    def _split_labels(self, y):
        if self._multilabel:
            return None  # as MLPClassifier: no stratified split for multilabel targets
        return self._label_encoder.transform(y)

    def _encode_y(self, y, first, classes, sample_weight=None):
        if sp.issparse(y):
            y = y.toarray()
        y = np.asarray(y)
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        if y.ndim == 2:
            return self._encode_multilabel(y, first)
        if not first and self._multilabel:
            raise ValueError(
                f"The model was fitted on a multilabel indicator target with "
                f"{len(self.classes_)} labels; y of shape {y.shape} is not one."
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
            self._label_kind = "single"
            self.classes_ = enc.classes_
            self.n_outputs_ = 1 if len(self.classes_) == 2 else len(self.classes_)
            self.out_activation_ = "logistic" if len(self.classes_) == 2 else "softmax"
        else:
            self._check_seen(self._label_encoder, y)
        codes = self._label_encoder.transform(y)
        if len(self.classes_) == 2:
            return torch.as_tensor(codes.reshape(-1, 1), dtype=torch.float32)
        return torch.as_tensor(codes, dtype=torch.long)

    def _encode_multilabel(self, y, first):
        """Multilabel indicator targets, as MLPClassifier takes them: one sigmoid
        output per label, ``classes_ = arange(n_labels)`` (its LabelBinarizer's)."""
        kind = type_of_target(y)
        if kind == "multilabel-indicator" and not np.isin(y, (0, 1)).all():
            raise ValueError(
                "A multilabel indicator target must hold 0 and 1 only, got values "
                f"{np.unique(y).tolist()}."
            )
        if kind != "multilabel-indicator":
            raise ValueError(
                f"{type(self).__name__} supports binary, multiclass and multilabel-"
                f"indicator targets, got a {kind} target of shape {y.shape}."
            )
        if first:
            self._label_kind = "multilabel"
            self.classes_ = np.arange(y.shape[1])
            self.n_outputs_ = y.shape[1]
            self.out_activation_ = "logistic"
        elif not self._multilabel or y.shape[1] != len(self.classes_):
            was = (f"{len(self.classes_)} labels" if self._multilabel
                   else f"single-label classes {self.classes_.tolist()}")
            raise ValueError(
                f"y is a multilabel indicator with {y.shape[1]} labels but the model "
                f"was fitted with {was}."
            )
        return torch.as_tensor(y.astype(np.float32))

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
        """Predict class probabilities.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Input data (sparse matrices stay sparse).

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
            Probabilities (float64), columns ordered as ``classes_``. For a
            multilabel target: the probability of each label, shape
            ``(n_samples, n_labels)`` (rows do not sum to 1).
        """
        z = self._decision(X)
        if self._multilabel:
            return expit(z.astype(np.float64))
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
        """Predict the logarithm of the class probabilities.

        Parameters
        ----------
        X : array-like or sparse matrix of shape (n_samples, n_features)
            Input data.

        Returns
        -------
        log_proba : ndarray of shape (n_samples, n_classes)
            Log-probabilities, columns ordered as ``classes_``.
        """
        return np.log(self.predict_proba(X))

    def predict(self, X):
        """Predict class labels.

        Parameters
        ----------
        X : array-like or sparse matrix of shape (n_samples, n_features)
            Input data.

        Returns
        -------
        y : ndarray of shape (n_samples,)
            Predicted labels, from ``classes_``.
        """
        z = self._decision(X)
        if self._multilabel:  # probability > 0.5, as MLPClassifier's indicator output
            return (z > 0).astype(np.int64)
        if len(self.classes_) == 2:
            return self.classes_[(z[:, 0] > 0).astype(int)]
        return self.classes_[np.argmax(z, axis=1)]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags


class SparseMLPRegressor(RegressorMixin, _BaseSparseMLP):
    __doc__ = f"""Multi-layer perceptron regressor that trains genuinely sparse networks.

    Targets are standardised internally (mean 0, variance 1 per output), so
    ``l1`` means the same on every target scale; ``loss_curve_`` is the mean
    squared error in that standardised scale. Multi-output ``y`` is supported.
    See the :ref:`user guide <user_guide>`.

    Parameters
    ----------
{_PARAMETERS_DOC}
    Attributes
    ----------
{_ATTRIBUTES_DOC}
    See Also
    --------
    SparseMLPClassifier : The classifier.
    sklearn.neural_network.MLPRegressor : The dense MLP of scikit-learn.

    Examples
    --------
    >>> import numpy as np
    >>> from sksparse_nn import SparseMLPRegressor
    >>> rng = np.random.RandomState(0)
    >>> X = rng.uniform(size=(200, 5))
    >>> y = X[:, 0] - 2 * X[:, 1]
    >>> reg = SparseMLPRegressor((16,), input_l1=0.02, max_iter=50, random_state=0)
    >>> reg.fit(X, y).n_features_selected_ <= 5
    True
    """

    def partial_fit(self, X, y, sample_weight=None):
        """Train one epoch over ``(X, y)``, one of ``max_iter`` planned epochs.

        See :meth:`SparseMLPClassifier.partial_fit` for how the hyperparameters
        are planned across calls. The target standardisation is fitted on the
        first block.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            A block of samples (sparse matrices stay sparse).
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            Targets.
        sample_weight : array-like of shape (n_samples,), default=None
            Per-sample weights of the loss.

        Returns
        -------
        self : object
            The estimator, trained one more epoch.
        """
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
        """Predict target values.

        Parameters
        ----------
        X : array-like or sparse matrix of shape (n_samples, n_features)
            Input data.

        Returns
        -------
        y : ndarray of shape (n_samples,) or (n_samples, n_outputs)
            Predictions, in the scale of the training targets.
        """
        z = self._decision(X) * self._y_scale + self._y_mean
        if self._y_ndim == 1:
            return z[:, 0]
        return z

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags
