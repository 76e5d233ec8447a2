"""Estimator core: exact zeros from L1, MLP-like attributes, sklearn clients,
persistence, reproducibility, threads and RNG hygiene."""

import pickle
import re
import warnings

import joblib
import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV, cross_val_score, cross_validate
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sksparse_nn import SparseMLPClassifier, SparseMLPRegressor


def test_l1_gives_exact_zeros_at_dense_accuracy(cancer):
    Xtr, Xte, ytr, yte = cancer
    kw = dict(hidden_layer_sizes=(100,), max_iter=200, random_state=0)
    dense = SparseMLPClassifier(**kw).fit(Xtr, ytr)
    sparse = SparseMLPClassifier(l1=3e-3, **kw).fit(Xtr, ytr)
    W = sparse.net_.module_.linears[0].weight.detach().numpy()
    n_built = 30 * 100 + 100
    # exact zeros, counted against the network as built
    assert sparse.sparsity_as_built_ > 0.7
    # as built, the weights left on units that compaction deleted count too
    assert sum(sparse.nonzero_weights_) <= round((1 - sparse.sparsity_as_built_) * n_built)
    assert sum(sparse.nonzero_weights_) == sum(np.count_nonzero(c) for c in sparse.coefs_)
    # sparsity_ is the zero fraction of coefs_, the weights the user sees
    zeros = sum(int((c == 0).sum()) for c in sparse.coefs_)
    assert sparse.sparsity_ == pytest.approx(zeros / sum(c.size for c in sparse.coefs_))
    # the stored model holds exactly the nonzeros counted
    assert np.count_nonzero(W) == sparse.compact_model_.n_nonzero()[0]
    assert sum(sparse.compact_model_.n_nonzero()) == sum(sparse.nonzero_weights_)
    assert dense.sparsity_ < 0.01
    assert sparse.score(Xte, yte) >= dense.score(Xte, yte) - 0.01


def test_l1_scale_spans_nothing_to_everything(cancer):
    Xtr, _, ytr, _ = cancer
    kw = dict(hidden_layer_sizes=(32,), max_iter=30, random_state=0)
    low = SparseMLPClassifier(l1=1e-4, **kw).fit(Xtr, ytr)
    with pytest.warns(UserWarning, match="driven to zero"):
        high = SparseMLPClassifier(l1=1.0, **kw).fit(Xtr, ytr)
    assert low.sparsity_ < 0.1
    assert high.sparsity_ > 0.99 and 0 in high.hidden_layer_sizes_
    # the all-zero model still predicts (a constant class)
    assert len(np.unique(high.predict(Xtr))) == 1


def test_l1_penalty_in_loss_would_not_give_zeros(cancer):
    """Control: without the proximal step (l1=0, l2>0) no weight is exactly zero."""
    Xtr, _, ytr, _ = cancer
    m = SparseMLPClassifier((32,), l2=1e-2, max_iter=20, random_state=0).fit(Xtr, ytr)
    assert m.sparsity_ == 0.0


def test_mlp_like_attributes(digits):
    Xtr, Xte, ytr, yte = digits
    m = SparseMLPClassifier((32, 16), max_iter=15, learning_rate_init=0.01, random_state=0)
    with pytest.warns(ConvergenceWarning, match="Maximum iterations"):
        m.fit(Xtr, ytr)
    assert m.n_features_in_ == 64
    np.testing.assert_array_equal(m.classes_, np.arange(10))
    assert [c.shape for c in m.coefs_] == [(64, 32), (32, 16), (16, 10)]
    assert [b.shape for b in m.intercepts_] == [(32,), (16,), (10,)]
    assert len(m.loss_curve_) == m.n_iter_ == 15
    assert m.loss_curve_[-1] < m.loss_curve_[0]
    # as MLPClassifier: a best training loss without early stopping, none with it
    assert m.validation_scores_ is None and isinstance(m.best_loss_, float)
    proba = m.predict_proba(Xte)
    assert proba.dtype == np.float64 and proba.shape == (len(Xte), 10)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    np.testing.assert_array_equal(m.classes_[proba.argmax(1)], m.predict(Xte))
    assert m.score(Xte, yte) > 0.9


