"""Reliability: bad input, bad hyperparameters, degenerate sparsity and training
faults give clear errors or warnings and a model that still predicts; nothing
crashes inside torch, and nothing non-finite comes out of predict."""

import copy
import pickle
import warnings
from concurrent.futures import ThreadPoolExecutor

import joblib
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import cross_val_score
from sklearn.utils._param_validation import InvalidParameterError

from sksparse_nn import SparseMLPClassifier, SparseMLPRegressor
from sksparse_nn._estimator import _BaseSparseMLP
from sksparse_nn._training import TorchNet

TINY = dict(hidden_layer_sizes=(6,), max_iter=3, random_state=0)


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        yield


def _data(n=40, d=4, seed=0):
    rng = np.random.RandomState(seed)
    X = rng.randn(n, d)
    y = (X[:, 0] + 0.5 * X[:, 1] > 0).astype(int)
    return X, y


def _messages(record, category=UserWarning):
    return [str(w.message) for w in record if issubclass(w.category, category)
            and (category is ConvergenceWarning or not issubclass(w.category,
                                                                 ConvergenceWarning))]


# --------------------------------------------------------------------- 1. bad data
@pytest.mark.parametrize("Est", [SparseMLPClassifier, SparseMLPRegressor])
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nonfinite_X_is_rejected_at_fit_and_predict(Est, bad):
    X, y = _data()
    Xbad = X.copy()
    Xbad[3, 2] = bad
    with pytest.raises(ValueError, match="NaN|infinity"):
        Est(**TINY).fit(Xbad, y)
    est = Est(**TINY).fit(X, y)
    with pytest.raises(ValueError, match="NaN|infinity"):
        est.predict(Xbad)
    if hasattr(est, "predict_proba"):
        with pytest.raises(ValueError, match="NaN|infinity"):
            est.predict_proba(Xbad)


@pytest.mark.parametrize("activation", ["tanh", "logistic", "relu", "identity"])
@pytest.mark.parametrize("bad", [np.inf, -np.inf, np.nan])
def test_nonfinite_X_is_rejected_whatever_the_activation(activation, bad):
    # tanh / logistic map +-inf to finite values and relu maps -inf to 0: the
    # output cannot be trusted to reveal a bad input
    X, y = _data()
    X[:, 1] = np.abs(X[:, 1])
    for est in (SparseMLPClassifier(hidden_layer_sizes=(4,), activation=activation,
                                    max_iter=3, random_state=0),
                SparseMLPRegressor(hidden_layer_sizes=(4,), activation=activation,
                                   max_iter=3, random_state=0),
                SparseMLPClassifier(hidden_layer_sizes=(4,), activation=activation,
                                    input_l1=0.05, max_iter=20, random_state=0)):
        est.fit(X, y)
        for col in range(4):
            Xbad = X[:5].copy()
            Xbad[:, col] = bad
            with pytest.raises(ValueError, match="NaN|infinity"):
                est.predict(Xbad)
            with pytest.raises(ValueError, match="NaN|infinity"):
                est.predict(sp.csr_matrix(Xbad))


@pytest.mark.parametrize("Est", [SparseMLPClassifier, SparseMLPRegressor])
def test_nonfinite_y_is_rejected(Est):
    X, y = _data()
    y = y.astype(float)
    y[5] = np.nan
    with pytest.raises(ValueError, match="NaN|infinity|Unknown label"):
        Est(**TINY).fit(X, y)


@pytest.mark.parametrize("Est", [SparseMLPClassifier, SparseMLPRegressor])
def test_empty_and_wrongly_shaped_X(Est):
    X, y = _data()
    with pytest.raises(ValueError, match="0 sample"):
        Est(**TINY).fit(np.empty((0, 4)), np.empty(0))
    with pytest.raises(ValueError, match="0 feature"):
        Est(**TINY).fit(np.empty((40, 0)), y)
    with pytest.raises(ValueError, match="Expected 2D array"):
        Est(**TINY).fit(X[:, 0], y)
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        Est(**TINY).fit(X, y[:-1])
    est = Est(**TINY).fit(X, y)
    with pytest.raises(ValueError, match="Expected 2D array"):
        est.predict(X[0])
    with pytest.raises(ValueError, match="0 sample"):
        est.predict(np.empty((0, 4)))
    with pytest.raises(ValueError, match="X has 3 features, but .* expecting 4 features"):
        est.predict(X[:, :3])
    with pytest.raises(ValueError, match="X has 5 features"):
        est.predict(np.hstack([X, X[:, :1]]))


@pytest.mark.parametrize("Est", [SparseMLPClassifier, SparseMLPRegressor])
def test_object_and_complex_X(Est):
    X, y = _data()
    with pytest.raises(ValueError, match="could not convert string to float"):
        Est(**TINY).fit(np.full((40, 4), "a", dtype=object), y)
    with pytest.raises(ValueError, match="Complex data not supported"):
        Est(**TINY).fit(X + 1j, y)
    # numbers stored as objects are numbers
    est = Est(**TINY).fit(X.astype(object), y)
    np.testing.assert_array_equal(est.predict(X), Est(**TINY).fit(X, y).predict(X))
    with pytest.raises(ValueError, match="Complex data not supported"):
        est.predict(X + 1j)


