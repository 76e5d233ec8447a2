"""skorch callbacks that wire the sparsity logic into training, one job each.

* :class:`ProximalL1` - soft-threshold (L1) and group soft-threshold (input
  group lasso) after each optimizer step, scaled by Adam's preconditioner.
* :class:`MagnitudePruning` - follows a prune schedule: updates the masks at the
  schedule's steps (magnitude ranking, optional regrowth and rewinding).
* :class:`ValidationScore` - accuracy / R^2 on the validation split each epoch.
* :class:`TrainSmaller` - once the masks are final, cuts dead units and unread
  input columns out of the network, so the remaining epochs train a smaller one.
* :class:`SparsityLog` - fraction of zero weights and hidden units alive each epoch.
* :class:`DelayedEarlyStopping` - skorch's ``EarlyStopping`` that starts counting
  only once the masks are final.
* :class:`LastGoodWeights` - keeps the weights of the last finished epoch, to
  restore after a diverged (NaN) loss or an interruption mid-epoch.

No callback reads another's attributes, and their order in the list does not
matter. What one needs from another goes through ``net.history``, as skorch's
``EarlyStopping`` reads ``valid_loss`` (keys of the current epoch's row):

==========================  ======================  ===================================
key                         written by              meaning
==========================  ======================  ===================================
``masks_final``             MagnitudePruning        the schedule made its last update
                                                    (masks only shrink from here on)
``input_l1_shrinking``      ProximalL1              the input group lasso still acts on
                                                    the first layer's columns (their
                                                    positions must stay)
``support_frozen``          ProximalL1              zeros of the L1 support are masked
``best_weights_saved``      DelayedEarlyStopping    it holds a copy of the weights (of
                                                    the current shapes) to restore
``event_shrink``            TrainSmaller            units or input columns were cut
``event_lr``                MagnitudePruning        the learning rate of the epoch
``valid_score``             ValidationScore         accuracy / R^2 on the validation data
``sparsity``,               SparsityLog             zero fraction, hidden units on a path
``neurons_alive``                                   from an input to an output
==========================  ======================  ===================================

Each key is written before any ``on_epoch_end`` runs (at ``on_epoch_begin`` and
when it changes during the epoch), so every reader sees the epoch's value
whatever the order. The hooks are split by phase for the same reason: the
proximal step is part of the optimizer step (a hook of the optimizer, before any
``on_batch_end``); masks change in ``on_batch_end`` (only :class:`MagnitudePruning`
does); shapes change only in ``on_epoch_end`` (only :class:`TrainSmaller`); and
copies of the weights are taken at the next ``on_epoch_begin``, when every
epoch-end hook has acted. Early stopping decides at ``on_epoch_end`` and stops
at the next ``on_epoch_begin``, so every callback sees the last epoch end.
"""

import copy

import numpy as np
import torch
from skorch.callbacks import Callback, EarlyStopping

from .._network import count_true
from .._surgery import shrink_dead_, units_on_paths
from ..schedules import L1Schedule
from ._proximal import (adam_denominator, group_soft_threshold_, prox_denominator,
                        prox_l1_)
from ._pruning import input_rms, magnitude_masks, regrow_masks


# most steps the proximal step's per-weight denominator is reused for
_DENOM_REFRESH = 8


def _lr(optimizer):
    return optimizer.param_groups[0]["lr"]