def test_early_stopping_restores_best(digits):
    Xtr, Xte, ytr, _ = digits
    kw = dict(hidden_layer_sizes=(32,), early_stopping=True, learning_rate_init=0.01,
              random_state=0)
    m = SparseMLPClassifier(n_iter_no_change=3, max_iter=200, **kw).fit(Xtr, ytr)
    assert m.n_iter_ < 200
    assert len(m.validation_scores_) == m.n_iter_
    assert m.best_loss_ is None  # as MLPClassifier with early stopping
    best_epoch = int(np.argmax(m.validation_scores_))
    assert best_epoch < m.n_iter_ - 1  # training went on past the best epoch
    # the weights kept are the best epoch's: a fit (same split, same seed) that ends
    # at that epoch predicts exactly the same
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        short = SparseMLPClassifier(n_iter_no_change=200, max_iter=best_epoch + 1,
                                    **kw).fit(Xtr, ytr)
    assert short.validation_scores_ == m.validation_scores_[:best_epoch + 1]
    np.testing.assert_array_equal(m.predict_proba(Xte), short.predict_proba(Xte))
    assert m.best_validation_score_ == short.validation_scores_[-1]


def test_multioutput_regression_and_targets_scale(diabetes):
    Xtr, Xte, ytr, yte = diabetes
    Y = np.column_stack([ytr, -2 * ytr + 1000])
    m = SparseMLPRegressor((32,), max_iter=25, random_state=0, learning_rate_init=0.01)
    m.fit(Xtr, Y)
    pred = m.predict(Xte)
    assert pred.shape == (len(Xte), 2)
    from sklearn.metrics import r2_score
    assert r2_score(-2 * yte + 1000, pred[:, 1]) > 0.3
    single = SparseMLPRegressor((32,), max_iter=50, random_state=0).fit(Xtr, ytr)
    assert single.predict(Xte).shape == (len(Xte),)


def test_partial_fit_classes_and_epochs(digits):
    Xtr, Xte, ytr, yte = digits
    m = SparseMLPClassifier((32,), random_state=0)
    with pytest.raises(ValueError, match="classes must be passed"):
        m.partial_fit(Xtr, ytr)
    m = SparseMLPClassifier((32,), learning_rate_init=0.01, random_state=0)
    for _ in range(5):
        m.partial_fit(Xtr, ytr, classes=np.arange(10))
    assert m.n_iter_ == 5
    assert m.score(Xte, yte) > 0.85
    with pytest.raises(ValueError, match="not seen"):
        m.partial_fit(Xtr[:5], np.full(5, 11))


def test_sample_weight_zero_equals_removal_and_repetition(rng):
    X = rng.rand(40, 5)
    y = (X[:, 0] > 0.5).astype(int)
    sw = rng.randint(0, 3, size=40)
    a = SparseMLPClassifier((8,), max_iter=30, random_state=0).fit(X, y, sample_weight=sw)
    b = SparseMLPClassifier((8,), max_iter=30, random_state=0).fit(X.repeat(sw, 0), y.repeat(sw))
    np.testing.assert_allclose(a.predict_proba(X), b.predict_proba(X), atol=1e-6)


def test_pipeline_gridsearch_and_cv_with_many_metrics(cancer):
    Xtr, _, ytr, _ = cancer
    pipe = make_pipeline(StandardScaler(), SparseMLPClassifier((16,), max_iter=15, random_state=0,
                                                             learning_rate_init=0.01))
    grid = GridSearchCV(pipe, {"sparsemlpclassifier__l1": [1e-4, 1e-2],
                               "sparsemlpclassifier__dropout": [0.0, 0.2]},
                        cv=2, n_jobs=2).fit(Xtr, ytr)
    assert len(grid.cv_results_["params"]) == 4
    assert grid.best_score_ > 0.9
    scores = cross_validate(pipe, Xtr, ytr, cv=3,
                            scoring=["accuracy", "precision", "recall", "f1", "roc_auc"])
    for key in ("accuracy", "precision", "recall", "f1", "roc_auc"):
        assert scores[f"test_{key}"].mean() > 0.85, key