def test_single_class_is_rejected():
    X, _ = _data()
    for y in (np.zeros(40, int), np.array(["only"] * 40)):
        with pytest.raises(ValueError, match="only one class"):
            SparseMLPClassifier(**TINY).fit(X, y)


def test_string_labels_just_work():
    X, y = _data()
    for labels in (np.array(["no", "yes"]), np.array(["a", "b", "c"], dtype=object)):
        ys = labels[(y + (X[:, 2] > 1)) % len(labels)]
        clf = SparseMLPClassifier(**TINY).fit(X, ys)
        np.testing.assert_array_equal(clf.classes_, np.unique(ys))
        pred = clf.predict(X)
        assert set(pred) <= set(labels)
        assert clf.predict_proba(X).shape == (40, len(np.unique(ys)))
        # score compares the string labels themselves, as predict returns them
        assert clf.score(X, ys) == np.mean(pred == ys)
    # labels as a pandas Series of strings / categories
    clf = SparseMLPClassifier(**TINY).fit(X, pd.Series(np.where(y, "pos", "neg")))
    assert set(clf.predict(X)) <= {"pos", "neg"}
    clf = SparseMLPClassifier(**TINY).fit(
        X, pd.Series(np.where(y, "pos", "neg"), dtype="category"))
    assert set(clf.predict(X)) <= {"pos", "neg"}


def test_mixed_string_and_number_labels_raise_clearly():
    X, y = _data()
    mixed = np.array([1, "a"] * 20, dtype=object)
    with pytest.raises(ValueError, match="mix.*str.*int|mix.*int.*str"):
        SparseMLPClassifier(**TINY).fit(X, mixed)
    with pytest.raises(ValueError, match="mix"):
        SparseMLPClassifier(**TINY).partial_fit(X, mixed, classes=[1, "a"])


def test_partial_fit_label_errors():
    X, y = _data()
    with pytest.raises(ValueError, match="classes must be passed"):
        SparseMLPClassifier(**TINY).partial_fit(X, y)
    with pytest.raises(ValueError, match=r"not seen before: \[2\]"):
        SparseMLPClassifier(**TINY).partial_fit(X, np.where(y, 2, 0), classes=[0, 1])
    clf = SparseMLPClassifier(**TINY).partial_fit(X, y, classes=[0, 1])
    with pytest.raises(ValueError, match=r"not seen before: \[7\]"):
        clf.partial_fit(X, np.where(y, 7, 0))
    # the failed call left the model usable
    clf.partial_fit(X, y)
    assert clf.predict(X).shape == (40,)
    clf = SparseMLPClassifier(**TINY).partial_fit(X, np.array(["a", "b"])[y],
                                                  classes=["a", "b", "c"])
    with pytest.raises(ValueError, match="not seen before: \\['z'\\]"):
        clf.partial_fit(X, np.array(["a", "z"])[y])
    assert list(clf.classes_) == ["a", "b", "c"]
    with pytest.raises(ValueError, match="X has 3 features"):
        clf.partial_fit(X[:, :3], np.array(["a", "b"])[y])


