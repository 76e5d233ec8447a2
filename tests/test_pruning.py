"""Pruning engine: magnitude ranking, schedules inside fit, neuron removal,
selective pruning, degenerate pruning."""

import copy
import pickle

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.datasets import make_classification

from sksparse_nn import Dynamic, Gradual, Iterative, OneShot, SparseMLPClassifier
from sksparse_nn._training._pruning import magnitude_masks, regrow_masks


def test_magnitude_masks_exact_count_global_and_per_layer():
    torch.manual_seed(0)
    ws = [torch.randn(20, 10), torch.randn(5, 20) * 10]
    ms = [torch.ones_like(w, dtype=torch.bool) for w in ws]
    glob = magnitude_masks(ws, ms, 0.5, "global")
    assert sum(int((~m).sum()) for m in glob) == 150
    # the large second layer survives global ranking almost intact
    assert int(glob[1].sum()) > int(glob[0].sum()) / 2
    per = magnitude_masks(ws, ms, 0.5, "layer")
    assert [int((~m).sum()) for m in per] == [100, 50]
    # masks only shrink
    again = magnitude_masks(ws, glob, 0.1, "global")
    assert all(torch.equal(a & ~b, torch.zeros_like(a)) for a, b in zip(again, glob))


def test_regrow_keeps_the_active_count():
    torch.manual_seed(0)
    w = torch.randn(30, 30)
    m = torch.rand(30, 30) < 0.2
    w = w * m
    g = torch.randn(30, 30)
    for method in ("gradient", "random"):
        (new,) = regrow_masks([w], [m], 0.3, [g], method=method,
                              generator=torch.Generator().manual_seed(0))
        assert int(new.sum()) == int(m.sum())
        assert int((new & ~m).sum()) == int(0.3 * int(m.sum()))


@pytest.fixture(scope="module")
def blobs():
    X, y = make_classification(600, 20, n_informative=8, n_classes=3, random_state=0)
    return X.astype(np.float32), y


@pytest.mark.parametrize("schedule", [OneShot(at=0.5), Gradual(start=0.1, end=0.5),
                                      Iterative(n_rounds=3, start=0.2, end=0.6),
                                      Iterative(n_rounds=2, rewind_epoch=1),
                                      Dynamic(update_every=5, end=0.6)])
def test_schedules_reach_the_target_exactly(blobs, schedule):
    X, y = blobs
    m = SparseMLPClassifier((40,), max_iter=15, prune_schedule=schedule, target_sparsity=0.8,
                            learning_rate_init=0.01, n_iter_no_change=100,
                            random_state=0).fit(X, y)
    n_weights = 20 * 40 + 40 * 3
    zeros = round(m.sparsity_as_built_ * n_weights)
    assert abs(zeros - round(0.8 * n_weights)) <= 1
    assert m.score(X, y) > 0.7


def test_gradual_sparsity_follows_the_schedule_per_epoch(blobs):
    X, y = blobs
    sched = Gradual(start=0.2, end=0.6, update_every=1)
    m = SparseMLPClassifier((40,), max_iter=10, batch_size=60, prune_schedule=sched,
                            target_sparsity=0.9, n_iter_no_change=100, random_state=0).fit(X, y)
    logged = np.array(m.net_.history[:, "sparsity"])
    expected = np.array([sched.sparsity_at(e / 10, 0.9) for e in range(1, 11)])
    np.testing.assert_allclose(logged, expected, atol=0.01)


def test_masks_survive_clone_pickle_deepcopy_and_optimizer_is_rebuilt(blobs):
    X, y = blobs
    m = SparseMLPClassifier((40, 20), max_iter=6, prune_schedule="gradual", target_sparsity=0.9,
                            random_state=0).fit(X, y)
    module = m.net_.module_
    params = {id(p) for p in module.parameters()}
    opt_params = {id(p) for g in m.net_.optimizer_.param_groups for p in g["params"]}
    assert params == opt_params  # rebuilt after the layers shrank
    for other in (copy.deepcopy(m), pickle.loads(pickle.dumps(m))):
        for a, b in zip(module.linears, other.net_.module_.linears):
            assert torch.equal(a.mask, b.mask) and torch.equal(a.weight, b.weight)
    assert not hasattr(clone(m), "net_")
    # pickling did not strip the live estimator: it predicts as before and trains on
    before = m.predict_proba(X)
    pickle.dumps(m)
    np.testing.assert_array_equal(m.predict_proba(X), before)
    # training on keeps the masks: zeros stay zeros
    zeros_before = [~lin.mask for lin in module.linears]
    m.partial_fit(X, y)
    for z, lin in zip(zeros_before, m.net_.module_.linears):
        if z.shape == lin.weight.shape:
            assert torch.count_nonzero(lin.weight[z]) == 0