def test_regressor_cross_val_r2(diabetes):
    Xtr, _, ytr, _ = diabetes
    r2 = cross_val_score(SparseMLPRegressor((16,), max_iter=60, random_state=0,
                                            learning_rate_init=0.01), Xtr, ytr, cv=3, scoring="r2")
    assert r2.mean() > 0.3


def test_clone_pickle_joblib_roundtrip(digits, tmp_path):
    Xtr, Xte, ytr, _ = digits
    m = SparseMLPClassifier((32,), l1=1e-3, max_iter=10, random_state=0).fit(Xtr, ytr)
    c = clone(m)
    assert not hasattr(c, "net_") and c.get_params() == m.get_params()
    expected = m.predict_proba(Xte)
    again = pickle.loads(pickle.dumps(m))
    np.testing.assert_array_equal(again.predict_proba(Xte), expected)
    path = tmp_path / "m.joblib"
    joblib.dump(m, path)
    np.testing.assert_array_equal(joblib.load(path).predict_proba(Xte), expected)
    # the engine comes back on demand, with the same weights, and can train on
    np.testing.assert_array_equal(again.net_.module_.linears[0].weight.detach().numpy(),
                                  m.net_.module_.linears[0].weight.detach().numpy())
    again.set_params(warm_start=True, max_iter=2).fit(Xtr, ytr)
    assert again.n_iter_ == m.n_iter_ + 2


def test_pickle_holds_no_optimizer_state(digits):
    """A pickle stores the network, not Adam's moments (README: no optimizer state)."""
    Xtr, _, ytr, _ = digits
    m = SparseMLPClassifier((32,), max_iter=3, random_state=0).fit(Xtr, ytr)
    assert b"exp_avg" in pickle.dumps(m.net_.optimizer_.state_dict())  # what to look for
    data = pickle.dumps(m)
    assert b"exp_avg" not in data
    again = pickle.loads(data)
    assert again.net_.optimizer_.state_dict()["state"] == {}  # a fresh optimizer