@pytest.mark.parametrize("Est", [SparseMLPClassifier, SparseMLPRegressor])
@pytest.mark.parametrize("fmt", ["csr", "csc", "coo"])
def test_scipy_sparse_input_matches_dense(Est, fmt):
    X, y = _data()
    X[np.abs(X) < 0.7] = 0.0
    Xs = sp.csr_matrix(X).asformat(fmt)
    dense = Est(**TINY).fit(X, y)
    sparse = Est(**TINY).fit(Xs, y)
    np.testing.assert_allclose(sparse.predict(X), dense.predict(X))
    np.testing.assert_allclose(sparse.predict(Xs), dense.predict(X), rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(dense.predict(sp.csr_array(X)), dense.predict(X),
                               rtol=1e-6, atol=1e-9)
    if hasattr(dense, "predict_proba"):
        np.testing.assert_allclose(sparse.predict_proba(Xs), dense.predict_proba(X),
                                   rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("Est", [SparseMLPClassifier, SparseMLPRegressor])
def test_float16_float64_and_int_inputs(Est):
    X, y = _data()
    Xi = np.round(X * 4).astype(np.int64)
    for dtype in (np.float16, np.float64, np.int32, np.int64, np.uint8):
        Xd = (Xi - Xi.min()).astype(dtype) if dtype is np.uint8 else Xi.astype(dtype)
        Xr = Xd.astype(np.float32)
        est = Est(**TINY).fit(Xd, y)
        ref = Est(**TINY).fit(Xr, y)
        np.testing.assert_array_equal(est.predict(Xr), ref.predict(Xr))
        pred = est.predict(Xd)
        assert pred.shape == (40,)
        np.testing.assert_allclose(pred, ref.predict(Xr), rtol=1e-5, atol=1e-6)
    # float32 labels and bool targets are fine too
    Est(**TINY).fit(X, y.astype(bool if Est is SparseMLPClassifier else np.float32))


@pytest.mark.parametrize("Est", [SparseMLPClassifier, SparseMLPRegressor])
def test_dataframes_with_non_string_column_names(Est):
    X, y = _data()
    df = pd.DataFrame(X, columns=[10, 11, 12, 13])
    est = Est(**TINY).fit(df, y)
    assert not hasattr(est, "feature_names_in_")
    assert est.n_features_in_ == 4
    ref = Est(**TINY).fit(X, y)
    np.testing.assert_allclose(est.predict(df), ref.predict(X))
    np.testing.assert_allclose(est.predict(X), ref.predict(X))
    # string names are remembered and checked
    named = Est(**TINY).fit(pd.DataFrame(X, columns=list("abcd")), y)
    assert list(named.feature_names_in_) == list("abcd")
    with pytest.raises(ValueError, match="feature names"):
        named.predict(pd.DataFrame(X, columns=list("abce")))
    # mixed str / int names: sklearn's clear TypeError, not a crash deeper down
    with pytest.raises(TypeError, match="Feature names are only supported if all input"):
        Est(**TINY).fit(pd.DataFrame(X, columns=["a", 1, "c", 3]), y)
    # an integer-valued pandas frame with nullable dtype
    Est(**TINY).fit(pd.DataFrame(np.round(X * 3).astype(int)).astype("Int64"), y)


@pytest.mark.parametrize("Est", [SparseMLPClassifier, SparseMLPRegressor])
def test_bad_sample_weight(Est):
    X, y = _data()
    for sw, match in ((-np.ones(40), "Negative values"), (np.zeros(40), "non-zero"),
                      (np.ones(39), r"sample_weight.shape == \(39,\)"),
                      (np.full(40, np.nan), "NaN")):
        with pytest.raises(ValueError, match=match):
            Est(**TINY).fit(X, y, sample_weight=sw)


# ------------------------------------------------------------ 2. bad hyperparameters
BAD_PARAMS = [
    (dict(l1=-0.1), InvalidParameterError, "'l1' parameter"),
    (dict(input_l1=-1.0), InvalidParameterError, "'input_l1' parameter"),
    (dict(l2=-1.0), InvalidParameterError, "'l2' parameter"),
    (dict(dropout=1.0), InvalidParameterError, "'dropout' parameter"),
    (dict(dropout=1.5), InvalidParameterError, "'dropout' parameter"),
    (dict(dropout=-0.1), InvalidParameterError, "'dropout' parameter"),
    (dict(target_sparsity=1.0), InvalidParameterError, "'target_sparsity' parameter"),
    (dict(target_sparsity=1.2), InvalidParameterError, "'target_sparsity' parameter"),
    (dict(target_sparsity=-0.1), InvalidParameterError, "'target_sparsity' parameter"),
    (dict(hidden_layer_sizes=()), ValueError, "at least one hidden layer"),
    (dict(hidden_layer_sizes=[]), ValueError, "at least one hidden layer"),
    (dict(hidden_layer_sizes=(0,)), ValueError, "positive integers"),
    (dict(hidden_layer_sizes=(8, 0)), ValueError, "positive integers"),
    (dict(hidden_layer_sizes=(8, -2)), ValueError, "positive integers"),
    (dict(hidden_layer_sizes=(2.5,)), ValueError, "positive integers"),
    (dict(hidden_layer_sizes=0), InvalidParameterError, "'hidden_layer_sizes' parameter"),
    (dict(prune_schedule="sometimes"), InvalidParameterError, "'prune_schedule' parameter"),
    (dict(activation="softplus"), InvalidParameterError, "'activation' parameter"),
    (dict(learning_rate_init=0.0), InvalidParameterError, "'learning_rate_init' parameter"),
    (dict(max_iter=0), InvalidParameterError, "'max_iter' parameter"),
    (dict(batch_size=0), InvalidParameterError, "'batch_size' parameter"),
    (dict(validation_fraction=1.0, early_stopping=True), InvalidParameterError,
     "'validation_fraction' parameter"),
    (dict(neuron_threshold=-1.0), InvalidParameterError, "'neuron_threshold' parameter"),
    (dict(n_threads=0), InvalidParameterError, "'n_threads' parameter"),
    (dict(device="banana"), ValueError, "device='banana' is not a valid torch device"),
    (dict(device=3), InvalidParameterError, "'device' parameter"),
]
if not torch.cuda.is_available():
    BAD_PARAMS += [(dict(device="cuda"), ValueError, "CUDA is not available"),
                   (dict(device="cuda:1"), ValueError, "CUDA is not available"),
                   (dict(device=torch.device("cuda")), ValueError, "CUDA is not available")]


@pytest.mark.parametrize("Est", [SparseMLPClassifier, SparseMLPRegressor])
@pytest.mark.parametrize("params,exc,match", BAD_PARAMS,
                         ids=[repr(p) for p, _, _ in BAD_PARAMS])
def test_bad_hyperparameters_fail_at_fit_before_torch(Est, params, exc, match, monkeypatch):
    X, y = _data()

    def no_torch(*args, **kwargs):
        raise AssertionError("the network was built before the parameters were checked")

    monkeypatch.setattr(TorchNet, "initialize", no_torch)
    est = Est(**{**TINY, **params})
    with pytest.raises(exc, match=match):
        est.fit(X, y)
    assert not hasattr(est, "net_") and not hasattr(est, "compact_model_")
    kw = {"classes": [0, 1]} if Est is SparseMLPClassifier else {}
    with pytest.raises(exc, match=match):
        clone(est).partial_fit(X, y, **kw)


def test_bad_set_params_on_fitted_model_fails_at_next_fit():
    X, y = _data()
    clf = SparseMLPClassifier(**TINY).fit(X, y)
    before = clf.predict_proba(X)
    with pytest.warns(UserWarning, match="dropout set on a fitted"):
        clf.set_params(dropout=1.0)
    with pytest.raises(InvalidParameterError, match="'dropout' parameter"):
        clf.fit(X, y)
    # the old fitted model is still there and unchanged
    np.testing.assert_array_equal(clf.predict_proba(X), before)


# --------------------------------------------------------- 3. degenerate sparsity
_NO_PATH = "No path is left from the input to the output.*"
DEGENERATE = [
    (dict(l1=100.0, max_iter=15), _NO_PATH + r"l1=100\.0.*predicts a constant"),
    (dict(input_l1=100.0, max_iter=15),
     _NO_PATH + r"input features read: 0.*input_l1=100\.0.*predicts a constant"),
    (dict(target_sparsity=0.999, prune_schedule="one_shot", hidden_layer_sizes=(3,),
          max_iter=5), _NO_PATH + r"target_sparsity=0\.999.*predicts a constant"),
    (dict(target_sparsity=0.999, prune_schedule="one_shot", hidden_layer_sizes=(4, 3),
          max_iter=5), _NO_PATH + r"target_sparsity=0\.999.*predicts a constant"),
    (dict(target_sparsity=0.99, prune_schedule="gradual", hidden_layer_sizes=(2, 2),
          neuron_threshold=1e3, max_iter=5), _NO_PATH + "hidden sizes now"),
]


@pytest.mark.parametrize("params,match", DEGENERATE, ids=[repr(p) for p, _ in DEGENERATE])
def test_degenerate_classifier_warns_and_predicts_prior(params, match):
    X, y = _data(n=60)
    y = (X[:, 0] > -0.6).astype(int)  # about 3:1
    clf = SparseMLPClassifier(**{**TINY, "learning_rate_init": 0.05, "batch_size": 10,
                                 **params})
    with pytest.warns(UserWarning, match=match):
        clf.fit(X, y)
    proba = clf.predict_proba(X)
    assert np.isfinite(proba).all()
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    np.testing.assert_allclose(proba, np.broadcast_to(proba[0], proba.shape))  # constant
    pred = clf.predict(X)
    assert (pred == pred[0]).all()
    assert np.isfinite(clf.predict_log_proba(X)).all()
    # the constant leans to the majority class (the bias still learns the prior)
    assert proba[0, 1] > 0.5 and pred[0] == 1
    # attributes stay well defined
    assert np.isfinite(clf.feature_importances_).all()
    assert all(np.isfinite(W).all() for W in clf.coefs_)
    # a model that ignores its input still rejects bad input
    Xbad = X.copy()
    Xbad[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        clf.predict(Xbad)
    with pytest.raises(ValueError, match="X has 3 features"):
        clf.predict(X[:, :3])
    # and survives pickling and further training
    back = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(back.predict_proba(X), proba)
    with pytest.warns(UserWarning, match="predicts a constant"):
        clf.partial_fit(X, y)
    assert np.isfinite(clf.predict_proba(X)).all()


@pytest.mark.parametrize("params,match", DEGENERATE, ids=[repr(p) for p, _ in DEGENERATE])
def test_degenerate_regressor_warns_and_predicts_constant(params, match):
    X, _ = _data(n=60)
    y = 3.0 * X[:, 0] + 5.0
    reg = SparseMLPRegressor(**{**TINY, "learning_rate_init": 0.05, "batch_size": 10,
                                **params})
    with pytest.warns(UserWarning, match=match):
        reg.fit(X, y)
    pred = reg.predict(X)
    assert pred.shape == (60,) and np.isfinite(pred).all()
    np.testing.assert_allclose(pred, pred[0])
    assert abs(pred[0] - y.mean()) < 2.0 * y.std()
    assert -1.0 <= reg.score(X, y) <= 1e-9 + 1.0
    # multi-output too
    Y = np.column_stack([y, -y])
    with pytest.warns(UserWarning, match=match):
        reg = clone(reg).fit(X, Y)
    P = reg.predict(X)
    assert P.shape == (60, 2) and np.isfinite(P).all()
    np.testing.assert_allclose(P, np.broadcast_to(P[0], P.shape))


def test_every_feature_dropped_leaves_zero_importances():
    X, y = _data(n=60)
    with pytest.warns(UserWarning, match=_NO_PATH + "input features read: 0"):
        clf = SparseMLPClassifier(**{**TINY, "input_l1": 100.0, "max_iter": 15}).fit(X, y)
    assert clf.n_features_selected_ == 0
    np.testing.assert_array_equal(clf.feature_importances_, np.zeros(4))
    from sklearn.feature_selection import SelectFromModel

    sel = SelectFromModel(clf, prefit=True)
    assert sel.get_support().sum() == 0


@pytest.mark.parametrize("Est", [SparseMLPClassifier, SparseMLPRegressor])
@pytest.mark.parametrize("n,batch_size,early_stopping", [(33, 16, False), (2, "auto", True),
                                                         (41, 8, True)])
def test_batch_norm_with_a_batch_of_one_sample(Est, n, batch_size, early_stopping):
    # 33 = 2 * 16 + 1 and a 2-sample fit with a validation split leave a training
    # batch of a single sample, which torch's BatchNorm1d rejects in training mode
    X, y = _data(n=n)
    if Est is SparseMLPClassifier:
        y = np.arange(n) % 2
    est = Est(hidden_layer_sizes=(5, 3), batch_norm=True, batch_size=batch_size,
              early_stopping=early_stopping, max_iter=3, random_state=0).fit(X, y)
    assert np.isfinite(est.predict(X).astype(float)).all()


def test_selective_pruning_that_removes_every_unit_after_magnitude_pruning():
    # a one-unit net whose only unit goes in selective pruning; the fine-tune after
    # it must neither re-run the prune schedule nor rank an empty network
    from sksparse_nn._training import MagnitudePruning

    calls = []
    original = MagnitudePruning._update

    def counting_update(self, net):
        calls.append(self.step_)
        return original(self, net)

    rng = np.random.RandomState(0)
    X = rng.randn(4, 1) * 1e-3
    y = np.array([0, 1, 0, 1])
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(MagnitudePruning, "_update", counting_update)
        with pytest.warns(UserWarning, match=_NO_PATH):
            clf = SparseMLPClassifier((1,), target_sparsity=0.5, selective_pruning_tol=0.0,
                                      max_iter=2, random_state=0).fit(X, y)
    assert clf.hidden_layer_sizes_ == (0,)
    assert calls == sorted(set(calls))  # every scheduled update once, none re-run
    proba = clf.predict_proba(X)
    assert np.isfinite(proba).all() and np.allclose(proba, proba[0])


# ------------------------------------------------------------- 4. training faults
def test_huge_learning_rate_divergence_is_caught_and_weights_restored():
    X, _ = _data(n=60)
    X = X * 1e6
    y = X[:, 0] * 1e-6 + 1.0
    reg = SparseMLPRegressor(hidden_layer_sizes=(8,), max_iter=20, learning_rate_init=1e6,
                             random_state=0)
    with pytest.warns(UserWarning, match=r"Training diverged: the loss became (nan|inf) "
                                         r"in epoch \d+\. The weights from the end of epoch"):
        reg.fit(X, y)
    assert reg.n_iter_ < 20  # stopped in the epoch where it happened
    assert not np.isfinite(reg.loss_curve_[-1])
    assert np.isfinite(reg.loss_curve_[:-1]).all()
    state = reg.net_.module_.state_dict()
    assert all(torch.isfinite(v).all() for v in state.values() if v.is_floating_point())
    assert np.isfinite(reg.predict(X)).all()
    assert np.isfinite(reg.best_loss_)

    # the classifier: a huge step either stays finite or is caught the same way
    yc = (X[:, 0] > 0).astype(int)
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        clf = SparseMLPClassifier(hidden_layer_sizes=(8,), max_iter=10,
                                  learning_rate_init=1e6, random_state=0).fit(X, yc)
    assert np.isfinite(clf.predict_proba(X)).all()
    assert all(np.isfinite(v).all() for v in
               (p.detach().numpy() for p in clf.net_.module_.parameters()))
    assert all("diverged" in m for m in _messages(rec)) or not _messages(rec)


def _poison_epoch(monkeypatch, epoch, snapshots, X_probe=None):
    """Make the loss NaN (and so the weights, after the step) in ``epoch`` (1-based);
    record the module's state (and its eval-mode output on ``X_probe``) as it was
    when that epoch began."""
    original = TorchNet.train_step_single

    def train_step_single(self, batch, **fit_params):
        if len(self.history) == epoch:
            if not snapshots:
                snapshots.append(copy.deepcopy(self.module_.state_dict()))
                if X_probe is not None:
                    self.module_.eval()
                    with torch.no_grad():
                        snapshots.append(self.module_(torch.as_tensor(
                            X_probe, dtype=torch.float32)).double().numpy())
                    self.module_.train()
            Xi, yi, wi = batch
            y_pred = self.module_(Xi)
            loss = self.get_loss(y_pred, (yi, wi), X=Xi, training=True) * float("nan")
            loss.backward()
            return {"loss": loss, "y_pred": y_pred}
        return original(self, batch, **fit_params)

    monkeypatch.setattr(TorchNet, "train_step_single", train_step_single)


@pytest.mark.parametrize("Est", [SparseMLPClassifier, SparseMLPRegressor])
@pytest.mark.parametrize("extra", [{}, {"l1": 1e-3}, {"target_sparsity": 0.5},
                                   {"early_stopping": True}, {"batch_norm": True}])
def test_nan_loss_detected_in_its_epoch_and_last_good_weights_restored(Est, extra,
                                                                       monkeypatch):
    X, y = _data(n=60)
    snapshots = []
    _poison_epoch(monkeypatch, 3, snapshots, X)
    est = Est(hidden_layer_sizes=(6,), max_iter=8, batch_size=16, random_state=0, **extra)
    with pytest.warns(UserWarning, match="loss became nan in epoch 3. The weights from "
                                         "the end of epoch 2 were restored"):
        est.fit(X, y)
    assert est.n_iter_ == 3
    assert len(est.loss_curve_) == 3 and np.isnan(est.loss_curve_[-1])
    # the fitted model computes what the network computed when epoch 3 began
    # (compaction may have folded dead units into biases since)
    np.testing.assert_allclose(est._decision(X), snapshots[1], rtol=1e-4, atol=1e-5)
    if est.hidden_layer_sizes_ == (6,):
        restored = est.net_.module_.state_dict()
        for key, value in snapshots[0].items():
            torch.testing.assert_close(restored[key], value, rtol=0, atol=0)
    out = est.predict(X)
    assert np.isfinite(out.astype(float) if Est is SparseMLPRegressor else
                       est.predict_proba(X)).all()
    # the model trains on afterwards
    monkeypatch.undo()
    est.partial_fit(X, y)
    assert est.n_iter_ == 4


def test_nan_loss_in_the_first_epoch_restores_the_initial_weights(monkeypatch):
    X, y = _data()
    snapshots = []
    _poison_epoch(monkeypatch, 1, snapshots)
    with pytest.warns(UserWarning, match="epoch 1. The weights from the end of epoch 0"):
        clf = SparseMLPClassifier(**TINY).fit(X, y)
    restored = clf.net_.module_.state_dict()
    for key, value in snapshots[0].items():
        torch.testing.assert_close(restored[key], value, rtol=0, atol=0)
    assert np.isfinite(clf.predict_proba(X)).all()


@pytest.mark.parametrize("max_iter", [2, 5])
def test_weights_made_nonfinite_by_an_epochs_last_step_are_never_kept(max_iter, monkeypatch):
    # the loss of the last batch of epoch 2 is finite, the step it takes is not:
    # no later loss may reveal it (max_iter=2), and the end-of-epoch copy must
    # not keep it (max_iter=5)
    X, y = _data(n=60)
    original = TorchNet.train_step
    seen = {"steps": 0, "state": None}

    def train_step(self, batch, **fit_params):
        if len(self.history) == 2 and seen["state"] is None:
            seen["state"] = copy.deepcopy(self.module_.state_dict())
        out = original(self, batch, **fit_params)
        if len(self.history) == 2:
            seen["steps"] += 1
            if seen["steps"] == 4:  # 60 samples / batches of 16: the epoch's last
                with torch.no_grad():
                    self.module_.linears[0].weight[0, 0] = float("inf")
        return out

    monkeypatch.setattr(TorchNet, "train_step", train_step)
    reg = SparseMLPRegressor(hidden_layer_sizes=(6,), max_iter=max_iter, batch_size=16,
                             random_state=0)
    with pytest.warns(UserWarning, match="in epoch 2. The weights from the end of epoch 1"):
        reg.fit(X, y)
    restored = reg.net_.module_.state_dict()
    for key, value in seen["state"].items():
        torch.testing.assert_close(restored[key], value, rtol=0, atol=0)
    assert np.isfinite(reg.predict(X)).all()


class _Interrupt:
    """Where to raise KeyboardInterrupt (as a user's Ctrl-C would), and the module
    state recorded there."""

    def __init__(self, epoch, where):
        self.epoch, self.where, self.state = epoch, where, None


def _interrupt(monkeypatch, spec):
    original_step = TorchNet.train_step
    original_cbs = _BaseSparseMLP._set_training_callbacks
    from skorch.callbacks import Callback

    class Stop(Callback):
        def on_epoch_end(self, net, **kwargs):
            if len(net.history) == spec.epoch:
                spec.state = copy.deepcopy(net.module_.state_dict())
                raise KeyboardInterrupt

    def train_step(self, batch, **fit_params):
        if len(self.history) == spec.epoch:
            if spec.state is None:  # the first batch of the epoch runs
                spec.state = copy.deepcopy(self.module_.state_dict())
            else:  # Ctrl-C in the second
                raise KeyboardInterrupt
        return original_step(self, batch, **fit_params)

    def set_callbacks(self, net, *args, **kwargs):
        original_cbs(self, net, *args, **kwargs)
        net.callbacks = list(net.callbacks) + [("stop_here", Stop())]
        net.initialize_callbacks()

    if spec.where == "train_step":
        monkeypatch.setattr(TorchNet, "train_step", train_step)
    else:
        monkeypatch.setattr(_BaseSparseMLP, "_set_training_callbacks", set_callbacks)


@pytest.mark.parametrize("Est", [SparseMLPClassifier, SparseMLPRegressor])
@pytest.mark.parametrize("where", ["train_step", "callback"])
def test_interrupted_fit_leaves_a_usable_model(Est, where, monkeypatch):
    X, y = _data(n=60)
    spec = _Interrupt(3, where)
    _interrupt(monkeypatch, spec)
    est = Est(hidden_layer_sizes=(6,), max_iter=10, batch_size=16, random_state=0)
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        est.fit(X, y)
    assert not _messages(rec, ConvergenceWarning)
    assert spec.state is not None
    # the model holds the weights of the last finished epoch: those at the moment
    # of an interruption from an epoch-end callback; those from before the
    # unfinished epoch for an interruption mid-epoch
    restored = est.net_.module_.state_dict()
    for key, value in spec.state.items():
        torch.testing.assert_close(restored[key], value, rtol=0, atol=0)
    complete = 3 if where == "callback" else 2
    assert len(est.loss_curve_) == complete
    assert est.n_iter_ == complete
    pred = est.predict(X)
    assert pred.shape == (60,)
    if Est is SparseMLPClassifier:
        assert set(pred) <= set(est.classes_)
        assert np.isfinite(est.predict_proba(X)).all()
    else:
        assert np.isfinite(pred).all()
    if where == "train_step":
        assert any("interrupted in epoch 3; the model keeps the weights from the end of "
                   "epoch 2" in m for m in _messages(rec))
    else:
        assert not _messages(rec)
    monkeypatch.undo()
    est.partial_fit(X, y)
    assert est.n_iter_ == complete + 1


# --------------------------------------------------------- 5. property-based tests
SCHEDULES = [None, "one_shot", "gradual", "iterative", "dynamic"]


@st.composite
def _hyperparameters(draw):
    return dict(
        hidden_layer_sizes=tuple(draw(st.lists(st.integers(1, 7), min_size=1, max_size=3))),
        activation=draw(st.sampled_from(["relu", "tanh", "logistic", "identity"])),
        l1=draw(st.sampled_from([0.0, 1e-3, 0.1, 10.0])),
        input_l1=draw(st.sampled_from([0.0, 0.0, 0.05, 10.0])),
        dropout=draw(st.sampled_from([0.0, 0.3, 0.9])),
        batch_norm=draw(st.booleans()),
        prune_schedule=draw(st.sampled_from(SCHEDULES)),
        target_sparsity=draw(st.sampled_from([0.0, 0.5, 0.9, 0.999])),
        neuron_threshold=draw(st.sampled_from([0.0, 0.0, 0.1, 100.0])),
        batch_size=draw(st.sampled_from(["auto", 1, 3, 7, 16])),
        early_stopping=draw(st.booleans()),
        selective_pruning_tol=draw(st.sampled_from([None, None, 0.0, 1.0])),
        max_iter=draw(st.integers(2, 3)),
        learning_rate_init=draw(st.sampled_from([1e-3, 0.1, 10.0])),
        random_state=draw(st.integers(0, 2**16)),
    )


def _fit_quietly(est, X, y):
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        est.fit(X, y)
    # only the documented warnings
    for w in rec:
        assert issubclass(w.category, (UserWarning, ConvergenceWarning)), w
    return est


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(params=_hyperparameters(), n_classes=st.integers(2, 5),
       label_kind=st.sampled_from(["int", "str", "float", "negative"]),
       n=st.integers(4, 60), d=st.integers(1, 6), seed=st.integers(0, 2**16),
       scale=st.sampled_from([1e-3, 1.0, 1e3]))
def test_property_classifier_never_crashes_and_predicts_classes(params, n_classes, label_kind,
                                                                n, d, seed, scale):
    rng = np.random.RandomState(seed)
    n = max(n, 2 * n_classes)
    X = rng.randn(n, d) * scale
    labels = {"int": np.arange(n_classes) * 3,
              "str": np.array([f"class_{k}" for k in range(n_classes)]),
              "float": np.arange(n_classes) * 2.0 - 1.0,
              "negative": -np.arange(n_classes) - 1}[label_kind]
    codes = rng.permutation(np.arange(n) % n_classes)
    y = labels[codes]
    clf = _fit_quietly(SparseMLPClassifier(**params), X, y)
    Xt = rng.randn(7, d) * scale
    pred = clf.predict(Xt)
    proba = clf.predict_proba(Xt)
    assert pred.shape == (7,)
    assert set(pred) <= set(labels)
    np.testing.assert_array_equal(np.sort(clf.classes_), np.sort(labels))
    assert proba.shape == (7, n_classes)
    assert np.isfinite(proba).all()
    assert (proba >= 0).all() and (proba <= 1).all()
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)
    np.testing.assert_array_equal(pred, clf.classes_[np.argmax(proba, axis=1)])
    # the fitted network a user reads is one chain: inputs -> hidden_layer_sizes_ -> outputs
    assert len(clf.hidden_layer_sizes_) == len(params["hidden_layer_sizes"])
    shapes = [W.shape for W in clf.coefs_]
    assert [r for r, _ in shapes] == [d, *clf.hidden_layer_sizes_]
    assert [c for _, c in shapes][:-1] == list(clf.hidden_layer_sizes_)
    assert np.isfinite(clf.feature_importances_).all()


@settings(max_examples=20, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(params=_hyperparameters(), n_outputs=st.integers(0, 3), n=st.integers(2, 60),
       d=st.integers(1, 6), seed=st.integers(0, 2**16),
       y_scale=st.sampled_from([0.0, 1e-6, 1.0, 1e6]))
def test_property_regressor_never_crashes_and_predicts_finite(params, n_outputs, n, d, seed,
                                                              y_scale):
    rng = np.random.RandomState(seed)
    if params["early_stopping"] or params["selective_pruning_tol"] is not None:
        n = max(n, 4)
    X = rng.randn(n, d)
    Y = X @ rng.randn(d, max(n_outputs, 1)) * y_scale + 3.0
    y = Y[:, 0] if n_outputs == 0 else Y
    reg = _fit_quietly(SparseMLPRegressor(**params), X, y)
    pred = reg.predict(rng.randn(5, d))
    assert pred.shape == ((5,) if n_outputs == 0 else (5, n_outputs))
    assert np.isfinite(pred).all()


# --------------------------------------------------- 6. thread and process safety
def test_concurrent_predict_from_threads_is_identical():
    rng = np.random.RandomState(0)
    X = rng.randn(3000, 10)
    y = (X[:, 0] * X[:, 1] > 0).astype(int) + (X[:, 2] > 1)
    clf = SparseMLPClassifier(hidden_layer_sizes=(32, 16), l1=1e-3, max_iter=5,
                              random_state=0).fit(X, y)
    reg = SparseMLPRegressor(hidden_layer_sizes=(16,), max_iter=5, random_state=0).fit(X, y)
    expected = (clf.predict_proba(X), clf.predict(X), reg.predict(X),
                clf.predict_proba(X.astype(np.float32)))
    # unpickled copies hold no derived inference state yet: all threads race to build it
    clf, reg = pickle.loads(pickle.dumps(clf)), pickle.loads(pickle.dumps(reg))

    def work(i):
        Xi = X if i % 2 else X.astype(np.float32)
        return (clf.predict_proba(X), clf.predict(X), reg.predict(X), clf.predict_proba(
            Xi.astype(np.float32)))

    with ThreadPoolExecutor(max_workers=6) as pool:
        results = list(pool.map(work, range(24)))
    for res in results:
        for got, want in zip(res, expected):
            np.testing.assert_array_equal(got, want)


def test_fitting_in_joblib_workers():
    X, y = _data(n=80)
    threads = torch.get_num_threads()
    base = SparseMLPClassifier(hidden_layer_sizes=(8,), max_iter=5, l1=1e-3,
                               target_sparsity=0.5)
    seeds = [0, 1, 2, 3]
    fitted = joblib.Parallel(n_jobs=2)(
        joblib.delayed(clone(base).set_params(random_state=s).fit)(X, y) for s in seeds)
    serial = [clone(base).set_params(random_state=s).fit(X, y) for s in seeds]
    for a, b in zip(fitted, serial):
        np.testing.assert_allclose(a.predict_proba(X), b.predict_proba(X), rtol=1e-6)
        assert a.sparsity_ == b.sparsity_
    scores = cross_val_score(SparseMLPRegressor(hidden_layer_sizes=(8,), max_iter=5,
                                                random_state=0),
                             X, X[:, 0] + X[:, 1], cv=2, n_jobs=2)
    assert scores.shape == (2,) and np.isfinite(scores).all()
    # threads inside the fitting workers were restored, not leaked into the parent
    assert torch.get_num_threads() == threads