def test_neuron_threshold_shrinks_layers(blobs):
    X, y = blobs
    kw = dict(hidden_layer_sizes=(64,), max_iter=10, prune_schedule="gradual",
              target_sparsity=0.95, random_state=0)
    exact = SparseMLPClassifier(**kw).fit(X, y)
    loose = SparseMLPClassifier(neuron_threshold=0.5, **kw).fit(X, y)
    assert loose.hidden_layer_sizes_[0] < exact.hidden_layer_sizes_[0] <= 64
    assert [c.shape for c in loose.coefs_] == [(20, loose.hidden_layer_sizes_[0]),
                                               (loose.hidden_layer_sizes_[0], 3)]


def test_selective_pruning_removes_redundant_neurons_within_tolerance():
    # a task one unit can solve, given to 32 units: most are redundant
    rng = np.random.RandomState(0)
    X = rng.randn(800, 5).astype(np.float32)
    y = (X[:, 0] + 0.5 * X[:, 1] > 0).astype(int)
    tol = 0.02
    m = SparseMLPClassifier((32,), max_iter=30, selective_pruning_tol=tol, random_state=0)
    m.fit(X, y)
    rec = m.selective_pruning_record_
    assert rec["n_removed"] >= 16
    assert m.hidden_layer_sizes_[0] == 32 - rec["n_removed"]
    assert rec["val_loss_after_removal"] <= rec["val_loss_before"] + tol + 1e-9
    assert all(r["loss"] <= rec["val_loss_before"] + tol + 1e-9 for r in rec["removed"])
    full = SparseMLPClassifier((32,), max_iter=30, random_state=0).fit(X, y)
    assert m.score(X, y) >= full.score(X, y) - 0.04


def test_selective_pruning_on_a_fitted_model():
    rng = np.random.RandomState(1)
    X = rng.randn(600, 5).astype(np.float32)
    y = (X[:, 0] - X[:, 2] > 0).astype(int)
    m = SparseMLPClassifier((24,), max_iter=25, random_state=0).fit(X[:400], y[:400])
    before = m.score(X[400:], y[400:])
    m.prune_neurons(X[400:], y[400:], tol=0.01, fine_tune_epochs=2)
    rec = m.selective_pruning_record_
    assert rec["n_removed"] > 0 and m.hidden_layer_sizes_[0] == 24 - rec["n_removed"]
    assert rec["val_loss_after_removal"] <= rec["val_loss_before"] + 0.01 + 1e-9
    assert rec["val_loss_after_fine_tune"] is None  # the fine-tune trained on that data
    assert m.score(X[400:], y[400:]) >= before - 0.03


def test_pruning_everything_warns_and_still_predicts(blobs):
    X, y = blobs
    with pytest.warns(UserWarning, match="(driven to zero|pruned away)"):
        m = SparseMLPClassifier((4,), max_iter=4, prune_schedule="one_shot",
                                target_sparsity=0.999, random_state=0).fit(X, y)
    proba = m.predict_proba(X)
    assert np.isfinite(proba).all() and proba.shape == (len(X), 3)


def test_unit_power_prefers_removing_whole_units(blobs):
    X, y = blobs
    kw = dict(hidden_layer_sizes=(64,), max_iter=20, learning_rate_init=0.01,
              target_sparsity=0.9, n_iter_no_change=100, random_state=0)
    # against plain magnitude ranking (the activation ranking empties many units
    # by itself: units that never fire read as silent inputs to the next layer)
    plain = SparseMLPClassifier(prune_schedule=Gradual(ranking="magnitude"), **kw).fit(X, y)
    units = SparseMLPClassifier(prune_schedule=Gradual(unit_power=2, ranking="magnitude"),
                                **kw).fit(X, y)
    assert abs(units.sparsity_as_built_ - plain.sparsity_as_built_) < 0.01
    assert units.hidden_layer_sizes_[0] < 0.85 * plain.hidden_layer_sizes_[0]
    assert units.score(X, y) > plain.score(X, y) - 0.05


