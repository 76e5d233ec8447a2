"""Sparsity scorers, the sparsest-within refit rule, and the search / network figures."""

import pickle
from types import SimpleNamespace

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.metrics import accuracy_score
from sklearn.model_selection import GridSearchCV, cross_validate
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sksparse_nn import SparseMLPClassifier
from sksparse_nn import model_selection as ms
from sksparse_nn.model_selection import (
    SparseGridSearchCV,
    neg_features_read,
    neg_hidden_units,
    neg_nonzero_weights,
    sparsest_within,
    sparsity_scoring,
    zero_fraction,
)

pytestmark = pytest.mark.filterwarnings(
    "ignore::sklearn.exceptions.ConvergenceWarning", "ignore::UserWarning")


@pytest.fixture(scope="module")
def pruned(cancer):
    """A network with removed units and unread inputs."""
    Xtr, _, ytr, _ = cancer
    return SparseMLPClassifier((12, 6), l1=0.02, input_l1=0.05, target_sparsity=0.8,
                               max_iter=15, random_state=0).fit(Xtr, ytr)


def _expected(est):
    coefs = est.coefs_
    nnz = sum(np.count_nonzero(W) for W in coefs)
    return {
        "zero_fraction": 1 - nnz / sum(W.size for W in coefs),
        "neg_nonzero_weights": -nnz,
        "neg_hidden_units": -sum(est.hidden_layer_sizes_),
        "neg_features_read": -est.n_features_selected_,
    }


def test_scorers_match_fitted_attributes_bare_and_in_a_pipeline(cancer, pruned):
    Xtr, Xte, ytr, yte = cancer
    assert sum(pruned.hidden_layer_sizes_) < 18 and pruned.n_features_selected_ < 30
    expected = _expected(pruned)
    pipe = make_pipeline(StandardScaler(), clone(pruned)).fit(Xtr, ytr)
    for model in (pruned, pipe):
        expected = _expected(model[-1] if hasattr(model, "steps") else model)
        for name, value in expected.items():
            assert ms.SPARSITY_SCORERS[name](model, Xte, yte) == pytest.approx(value), name
    assert 0 < zero_fraction(pruned) < 1
    # sklearn's own MLP exposes coefs_ too
    mlp = MLPClassifier((5,), max_iter=5, random_state=0).fit(Xtr, ytr)
    assert zero_fraction(mlp) == 0.0
    assert neg_nonzero_weights(mlp) == -(30 * 5 + 5 * 1)
    assert neg_hidden_units(mlp) == -5 and neg_features_read(mlp) == -30


def test_scorers_reject_a_model_without_weights(cancer):
    from sklearn.linear_model import LogisticRegression

    Xtr, _, ytr, _ = cancer
    with pytest.raises(TypeError, match="coefs_"):
        zero_fraction(LogisticRegression().fit(Xtr, ytr))


def test_latency_scorer_is_median_ms_per_1000_rows(monkeypatch, pruned, cancer):
    Xte = cancer[1][:50]
    clock = iter([0.0, 0.002, 1.0, 1.004, 2.0, 2.001])  # 2, 4 and 1 ms for 50 rows
    monkeypatch.setattr(ms.time, "perf_counter", lambda: next(clock))
    scorer = ms.latency_scorer(n_repeats=3)
    assert scorer(pruned, Xte) == pytest.approx(-2.0 * 1000 / 50)
    with pytest.raises(ValueError):
        ms.latency_scorer(n_repeats=0)


def test_scoring_dict_in_cross_validate(cancer):
    Xtr, _, ytr, _ = cancer
    pipe = make_pipeline(StandardScaler(),
                         SparseMLPClassifier((8,), target_sparsity=0.5, max_iter=3,
                                             random_state=0))
    scoring = sparsity_scoring("accuracy", by=["nonzero", "units", "latency"])
    assert set(scoring) == {"accuracy", "neg_nonzero_weights", "neg_hidden_units",
                            "neg_latency_ms_per_1000"}
    out = cross_validate(pipe, Xtr[:120], ytr[:120], cv=2, scoring=scoring,
                         return_estimator=True)
    for est, nz in zip(out["estimator"], out["test_neg_nonzero_weights"]):
        assert nz == -sum(np.count_nonzero(W) for W in est[-1].coefs_)
    assert np.all(out["test_neg_latency_ms_per_1000"] < 0)


