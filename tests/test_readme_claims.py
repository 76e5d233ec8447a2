"""Behaviour the README and the user guide promise, checked through the public API.

Each test names the page and the claim it checks. Claims about the training
schedules (L1 phases, early stopping after the final masks, rewinding,
regrowth, the per-layer floor, batch norm, ``l2`` and biases) are in
tests/test_training.py and tests/test_schedules.py.
"""

import pickle
import warnings

import numpy as np
import pytest
from scipy.special import expit, softmax
from sklearn.datasets import make_classification, make_regression
from sklearn.metrics import log_loss
from sklearn.preprocessing import StandardScaler

from sksparse_nn import OneShot, SparseMLPClassifier, SparseMLPRegressor

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


@pytest.fixture(scope="module")
def data():
    X, y = make_classification(n_samples=300, n_features=12, n_informative=6,
                               n_classes=3, random_state=0)
    return StandardScaler().fit_transform(X), y


def _history(est, key):
    return [row[key] for row in est.net_.history]


# ---------------------------------------------------------------- persistence
def test_a_pickle_holds_no_optimizer_state_and_training_continues_from_the_weights(data):
    # estimators.rst, known limits: "After unpickling, the first training call
    # rebuilds the optimizer (its moments are not pickled); warm starts continue
    # from the weights."
    X, y = data
    clf = SparseMLPClassifier((16,), max_iter=20, learning_rate_init=0.01,
                              random_state=0).fit(X, y)
    assert clf.net_.optimizer_.state_dict()["state"]  # the live model has Adam's moments
    loaded = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(loaded.predict_proba(X), clf.predict_proba(X))
    assert not loaded.net_.optimizer_.state_dict()["state"]
    # one more epoch starts from the fitted weights, not from a fresh network
    fresh_loss = log_loss(y, SparseMLPClassifier((16,), max_iter=1, random_state=0)
                          .fit(X, y).predict_proba(X))
    fitted_loss = log_loss(y, clf.predict_proba(X))
    loaded.partial_fit(X, y)
    assert loaded.n_iter_ == clf.n_iter_ + 1
    assert log_loss(y, loaded.predict_proba(X)) < 0.5 * (fresh_loss + fitted_loss)


# ------------------------------------------------------------ fitted attributes
def _forward(est, X):
    act = {"relu": lambda z: np.maximum(z, 0), "tanh": np.tanh}[est.activation]
    h = X
    for W, b in zip(est.coefs_[:-1], est.intercepts_[:-1]):
        h = act(h @ W + b)
    return h @ est.coefs_[-1] + est.intercepts_[-1]


@pytest.mark.parametrize("activation", ["relu", "tanh"])
@pytest.mark.parametrize("batch_norm", [False, True])
def test_coefs_and_intercepts_are_the_network_that_predicts(data, activation, batch_norm):
    # estimators.rst: "coefs_, intercepts_: effective weights per layer,
    # scikit-learn layout (n_in, n_out) (batch norm folded in)"
    X, y = data
    clf = SparseMLPClassifier((16, 8), activation=activation, batch_norm=batch_norm,
                              l1=3e-3, max_iter=15, random_state=0).fit(X, y)
    np.testing.assert_allclose(softmax(_forward(clf, X), axis=1), clf.predict_proba(X),
                               rtol=1e-4, atol=1e-6)
    binary = SparseMLPClassifier((8,), activation=activation, batch_norm=batch_norm,
                                 max_iter=5, random_state=0).fit(X, y == 0)
    np.testing.assert_allclose(expit(_forward(binary, X)[:, 0]),
                               binary.predict_proba(X)[:, 1], rtol=1e-4, atol=1e-6)


def test_no_hidden_unit_is_left_without_inputs_or_outputs(data):
    # neuron_removal.rst: "after fit every unit with no incoming or no outgoing
    # weight left is removed, repeatedly"; estimators.rst: hidden_units_kept_ holds
    # the indices of the units left, numbered as in the network as built
    X, y = data
    clf = SparseMLPClassifier((24, 12), l1=0.02, max_iter=30, learning_rate_init=0.01,
                              random_state=0).fit(X, y)
    assert sum(clf.hidden_layer_sizes_) < 36  # units did go
    for W_in, W_out in zip(clf.coefs_[:-1], clf.coefs_[1:]):
        assert np.all(np.any(W_in != 0, axis=0)), "a unit reads nothing"
        assert np.all(np.any(W_out != 0, axis=1)), "a unit feeds nothing"
    for kept, size, built in zip(clf.hidden_units_kept_, clf.hidden_layer_sizes_, (24, 12)):
        kept = np.asarray(kept)
        assert len(kept) == size
        assert np.all(np.diff(kept) > 0) and kept.min() >= 0 and kept.max() < built


def test_unread_inputs_are_zero_rows_with_zero_importance(data):
    # estimators.rst: sparsity_ counts coefs_ where "unread inputs are zero rows";
    # feature_importances_ are "normalised input-weight norms, exactly 0 for
    # dropped features"; n_features_selected_ the inputs the network still reads
    X, y = data
    X = np.hstack([X, np.random.RandomState(0).randn(len(X), 8)])  # 8 noise columns
    clf = SparseMLPClassifier((16,), input_l1=0.02, max_iter=30, batch_size=32,
                              learning_rate_init=0.01, random_state=0).fit(X, y)
    read = np.any(clf.coefs_[0] != 0, axis=1)
    assert 0 < read.sum() < X.shape[1]
    assert clf.n_features_selected_ == read.sum()
    np.testing.assert_array_equal(clf.feature_importances_ > 0, read)
    assert clf.feature_importances_.sum() == pytest.approx(1.0)
    # what a dropped column holds does not matter to the predictions
    X_changed = X.copy()
    X_changed[:, ~read] = 1e3
    np.testing.assert_array_equal(clf.predict_proba(X_changed), clf.predict_proba(X))


