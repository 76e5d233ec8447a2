"""The scikit-learn face shared by both estimators: :class:`_BaseSparseMLP`.

This file knows scikit-learn. It validates parameters and input, builds the
skorch engine (:class:`~sksparse_nn._training.TorchNet`) with the callbacks the
hyperparameters ask for, trains it, and turns the trained network into fitted
attributes and a compact inference model
(:class:`~sksparse_nn.inference.CompactMLP`). Pruning a fitted model is
:mod:`sksparse_nn._prune_fitted`'s job; what differs between classifier and
regressor lives in :mod:`sksparse_nn._classes`.
"""

import copy
import math
import warnings
import dataclasses
from numbers import Integral, Real

import numpy as np
import scipy.sparse as sp
import torch
from skorch.callbacks import ProgressBar
from skorch.dataset import ValidSplit
from skorch.helper import predefined_split
from sklearn.base import BaseEstimator, _fit_context
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import (
    _check_sample_weight,
    check_consistent_length,
    check_is_fitted,
    validate_data,
)

from ._network import SparseMLP
from ._persistence import pack_state, unpack_state
from ._prune_fitted import _PruneFittedMixin
from ._surgery import expand_inputs_, remove_dead_units
from .inference import CompactMLP
from .schedules import SCHEDULE_NAMES, L1Schedule, PruneSchedule, get_schedule
from ._training import (
    DelayedEarlyStopping,
    LastGoodWeights,
    MagnitudePruning,
    NonFiniteLossError,
    ProximalL1,
    SparsityLog,
    TensorData,
    TorchNet,
    TrainSmaller,
    ValidationScore,
    as_tensor_data,
    optimizer_state_follows,
)
from ._training._runtime import fit_generators, torch_threads

# Below this many weights per thread, a second torch thread costs more in
# synchronisation than it saves on each small matrix product, so small nets train
# on one thread (measurements: benchmarks/PERFORMANCE.md, "Estimator").
_PARAMS_PER_THREAD = 50_000
_PREDICT_CHUNK = 16_384


def _silence(*args, **kwargs):
    pass


@dataclasses.dataclass
class PartialFitPlan:
    """Where a stream of ``partial_fit`` calls stands in its plan.

    ``partial_fit`` plans ``max_iter`` calls of one epoch each; the L1
    warm-up/freeze and the prune schedule are fractions of the
    ``max_iter * steps_per_epoch`` optimizer steps of that plan. A fitted
    estimator holds its plan as ``partial_fit_plan_`` (None after ``fit``).

    Parameters
    ----------
    steps_per_epoch : int
        Optimizer steps of one epoch, measured on the first block.
    calls : int, default=0
        ``partial_fit`` calls made so far (``max_iter`` after a ``fit``: a stream
        that follows a fit continues a complete plan).
    steps : int, default=0
        Optimizer steps taken by those calls.
    """

    steps_per_epoch: int
    calls: int = 0
    steps: int = 0