class ProximalL1(Callback):
    """Proximal steps for ``l1`` (every connection weight) and ``input_l1`` (group
    lasso over each input feature's outgoing weights), timed by an
    :class:`~sksparse_nn.schedules.L1Schedule` (``schedule``; None: its defaults).

    Both penalties start after ``warmup`` of the training steps; ``input_l1`` is
    ramped up linearly to full strength at ``ramp_end`` (a sudden full penalty on
    a trained network can knock out every feature at once, and features that act
    only through interactions, e.g. XOR, have no gradient to come back from
    zero). At ``reweight_at`` it is re-weighted adaptively (the adaptive group
    lasso: weight ``(n_min / ||w_j||)^gamma`` with ``n_min`` the smallest
    surviving column norm, so no survivor is penalised more than before and
    strong features lose the shrinkage bias). After ``freeze_at`` of the steps
    (when ``total_steps`` is known, i.e. in a planned run) the support is frozen
    - zeros stay exactly zero through the masks - and the survivors are no
    longer shrunk, so they are fitted without the penalty's bias.

    The proximal step is part of the optimizer step (a proximal Adam step, see
    :mod:`._proximal`): it runs as the optimizer's post-step hook, registered
    while training runs, so it acts after every step and before any callback's
    ``on_batch_end`` (a mask update at the same step sees the thresholded
    weights whatever the order of the callbacks). ``start_step``: optimizer
    steps of the plan already done (a ``partial_fit`` stream resumes there).
    Publishes ``input_l1_shrinking`` and ``support_frozen`` in the history.
    """

    def __init__(self, l1=0.0, input_l1=0.0, total_steps=None, schedule=None, start_step=0):
        self.l1, self.input_l1, self.total_steps = l1, input_l1, total_steps
        self.schedule, self.start_step = schedule, start_step

    def initialize(self):
        self.schedule_ = L1Schedule() if self.schedule is None else self.schedule
        self.step_ = int(self.start_step)
        self.group_weights_ = None
        self.frozen_ = False
        self._hook = None
        self._denoms = {}  # layer -> cached prox_denominator, while training runs
        return self

    def _progress(self):
        if not self.total_steps:
            return 1.0
        return self.step_ / self.total_steps

    # ------------------------------------------------------------ skorch hooks
    def on_train_begin(self, net, **kwargs):
        self._remove_hook()
        self._denoms = {}
        self._hook = net.optimizer_.register_step_post_hook(
            lambda optimizer, args, kwargs: self._after_step(net))

    def on_epoch_begin(self, net, **kwargs):
        self._publish(net)

    def on_train_end(self, net, **kwargs):
        self._remove_hook()
        self._denoms = {}  # per-layer copies of Adam's state: not kept in a fitted model

    def _remove_hook(self):
        if getattr(self, "_hook", None) is not None:
            self._hook.remove()
            self._hook = None

    def _publish(self, net):
        net.history.record("support_frozen", self.frozen_)
        net.history.record("input_l1_shrinking", self.input_l1 > 0 and not self.frozen_)

    # ------------------------------------------------------------ the step
    def _after_step(self, net):
        self.step_ += 1
        if self.frozen_:
            return
        opt = net.optimizer_
        lr = _lr(opt)
        module = net.module_
        # masked weights the step moved off zero are thresholded here like the
        # others (or skipped, through the free index) and zeroed by the masks
        # right after the step: TorchNet.train_step re-applies them
        sched = self.schedule_
        if self.l1 > 0 and self._progress() >= sched.warmup:
            group = opt.param_groups[0]
            beta2, eps = group["betas"][1], group["eps"]
            t = None  # one step count for all layers (one optimizer, one step)
            for i, linear in enumerate(module.linears):
                weight = linear.weight
                state = opt.state.get(weight)
                if not state:
                    continue
                if t is None:
                    t = float(state["step"])
                    c = (1.0 - beta2 ** t) ** 0.5
                index = linear.free_index()
                d = self._denominator(i, state["exp_avg_sq"], t, c, eps, index)
                prox_l1_(weight.data, d, lr * self.l1, index)
        if self.input_l1 > 0:
            self._input_group_step(net, module.linears[0], lr)
        if self.total_steps and self._progress() >= sched.freeze_at:
            self._freeze(module)
            self._publish(net)

    def _denominator(self, i, exp_avg_sq, t, c, eps, index):
        """Layer ``i``'s ``sqrt(v_hat) + eps`` (:func:`prox_denominator`) at Adam
        step ``t``, reused for up to ``t / 16`` steps (at most ``_DENOM_REFRESH``),
        and recomputed at once when the layer's free entries (a mask update) or
        Adam's state (a cut, a reset) change. ``v_hat`` averages the
        squared gradients of all ``t`` steps so far (of the last ~1,000 later on),
        so a lag of ``t / 16`` steps moves it by a few percent at most, in no
        fixed direction (simulated with Gaussian gradients: the mean ratio stayed
        within 0.5%, single weights within 30%); and the square root over the
        whole layer is the dearest part of a proximal step that runs after every
        optimizer step."""
        cached = self._denoms.get(i)
        # a cut slices Adam's state into new tensors (optimizer_state_follows), so
        # the state's identity covers a change of shape as well as a reset
        if (cached is None or cached[0] is not index or cached[1] is not exp_avg_sq
                or self.step_ - cached[2] >= cached[3]):
            reuse = max(1, min(_DENOM_REFRESH, int(t) // 16))
            cached = (index, exp_avg_sq, self.step_, reuse,
                      prox_denominator(exp_avg_sq, c, eps, index))
            self._denoms[i] = cached
        return cached[4]

    def complete_plan(self, net):
        """The plan ended with fewer steps than planned (a ``partial_fit`` stream of
        smaller blocks): freeze the support now, as the plan's end would have."""
        if self.total_steps and not self.frozen_:
            self._freeze(net.module_)
            if len(net.history):
                self._publish(net)

    @torch.no_grad()
    def _freeze(self, module):
        """Fix the support found so far (zeros stay zero, via the masks) and stop
        shrinking: the survivors are fitted without the penalty's bias."""
        for linear in module.linears[:1] if self.l1 == 0 else module.linears:
            if self.l1 > 0:
                linear.mask &= linear.weight != 0
            else:  # input_l1 only: freeze whole dropped input columns
                dead = torch.linalg.vector_norm(linear.weight, dim=0) == 0
                linear.mask[:, dead] = False
        module.mask_changed()
        self.frozen_ = True

    @torch.no_grad()
    def _input_group_step(self, net, first, lr):
        sched = self.schedule_
        progress = self._progress()
        if progress < sched.warmup:
            return
        if net.module_.masked:  # the column norms count only the free weights
            first.apply_mask_()
        W = first.weight.data
        denom = adam_denominator(net.optimizer_, first.weight)
        if denom is None:
            return
        strength = self.input_l1
        if self.total_steps and sched.ramp_end > sched.warmup and progress < sched.ramp_end:
            strength *= (progress - sched.warmup) / (sched.ramp_end - sched.warmup)
        scale = denom.mean(dim=0)  # one preconditioner per group (input column)
        thr = lr * strength * np.sqrt(W.shape[0]) / scale
        if self.group_weights_ is not None:
            thr = thr * self.group_weights_
        group_soft_threshold_(W, torch.nan_to_num(thr, posinf=1e30), dim=0)
        if self.group_weights_ is None and progress >= sched.reweight_at and sched.gamma:
            # measured after the prox step: a dropped column is exactly zero here
            # (after the optimizer step Adam's momentum has moved it off zero again)
            norms = torch.linalg.vector_norm(W, dim=0)
            alive = norms > 0
            wts = torch.full_like(norms, float("inf"))
            if bool(alive.any()):
                # relative to the weakest survivor: weights <= 1, so re-weighting
                # only lifts the shrinkage of strong features, never kills one
                wts[alive] = (norms[alive].min() / norms[alive]).pow(sched.gamma)
            self.group_weights_ = wts


# ``lr_scaling`` raises Adam's step up to here, never above (nor below the configured
# one): it exists to lift steps too small for a pruned network; a step already this
# large gains nothing (a (100,) net pruned to 98% on make_classification at lr 3e-3
# scored 0.83 with the step raised to 0.01, 0.93 at 0.005, 2 seeds)
LR_CEILING = 5e-3


class MagnitudePruning(Callback):
    """Applies a :mod:`~sksparse_nn.schedules` schedule to the network's masks.

    ``total_steps`` (optimizer steps of the whole plan) is set by the estimator;
    ``start_step``: steps of the plan already done (a ``partial_fit`` stream
    resumes there). Records ``prune_events_``: ``(step, sparsity)`` after every
    update. Publishes ``masks_final`` and ``event_lr`` in the history.
    """

    def __init__(self, schedule, target_sparsity, total_steps, seed=0, start_step=0):
        self.schedule, self.target_sparsity = schedule, target_sparsity
        self.total_steps, self.seed, self.start_step = total_steps, seed, start_step

    def initialize(self):
        self.step_ = int(self.start_step)
        steps = self.schedule.update_steps(self.total_steps)
        self.updates_ = set(int(s) for s in steps)
        self.final_step_ = int(max(steps)) if len(steps) else 0
        self.generator_ = torch.Generator().manual_seed(int(self.seed))
        self.prune_events_ = []
        self.rewind_state_ = None
        self.last_X_ = None
        return self

    def on_train_begin(self, net, **kwargs):
        # only the schedule's step-0 update: a later training run with the same
        # callbacks (the fine-tune after selective pruning) must not re-apply the
        # final update to the smaller network
        if self.step_ == 0 and 0 in self.updates_:
            self._update(net)
        self._set_lr(net)  # a partial_fit call resumes at its point of the plan

    def on_train_end(self, net, **kwargs):
        for group in net.optimizer_.param_groups:  # the configured step again
            group["lr"] = net.lr

    def _final(self):
        return self.step_ >= self.final_step_

    def _planned_sparsity(self):
        progress = self.step_ / max(self.total_steps, 1)
        if self.step_ >= self.final_step_ and self.step_ > 0:
            progress = max(progress, 1.0)
        return self.schedule.sparsity_at(progress, self.target_sparsity)

    def _set_lr(self, net):
        """Adam's step follows the planned sparsity (``lr_scaling``): a function of
        the progress alone, so fit and a stream of partial_fit calls agree."""
        factor = self.schedule.lr_factor(self._planned_sparsity())
        lr = max(net.lr, min(net.lr * factor, LR_CEILING))
        for group in net.optimizer_.param_groups:
            group["lr"] = lr

    def on_epoch_begin(self, net, **kwargs):
        net.history.record("masks_final", self._final())
        # "the weights at the end of epoch r" are those the next epoch starts from
        # (every epoch-end hook has acted on them)
        rewind = self.schedule.rewind_epoch
        if (rewind is not None and len(net.history) - 1 == int(rewind)
                and self.rewind_state_ is None):
            self.rewind_state_ = [lin.weight.detach().clone() for lin in net.module_.linears]

    def on_grad_computed(self, net, named_parameters, **kwargs):
        """The schedule's ``weight_decay`` while the masks are still chosen: the
        gradient of ``weight_decay / 2 * ||W||^2`` on the connection weights (the
        same term Adam's own ``weight_decay`` adds), so their magnitude ranks
        what the loss keeps up; the fine-tune trains without it."""
        wd = float(self.schedule.weight_decay)
        if wd <= 0 or self.step_ >= self.final_step_:
            return
        weights = [lin.weight for lin in net.module_.linears if lin.weight.grad is not None]
        if weights:
            torch._foreach_add_([w.grad for w in weights], [w.detach() for w in weights],
                                alpha=wd)

    def on_epoch_end(self, net, **kwargs):
        # the step Adam took this epoch, as skorch's LRScheduler records it
        net.history.record("event_lr", float(net.optimizer_.param_groups[0]["lr"]))

    def on_batch_end(self, net, batch=None, training=False, **kwargs):
        if not training:
            return
        self.step_ += 1
        if self.step_ in self.updates_:
            self.last_X_ = batch[0] if batch is not None else None
            self._update(net)
            self.last_X_ = None  # no reference to a mini-batch between updates
            self._set_lr(net)
            if self.step_ == self.final_step_:
                net.history.record("masks_final", True)

    def complete_plan(self, net):
        """The plan ended with fewer steps than planned (a ``partial_fit`` stream of
        smaller blocks): make the schedule's final update now, so the network is
        at ``target_sparsity`` whatever the block sizes."""
        if not self._final():
            self.step_ = self.final_step_
            self._update(net)
            if len(net.history):
                net.history.record("masks_final", True)

    @torch.no_grad()
    def _update(self, net):
        module = net.module_
        linears = list(module.linears)
        progress = self.step_ / max(self.total_steps, 1)
        if self.step_ == self.final_step_:  # the last update lands on the target
            progress = max(progress, 1.0)
        target = self.schedule.sparsity_at(progress, self.target_sparsity)
        weights = [lin.weight.data for lin in linears]
        masks = [lin.mask for lin in linears]
        if self.schedule.regrow and self.step_ > 0:
            frac = self.schedule.drop_fraction_at(progress)
            if frac > 0:
                grads = [lin.weight.grad for lin in linears]
                new_masks = regrow_masks(weights, masks, frac, grads,
                                         method=self.schedule.regrow_method,
                                         generator=self.generator_)
                self._set_masks(net, linears, new_masks, reset_new=True)
        else:
            caps = self.schedule.unit_caps([lin.weight.shape[0] for lin in linears[:-1]],
                                           target, self.target_sparsity)
            scale = None
            if getattr(self.schedule, "ranking", "magnitude") == "activation" \
                    and self.last_X_ is not None:
                scale = input_rms(module, self.last_X_)
            new_masks = magnitude_masks(weights, masks, target, scope=self.schedule.scope,
                                        unit_power=getattr(self.schedule, "unit_power", 0.0),
                                        unit_caps=caps, input_scale=scale)
            self._set_masks(net, linears, new_masks, reset_new=False)
            if self.rewind_state_ is not None:
                for lin, w0 in zip(linears, self.rewind_state_):
                    lin.weight.copy_(w0 * lin.mask)
                net.optimizer_.state.clear()
        n = sum(lin.mask.numel() for lin in linears)
        kept = sum(count_true(lin.mask) for lin in linears)
        self.prune_events_.append((self.step_, (n - kept) / n))

    def _set_masks(self, net, linears, new_masks, reset_new):
        opt = net.optimizer_
        for lin, m in zip(linears, new_masks):
            grown = m & ~lin.mask if reset_new else None
            lin.mask.copy_(m)
            lin.apply_mask_()
            if grown is not None and bool(grown.any()):
                state = opt.state.get(lin.weight)
                if state:
                    for key in ("exp_avg", "exp_avg_sq"):
                        if key in state:
                            state[key][grown] = 0.0
        net.module_.mask_changed()


class ValidationScore(Callback):
    """Records ``valid_score`` (accuracy for classifiers, R^2 for regressors)
    from the validation batches' predictions, as soon as the last validation
    batch is in (before any ``on_epoch_end``: early stopping reads it there)."""

    def __init__(self, kind):
        self.kind = kind

    def on_epoch_begin(self, net, dataset_valid=None, **kwargs):
        self.preds_, self.ys_, self.ws_ = [], [], []
        self.n_valid_ = 0 if dataset_valid is None else len(dataset_valid)
        self.seen_ = 0

    def on_batch_end(self, net, batch=None, training=False, y_pred=None, **kwargs):
        if training:
            return
        self.preds_.append(y_pred.detach())
        self.ys_.append(batch[1])
        if batch[2] is not None:
            self.ws_.append(batch[2])
        self.seen_ += batch[1].shape[0]
        if self.seen_ >= self.n_valid_:
            self._record(net)

    def on_epoch_end(self, net, **kwargs):
        if self.preds_:  # a validation set of unknown length: score what came
            self._record(net)

    def _record(self, net):
        p = torch.cat(self.preds_).double()
        y = torch.cat(self.ys_)
        w = torch.cat(self.ws_).double() if self.ws_ else torch.ones(len(y), dtype=torch.float64,
                                                                          device=y.device)
        if self.kind == "binary":
            correct = ((p[:, 0] > 0).to(y.dtype) == y[:, 0]).double()
            score = (correct * w).sum() / w.sum()
        elif self.kind == "multilabel":  # subset accuracy, as accuracy_score
            correct = ((p > 0).to(y.dtype) == y).all(dim=1).double()
            score = (correct * w).sum() / w.sum()
        elif self.kind == "multiclass":
            correct = (p.argmax(dim=1) == y).double()
            score = (correct * w).sum() / w.sum()
        else:
            y = y.double()
            mean = (y * w[:, None]).sum(0) / w.sum()
            ss_res = (((y - p) ** 2) * w[:, None]).sum(0)
            ss_tot = (((y - mean) ** 2) * w[:, None]).sum(0)
            r2 = torch.where(ss_tot > 0, 1 - ss_res / ss_tot.clamp(min=1e-300),
                             torch.zeros_like(ss_tot))
            score = r2.mean()
        net.history.record("valid_score", float(score))
        self.preds_, self.ys_, self.ws_ = [], [], []


def optimizer_state_follows(optimizer):
    """``on_resize`` hook for :mod:`sksparse_nn._surgery`'s in-place
    shrinking: the optimizer's per-parameter tensors (Adam's moments) are mapped
    to the parameter's new shape, so training continues where it was."""
    def on_resize(param, take):
        state = optimizer.state.get(param)
        if state:
            for key, value in state.items():
                if torch.is_tensor(value) and value.dim() > 0:
                    state[key] = take(value)
    return on_resize


class TrainSmaller(Callback):
    """Trains the rest of the fit on the network without its dead parts.

    At the end of an epoch in which the masks are final (``masks_final`` in the
    history is not False: the prune schedule made its last update; afterwards
    masks only shrink), hidden units whose incoming or outgoing weights are all
    masked are deleted (their constant output folded into the next bias) and
    input columns that no unit reads are no longer gathered. Parameter objects
    stay, their Adam moments are sliced with them, and the function computed is
    unchanged, so training goes on as before, only on smaller matrices (see
    benchmarks/PERFORMANCE.md, Training). The estimator widens the input back
    after training (``sksparse_nn._surgery.expand_inputs_``); sparsity keeps
    counting the removed units' weights (``retired_nonzero``). Records
    ``event_shrink``.

    The only callback that changes shapes, and only at ``on_epoch_end``: copies
    of the weights are taken at the next ``on_epoch_begin`` (LastGoodWeights,
    early stopping) and so always see the smaller network. Skipped for batch
    norm networks (a unit's training-mode output is not the folded constant),
    while the input group lasso still shrinks columns (``input_l1_shrinking``:
    inputs only), and once early stopping holds a copy of the current shapes
    (``best_weights_saved``: it must load into this network at the end).
    """

    def on_epoch_end(self, net, **kwargs):
        module = net.module_
        row = net.history[-1]
        if (module.batch_norm or row.get("masks_final") is False
                or row.get("best_weights_saved")):
            return
        # TorchNet checks at the end of every training pass that the weights are
        # finite (a non-finite network never gets here)
        cut = shrink_dead_(module, inputs=not row.get("input_l1_shrinking", False),
                           on_resize=optimizer_state_follows(net.optimizer_))
        if cut:
            net.history.record("event_shrink", True)


class SparsityLog(Callback):
    """Records ``sparsity`` (fraction of zero connection weights, counted against the
    network as built) and ``neurons_alive`` (hidden units on a path of nonzero
    weights from an input to an output) at the end of every epoch. Both counts
    are the same before and after :class:`TrainSmaller` cuts dead parts, so the
    order of the two callbacks does not matter."""

    def __init__(self, n_weights_built):
        self.n_weights_built = n_weights_built

    @torch.no_grad()
    def on_epoch_end(self, net, **kwargs):
        module = net.module_
        nnz = sum(module.n_nonzero(retired=True))
        net.history.record("sparsity", 1.0 - nnz / self.n_weights_built)
        net.history.record("neurons_alive", int(sum(int(a.sum()) for a in units_on_paths(module))))


class DelayedEarlyStopping(EarlyStopping):
    """skorch ``EarlyStopping`` that ignores epochs before ``start_epoch`` (while a
    prune schedule is still changing the masks, the loss is not comparable).

    Two moments move, so that the order of the callbacks does not matter: the
    copy of the best weights is taken at the start of the next epoch (when every
    epoch-end hook, e.g. :class:`TrainSmaller`'s cut, has acted on them), and
    the stop (skorch's ``KeyboardInterrupt``) comes at the start of the next
    epoch too (every callback has seen the last epoch end; the new epoch's row
    is dropped before it starts). Publishes ``best_weights_saved``.
    """

    def __init__(self, start_epoch=0, **kwargs):
        super().__init__(**kwargs)
        self.start_epoch = start_epoch

    def on_train_begin(self, net, **kwargs):
        super().on_train_begin(net, **kwargs)
        self.copy_due_ = False
        self.stop_due_ = False

    def on_epoch_begin(self, net, **kwargs):
        if self.stop_due_:
            self.stop_due_ = False
            del net.history[-1]  # the epoch that never ran
            raise KeyboardInterrupt
        if self.copy_due_:
            self.best_model_weights_ = copy.deepcopy(net.module_.state_dict())
            self.copy_due_ = False
        if self.load_best:
            net.history.record("best_weights_saved", self.best_model_weights_ is not None)

    def on_epoch_end(self, net, **kwargs):
        if len(net.history) <= self.start_epoch:
            return
        best, load_best = self.best_epoch_, self.load_best
        self.load_best = False  # skorch would copy the weights now: see the class doc
        try:
            super().on_epoch_end(net, **kwargs)
        except KeyboardInterrupt:
            self.stop_due_ = True
        finally:
            self.load_best = load_best
        if load_best and self.best_epoch_ != best:
            self.copy_due_ = True

    def on_train_end(self, net, **kwargs):
        # improved in the last epoch: the current weights are the best ones
        super().on_train_end(net, **kwargs)
        self.copy_due_ = self.stop_due_ = False


class LastGoodWeights(Callback):
    """Keeps a copy of the module's state as each epoch starts (the weights of the
    last finished epoch, as every epoch-end hook left them).

    After an interruption mid-epoch (a Ctrl-C can land between an optimizer step
    and the masks) it loads that copy back at ``on_train_end`` and rebuilds the
    optimizer, unless early stopping holds best weights to load instead
    (``best_weights_saved``). After a diverged loss training stops by an
    exception (no ``on_train_end``): the estimator loads the copy (``state_``,
    from the end of epoch ``epoch_``).
    """

    def on_epoch_begin(self, net, **kwargs):
        self.state_ = copy.deepcopy(net.module_.state_dict())
        self.epoch_ = len(net.history) - 1

    def on_train_end(self, net, **kwargs):
        hist = net.history
        if not len(hist) or "train_loss" in hist[-1] or not hasattr(self, "state_"):
            return  # no unfinished epoch
        if not hist[-1].get("best_weights_saved"):
            net.module_.load_state_dict(self.state_)
        net.initialize_optimizer()
