"""The training room keeps its promises: what the README and the user guide say
about the L1 phases, early stopping, the prune schedules, batch norm and ``l2``,
and skorch's callback contract (order-free callbacks, ``on_grad_computed``)."""

import math
import random
import warnings

import numpy as np
import pytest
import torch
from skorch.callbacks import Callback, GradientNormClipping
from sklearn.datasets import make_classification

from sksparse_nn import Dynamic, Gradual, Iterative, SparseMLPClassifier, SparseMLPRegressor
from sksparse_nn._estimator import _BaseSparseMLP
from sksparse_nn._network import SparseMLP
from sksparse_nn._training import MagnitudePruning, ProximalL1, TorchNet
from sksparse_nn._training._pruning import magnitude_masks
from sksparse_nn.schedules import L1Schedule


@pytest.fixture(scope="module")
def data():
    X, y = make_classification(240, 12, n_informative=5, n_redundant=0, n_classes=3,
                               random_state=0)
    return X.astype(np.float32), y


def _with_extra_callbacks(monkeypatch, make, shuffle_seed=None):
    """Let the estimator build its callbacks, then append ``make()`` (a list of
    (name, callback)) and, with ``shuffle_seed``, shuffle the whole list."""
    original = _BaseSparseMLP._set_training_callbacks

    def set_callbacks(self, net, *args, **kwargs):
        original(self, net, *args, **kwargs)
        cbs = list(net.callbacks) + make()
        if shuffle_seed is not None:
            random.Random(shuffle_seed).shuffle(cbs)
        net.callbacks = cbs
        net.initialize_callbacks()

    monkeypatch.setattr(_BaseSparseMLP, "_set_training_callbacks", set_callbacks)


class _Shapes(Callback):
    """The first layer's shape as each epoch starts (after every epoch-end hook)."""

    def __init__(self, log):
        self.log = log

    def on_epoch_begin(self, net, **kwargs):
        self.log.append(tuple(net.module_.linears[0].weight.shape))


# ------------------------------------------------------------ skorch's contract
@pytest.mark.parametrize("params", [
    # pruning + early stopping that stops (epoch 8 of 14) and restores best weights
    dict(target_sparsity=0.9, prune_schedule=Gradual(end=0.3), early_stopping=True,
         n_iter_no_change=2, tol=0.05, learning_rate_init=1e-2),
    # input group lasso + rounds of pruning with rewinding, stopping on the loss
    dict(input_l1=0.05, target_sparsity=0.8,
         prune_schedule=Iterative(n_rounds=2, start=0.2, end=0.4, rewind_epoch=1)),
    # L1 + regrowth, with a validation split for selective pruning
    dict(l1=1e-3, target_sparsity=0.8, prune_schedule=Dynamic(update_every=3, end=0.5),
         selective_pruning_tol=0.01),
])
def test_the_order_of_the_callbacks_does_not_change_the_fitted_model(data, params,
                                                                      monkeypatch):
    X, y = data

    def fit(seed):
        with pytest.MonkeyPatch.context() as mp:
            if seed is not None:
                _with_extra_callbacks(mp, list, shuffle_seed=seed)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return SparseMLPClassifier((24, 12), max_iter=14, batch_size=32,
                                           random_state=0, **params).fit(X, y)

    ref = fit(None)
    assert ref.sparsity_as_built_ > 0.5
    assert any(row.get("event_shrink") for row in ref.net_.history)  # cut while training
    for seed in (1, 2, 3):
        other = fit(seed)
        assert other.n_iter_ == ref.n_iter_
        assert other.hidden_layer_sizes_ == ref.hidden_layer_sizes_
        np.testing.assert_array_equal(other.loss_curve_, ref.loss_curve_)
        for a, b in zip(other.coefs_ + other.intercepts_, ref.coefs_ + ref.intercepts_):
            np.testing.assert_array_equal(a, b)