# Parameters that describe the fitted network, and when a new value set on a
# fitted model takes effect (see set_params and docs/user_guide/hyperparameters.rst).
_NEXT_FIT = "the next fit"
_FITTED_NETWORK_PARAMS = {
    "hidden_layer_sizes": "the next fit from scratch (a warm start raises)",
    "activation": "the next fit from scratch (a warm start raises)",
    "batch_norm": "the next fit from scratch (a warm start raises)",
    "l1": _NEXT_FIT,
    "input_l1": _NEXT_FIT,
    "l1_schedule": _NEXT_FIT,
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


def _sparse_mlp_tags(tags):
    """The tags every sparse MLP estimator sets (plain and CV): sparse input is
    accepted, and a fixed ``random_state`` gives the same model."""
    tags.input_tags.sparse = True
    tags.non_deterministic = False
    return tags


class _BaseSparseMLP(_PruneFittedMixin, BaseEstimator):
    """Shared machinery; see :class:`SparseMLPClassifier` for the parameters."""

    _parameter_constraints = {
        "hidden_layer_sizes": ["array-like", Interval(Integral, 1, None, closed="left")],
        "activation": [StrOptions({"relu", "tanh", "logistic", "identity"})],
        "l1": [Interval(Real, 0, None, closed="left")],
        "l2": [Interval(Real, 0, None, closed="left")],
        "input_l1": [Interval(Real, 0, None, closed="left")],
        "l1_schedule": [None, L1Schedule],
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
        l1_schedule=None,
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
        self.l1_schedule = l1_schedule
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
        """The one training driver of ``fit`` and ``partial_fit`` (as scikit-learn's
        MLP ``_fit``): prepare the data, build the network on a first fit, plan the
        run, train, finalize."""
        sizes = self._hidden_sizes()
        device = self._device()
        schedule = self._schedule()
        first = not (hasattr(self, "net_") and (incremental or self.warm_start))
        if not first:
            self._check_same_network(sizes, device, incremental)
        X, y, sample_weight, y_t = self._prepare_fit_data(X, y, sample_weight, first,
                                                         classes, incremental)
        seed = self._draw_seed()
        if first:
            self._build_network(X.shape[1], sizes, device, seed)
        net = self.net_
        batch_size = self._batch_size(X.shape[0])
        self._prepare_net(net, batch_size, seed, device)
        train, valid = self._training_data(X, y, y_t, sample_weight, seed, device, incremental)
        steps_per_epoch = math.ceil(len(train) / batch_size)
        epochs = self._plan_run(net, schedule, steps_per_epoch, valid, seed, incremental, first)

        with self._training_threads(net, X):
            epochs_before = len(net.history)
            outcome = self._train(net, train, epochs)
            epochs_run = len(net.history) - epochs_before
            if not incremental and self.selective_pruning_tol is not None:
                self._selective(net, train, valid, float(self.selective_pruning_tol),
                                max(1, self.max_iter // 10), self._fit_data_note(train, valid))
            if incremental:
                plan = self.partial_fit_plan_
                plan.calls += 1
                plan.steps += steps_per_epoch
                if plan.calls == self.max_iter:
                    self._complete_plan(net)
        self._finalize(net, incremental=incremental)
        if not incremental:
            self._warn_not_converged(epochs_run, schedule, outcome)
        return self

    # ------------------------------------------------------------ fit steps
    def _prepare_fit_data(self, X, y, sample_weight, first, classes, incremental):
        """Validate ``X``, ``y`` and ``sample_weight`` (``first``: fit the input
        checks and the target encoding); returns float32 ``X``, the validated
        ``y``, float32 weights and the encoded target tensor."""
        X, y = validate_data(
            self, X, y, reset=first, accept_sparse=True,
            dtype=(np.float32, np.float64), multi_output=True,
            y_numeric=not self._is_classifier(),
        )
        X = self._as_float32(X)
        sample_weight = self._check_weights(sample_weight, X)
        if sample_weight is not None and not sample_weight.sum() > 0:
            raise ValueError("sample_weight must not be all zero.")
        y_t = self._encode_y(y, first, classes, sample_weight,
                             require_classes=incremental and first)
        if self.batch_norm and X.shape[0] < 2:
            raise ValueError("batch_norm=True needs at least 2 samples to fit.")
        return X, y, sample_weight, y_t

    def _prepare_refit_data(self, X, y, sample_weight):
        """Validate the data ``prune`` and ``prune_neurons`` train on against the
        fitted model; returns float32 ``X`` (CSR stays sparse), ``y`` as an
        ndarray, float32 weights and the encoded target tensor (on the CPU)."""
        X = self._as_float32(self._validate_X(X, reset=False))
        y = y.to_numpy() if hasattr(y, "iloc") else np.asarray(y)
        check_consistent_length(X, y)
        sample_weight = self._check_weights(sample_weight, X)
        y_t = self._encode_y(y, first=False, classes=None)
        return X, y, sample_weight, y_t

    @staticmethod
    def _check_weights(sample_weight, X):
        if sample_weight is None:
            return None
        return _check_sample_weight(sample_weight, X, dtype=np.float32,
                                    ensure_non_negative=True)

    def _draw_seed(self):
        """The seed of one training call: shuffling, dropout, the validation split
        and the prune schedule's tie-breaks all derive from it."""
        return int(check_random_state(self.random_state).randint(np.iinfo(np.int32).max))

    def _batch_size(self, n_samples):
        size = 200 if self.batch_size == "auto" else self.batch_size
        return min(size, n_samples)

    @staticmethod
    def _tensor_data(X, y_t, sample_weight, device):
        """Training rows on ``device``. Sparse X stays a scipy CSR matrix: each
        mini-batch becomes a torch sparse tensor (TensorBatches) and the first
        layer a sparse @ dense product."""
        X_t = X if sp.issparse(X) else torch.as_tensor(X, device=device)
        w_t = None if sample_weight is None else torch.as_tensor(sample_weight, device=device)
        return TensorData(X_t, y_t.to(device), w_t)

    def _training_data(self, X, y, y_t, sample_weight, seed, device, incremental):
        """The rows to train on and, when fit needs one (early stopping, selective
        pruning), the validation split; partial_fit holds none."""
        data = self._tensor_data(X, y_t, sample_weight, device)
        need_valid = not incremental and (self.early_stopping
                                          or self.selective_pruning_tol is not None)
        return self._split(data, y, seed) if need_valid else (data, None)

    def _plan_run(self, net, schedule, steps_per_epoch, valid, seed, incremental, first):
        """Set up the callbacks for this call and return its epochs: ``max_iter``
        for fit (whose schedules span them), one for partial_fit (the plan spans
        ``max_iter`` calls)."""
        if incremental:
            self._plan_partial_fit(net, schedule, steps_per_epoch, seed, first)
            epochs = 1
        else:
            self.partial_fit_plan_ = None
            epochs = self.max_iter
            self._set_training_callbacks(net, schedule, epochs * steps_per_epoch,
                                         steps_per_epoch, epochs, valid, seed, incremental)
        net.train_split = predefined_split(valid) if valid is not None else None
        return epochs

    def _build_network(self, n_features, sizes, device, seed):
        """A first fit: a new network and engine, and the facts of the network as
        built (``n_weights_built_``, ``hidden_layer_sizes_built_``)."""
        # the initial weights are scikit-learn's draws: with the same random_state
        # the network starts where MLPClassifier/MLPRegressor start
        init_gen = (np.random.RandomState(self.random_state)
                    if isinstance(self.random_state, Integral)
                    else np.random.RandomState(seed))
        module = SparseMLP(n_features, sizes, self.n_outputs_, self.activation,
                           self.dropout, self.batch_norm, generator=init_gen)
        self.n_weights_built_ = module.n_weights()
        self.hidden_layer_sizes_built_ = tuple(sizes)
        self.net_ = self._build_net(module, device)
        self.net_.initialize()
        self.selective_pruning_record_ = None
        self.pruning_record_ = None

    def _prepare_net(self, net, batch_size, seed, device):
        """Settings of every training call (fit, partial_fit, prune,
        prune_neurons): the batch size, the verbosity, the estimator's current
        training parameters and fresh generators for shuffling and dropout."""
        net.batch_size = batch_size
        net.verbose = self.verbose
        self._sync_training_params(net)
        _, net.shuffle_generator, net.module_.dropout_generator = fit_generators(seed, device)

    def _training_threads(self, net, X):
        """The torch thread count of a training call on ``X``, restored afterwards."""
        return torch_threads(self._n_threads(self._work_per_row(net, X)))

    def _plan_partial_fit(self, net, schedule, steps_per_epoch, seed, first):
        """partial_fit plans ``max_iter`` calls of one epoch each (epochs measured
        by the first block): the L1 warm-up/freeze and the prune schedule count
        steps across calls, so they advance call by call. The plan lives in
        ``partial_fit_plan_``; the callbacks are kept from call to call (with
        their step counters), and a net rebuilt after unpickling gets them back
        at the step the plan is at."""
        plan = getattr(self, "partial_fit_plan_", None)
        replan = plan is None or "sparsity_log" not in dict(net.callbacks_)
        if plan is None:
            self._warn_partial_fit_ignores()
            plan = PartialFitPlan(steps_per_epoch)
            if not first:
                # partial_fit after fit: fit's plan is complete; training goes
                # on with its masks and frozen support, no schedule restarts
                plan.calls = self.max_iter
                plan.steps = self.max_iter * steps_per_epoch
            self.partial_fit_plan_ = plan
        if replan:
            spe = plan.steps_per_epoch
            self._set_training_callbacks(net, schedule, self.max_iter * spe, spe,
                                         self.max_iter, None, seed, incremental=True,
                                         start_step=plan.steps)

    def _warn_not_converged(self, epochs_run, schedule, outcome):
        # A prune schedule or the L1 warm-up/freeze makes max_iter the plan of the run
        # (its phases are fractions of it): running all of it is not a failure to
        # converge, and raising max_iter would stretch the schedule too.
        if (epochs_run == self.max_iter and not self._schedule_fixes_length(schedule)
                and outcome != "diverged"):
            warnings.warn(
                f"Stochastic Optimizer: Maximum iterations ({self.max_iter}) reached and "
                "the optimization hasn't converged yet.",
                ConvergenceWarning,
            )

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
        built = getattr(self, "hidden_layer_sizes_built_", None)
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
        on 40,000 TF-IDF columns does about 6,000, not 4 million), so wide sparse
        input does not get threads its small products cannot use (see
        benchmarks/PERFORMANCE.md, "Estimator")."""
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
        prune schedule's final update and the L1 support freeze are applied now
        (in that order, as in a full run), so the network is at
        ``target_sparsity`` whatever the block sizes."""
        cbs = dict(net.callbacks_)
        for name in ("pruning", "proximal"):
            if name in cbs:
                cbs[name].complete_plan(net)

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
            # one fused kernel per step instead of one per parameter tensor: on
            # small nets the per-tensor launches dominate a step
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

    def _l1_schedule(self):
        schedule = L1Schedule() if self.l1_schedule is None else self.l1_schedule
        schedule._check()
        if self.l1_schedule is not None and not (self.l1 > 0 or self.input_l1 > 0):
            warnings.warn("l1_schedule has no effect with l1=0 and input_l1=0.", UserWarning)
        return schedule

    def _set_training_callbacks(self, net, schedule, total_steps, steps_per_epoch, epochs,
                                valid, seed, incremental, planned=True, start_step=0):
        """(Re)build the callbacks for fit, or for the planned calls of partial_fit
        (``incremental``: no stopping; ``start_step``: optimizer steps of the plan
        already done, where a stream of calls resumes). ``planned=False`` (a
        fine-tune): the L1 penalty is on at full strength from the first step, no
        warm-up or freeze. The callbacks share what they need through the history
        (see :mod:`sksparse_nn._training._callbacks`): their order does not matter."""
        kind = self._score_kind()
        l1_schedule = self._l1_schedule()
        cbs = [("shrink", TrainSmaller()),
               ("last_good", LastGoodWeights()),
               ("sparsity_log", SparsityLog(self.n_weights_built_))]
        start_epoch = 0
        if self.l1 > 0 or self.input_l1 > 0:
            prox = ProximalL1(self.l1, self.input_l1,
                              total_steps=total_steps if planned else None,
                              schedule=l1_schedule, start_step=start_step)
            cbs.append(("proximal", prox))
            if not incremental:  # stopping waits until the support is frozen
                start_epoch = max(start_epoch, math.ceil(l1_schedule.freeze_at * epochs))
        if schedule is not None:
            cbs.append(("pruning", MagnitudePruning(schedule, float(self.target_sparsity),
                                                    total_steps, seed=seed,
                                                    start_step=start_step)))
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
        """Train ``epochs`` epochs through skorch's own ``NeuralNet.partial_fit``
        (on_train_begin, fit_loop, KeyboardInterrupt caught, on_train_end).
        Returns the outcome: ``"done"`` (all epochs, or stopped early at an
        epoch's end), ``"interrupted"`` (mid-epoch: LastGoodWeights restored the
        last finished epoch) or ``"diverged"`` (a non-finite loss or weights: the
        last finished epoch is restored here and a warning says so)."""
        net.max_epochs = epochs
        try:
            net.partial_fit(train)
            outcome = "interrupted" if self._interrupted(net) else "done"
        except NonFiniteLossError as exc:
            # skorch lets it through without on_train_end: training is over
            outcome = "diverged"
            good_epoch = self._restore_last_good(net)
            if len(net.history) and "train_loss" not in net.history[-1]:
                net.history.record("train_loss", float(exc.value))
            warnings.warn(
                f"Training diverged: the loss became {exc.value} in epoch {exc.epoch}. "
                f"The weights from the end of epoch {good_epoch} were restored. "
                "Lower learning_rate_init (or scale the inputs) and fit again.",
                UserWarning,
            )
        # TrainSmaller may have cut unread input columns: read all of them again
        expand_inputs_(net.module_, on_resize=optimizer_state_follows(net.optimizer_))
        return outcome

    def _interrupted(self, net):
        """After training: True when an interrupt (Ctrl-C) landed mid-epoch. Early
        stopping stops between epochs (nothing to do); mid-epoch, LastGoodWeights
        has gone back to the weights of the last finished epoch, and the
        unfinished epoch leaves the history here, so weights, ``n_iter_`` and
        ``loss_curve_`` agree."""
        hist = net.history
        if not len(hist) or "train_loss" in hist[-1]:
            return False
        epoch = len(hist)
        del hist[-1]
        warnings.warn(
            f"fit was interrupted in epoch {epoch}; the model keeps the weights from the "
            f"end of epoch {epoch - 1}.",
            UserWarning,
        )
        return True

    @staticmethod
    def _restore_last_good(net):
        """Load the weights of the last finished epoch (LastGoodWeights) and rebuild
        the optimizer; returns that epoch's number."""
        good = dict(net.callbacks_)["last_good"]
        net.module_.load_state_dict(good.state_)
        net.initialize_optimizer()
        return good.epoch_

    def _finalize(self, net, incremental=False):
        module = net.module_
        # what target_sparsity sets: zeros of the trained network as built, before
        # dead units go (units cut out during training count as they were when cut)
        self.sparsity_as_built_ = (1.0 - sum(module.n_nonzero(retired=True))
                                   / self.n_weights_built_)
        if incremental:
            # between partial_fit calls the training network stays as it is (masks,
            # Adam moments, units cut while training and their counts): the dead
            # units are removed from a copy that becomes the compact model
            module = copy.deepcopy(module)
        else:
            module.retired_nonzero = [0] * len(module.linears)
        removed = remove_dead_units(module, float(self.neuron_threshold))
        if any(removed) and not incremental:
            net.initialize_optimizer()
        module.mask_changed()
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
        plan = state.get("partial_fit_plan_")
        if plan is not None:  # plain data: a skops file trusts only the estimator
            state["partial_fit_plan_"] = dataclasses.asdict(plan)
        return state

    def __setstate__(self, state):
        state = dict(state)
        if isinstance(state.get("partial_fit_plan_"), dict):  # see __getstate__
            state["partial_fit_plan_"] = PartialFitPlan(**state["partial_fit_plan_"])
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
        return _sparse_mlp_tags(super().__sklearn_tags__())


