"""SparseMLPClassifierCV / SparseMLPRegressorCV: input_l1 chosen by cross-validation.

Known-truth tasks, at the estimators' default training settings (only ``cv`` is
lowered to 3 to keep the tests fast; the full-size versions, with ``cv=5``, run
in ``benchmarks/bench_feature_selection.py``):

* Friedman #1 with noise columns (only 0-4 matter; column 2 acts through
  ``(x2 - 0.5)^2``, invisible to a linear model);
* ``make_classification`` with 5 informative features (``shuffle=False``: the
  first 5 columns);
* XOR: ``y = [x0 * x1 > 0]`` - no single feature is correlated with the label;
* planted words in a generated TF-IDF corpus (a sparse ``X``).
"""

import pickle

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.datasets import make_classification, make_friedman1
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.feature_selection import SelectFromModel
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import KFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sksparse_nn import (
    SparseMLPClassifier,
    SparseMLPClassifierCV,
    SparseMLPRegressor,
    SparseMLPRegressorCV,
)

TINY = dict(cv=2, n_input_l1s=3, max_iter=5, step_max_iter=2, hidden_layer_sizes=(8,),
            random_state=0)


def _friedman(seed=0, n=400, p=15):
    X, y = make_friedman1(n_samples=n, n_features=p, noise=0.5, random_state=seed)
    return StandardScaler().fit_transform(X), y


def _xor(seed=0, n=400, p=10):
    rng = np.random.RandomState(seed)
    X = rng.randn(n, p)
    return X, (X[:, 0] * X[:, 1] > 0).astype(int)


PLANTED = ["falcon", "harbor", "violet"]


def planted_corpus(n_docs=400, n_vocab=300, doc_len=25, seed=0):
    """Documents of random background words; class-1 documents also carry the
    planted words (each with probability 0.5, against 0.05 in class 0)."""
    rng = np.random.RandomState(seed)
    vocab = [f"w{j:03d}" for j in range(n_vocab)]
    freq = 1.0 / np.arange(1, n_vocab + 1)  # Zipf-like background
    freq /= freq.sum()
    y = rng.randint(0, 2, n_docs)
    docs = []
    for label in y:
        words = list(rng.choice(vocab, size=doc_len, p=freq))
        for w in PLANTED:
            if rng.rand() < (0.5 if label else 0.05):
                words.insert(rng.randint(len(words) + 1), w)
        docs.append(" ".join(words))
    return docs, y


@pytest.fixture(scope="module")
def friedman_cv():
    X, y = _friedman()
    return X, y, SparseMLPRegressorCV(cv=3, random_state=0).fit(X, y)


# ------------------------------------------------------------- known truth
def test_regressor_cv_finds_exactly_the_friedman_features(friedman_cv):
    X, y, model = friedman_cv
    assert np.flatnonzero(model.feature_importances_).tolist() == [0, 1, 2, 3, 4]
    assert model.n_features_selected_ == 5
    assert model.score(X, y) > 0.9


def test_classifier_cv_finds_the_informative_features():
    X, y = make_classification(n_samples=400, n_features=30, n_informative=5,
                               n_redundant=0, n_repeated=0, shuffle=False, random_state=0)
    model = SparseMLPClassifierCV(cv=3, random_state=0).fit(X, y)
    selected = set(np.flatnonzero(model.feature_importances_).tolist())
    assert selected >= {0, 1, 2, 3, 4}
    assert len(selected) <= 6  # at most one extra feature
    assert model.score(X, y) > 0.85


def test_classifier_cv_finds_the_xor_pair():
    X, y = _xor()
    model = SparseMLPClassifierCV(cv=3, random_state=0).fit(X, y)
    assert np.flatnonzero(model.feature_importances_).tolist() == [0, 1]
    assert model.score(X, y) > 0.9


def test_classifier_cv_finds_planted_words_in_sparse_tfidf():
    docs, y = planted_corpus()
    vec = TfidfVectorizer()
    X = vec.fit_transform(docs)  # scipy sparse
    model = SparseMLPClassifierCV(cv=3, random_state=0).fit(X, y)
    words = set(vec.get_feature_names_out()[model.feature_importances_ > 0])
    assert words >= set(PLANTED)
    assert len(words) <= len(PLANTED) + 1


# ------------------------------------------------------------ the CV result
def test_cv_attributes(friedman_cv):
    X, y, model = friedman_cv
    n_steps = len(model.input_l1s_)
    assert n_steps == 20 and np.all(np.diff(model.input_l1s_) > 0)
    assert model.scores_path_.shape == (n_steps, 3)
    np.testing.assert_allclose(model.mean_scores_, model.scores_path_.mean(axis=1))
    np.testing.assert_allclose(model.std_scores_, model.scores_path_.std(axis=1))
    assert model.n_features_path_.shape == (n_steps, 3)
    assert model.support_path_.shape == (3, n_steps, X.shape[1])
    np.testing.assert_array_equal(model.n_features_path_, model.support_path_.sum(axis=2).T)
    # each fold's path is nested: a feature dropped at one step stays dropped
    assert np.all(np.diff(model.n_features_path_, axis=0) <= 0)
    assert model.input_l1_ == model.input_l1s_[model.best_index_]
    assert model.best_score_ == model.mean_scores_[model.best_index_]
    # one standard error rule: within one SE of the best, the strongest penalty
    best = np.argmax(model.mean_scores_)
    se = model.std_scores_[best] / np.sqrt(3)
    assert model.mean_scores_[model.best_index_] >= model.mean_scores_[best] - se
    assert model.best_index_ >= best
    # the refit estimator is a plain SparseMLPRegressor; its attributes are ours
    assert type(model.best_estimator_) is SparseMLPRegressor
    assert model.best_estimator_.get_params()["input_l1"] == model.input_l1_
    np.testing.assert_array_equal(model.predict(X), model.best_estimator_.predict(X))
    np.testing.assert_array_equal(model.feature_importances_,
                                  model.best_estimator_.feature_importances_)
    assert np.all(model.coefs_[0][5:] == 0.0)
    assert model.sparsity_ == model.best_estimator_.sparsity_
    assert model.n_features_in_ == X.shape[1]
    assert model.n_features_selected_path_.shape == (n_steps,)