# ------------------------------------------------------------------ the rule
def _results(acc, nonzero, std=None, n_splits=4, **extra):
    acc = np.asarray(acc, dtype=float)
    res = {"mean_test_accuracy": acc,
           "std_test_accuracy": np.zeros_like(acc) if std is None else np.asarray(std),
           "mean_test_neg_nonzero_weights": -np.asarray(nonzero, dtype=float),
           "params": [{} for _ in acc]}
    for i in range(n_splits):
        res[f"split{i}_test_accuracy"] = acc
    res.update({f"mean_test_{k}": np.asarray(v, dtype=float) for k, v in extra.items()})
    return res


def test_rule_picks_the_sparsest_within_tol():
    res = _results([0.970, 0.966, 0.964, 0.950], [3000, 900, 100, 10])
    assert sparsest_within("accuracy", tol=0.005)(res) == 1  # 0.964 is 0.006 below
    assert sparsest_within("accuracy", tol=0.006)(res) == 2  # exactly tol below: within
    assert sparsest_within("accuracy", tol=0.0)(res) == 0
    assert sparsest_within("accuracy", tol=1.0)(res) == 3
    assert sparsest_within("accuracy")(res) == 1  # default tol 0.005


def test_rule_ties_and_nan():
    # equal sparsity: the higher score wins; equal on both: the first candidate
    res = _results([0.96, 0.97, 0.97, 0.90], [100, 100, 100, 1])
    assert sparsest_within("accuracy", tol=0.02)(res) == 1
    res = _results([np.nan, 0.97, 0.968], [1, 500, 400])
    res["mean_test_neg_nonzero_weights"][0] = np.nan
    assert sparsest_within("accuracy", tol=0.005)(res) == 2


def test_rule_one_standard_error():
    # best 0.97 with std 0.02 over 4 folds: SE 0.01, threshold 0.96
    res = _results([0.97, 0.961, 0.959], [300, 200, 100], std=[0.02, 0.0, 0.0])
    rule = sparsest_within("accuracy", by="nonzero", rule="one_se")
    assert rule.threshold(res) == pytest.approx(0.96)
    assert rule(res) == 1
    with pytest.raises(ValueError, match="one_se"):
        sparsest_within("accuracy", tol=0.01, rule="one_se")


@pytest.mark.parametrize("by, column, values, expected", [
    ("nonzero", "neg_nonzero_weights", [-50, -40, -60], 1),
    ("zero_fraction", "zero_fraction", [0.5, 0.9, 0.7], 1),
    ("units", "neg_hidden_units", [-10, -30, -5], 2),
    ("features", "neg_features_read", [-3, -30, -20], 0),
    ("latency", "neg_latency_ms_per_1000", [-2.0, -1.5, -1.0], 2),
])
def test_rule_by_each_key(by, column, values, expected):
    res = {"mean_test_accuracy": np.array([0.95, 0.951, 0.949]),
           f"mean_test_{column}": np.array(values, dtype=float)}
    assert sparsest_within("accuracy", tol=0.01, by=by)(res) == expected
    # out of tolerance: the best score wins whatever its sparsity
    assert sparsest_within("accuracy", tol=0.0, by=by)(res) == 1


def test_rule_is_its_metric_name_and_pickles():
    rule = sparsest_within("balanced_accuracy", tol=0.01, by="units")
    assert rule == "balanced_accuracy" and {"balanced_accuracy": 1}[rule] == 1
    again = pickle.loads(pickle.dumps(rule))
    assert (again.metric, again.tol, again.by, again.rule) == ("balanced_accuracy", 0.01,
                                                               "units", "tol")
    assert repr(rule) == "sparsest_within('balanced_accuracy', tol=0.01, by='units', rule='tol')"


def test_rule_errors():
    with pytest.raises(KeyError, match="sparsity_scoring"):
        sparsest_within("accuracy")({"mean_test_accuracy": np.array([0.9])})
    for bad in (dict(by="weights"), dict(rule="two_se"), dict(tol=-0.1), dict(tol="a")):
        with pytest.raises(ValueError):
            sparsest_within("accuracy", **bad)


