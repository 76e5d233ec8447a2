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
    steps = Gradual(start=0.1, end=0.5, n_updates=20).update_steps(1000)
    assert steps[0] == 100 and steps[-1] == 500
    assert 20 <= len(steps) <= 22
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