def _plain_net(callbacks, n_features=6, max_epochs=3, **kwargs):
    """A skorch-style run of the engine on its own (no estimator)."""
    module = SparseMLP(n_features, (8,), 1, generator=torch.Generator().manual_seed(0))
    net = TorchNet(module=module, criterion=torch.nn.MSELoss(reduction="none"),
                   optimizer=torch.optim.Adam, lr=1e-2, max_epochs=max_epochs,
                   batch_size=16, train_split=None, callbacks=callbacks, verbose=0,
                   **kwargs)
    net.shuffle_generator = torch.Generator().manual_seed(0)
    return net


def _regression(n=64, d=6):
    g = torch.Generator().manual_seed(0)
    X = torch.randn(n, d, generator=g)
    return X, X[:, :2].sum(1, keepdim=True) + 0.1 * torch.randn(n, 1, generator=g)


def test_train_step_fires_on_grad_computed_and_gradient_clipping_acts():
    X, y = _regression()

    class Record(Callback):
        def initialize(self):
            self.calls = []
            return self

        def on_grad_computed(self, net, named_parameters, batch=None, training=False,
                             **kwargs):
            named = dict(named_parameters)
            self.calls.append((training, float(named["linears.0.weight"].grad.norm())))

    rec = Record()
    free = _plain_net([("rec", rec)]).fit(X, y)
    assert len(rec.calls) == 3 * math.ceil(64 / 16)  # once per optimizer step
    assert all(training and norm > 0 for training, norm in rec.calls)
    # clipping the gradients to norm 0 leaves Adam nothing to step with
    clipped = _plain_net([("clip", GradientNormClipping(gradient_clip_value=0.0))]).fit(X, y)
    start = SparseMLP(6, (8,), 1, generator=torch.Generator().manual_seed(0))
    for p0, p_clip, p_free in zip(start.parameters(), clipped.module_.parameters(),
                                  free.module_.parameters()):
        torch.testing.assert_close(p_clip, p0, rtol=0, atol=0)
        assert not torch.equal(p_free, p0)


# ------------------------------------------------------------ L1 phases
class _Weights(Callback):
    """Every layer's weights as each training step starts (after every hook of the
    step before)."""

    def initialize(self):
        self.steps = []
        return self

    def on_batch_begin(self, net, training=False, **kwargs):
        if training:
            self.steps.append([lin.weight.detach().clone() for lin in net.module_.linears])

    def on_train_end(self, net, **kwargs):
        self.on_batch_begin(net, training=True)


def test_l1_starts_at_a_quarter_of_the_steps_and_freezes_the_support_at_four_fifths():
    X, y = _regression()
    total = 8 * math.ceil(64 / 16)  # 32 optimizer steps
    runs = {}
    for l1 in (0.0, 0.05):
        rec = _Weights()
        _plain_net([("prox", ProximalL1(l1=l1, total_steps=total)), ("rec", rec)],
                   max_epochs=8).fit(X, y)
        runs[l1] = rec.steps  # runs[l1][k]: the weights after k steps
    dense, sparse = runs[0.0], runs[0.05]

    def same(k):
        return all(torch.equal(a, b) for a, b in zip(dense[k], sparse[k]))

    def zeros(k):
        return [w == 0 for w in sparse[k]]

    warmup, freeze = math.ceil(0.25 * total), math.ceil(0.8 * total)
    # identical to dense training before 25% of the steps, not from the step there on
    assert all(same(k) for k in range(warmup))
    assert not same(warmup)
    assert not any(bool(z.any()) for k in range(warmup) for z in zeros(k))
    # from 80% on the zeros are fixed: nothing becomes zero, nothing comes back
    assert sum(int(z.sum()) for z in zeros(freeze)) > 0
    for k in range(freeze, total + 1):
        for z0, z in zip(zeros(freeze), zeros(k)):
            assert torch.equal(z0, z)