# ----------------------------------------------------------------- searches
@pytest.fixture(scope="module")
def search(cancer):
    Xtr, _, ytr, _ = cancer
    pipe = make_pipeline(StandardScaler(), SparseMLPClassifier((16,), max_iter=8,
                                                               random_state=0))
    grid = {"sparsemlpclassifier__target_sparsity": [0.0, 0.5, 0.9]}
    rule = sparsest_within("accuracy", tol=0.03, by="nonzero")
    return GridSearchCV(pipe, grid, cv=2, scoring=sparsity_scoring("accuracy"),
                        refit=rule).fit(Xtr[:200], ytr[:200])


def test_search_with_the_rule_keeps_score_predict_and_best_estimator(search, cancer):
    _, Xte, _, yte = cancer
    res = search.cv_results_
    assert search.best_index_ == search.refit(res)
    nz = -res["mean_test_neg_nonzero_weights"]
    assert nz[search.best_index_] < nz[0]  # sparser than the dense candidate
    assert (res["mean_test_accuracy"][search.best_index_]
            >= res["mean_test_accuracy"].max() - 0.03)
    pred = search.predict(Xte)
    assert np.array_equal(pred, search.best_estimator_.predict(Xte))
    assert search.score(Xte, yte) == pytest.approx(accuracy_score(yte, pred))
    assert search.best_params_ == res["params"][search.best_index_]


def test_sparse_grid_search_adds_the_scorer_it_needs(cancer):
    Xtr, Xte, ytr, yte = cancer
    est = SparseMLPClassifier((8,), max_iter=4, random_state=0)
    search = SparseGridSearchCV(est, {"l1": [0.0, 1.0]}, cv=2, scoring="accuracy",
                                refit=sparsest_within("accuracy", tol=1.0, by="units"))
    search.fit(Xtr[:120], ytr[:120])
    assert search.scoring == "accuracy"  # the user's parameter is left as given
    res = search.cv_results_
    assert "mean_test_neg_hidden_units" in res
    # the strong penalty leaves fewer units: the rule (tol=1.0) takes that candidate
    units = res["mean_test_neg_hidden_units"]
    assert units[1] > units[0]
    assert search.best_index_ == 1
    assert search.best_score_ == res["mean_test_accuracy"][search.best_index_]
    assert search.score(Xte, yte) == pytest.approx(search.best_estimator_.score(Xte, yte))
    # scoring=None scores with estimator.score under the rule's metric name
    search = SparseGridSearchCV(est, {"l1": [0.0]}, cv=2,
                                refit=sparsest_within("accuracy")).fit(Xtr[:120], ytr[:120])
    assert {"mean_test_accuracy", "mean_test_neg_nonzero_weights"} <= set(search.cv_results_)
    with pytest.raises(ValueError, match="not among"):
        SparseGridSearchCV(est, {"l1": [0.0]}, cv=2, scoring="roc_auc",
                           refit=sparsest_within("accuracy")).fit(Xtr[:120], ytr[:120])


# ------------------------------------------------------------------ figures
matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    import matplotlib.pyplot as plt

    plt.close("all")


def test_pareto_front():
    from sksparse_nn.plotting import pareto_front

    x = [100, 50, 80, 10, 10]
    s = [0.97, 0.96, 0.95, 0.90, 0.89]
    assert list(pareto_front(x, s)) == [3, 1, 0]
    assert list(pareto_front([0.1, 0.5, 0.9], [0.9, 0.95, 0.8], smaller_x_is_better=False)) \
        == [1, 2]


def test_plot_search_pareto_content():
    from sksparse_nn import plotting

    res = _results([0.970, 0.966, 0.950, 0.940], [3000, 900, 1000, 10])
    rule = sparsest_within("accuracy", tol=0.005)
    fake = SimpleNamespace(cv_results_=res, refit=rule, best_index_=rule(res))
    ax = plotting.plot_search_pareto(fake)
    front = [ln for ln in ax.lines if ln.get_label() == "Pareto front"][0]
    assert list(front.get_xdata()) == [10, 900, 3000]  # candidate 2 is dominated by 1
    assert list(front.get_ydata()) == [0.940, 0.966, 0.970]
    chosen = [c for c in ax.collections if c.get_label().startswith("chosen")][0]
    assert chosen.get_label() == "chosen (refit rule): #1"
    assert np.allclose(chosen.get_offsets(), [[900, 0.966]])
    within = [ln for ln in ax.lines if ln.get_label() == "threshold: best - 0.005"][0]
    assert within.get_ydata()[0] == pytest.approx(0.965)
    assert len([c for c in ax.collections if c.get_label() == "candidates"][0]
               .get_offsets()) == 4
    assert ax.get_xlabel() == "nonzero weights" and ax.get_ylabel() == "mean test accuracy"
    assert sorted(t.get_text() for t in ax.texts) == ["#0", "#1", "#3"]
    with pytest.raises(ValueError, match="sparsity_scoring"):
        plotting.plot_search_pareto(fake, x="latency")


