"""Pruning a fitted estimator: :meth:`prune` (weights, on a schedule) and
:meth:`prune_neurons` (whole units, by trial and error).

A mixin of the estimators; it trains through the same engine as ``fit``.
"""

import copy
import math
import warnings
from numbers import Integral, Real

import numpy as np
import torch
from skorch.callbacks import ProgressBar
from skorch.helper import predefined_split
from sklearn.model_selection import train_test_split
from sklearn.utils.validation import check_is_fitted

from ._surgery import shrink_dead_
from .schedules import SCHEDULE_NAMES, PruneSchedule, get_schedule
from ._training import (
    LastGoodWeights,
    MagnitudePruning,
    SparsityLog,
    TrainSmaller,
    ValidationScore,
    selective_prune,
)

# rows per chunk when a whole data set goes through the training network at once
_EVAL_CHUNK = 16_384


class _PruneFittedMixin:
    """``prune`` and ``prune_neurons`` of the estimators."""

    @staticmethod
    @torch.no_grad()
    def _eval_loss(net, data):
        """Eval-mode loss of the network on ``data`` (a TensorData), in chunks."""
        module = net.module_
        module.eval()
        n = len(data)
        out = torch.cat([module(data.rows(slice(i, i + _EVAL_CHUNK)))
                         for i in range(0, n, _EVAL_CHUNK)])
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
                shrink_dead_(module, inputs=False)
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
        X, _, sample_weight, y_t = self._prepare_refit_data(X, y, sample_weight)
        net = self.net_
        device = net.module_.linears[0].weight.device
        data = self._tensor_data(X, y_t, sample_weight, device)
        seed = self._draw_seed()
        epochs = max(1, self.max_iter // 10) if fine_tune_epochs is None else fine_tune_epochs
        self._prepare_net(net, self._batch_size(len(data)), seed, device)
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
        with self._training_threads(net, X):
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
        X, y, sample_weight, y_t = self._prepare_refit_data(X, y, sample_weight)
        net = self.net_
        device = net.module_.linears[0].weight.device
        seed = self._draw_seed()
        fit_idx, val_idx = self._prune_split(y, validation_fraction, seed)

        def part(idx):
            if idx is None:
                return None
            return self._tensor_data(X[idx], y_t[torch.as_tensor(idx)],
                                     None if sample_weight is None else sample_weight[idx],
                                     device)

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
        module_target = 1.0 - (1.0 - target) * self.n_weights_built_ / net.module_.n_weights()

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
        self._prepare_net(net, self._batch_size(len(train)), seed,
                          net.module_.linears[0].weight.device)
        total_steps = epochs * math.ceil(len(train) / net.batch_size)
        cbs = [("shrink", TrainSmaller()),
               ("last_good", LastGoodWeights()),
               ("sparsity_log", SparsityLog(self.n_weights_built_)),
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
            with self._training_threads(net, train.X):
                outcome = self._train(net, train, epochs)
        if outcome != "done" or len(net.history) - epochs_before < epochs:
            what = ("diverged (lower learning_rate_init and call prune again)"
                    if outcome == "diverged" else "was interrupted")
            warnings.warn(f"prune {what}; the model is kept as it was before the call.",
                          UserWarning)
            return False
        for w in caught:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
        return True