# ---------------------------------------------------------------- hyperparameters
def test_target_sparsity_without_a_schedule_is_gradual(data):
    # estimators.rst: target_sparsity, "with no schedule given, 'gradual' is used"
    X, y = data
    kw = dict(hidden_layer_sizes=(16,), target_sparsity=0.8, max_iter=10, random_state=0)
    default = SparseMLPClassifier(**kw).fit(X, y)
    gradual = SparseMLPClassifier(prune_schedule="gradual", **kw).fit(X, y)
    assert default.sparsity_as_built_ == pytest.approx(0.8, abs=0.01)
    np.testing.assert_array_equal(default.predict_proba(X), gradual.predict_proba(X))
    assert _history(default, "sparsity") == _history(gradual, "sparsity")


def test_regressor_l1_means_the_same_on_every_target_scale():
    # estimators.rst: "The regressor also standardises the target internally, so
    # l1 means the same on every target scale."
    X, y = make_regression(n_samples=200, n_features=8, noise=5.0, random_state=0)
    X = StandardScaler().fit_transform(X)
    kw = dict(hidden_layer_sizes=(16,), l1=1e-2, max_iter=30, batch_size=20,
              learning_rate_init=0.01, random_state=0)
    small = SparseMLPRegressor(**kw).fit(X, y / 100)
    large = SparseMLPRegressor(**kw).fit(X, 1e4 * y + 50)
    assert small.sparsity_ > 0.2
    assert large.sparsity_ == pytest.approx(small.sparsity_, abs=0.01)
    assert large.hidden_layer_sizes_ == small.hidden_layer_sizes_
    np.testing.assert_allclose(large.predict(X), 1e6 * small.predict(X) + 50,
                               rtol=1e-5, atol=1e-5 * np.std(1e4 * y))


# ---------------------------------------------------------------- schedules
def test_one_shot_prunes_once_at_half_the_run(data):
    # prune_schedules.rst: "one_shot: train dense, prune to the target once (at
    # half the run), fine-tune"
    X, y = data
    clf = SparseMLPClassifier((16,), prune_schedule="one_shot", target_sparsity=0.7,
                              max_iter=10, random_state=0).fit(X, y)
    sparsity = np.array(_history(clf, "sparsity"))
    assert np.all(sparsity[:4] == 0)
    np.testing.assert_allclose(sparsity[5:], 0.7, atol=0.01)
    assert OneShot().at == 0.5


def test_dynamic_is_sparse_from_the_first_epoch(data):
    # prune_schedules.rst: "dynamic: sparse from the first step"
    X, y = data
    clf = SparseMLPClassifier((16,), prune_schedule="dynamic", target_sparsity=0.8,
                              max_iter=6, random_state=0).fit(X, y)
    np.testing.assert_allclose(_history(clf, "sparsity"), 0.8, atol=0.01)


def test_neuron_threshold_set_on_a_fitted_model_acts_at_the_next_partial_fit(data):
    # hyperparameters.rst: neuron_threshold "set on a fitted model: warns: end of
    # the next training call"; "applied at the end of every [partial_fit] call"
    X, y = data
    clf = SparseMLPClassifier((16,), max_iter=10, random_state=0).fit(X, y)
    sizes = clf.hidden_layer_sizes_
    with pytest.warns(UserWarning, match="neuron_threshold"):
        clf.set_params(neuron_threshold=1e3)
    assert clf.hidden_layer_sizes_ == sizes  # nothing changes until training
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "every unit removed" is expected
        clf.partial_fit(X, y)
    assert sum(clf.hidden_layer_sizes_) < sum(sizes)


# ---------------------------------------------------------------- neuron removal
@pytest.fixture(scope="module")
def fitted_32(data):
    X, y = data
    return SparseMLPClassifier((32,), max_iter=30, learning_rate_init=0.01,
                               random_state=0).fit(X, y)


def _wrecking_prune_neurons(model, X, y):
    # a step this large wrecks the network within an epoch: the fine-tune raises
    # the loss
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        model.set_params(learning_rate_init=5.0)
        model.prune_neurons(X, y, tol=0.02, fine_tune_epochs=3)
    return model


def test_prune_neurons_never_keeps_a_fine_tune_that_raises_the_loss(data, fitted_32):
    # neuron_removal.rst: prune_neurons "fine-tunes on the data it is given and
    # keeps the fine-tuned weights only if they do not raise the loss there"
    X, y = data
    # an unpickled copy builds its optimizer from the current parameters
    # (see the xfail below for the live model)
    clf = _wrecking_prune_neurons(pickle.loads(pickle.dumps(fitted_32)), X, y)
    rec = clf.selective_pruning_record_
    assert rec["n_removed"] > 0 and rec["fine_tune_epochs"] == 3
    assert log_loss(y, clf.predict_proba(X)) <= rec["val_loss_after_removal"] + 1e-6


def test_prune_neurons_uses_the_current_learning_rate(data, fitted_32):
    # hyperparameters.rst: learning_rate_init in prune / prune_neurons: "current
    # value"; the same model with the same parameters gives the same result
    # whether or not it went through a pickle
    X, y = data
    copied = _wrecking_prune_neurons(pickle.loads(pickle.dumps(fitted_32)), X, y)
    live = pickle.loads(pickle.dumps(fitted_32))
    live.predict_proba(X)
    assert live.net_.history  # the training engine is live, as after fit
    live = _wrecking_prune_neurons(live, X, y)
    np.testing.assert_array_equal(live.predict_proba(X), copied.predict_proba(X))
