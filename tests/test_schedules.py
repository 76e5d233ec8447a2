"""Prune schedules as pure functions: sparsity by progress, update steps, params."""

import numpy as np
import pytest
from sklearn.base import clone

from sksparse_nn import Dynamic, Gradual, Iterative, OneShot
from sksparse_nn.schedules import get_schedule


def test_gradual_is_the_cubic_ramp():
    s = Gradual(start=0.2, end=0.6, power=3)
    assert s.sparsity_at(0.1, 0.9) == 0.0
    assert s.sparsity_at(0.2, 0.9) == pytest.approx(0.0)
    mid = 0.9 + (0.0 - 0.9) * (1 - 0.5) ** 3
    assert s.sparsity_at(0.4, 0.9) == pytest.approx(mid)
    assert s.sparsity_at(0.6, 0.9) == pytest.approx(0.9)
    assert s.sparsity_at(1.0, 0.9) == pytest.approx(0.9)
    values = [s.sparsity_at(p, 0.9) for p in np.linspace(0, 1, 101)]
    assert np.all(np.diff(values) >= 0)


def test_gradual_update_steps_cover_the_ramp():
    # 20 updates evenly over the ramp's 400 steps, the last one at its end
    steps = Gradual(start=0.1, end=0.5, n_updates=20).update_steps(1000)
    assert list(steps) == list(range(120, 501, 20))
    # an initial sparsity is reached by an update at the ramp's first step
    assert Gradual(start=0.1, end=0.5, initial_sparsity=0.3).update_steps(1000)[0] == 100
    assert list(Gradual(start=0.1, end=0.5, update_every=50).update_steps(1000)) == \
        list(range(100, 501, 50))


def test_one_shot_and_iterative():
    assert OneShot(at=0.5).sparsity_at(0.49, 0.8) == 0.0
    assert OneShot(at=0.5).sparsity_at(0.5, 0.8) == 0.8
    it = Iterative(n_rounds=4, start=0.2, end=0.8)
    rounds = [it.sparsity_at(p, 0.9) for p in (0.1, 0.2, 0.4, 0.6, 0.8, 0.95)]
    expected = [0.0] + [1 - 0.1 ** (k / 4) for k in (1, 2, 3, 4)] + [1 - 0.1]
    np.testing.assert_allclose(rounds, expected)
    assert list(it.update_steps(100)) == [20, 40, 60, 80]


def test_dynamic_keeps_target_and_decays_drop_fraction():
    d = Dynamic(update_every=10, drop_fraction=0.4, end=0.5)
    assert d.sparsity_at(0.0, 0.9) == d.sparsity_at(0.9, 0.9) == 0.9
    assert d.drop_fraction_at(0.0) == pytest.approx(0.4)
    assert d.drop_fraction_at(0.25) == pytest.approx(0.2)
    assert d.drop_fraction_at(0.5) == 0.0
    assert list(d.update_steps(100)) == [0, 10, 20, 30, 40, 50]


def test_schedule_params_are_tunable_through_the_estimator():
    from sksparse_nn import SparseMLPClassifier

    est = SparseMLPClassifier(prune_schedule=Gradual(end=0.5), target_sparsity=0.5)
    params = est.get_params(deep=True)
    assert params["prune_schedule__end"] == 0.5
    est.set_params(prune_schedule__end=0.7)
    assert est.prune_schedule.end == 0.7
    assert clone(est).prune_schedule.end == 0.7


def test_get_schedule_validates():
    assert get_schedule(None) is None
    assert isinstance(get_schedule("gradual"), Gradual)
    with pytest.raises(ValueError, match="start <= end"):
        get_schedule(Gradual(start=0.8, end=0.2))
    with pytest.raises(ValueError, match="scope"):
        get_schedule(OneShot(scope="neurons"))
    with pytest.raises(ValueError):
        get_schedule("sometimes")


def test_max_units_caps_ramp_with_the_sparsity_and_validate():
    s = Gradual(max_units=(30, None))
    assert s.unit_caps([300, 100], 0.0, 0.9) == [300, None]
    assert s.unit_caps([300, 100], 0.45, 0.9) == [165, None]
    assert s.unit_caps([300, 100], 0.9, 0.9) == [30, None]
    assert OneShot(max_units=8).unit_caps([40, 20, 5], 0.8, 0.8) == [8, 8, None]
    assert Gradual().unit_caps([40], 0.5, 0.8) == [None]
    with pytest.raises(ValueError, match="2 entries for 3 hidden layers"):
        s.unit_caps([10, 10, 10], 0.5, 0.9)
    for bad in (0, 2.5, True, (3, -1)):
        with pytest.raises(ValueError, match="max_units"):
            get_schedule(Iterative(max_units=bad))
    assert get_schedule(OneShot(max_units=(4, None))).max_units == (4, None)
    from sksparse_nn import SparseMLPClassifier

    est = SparseMLPClassifier(prune_schedule=Gradual(max_units=10), target_sparsity=0.9)
    assert est.get_params(deep=True)["prune_schedule__max_units"] == 10
    assert clone(est.set_params(prune_schedule__max_units=(5,))).prune_schedule.max_units == (5,)