def test_plot_search_pareto_on_a_fitted_search(search):
    from sksparse_nn import plotting

    ax = plotting.plot_search_pareto(search, x="zero_fraction")
    chosen = [c for c in ax.collections if c.get_label().startswith("chosen")][0]
    res = search.cv_results_
    i = search.best_index_
    assert np.allclose(chosen.get_offsets(),
                       [[res["mean_test_zero_fraction"][i], res["mean_test_accuracy"][i]]])


def _segments(ax, label):
    lc = [c for c in ax.collections if c.get_label() == label][0]
    return lc.get_segments(), lc.get_linewidths()


def test_plot_network_content(pruned):
    from sksparse_nn import plotting

    est = pruned
    kept = est.hidden_units_kept_
    assert [len(k) for k in kept] == list(est.hidden_layer_sizes_)
    assert all(np.all(np.diff(k) > 0) and k.max(initial=-1) < h
               for k, h in zip(kept, est.hidden_layer_sizes))
    ax = plotting.plot_network(est)
    coefs = est.coefs_
    pos, wpos = _segments(ax, "positive weight")
    neg, _ = _segments(ax, "negative weight")
    assert len(pos) == sum(int((W > 0).sum()) for W in coefs)
    assert len(neg) == sum(int((W < 0).sum()) for W in coefs)
    assert max(wpos) <= 3.0 + 1e-9
    grey = [c for c in ax.collections if c.get_label().startswith("removed")][0]
    n_grey = (30 - est.n_features_selected_) + sum(
        h - k for h, k in zip(est.hidden_layer_sizes, est.hidden_layer_sizes_))
    assert n_grey > 0 and len(grey.get_offsets()) == n_grey
    assert ax.network_summary_["units_greyed"] == n_grey
    # every greyed unit sits in its column and no segment touches it
    grey_xy = {tuple(np.round(p, 9)) for p in grey.get_offsets()}
    ends = {tuple(np.round(p, 9)) for seg in list(pos) + list(neg) for p in seg}
    assert not grey_xy & ends
    texts = [t.get_text() for t in ax.texts]
    assert f"inputs\n{est.n_features_selected_} of 30 read" in texts
    assert f"hidden 1\n{est.hidden_layer_sizes_[0]} of 12 left" in texts


def test_plot_network_caps_edges_and_units(pruned):
    from sksparse_nn import plotting

    total = sum(np.count_nonzero(W) for W in pruned.coefs_)
    ax = plotting.plot_network(pruned, max_edges=5, max_units=8)
    pos, wpos = _segments(ax, "positive weight")
    neg, wneg = _segments(ax, "negative weight")
    assert len(pos) + len(neg) == 5
    texts = [t.get_text() for t in ax.texts]
    assert f"5 of {total} connections drawn (the strongest); {total - 5} not shown" in texts
    assert "showing 8 of 30" in texts and "showing 8 of 12" in texts
    # the strongest connection drawn is the strongest of the network
    assert max(list(wpos) + list(wneg)) == pytest.approx(3.0)
    assert ax.network_summary_["units_shown"] == 8 + 8 + 6 + 1


def test_kept_units_follow_selective_pruning(cancer):
    Xtr, _, ytr, _ = cancer
    est = SparseMLPClassifier((10,), max_iter=5, random_state=0).fit(Xtr, ytr)
    est.prune_neurons(Xtr, ytr, tol=0.05, fine_tune_epochs=1)
    removed = {r["neuron"] for r in est.selective_pruning_record_["removed"]}
    assert removed
    assert set(est.hidden_units_kept_[0]) == set(range(10)) - removed
    again = pickle.loads(pickle.dumps(est))
    assert np.array_equal(again.hidden_units_kept_[0], est.hidden_units_kept_[0])