@pytest.mark.parametrize("selection", ["best", "tol"])
def test_selection_rules(selection):
    X, y = _friedman(n=200, p=8)
    model = SparseMLPRegressorCV(selection=selection, selection_tol=0.05, cv=2,
                                 n_input_l1s=5, max_iter=20, step_max_iter=3,
                                 random_state=0).fit(X, y)
    mean = model.mean_scores_
    usable = model.n_features_path_.mean(axis=1) > 0
    best = np.flatnonzero(usable)[np.argmax(mean[usable])]
    if selection == "best":
        assert model.best_index_ == best
    else:
        within = np.flatnonzero(usable & (mean >= mean[best] - 0.05))
        assert model.best_index_ == within.max()


def test_explicit_grid_and_splitter():
    X, y = _friedman(n=200, p=8)
    grid = [0.02, 0.005, 0.01]
    model = SparseMLPRegressorCV(input_l1s=grid, cv=KFold(2, shuffle=True, random_state=1),
                                 max_iter=10, step_max_iter=2, random_state=0).fit(X, y)
    np.testing.assert_allclose(model.input_l1s_, sorted(grid))
    assert model.scores_path_.shape == (3, 2)
    assert model.input_l1_ in sorted(grid)


def test_bad_parameters_are_rejected():
    X, y = _friedman(n=60, p=5)
    with pytest.raises(ValueError, match="selection"):
        SparseMLPRegressorCV(selection="sparsest").fit(X, y)
    with pytest.raises(ValueError, match="at least one"):
        SparseMLPRegressorCV(input_l1s=[], **{k: v for k, v in TINY.items()
                                               if k != "n_input_l1s"}).fit(X, y)
    with pytest.raises(ValueError, match=">= 0"):
        SparseMLPRegressorCV(input_l1s=[-1.0, 0.1], cv=2, max_iter=2).fit(X, y)


# ---------------------------------------------- scikit-learn composition
def test_select_from_model_in_a_pipeline_and_clone():
    X, y = _xor(n=300, p=6)
    cv = SparseMLPClassifierCV(**{**TINY, "max_iter": 30, "step_max_iter": 5})
    pipe = make_pipeline(SelectFromModel(cv), LogisticRegression())
    pipe.fit(X, y)
    sel = pipe.named_steps["selectfrommodel"]
    assert sel.threshold_ == pytest.approx(1e-5)  # the "l1" rule: exact zeros drop
    np.testing.assert_array_equal(sel.get_support(), sel.estimator_.feature_importances_ > 0)
    assert sel.get_support().sum() == sel.estimator_.n_features_selected_
    twin = clone(cv)
    assert twin.get_params() == cv.get_params() and not hasattr(twin, "input_l1_")


def test_pickle_round_trip_and_pandas_names():
    pd = pytest.importorskip("pandas")
    X, y = _xor(n=200, p=5)
    names = [f"col_{j}" for j in range(5)]
    df = pd.DataFrame(X, columns=names)
    model = SparseMLPClassifierCV(**TINY).fit(df, y)
    assert model.feature_names_in_.tolist() == names
    again = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(again.predict_proba(df), model.predict_proba(df))
    assert again.input_l1_ == model.input_l1_
    sel = SelectFromModel(model, prefit=True).fit(df, y)  # prefit: no refit
    assert sel.estimator_.input_l1_ == model.input_l1_
    kept = sel.get_feature_names_out().tolist()
    assert kept == [n for n, imp in zip(names, model.feature_importances_) if imp > 0]
    with pytest.warns(UserWarning, match="feature names"):
        model.predict(X)  # fitted with names, called without


def test_classifier_cv_string_labels_and_proba():
    X, y = _xor(n=200, p=5)
    labels = np.array(["no", "yes"])[y]
    model = SparseMLPClassifierCV(**TINY).fit(X, labels)
    assert model.classes_.tolist() == ["no", "yes"]
    proba = model.predict_proba(X)
    assert proba.shape == (200, 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert set(model.predict(X)) <= {"no", "yes"}
    assert type(model.best_estimator_) is SparseMLPClassifier


def test_n_jobs_gives_the_same_result():
    X, y = _friedman(n=120, p=5)
    a = SparseMLPRegressorCV(**TINY).fit(X, y)
    b = SparseMLPRegressorCV(**TINY, n_jobs=2).fit(X, y)
    np.testing.assert_allclose(a.scores_path_, b.scores_path_)
    assert a.input_l1_ == b.input_l1_


def test_plot_cv_path(friedman_cv):
    pytest.importorskip("matplotlib")
    import matplotlib

    matplotlib.use("Agg")
    from sksparse_nn.plotting import plot_feature_selection_path

    X, y, model = friedman_cv
    ax = plot_feature_selection_path(model)
    x, n_sel = ax.lines[0].get_data()
    np.testing.assert_allclose(x, model.input_l1s_)
    np.testing.assert_allclose(n_sel, model.n_features_path_.mean(axis=1))
    np.testing.assert_allclose(ax.right_ax.lines[0].get_ydata(), model.mean_scores_)
    assert "input_l1_" in ax.get_legend().get_texts()[-1].get_text()
    with pytest.raises(Exception, match="input_l1s_"):
        plot_feature_selection_path(SparseMLPRegressorCV())