# ------------------------------------------------------------- short budgets, lr, ranking
def test_gradual_spaces_updates_by_the_steps_it_has():
    # 30 epochs of 20 steps: the ramp (steps 60-360) updates every 10 steps, not
    # every 6 (n_updates=50 would ask for 50 updates)
    mid = Gradual().update_steps(600)
    assert mid[-1] == 360 and len(mid) == 30 and np.all(np.diff(mid) == 10)
    # a long fit gets n_updates updates over its ramp
    assert len(Gradual().update_steps(20_000)) == 50
    # min_interval=1 gives one update per step on short fits (up to n_updates)
    assert list(Gradual(min_interval=1).update_steps(100)) == list(range(11, 61))
    # a 5-epoch fit (ramp of 50 steps) and a tiny fine-tune (15 steps) still
    # prune in 8 steps, the last one on the target
    for total, last in ((100, 60), (30, 18)):
        steps = Gradual().update_steps(total)
        assert len(steps) == 8 and steps[-1] == last
    # updates that would round to the same step of a very short ramp move apart
    assert list(Gradual(start=0, end=1).update_steps(10)) == [1, 2, 3, 4, 5, 6, 7, 10]
    assert list(Gradual(start=0, end=1).update_steps(5)) == [1, 2, 3, 4, 5]


@pytest.mark.parametrize("total", [30, 100, 200, 300])
def test_few_updates_prune_equal_shares_of_the_target(total):
    # with fewer than 16 updates each prunes about 1/n of the target: at equal
    # times the cubic ramp's first update would prune 3x its share, the last a
    # few weights
    target, s = 0.9, Gradual()
    steps = s.update_steps(total)
    n = len(steps)
    assert 8 <= n < 16
    planned = [0.0] + [s.sparsity_at(t / total, target) for t in steps]
    pruned = np.diff(planned)
    assert planned[-1] == pytest.approx(target)
    assert np.all(pruned <= 1.6 * target / n) and np.all(pruned >= 0.4 * target / n)
    even = np.diff([0.0] + [s.sparsity_at((total / 10 + (k + 1) * total / 2 / n) / total, target)
                            for k in range(n)])
    assert even[0] > 2.5 * target / n  # what equal times would have done


def test_lr_factor_follows_the_planned_sparsity():
    s = Gradual(lr_scaling=0.5)
    assert s.lr_factor(0.0) == 1.0
    assert s.lr_factor(0.75) == pytest.approx(2.0)
    assert s.lr_factor(0.99) == pytest.approx(10.0)
    assert Gradual(lr_scaling=0).lr_factor(0.99) == 1.0
    for bad in (-1, "fast", True, float("inf"), float("nan")):
        with pytest.raises(ValueError, match="lr_scaling"):
            get_schedule(Gradual(lr_scaling=bad))
        with pytest.raises(ValueError, match="weight_decay"):
            get_schedule(OneShot(weight_decay=bad))
    with pytest.raises(ValueError, match="ranking"):
        get_schedule(OneShot(ranking="random"))


def test_learning_rate_rises_while_pruned_and_returns_after_fit():
    from sklearn.datasets import load_digits

    from sksparse_nn import SparseMLPClassifier

    X, y = load_digits(return_X_y=True)
    clf = SparseMLPClassifier((32,), max_iter=10, batch_size=64, learning_rate_init=1e-3,
                              target_sparsity=0.9, random_state=0).fit(X / 16, y)
    lrs = clf.net_.history[:, "event_lr"]
    assert lrs[0] == pytest.approx(1e-3)  # dense at first
    # at the target: raised by (1 - 0.9) ** -0.8, up to the ceiling
    assert lrs[-1] == pytest.approx(min(1e-3 * 0.1 ** -0.8, 5e-3), rel=1e-6)
    assert all(b >= a for a, b in zip(lrs, lrs[1:]))
    assert clf.net_.optimizer_.param_groups[0]["lr"] == pytest.approx(1e-3)
    flat = SparseMLPClassifier((32,), max_iter=10, batch_size=64, target_sparsity=0.9,
                               prune_schedule=Gradual(lr_scaling=0),
                               random_state=0).fit(X / 16, y)
    assert set(flat.net_.history[:, "event_lr"]) == {1e-3}


@pytest.mark.parametrize("sparse_input", [False, True])
def test_activation_ranking_prunes_weights_of_silent_inputs_first(sparse_input):
    import scipy.sparse as sp

    from sksparse_nn import SparseMLPClassifier

    rng = np.random.RandomState(0)
    X = rng.rand(300, 12)
    X[:, :4] = 0.0  # four inputs that are always zero (like blank image borders)
    y = (X[:, 4] + X[:, 5] > 1).astype(int)
    Xfit = sp.csr_matrix(X) if sparse_input else X
    kept = {}
    for ranking in ("activation", "magnitude"):
        clf = SparseMLPClassifier((16,), max_iter=6, target_sparsity=0.5, random_state=0,
                                  prune_schedule=Gradual(ranking=ranking)).fit(Xfit, y)
        kept[ranking] = int(np.count_nonzero(clf.net_.module_.linears[0].mask[:, :4]))
    # their weights carry nothing: ranked by contribution they go first, while
    # plain magnitude keeps about half of them (their size is the init's)
    assert kept["activation"] == 0
    assert kept["magnitude"] > 10
