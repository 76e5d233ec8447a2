"""What a user sees: pruning a fitted model in one call, honest pruning records,
sparsity counts that agree, no silently ignored hyperparameter, and warnings a user
can act on (issue #20)."""

import re
import warnings
from pathlib import Path

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.preprocessing import StandardScaler

from sksparse_nn import Gradual, Iterative, SparseMLPClassifier, SparseMLPRegressor

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def small_digits():
    X, y = load_digits(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    return X[:600], y[:600], X[600:900], y[600:900]


@pytest.fixture(scope="module")
def dense(small_digits):
    X, y, _, _ = small_digits
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return SparseMLPClassifier((32,), max_iter=20, learning_rate_init=0.01,
                                   random_state=0).fit(X, y)


def _copy(model):
    import copy

    return copy.deepcopy(model)


# ------------------------------------------------------------- 1. prune in one call
def test_prune_reaches_the_target_and_keeps_accuracy(dense, small_digits):
    X, y, Xte, yte = small_digits
    before = dense.score(Xte, yte)
    m = _copy(dense)
    assert m.prune(X, y, target_sparsity=0.9, fine_tune_epochs=10) is m
    assert m.sparsity_as_built_ == pytest.approx(0.9, abs=2e-3)
    assert m.sparsity_ > 0.85
    assert m.score(Xte, yte) >= before - 0.05
    rec = m.pruning_record_
    assert rec["sparsity_before"] == dense.sparsity_ and rec["sparsity_after"] == m.sparsity_
    assert rec["fine_tune_epochs"] == 10 and m.n_iter_ == dense.n_iter_ + 10
    assert 0 <= rec["val_score_after"] <= 1 and rec["val_loss_after"] > 0
    assert "held out" in rec["data"]["val"] and "trained on" in rec["data"]["train"]
    n_val, n_train = (int(re.search(r"\((\d+) samples\)", rec["data"][k]).group(1))
                      for k in ("val", "train"))
    assert n_val + n_train == len(X) and n_val == 60
    assert dense.pruning_record_ is None


def test_prune_default_epochs_and_no_holdout(dense, small_digits):
    X, y, _, _ = small_digits
    m = _copy(dense).set_params(max_iter=4)
    m.prune(X, y, target_sparsity=0.5, schedule="one_shot", validation_fraction=None)
    rec = m.pruning_record_
    assert rec["fine_tune_epochs"] == 50 and rec["val_loss_after"] is None
    assert rec["sparsity_as_built_after"] == pytest.approx(0.5, abs=2e-3)


@pytest.mark.parametrize("kwargs, match", [
    (dict(target_sparsity=1.0), "target_sparsity must be a float in \\(0, 1\\)"),
    (dict(target_sparsity=0), "target_sparsity must be a float in \\(0, 1\\)"),
    (dict(schedule="sometimes"), "schedule must be one of"),
    (dict(schedule=Iterative(rewind_epoch=1)), "rewind_epoch"),
    (dict(schedule=Gradual(max_units=(4, 4))), "max_units has 2 entries"),
    (dict(fine_tune_epochs=0), "fine_tune_epochs must be None or an int >= 1"),
    (dict(validation_fraction=1.5), "validation_fraction must be None or a float"),
])
def test_prune_rejects_bad_arguments_and_keeps_the_model(dense, small_digits, kwargs, match):
    X, y, Xte, _ = small_digits
    m = _copy(dense)
    with pytest.raises(ValueError, match=match):
        m.prune(X, y, **kwargs)
    np.testing.assert_array_equal(m.predict_proba(Xte), dense.predict_proba(Xte))


def test_prune_needs_a_fitted_model(small_digits):
    X, y, _, _ = small_digits
    with pytest.raises(NotFittedError):
        SparseMLPClassifier().prune(X, y)


def test_prune_keeps_the_fitted_model_when_training_fails(dense, small_digits, monkeypatch):
    X, y, Xte, _ = small_digits
    m = _copy(dense).set_params(warm_start=True, max_iter=1).fit(X, y)
    expected = m.predict_proba(Xte)
    opt = m.net_.optimizer_
    moments = [opt.state[p]["exp_avg_sq"].clone() for g in opt.param_groups for p in g["params"]]

    def boom(self, net, train, epochs):
        net.module_.linears[0].weight.data.zero_()  # damage, then fail
        raise RuntimeError("boom")

    monkeypatch.setattr(SparseMLPClassifier, "_train", boom)
    with pytest.raises(RuntimeError, match="boom"):
        m.prune(X, y, fine_tune_epochs=2)
    monkeypatch.undo()
    np.testing.assert_array_equal(m.predict_proba(Xte), expected)
    assert m.sparsity_ == dense.sparsity_ and m.pruning_record_ is None
    # Adam's moments come back with the weights (a warm start continues as before)
    state = m.net_.optimizer_.state
    params = [p for g in m.net_.optimizer_.param_groups for p in g["params"]]
    assert all(p in state for p in params)
    for k, v in enumerate(state[p] for p in params):
        np.testing.assert_array_equal(v["exp_avg_sq"].numpy(), moments[k].numpy())
    m.prune(X, y, target_sparsity=0.5, fine_tune_epochs=2)  # still a working model
    assert m.sparsity_as_built_ == pytest.approx(0.5, abs=2e-3)


def test_prune_diverging_warns_and_keeps_the_model(dense, small_digits):
    X, y, Xte, _ = small_digits
    m = _copy(dense)
    expected = m.predict_proba(Xte)
    m.learning_rate_init = 1e30  # the fine-tune blows up
    with pytest.warns(UserWarning, match="prune diverged.*kept as it was"):
        m.prune(X * 1e3, y, fine_tune_epochs=2)
    np.testing.assert_array_equal(m.predict_proba(Xte), expected)


def test_prune_an_already_sparse_model_warns(dense, small_digits):
    X, y, _, _ = small_digits
    m = _copy(dense).prune(X, y, target_sparsity=0.6, fine_tune_epochs=2)
    before = m.n_iter_
    with pytest.warns(UserWarning, match="nothing to prune"):
        m.prune(X, y, target_sparsity=0.5)
    assert m.n_iter_ == before


# ------------------------------------------------------------- 2. honest records
def test_prune_neurons_record_names_its_data(dense, small_digits):
    _, _, Xte, yte = small_digits
    m = _copy(dense).prune_neurons(Xte, yte, tol=0.05, fine_tune_epochs=0)
    rec = m.selective_pruning_record_
    assert rec["n_removed"] > 0
    # without a fine-tune: the loss after the removals, on the data they were chosen on
    assert rec["val_loss_after_removal"] == pytest.approx(rec["removed"][-1]["loss"])
    assert rec["val_loss_before"] <= rec["val_loss_after_removal"] <= rec["val_loss_before"] + 0.05
    assert rec["train_loss_after_fine_tune"] is None and rec["fine_tune_epochs"] == 0

    m = _copy(dense).prune_neurons(Xte, yte, tol=0.05, fine_tune_epochs=3)
    rec = m.selective_pruning_record_
    # the fine-tune trained on (X, y): no "after" number claims to be held out
    assert rec["val_loss_after_fine_tune"] is None
    assert rec["val_loss_after_removal"] >= rec["val_loss_before"]
    assert np.isfinite(rec["train_loss_after_fine_tune"])
    assert "fine-tune trained on" in rec["data"]["train"]


def test_selective_pruning_in_fit_measures_after_on_the_validation_split(small_digits):
    X, y, _, _ = small_digits
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        m = SparseMLPClassifier((32,), max_iter=10, selective_pruning_tol=0.05,
                                random_state=0).fit(X, y)
    rec = m.selective_pruning_record_
    assert rec["n_removed"] > 0 and rec["fine_tune_epochs"] == 1
    assert np.isfinite(rec["val_loss_after_fine_tune"])
    assert np.isfinite(rec["train_loss_after_fine_tune"])
    assert "60 samples" in rec["data"]["val"] and "540 samples" in rec["data"]["train"]


# ------------------------------------------------------------- 3. one sparsity story
def test_sparsity_counts_coefs_exactly(small_digits):
    X, y, _, _ = small_digits
    m = SparseMLPClassifier((64, 32), max_iter=12, target_sparsity=0.95,
                            random_state=0).fit(X, y)
    coefs = m.coefs_
    zeros = sum(int((W == 0).sum()) for W in coefs)
    assert m.sparsity_ == zeros / sum(W.size for W in coefs)
    assert m.nonzero_weights_ == [int(np.count_nonzero(W)) for W in coefs]
    assert sum(m.nonzero_weights_) == sum(int(np.count_nonzero(W)) for W in coefs)
    # the target counts the network as built (64 + 32 units): its own attribute
    n_built = 64 * 64 + 64 * 32 + 32 * 10
    assert round((1 - m.sparsity_as_built_) * n_built) == round(0.05 * n_built)
    assert m.net_.history[-1]["sparsity"] == pytest.approx(m.sparsity_as_built_)
    assert m.hidden_layer_sizes_ != (64, 32) and m.sparsity_ < m.sparsity_as_built_


# ------------------------------------------------------------- 4. no silent ignores
@pytest.mark.parametrize("change, match", [
    (dict(hidden_layer_sizes=(8,)), r"hidden_layer_sizes=\(8,\) \(fitted with \(32,\)\)"),
    (dict(activation="tanh"), "activation='tanh'"),
    (dict(batch_norm=True), "batch_norm=True"),
])
def test_warm_start_with_another_architecture_raises(dense, small_digits, change, match):
    X, y, Xte, _ = small_digits
    m = _copy(dense).set_params(warm_start=True, **change)
    with pytest.raises(ValueError, match="continues the fitted network.*" + match):
        m.fit(X, y)
    np.testing.assert_array_equal(m.predict_proba(Xte), dense.predict_proba(Xte))
    with pytest.raises(ValueError, match="partial_fit continues the fitted network"):
        m.partial_fit(X, y)
    m.set_params(warm_start=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        m.set_params(max_iter=1).fit(X, y)  # from scratch: fine


def test_warm_start_uses_the_current_training_parameters(dense, small_digits):
    X, y, _, _ = small_digits
    m = _copy(dense).set_params(warm_start=True, dropout=0.25, learning_rate_init=3e-3,
                                 l2=1e-3, max_iter=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        m.fit(X, y)
    net = m.net_
    assert net.module_.dropout == 0.25
    assert {g["lr"] for g in net.optimizer_.param_groups} == {3e-3}
    assert 1e-3 in {g["weight_decay"] for g in net.optimizer_.param_groups}
    assert net.optimizer_.state  # Adam's moments carried over


def test_set_params_on_a_fitted_model_says_when_it_takes_effect(dense):
    m = _copy(dense)
    with pytest.warns(UserWarning, match="neuron_threshold set on a fitted.*end of the next"):
        m.set_params(neuron_threshold=0.5)
    with pytest.warns(UserWarning, match="target_sparsity.*prune\\(X, y, target_sparsity\\)"):
        m.set_params(target_sparsity=0.5)
    with pytest.warns(UserWarning, match="prune_schedule set on a fitted"):
        m.set_params(prune_schedule=Gradual(), )
    with pytest.warns(UserWarning, match="prune_schedule set on a fitted"):
        m.set_params(prune_schedule__end=0.5)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        m.set_params(max_iter=3, verbose=0)  # nothing a fitted model would show
        m.set_params(neuron_threshold=0.5)  # unchanged value
        m.set_params(warm_start=True, l1=1e-3)  # "continue training with these"
        c = clone(m)  # unfitted clones never warn
        c.set_params(neuron_threshold=0.1, hidden_layer_sizes=(4,))
        SparseMLPRegressor().set_params(l1=1.0)


def test_hyperparameter_table_covers_every_parameter():
    text = (ROOT / "docs" / "user_guide" / "hyperparameters.rst").read_text()
    for name in SparseMLPClassifier().get_params(deep=False):
        assert f"``{name}``" in text, name


# ------------------------------------------------------------- 5. actionable warnings
@pytest.mark.parametrize("kwargs", [dict(l1=1e-3), dict(target_sparsity=0.5),
                                    dict(input_l1=1e-3)])
def test_no_convergence_warning_when_a_schedule_fixes_the_run(small_digits, kwargs):
    X, y, _, _ = small_digits
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        SparseMLPClassifier((16,), max_iter=3, random_state=0, **kwargs).fit(X, y)


def test_dense_fit_still_warns_when_it_runs_out_of_epochs(small_digits):
    X, y, _, _ = small_digits
    with pytest.warns(ConvergenceWarning, match="Maximum iterations"):
        SparseMLPClassifier((16,), max_iter=3, random_state=0).fit(X, y)


def test_readme_quick_start_runs_without_warnings(capsys):
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Quick start", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        exec(compile(code, "README quick start", "exec"), {})
    assert capsys.readouterr().out.strip()