def test_regressor_target_scaling_is_public_and_used_by_predict(diabetes):
    """y_mean_ / y_scale_ are the training targets' mean and standard deviation
    (weighted), of the shape of one target, and predict maps the network back
    through them: fitting an affine copy of y gives the affine copy of predictions."""
    Xtr, Xte, ytr, _ = diabetes
    kw = dict(hidden_layer_sizes=(16,), max_iter=5, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        a = SparseMLPRegressor(**kw).fit(Xtr, ytr)
        b = SparseMLPRegressor(**kw).fit(Xtr, 3.0 * ytr - 40.0)
        sw = np.arange(len(ytr)) % 3
        w = SparseMLPRegressor(**kw).fit(Xtr, ytr, sample_weight=sw)
        two = SparseMLPRegressor(**kw).fit(Xtr, np.column_stack([ytr, -ytr]))
    assert isinstance(a.y_mean_, float) and isinstance(a.y_scale_, float)
    assert a.y_mean_ == pytest.approx(ytr.mean()) and a.y_scale_ == pytest.approx(ytr.std())
    assert b.y_mean_ == pytest.approx(3 * ytr.mean() - 40) and b.y_scale_ == pytest.approx(
        3 * ytr.std())
    np.testing.assert_allclose(b.predict(Xte), 3.0 * a.predict(Xte) - 40.0, rtol=1e-3,
                               atol=1e-3 * b.y_scale_)
    assert w.y_mean_ == pytest.approx(np.average(ytr, weights=sw))
    assert two.y_mean_.shape == two.y_scale_.shape == (2,)
    np.testing.assert_allclose(two.y_mean_, [ytr.mean(), -ytr.mean()])
    assert two.predict(Xte).shape == (len(Xte), 2)


def test_partial_fit_plan_counts_calls_and_survives_pickle(digits):
    Xtr, Xte, ytr, _ = digits
    m = SparseMLPClassifier((16,), max_iter=4, target_sparsity=0.6, random_state=0)
    for _ in range(2):
        m.partial_fit(Xtr, ytr, classes=np.arange(10))
    steps = int(np.ceil(len(Xtr) / 200))
    plan = m.partial_fit_plan_
    assert (plan.calls, plan.steps, plan.steps_per_epoch) == (2, 2 * steps, steps)
    again = pickle.loads(pickle.dumps(m))
    assert again.partial_fit_plan_ == plan
    for _ in range(2):  # the rest of the plan, after unpickling: the schedule ends
        again.partial_fit(Xtr, ytr)
    assert again.partial_fit_plan_.calls == 4
    assert again.sparsity_as_built_ == pytest.approx(0.6, abs=0.01)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        again.set_params(warm_start=True).fit(Xtr, ytr)
    assert again.partial_fit_plan_ is None  # fit has no partial_fit plan


def test_pandas_in_and_feature_names(cancer):
    Xtr, Xte, ytr, _ = cancer
    cols = [f"f{i}" for i in range(Xtr.shape[1])]
    df = pd.DataFrame(Xtr, columns=cols)
    m = SparseMLPClassifier((8,), max_iter=5, random_state=0).fit(df, pd.Series(ytr))
    np.testing.assert_array_equal(m.feature_names_in_, cols)
    assert m.predict(pd.DataFrame(Xte, columns=cols)).shape == (len(Xte),)


def test_reproducible_and_global_state_untouched(digits):
    Xtr, Xte, ytr, _ = digits
    torch.manual_seed(123)
    state = torch.get_rng_state()
    threads = torch.get_num_threads()
    kw = dict(hidden_layer_sizes=(32,), dropout=0.2, l1=1e-3, max_iter=5, random_state=7)
    a = SparseMLPClassifier(**kw).fit(Xtr, ytr).predict_proba(Xte)
    assert torch.equal(torch.get_rng_state(), state)
    assert torch.get_num_threads() == threads
    b = SparseMLPClassifier(**kw).fit(Xtr, ytr).predict_proba(Xte)
    np.testing.assert_array_equal(a, b)
    c = SparseMLPClassifier(**{**kw, "random_state": 8}).fit(Xtr, ytr).predict_proba(Xte)
    assert not np.array_equal(a, c)


def test_threads_chosen_by_size_and_restored(digits, monkeypatch):
    Xtr, _, ytr, _ = digits
    seen = []
    import sksparse_nn._estimator as base

    real = base.torch_threads

    def spy(n):
        seen.append(n)
        return real(n)

    monkeypatch.setattr(base, "torch_threads", spy)
    before = torch.get_num_threads()
    SparseMLPClassifier((16,), max_iter=1).fit(Xtr, ytr)
    SparseMLPClassifier((16,), max_iter=1, n_threads=1).fit(Xtr, ytr)
    assert seen == [1, 1]
    assert torch.get_num_threads() == before
    big = SparseMLPClassifier((400, 200), max_iter=1)
    assert big._n_threads(64 * 400 + 400 * 200) == min(before, 2)


def test_warm_start_continues(digits):
    Xtr, _, ytr, _ = digits
    m = SparseMLPClassifier((16,), max_iter=3, warm_start=True, random_state=0).fit(Xtr, ytr)
    first = m.net_.module_.linears[0].weight.detach().clone()
    m.fit(Xtr, ytr)
    assert m.n_iter_ == 6
    assert not torch.equal(first, m.net_.module_.linears[0].weight.detach())


def test_verbose_logs_epochs_with_sparsity_and_progress_bar(digits, capsys):
    Xtr, _, ytr, _ = digits
    SparseMLPClassifier((16,), max_iter=2, verbose=1, target_sparsity=0.5,
                        random_state=0).fit(Xtr, ytr)
    out = capsys.readouterr().out
    header = out.splitlines()[0].split()
    for key in ("epoch", "train_loss", "sparsity", "neurons_alive"):
        assert key in header
    assert len([line for line in out.splitlines() if line.strip().startswith(("1 ", "2 "))]) == 2
    m = SparseMLPClassifier((16,), max_iter=1, verbose=2, random_state=0).fit(Xtr, ytr)
    err = capsys.readouterr().err
    n_batches = int(np.ceil(len(Xtr) / 200))
    # tqdm's bar over the batches of an epoch: "k/7 [elapsed<remaining, rate]"
    assert re.search(rf"\d+/{n_batches} \[", err)
    assert len(m.net_.history[-1, "batches"]) == n_batches
    SparseMLPClassifier((16,), max_iter=1, random_state=0).fit(Xtr, ytr)
    assert capsys.readouterr().out == ""


def test_fits_in_threads_are_reproducible(digits):
    """No global RNG: concurrent fits in one process give the sequential results."""
    from concurrent.futures import ThreadPoolExecutor

    Xtr, Xte, ytr, _ = digits
    params = [dict(dropout=0.3, random_state=s) for s in (0, 1, 2, 3)]

    def run(p):
        return SparseMLPClassifier((16,), max_iter=3, n_threads=1, **p).fit(Xtr, ytr).predict_proba(Xte)

    sequential = [run(p) for p in params]
    with ThreadPoolExecutor(4) as pool:
        threaded = list(pool.map(run, params))
    for a, b in zip(sequential, threaded):
        np.testing.assert_array_equal(a, b)


def test_float32_batches_on_torch_kernels_give_the_float64_answers(cancer):
    """A large float32 batch forced onto torch's kernels (``engine="torch"``)
    predicts as float64 does, and NaN still raises."""
    from sksparse_nn.inference._kernels import torch_kernels_ok

    if not torch_kernels_ok():
        pytest.skip("this torch build lacks the oneDNN kernels")
    Xtr, Xte, ytr, _ = cancer
    m = SparseMLPClassifier((32, 16), l1=1e-3, max_iter=20, random_state=0).fit(Xtr, ytr)
    m.compact_model_.engine = "torch"
    X = np.tile(Xte, (-(-2048 // len(Xte)), 1))
    X32 = X.astype(np.float32)
    np.testing.assert_allclose(m.predict_proba(X32), m.predict_proba(X32.astype(np.float64)),
                               rtol=1e-4, atol=1e-6)
    np.testing.assert_array_equal(m.predict(X32)[:len(Xte)], m.predict(Xte.astype(np.float32)))
    X32[-1, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        m.predict_proba(X32)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nonfinite_input_raises_even_in_a_column_the_network_ignores(cancer, bad):
    """predict checks finiteness on the first layer's pre-activations instead of a
    separate scan over X: a column whose weights are all zero must still count."""
    Xtr, Xte, ytr, _ = cancer
    m = SparseMLPClassifier((16,), max_iter=5, random_state=0).fit(Xtr, ytr)
    with torch.no_grad():  # make feature 0 unused, then rebuild the compact model
        m.net_.module_.linears[0].weight[:, 0] = 0.0
    from sksparse_nn import CompactMLP

    m.compact_model_ = CompactMLP.from_module(m.net_.module_)
    assert 0 not in m.compact_model_.input_index and m.compact_model_.reads_every_column()
    X = Xte.astype(np.float32)
    X[3, 0] = bad
    with pytest.raises(ValueError, match="(NaN|infinity)"):
        m.predict_proba(X)
    X[3, 0] = 0.0
    assert np.isfinite(m.predict_proba(X)).all()