def test_cap_units_empties_the_weakest_units_in_and_out():
    from sksparse_nn._training._pruning import cap_units

    ws = [torch.ones(4, 3), torch.ones(2, 4)]
    ws[0][1] *= 0.1    # unit 1: weak inputs
    ws[1][:, 2] *= 0.01  # unit 2: weak outputs
    ms = [torch.ones_like(w, dtype=torch.bool) for w in ws]
    new = cap_units(ws, ms, [2])
    assert new[0].all(dim=1).tolist() == [True, False, False, True]
    assert not new[0][[1, 2]].any() and not new[1][:, [1, 2]].any()
    assert new[1][:, [0, 3]].all()
    assert all(m.all() for m in ms)  # the given masks are not modified


@pytest.mark.parametrize("schedule", [Gradual(max_units=(16, 10)), OneShot(max_units=(16, 10)),
                                      Iterative(n_rounds=3, max_units=(16, 10))])
def test_max_units_bounds_the_compacted_network_at_the_target(blobs, schedule):
    X, y = blobs
    m = SparseMLPClassifier((40, 20), max_iter=20, prune_schedule=schedule,
                            target_sparsity=0.8, learning_rate_init=0.01,
                            n_iter_no_change=100, random_state=0).fit(X, y)
    assert m.hidden_layer_sizes_[0] <= 16 and m.hidden_layer_sizes_[1] <= 10
    n_weights = 20 * 40 + 40 * 20 + 20 * 3
    assert abs(round(m.sparsity_as_built_ * n_weights) - round(0.8 * n_weights)) <= 1
    assert m.score(X, y) > 0.7
    # the same schedule without the cap keeps more units
    free = clone(m).set_params(prune_schedule__max_units=None).fit(X, y)
    assert free.hidden_layer_sizes_[0] > 16


def test_max_units_tighter_than_the_target_gives_a_sparser_network(blobs):
    X, y = blobs  # (8, 5) units hold at most 20*8 + 8*5 + 5*3 = 215 of 1660 weights
    m = SparseMLPClassifier((40, 20), max_iter=10, prune_schedule=Gradual(max_units=(8, 5)),
                            target_sparsity=0.8, random_state=0).fit(X, y)
    assert m.hidden_layer_sizes_[0] <= 8 and m.hidden_layer_sizes_[1] <= 5
    assert sum(m.nonzero_weights_) <= 215 and m.sparsity_as_built_ > 0.8


@pytest.mark.parametrize("seed", range(6))
def test_top_k_mask_bracketed_selection_is_exact(seed, monkeypatch):
    """Large score vectors (all weights of a network) get their threshold from a
    sampled bracket; it must pick exactly the same entries as a full selection,
    with ties and already-pruned (negative) entries."""
    from sksparse_nn._training import _pruning

    rng = np.random.default_rng(seed)
    n = int(rng.integers(1 << 16, 1 << 18))
    a = (rng.standard_normal(n) ** 2).astype(np.float32)
    if seed % 2:
        a = np.round(a, 1)  # heavy ties
    a[rng.random(n) < rng.uniform(0.0, 0.98)] = -1.0
    n_valid = int((a >= 0).sum())
    for k in (1, n_valid // 50 + 1, n_valid // 2, n_valid - 1):
        exact = float(np.sort(a[a >= 0])[n_valid - k])
        assert _pruning._bracketed_kth_largest(a, k) == exact
        fast = _pruning.top_k_mask(torch.from_numpy(a), k)
        monkeypatch.setattr(_pruning, "_BRACKET_MIN", 1 << 40)
        full = _pruning.top_k_mask(torch.from_numpy(a), k)
        monkeypatch.undo()
        assert int(fast.sum()) == k
        assert torch.equal(fast, full)