def test_l1_schedule_parameter_moves_the_phases(data):
    X, y = data
    kw = dict(hidden_layer_sizes=(16,), l1=0.02, max_iter=8, batch_size=60, random_state=0)
    default = SparseMLPClassifier(**kw).fit(X, y)
    explicit = SparseMLPClassifier(l1_schedule=L1Schedule(), **kw).fit(X, y)
    for a, b in zip(default.coefs_, explicit.coefs_):
        np.testing.assert_array_equal(a, b)
    late = SparseMLPClassifier(l1_schedule=L1Schedule(warmup=0.9, freeze_at=1.0), **kw).fit(X, y)
    assert late.sparsity_ < default.sparsity_  # less time under the penalty
    assert SparseMLPClassifier(**kw).get_params()["l1_schedule"] is None
    assert (SparseMLPClassifier(l1_schedule=L1Schedule(gamma=3.0))
            .get_params()["l1_schedule__gamma"] == 3.0)


@pytest.mark.parametrize("bad, match", [({"warmup": 1.5}, "warmup"),
                                        ({"gamma": -1.0}, "gamma"),
                                        ({"freeze_at": "late"}, "freeze_at")])
def test_a_bad_l1_schedule_fails_at_fit_with_its_name(data, bad, match):
    X, y = data
    clf = SparseMLPClassifier((4,), l1=1e-3, max_iter=1, l1_schedule=L1Schedule(**bad))
    with pytest.raises(ValueError, match=match):
        clf.fit(X, y)


def test_an_l1_schedule_without_a_penalty_is_not_silently_ignored(data):
    X, y = data
    with pytest.warns(UserWarning, match="l1_schedule has no effect"):
        SparseMLPClassifier((4,), max_iter=2, l1_schedule=L1Schedule(warmup=0.5),
                            random_state=0).fit(X, y)


# ------------------------------------------------------------ early stopping
@pytest.mark.parametrize("params, final_at", [
    (dict(target_sparsity=0.9, prune_schedule=Gradual(end=0.6)), 0.6),
    (dict(l1=1e-3), 0.8),
])
def test_early_stopping_never_stops_before_the_masks_are_final(data, params, final_at):
    X, y = data
    # tol=1 never counts as an improvement: without the wait it stops at epoch 2
    clf = SparseMLPClassifier((16,), max_iter=20, batch_size=60, early_stopping=True,
                              n_iter_no_change=1, tol=1.0, random_state=0,
                              **params).fit(X, y)
    assert math.ceil(final_at * 20) < clf.n_iter_ < 20
    if "target_sparsity" in params:
        assert clf.sparsity_as_built_ == pytest.approx(0.9, abs=0.01)


# ------------------------------------------------------------ prune schedules
def test_iterative_rewind_epoch_rewinds_the_survivors(data):
    X, y = data
    kw = dict(hidden_layer_sizes=(16,), batch_size=60, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # one dense epoch: "has not converged"
        after_one = SparseMLPClassifier(max_iter=1, **kw).fit(X, y)
    fits = {}
    for rewind in (1, None):
        # one round, at the very last step: the survivors are what it leaves
        # no step raise, no decay: the survivors can be compared with a dense fit
        sched = Iterative(n_rounds=1, start=1.0, end=1.0, rewind_epoch=rewind,
                          lr_scaling=0.0, weight_decay=0.0)
        fits[rewind] = SparseMLPClassifier(max_iter=6, target_sparsity=0.3,
                                           prune_schedule=sched, **kw).fit(X, y)
    rewound, trained_on = fits[1], fits[None]
    assert rewound.hidden_layer_sizes_ == (16,)
    for W, W1, W_no in zip(rewound.coefs_, after_one.coefs_, trained_on.coefs_):
        kept = W != 0
        assert 0.5 < kept.mean() < 0.9
        # the surviving weights are their values at the end of epoch 1 ...
        np.testing.assert_allclose(W[kept], W1[kept], rtol=1e-6, atol=1e-7)
        # ... which five more epochs of training had moved
        assert not np.allclose(W_no[W_no != 0], W1[W_no != 0])


def test_dynamic_schedule_regrows_weights(data):
    X, y = data
    X_t, y_t = torch.as_tensor(X), torch.as_tensor(y)
    masks = []

    class Masks(Callback):
        def on_batch_begin(self, net, training=False, **kwargs):
            if training:
                masks.append([lin.mask.clone() for lin in net.module_.linears])

    total = 6 * math.ceil(240 / 16)
    module = SparseMLP(12, (16,), 3, generator=torch.Generator().manual_seed(0))
    net = TorchNet(module=module, criterion=torch.nn.CrossEntropyLoss(reduction="none"),
                   optimizer=torch.optim.Adam, lr=1e-2, max_epochs=6, batch_size=16,
                   train_split=None, verbose=0, callbacks=[
                       ("pruning", MagnitudePruning(Dynamic(update_every=10, end=0.8), 0.8,
                                                    total)),
                       ("masks", Masks())])
    net.fit(X_t, y_t)
    sizes = [m.numel() for m in masks[0]]
    for step in masks:  # sparse at the target from the first step
        assert sum(int(m.sum()) for m in step) == pytest.approx(0.2 * sum(sizes), abs=2)
    regrown = [bool((~a & b).any()) for before, after in zip(masks, masks[1:])
               for a, b in zip(before, after)]
    assert sum(regrown) >= 3  # weights masked at one update come back at a later one


def test_the_per_layer_floor_keeps_a_share_of_every_layer():
    g = torch.Generator().manual_seed(0)
    # a wide layer of small weights next to a small layer of large ones: a
    # global ranking alone would empty the wide layer
    weights = [1e-3 * torch.randn(40, 100, generator=g), torch.randn(3, 40, generator=g)]
    masks = [torch.ones_like(w, dtype=torch.bool) for w in weights]
    n = sum(w.numel() for w in weights)
    n_keep = n - round(0.98 * n)
    no_floor = magnitude_masks(weights, masks, 0.98, floor=0.0)
    assert int(no_floor[0].sum()) == 0
    for floor in (0.2, 0.5):
        new = magnitude_masks(weights, masks, 0.98, floor=floor)
        assert sum(int(m.sum()) for m in new) == n_keep
        for m, w in zip(new, weights):
            assert int(m.sum()) >= math.ceil(floor * n_keep * w.numel() / n) - 1


def test_batch_norm_networks_are_not_cut_while_training(data):
    X, y = data
    shapes = {}
    for batch_norm in (False, True):
        log = shapes.setdefault(batch_norm, [])
        with pytest.MonkeyPatch.context() as mp:
            _with_extra_callbacks(mp, lambda log=log: [("shapes", _Shapes(log))])
            SparseMLPClassifier((24, 12), max_iter=10, batch_size=60, target_sparsity=0.9,
                                prune_schedule=Gradual(end=0.3), batch_norm=batch_norm,
                                random_state=0).fit(X, y)
    assert min(s[0] for s in shapes[False]) < 24  # the same run without batch norm is cut
    assert set(shapes[True]) == {(24, 12)}


def test_l2_decays_connection_weights_but_not_biases():
    rng = np.random.RandomState(0)
    X = rng.randn(200, 5).astype(np.float32)  # no signal: the output bias learns the prior
    y = (np.arange(200) % 10 == 0).astype(int)  # 10% positives, log-odds -2.2
    kw = dict(hidden_layer_sizes=(8,), max_iter=60, batch_size=50,
              learning_rate_init=2e-2, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        decayed = SparseMLPClassifier(l2=100.0, **kw).fit(X, y)
    assert max(np.abs(W).max() for W in decayed.coefs_) < 1e-2
    assert decayed.intercepts_[-1][0] == pytest.approx(np.log(1 / 9), abs=0.3)
    assert decayed.predict_proba(X)[:, 1].mean() == pytest.approx(0.1, abs=0.03)


def test_partial_fit_stream_runs_the_same_callbacks_plan_across_calls(data):
    # the plan resumes at its step on every call (and after unpickling): the
    # stream's masks reach the target after max_iter calls
    import pickle

    X, y = data
    clf = SparseMLPRegressor((16,), max_iter=4, target_sparsity=0.8, batch_size=40,
                             random_state=0)
    for k in range(4):
        clf.partial_fit(X, y.astype(float))
        clf = pickle.loads(pickle.dumps(clf))
    assert clf.sparsity_as_built_ == pytest.approx(0.8, abs=0.01)
    assert clf.net_.history[-1]["masks_final"]


# ---------------------------------------------------------------- the prune schedules' decay
def test_the_decay_while_pruning_keeps_weights_the_data_needs():
    # 20 informative features and 20 that are nonzero in 2% of the rows, unrelated
    # to y: without the decay their weights keep the size they were drawn with and
    # take a share of the budget; with it the kept weights go to the informative ones
    rng = np.random.default_rng(0)
    X, y = make_classification(1000, 20, n_informative=10, random_state=0)
    rare = (rng.random((1000, 20)) < 0.02) * 3.0
    X = np.hstack([X, rare]).astype(np.float32)
    share = {}
    for wd in (0.0, 2e-3):
        clf = SparseMLPClassifier((32,), max_iter=60, target_sparsity=0.9, random_state=0,
                                  prune_schedule=Gradual(weight_decay=wd)).fit(X, y)
        kept = clf.coefs_[0] != 0
        share[wd] = kept[:20].sum() / kept.sum()
    assert share[2e-3] > share[0.0] + 0.1


def test_the_decay_acts_only_until_the_masks_are_final(data):
    X, y = data
    kw = dict(hidden_layer_sizes=(16,), max_iter=5, target_sparsity=0.5, random_state=0)

    def fit(schedule_cls, wd, **sched):
        return SparseMLPClassifier(prune_schedule=schedule_cls(weight_decay=wd, **sched),
                                   **kw).fit(X, y).coefs_[0]

    # pruned once at the first step: the masks are final at once, no decay ever
    np.testing.assert_array_equal(fit(Iterative, 0.0, n_rounds=1, start=0.0, end=0.0),
                                  fit(Iterative, 0.5, n_rounds=1, start=0.0, end=0.0))
    # pruned at the middle: the first half decays
    assert not np.allclose(fit(Iterative, 0.0, n_rounds=1, start=0.5, end=0.5),
                           fit(Iterative, 0.5, n_rounds=1, start=0.5, end=0.5))


# ---------------------------------------------------------------- short budgets, small data
@pytest.mark.parametrize("dataset", ["digits", "breast_cancer"])
def test_small_data_with_few_steps_per_epoch_prunes_at_dense_accuracy(dataset):
    # the automatic batch size of 200 leaves 2-7 optimizer steps per epoch: 40
    # epochs are 100-280 steps, and the schedule (step raise, updates, decay)
    # fits them (before it did, at seed 0: digits 0.937 against 0.961 dense,
    # breast cancer 0.936 against 0.953)
    from sklearn import datasets
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    X, y = getattr(datasets, f"load_{dataset}")(return_X_y=True)
    X = StandardScaler().fit_transform(X) if dataset == "breast_cancer" else X / 16.0
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.3, random_state=0, stratify=y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # 40 epochs: "has not converged"
        dense = SparseMLPClassifier((100,), max_iter=40, random_state=0).fit(X_tr, y_tr)
        pruned = SparseMLPClassifier((100,), max_iter=40, target_sparsity=0.9,
                                     random_state=0).fit(X_tr, y_tr)
    assert pruned.sparsity_as_built_ >= 0.89
    assert pruned.score(X_te, y_te) >= dense.score(X_te, y_te) - 0.015


def test_a_learning_rate_above_the_ceiling_is_not_raised(data):
    X, y = data
    clf = SparseMLPClassifier((16,), max_iter=6, learning_rate_init=0.02, target_sparsity=0.9,
                              random_state=0).fit(X, y)
    assert set(clf.net_.history[:, "event_lr"]) == {0.02}
