"""The figures show the fitted model's numbers (rendered headless with Agg)."""

import numpy as np
import pandas as pd
import pytest

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from sklearn.exceptions import NotFittedError  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

from sksparse_nn import SparseMLPClassifier, SparseMLPRegressor  # noqa: E402
from sksparse_nn import plotting  # noqa: E402
from sksparse_nn.report import compare_models  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def clf(cancer):
    Xtr, _, ytr, _ = cancer
    return SparseMLPClassifier((16, 8), l1=0.01, target_sparsity=0.6, early_stopping=True,
                               max_iter=12, n_iter_no_change=50, random_state=0).fit(Xtr, ytr)


@pytest.fixture(scope="module")
def frame_model(cancer):
    Xtr, _, ytr, _ = cancer
    cols = [f"feat_{i}" for i in range(Xtr.shape[1])]
    X = pd.DataFrame(Xtr, columns=cols)
    return SparseMLPClassifier((8,), input_l1=0.1, max_iter=15,
                               random_state=0).fit(X, ytr), cols


def _draw(ax):
    ax.figure.canvas.draw()  # a real Agg render, not only artist bookkeeping


def test_loss_curve_lines_are_the_history(clf):
    ax = plotting.plot_loss_curve(clf)
    _draw(ax)
    lines = {ln.get_label(): ln for ln in ax.get_lines()}
    assert set(lines) == {"train", "validation"}
    np.testing.assert_allclose(lines["train"].get_ydata(), clf.loss_curve_)
    np.testing.assert_array_equal(lines["train"].get_xdata(), np.arange(1, clf.n_iter_ + 1))
    valid = [row["valid_loss"] for row in clf.net_.history]
    np.testing.assert_allclose(lines["validation"].get_ydata(), valid)
    assert ax.get_xlabel() == "epoch" and ax.get_ylabel() == "loss"


def test_loss_curve_without_validation_on_given_axes(diabetes):
    Xtr, _, ytr, _ = diabetes
    reg = SparseMLPRegressor((8,), max_iter=5, random_state=0).fit(Xtr, ytr)
    fig, axes = plt.subplots(1, 2)
    ax = plotting.plot_loss_curve(reg, ax=axes[1])
    assert ax is axes[1]
    assert [ln.get_label() for ln in ax.get_lines()] == ["train"]
    np.testing.assert_allclose(ax.get_lines()[0].get_ydata(), reg.loss_curve_)
    assert not axes[0].get_lines()


def test_weight_histogram_counts_nonzero_weights(clf):
    ax = plotting.plot_weight_histogram(clf, bins=20)
    _draw(ax)
    containers = ax.containers
    assert len(containers) == len(clf.coefs_) == 3
    for i, (bars, W) in enumerate(zip(containers, clf.coefs_)):
        heights = [patch.get_height() for patch in bars]
        assert sum(heights) == np.count_nonzero(W)
        assert len(heights) == 20
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels[0] == f"layer 1 ({np.count_nonzero(clf.coefs_[0])} nonzero)"
    # zeros are left out: with 60% target sparsity most weights are not drawn
    total = sum(sum(p.get_height() for p in bars) for bars in containers)
    assert total < 0.5 * sum(W.size for W in clf.coefs_)


def test_weight_histogram_selected_layers(clf):
    ax = plotting.plot_weight_histogram(clf, layers=[1], log=True)
    assert len(ax.containers) == 1
    assert sum(p.get_height() for p in ax.containers[0]) == np.count_nonzero(clf.coefs_[1])
    assert ax.get_yscale() == "log"


def test_sparsity_plot(clf):
    ax = plotting.plot_sparsity(clf)
    _draw(ax)
    hist = clf.net_.history
    (sparsity,) = ax.get_lines()
    np.testing.assert_allclose(sparsity.get_ydata(), [row["sparsity"] for row in hist])
    (alive,) = ax.right_ax.get_lines()
    np.testing.assert_array_equal(alive.get_ydata(), [row["neurons_alive"] for row in hist])
    assert ax.right_ax in ax.figure.axes
    assert sparsity.get_ydata()[-1] == pytest.approx(clf.sparsity_as_built_)
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["sparsity", "neurons alive"]


def test_feature_importances_bars_and_names(frame_model):
    model, cols = frame_model
    ax = plotting.plot_feature_importances(model)
    _draw(ax)
    bars = ax.patches
    assert len(bars) == model.n_features_in_ == len(cols)
    names = [t.get_text() for t in ax.get_yticklabels()]
    widths = [b.get_width() for b in bars]
    assert sorted(names) == sorted(cols)
    imp = dict(zip(cols, model.feature_importances_))
    for name, width in zip(names, widths):
        assert width == pytest.approx(imp[name])
    # sorted: the top bar (last drawn) is the most important feature
    assert names[-1] == cols[int(np.argmax(model.feature_importances_))]
    assert f"{model.n_features_selected_} of {len(cols)} used" in ax.get_title()


def test_feature_importances_pipeline_default_names_and_top(cancer):
    Xtr, _, ytr, _ = cancer
    pipe = make_pipeline(StandardScaler(),
                         SparseMLPClassifier((8,), max_iter=5, random_state=0)).fit(Xtr, ytr)
    ax = plotting.plot_feature_importances(pipe, sort=False)
    names = [t.get_text() for t in ax.get_yticklabels()]
    assert names == [f"x{i}" for i in range(Xtr.shape[1])][::-1]
    ax = plotting.plot_feature_importances(pipe, top=5)
    assert len(ax.patches) == 5
    with pytest.raises(ValueError, match="feature names"):
        plotting.plot_feature_importances(pipe, feature_names=["a", "b"])


def test_sparsity_tradeoff_from_estimators_and_frame(cancer):
    Xtr, Xte, ytr, yte = cancer
    models = {f"{s:.0%}": SparseMLPClassifier((16,), target_sparsity=s, max_iter=8,
                                              random_state=0).fit(Xtr, ytr)
              for s in (0.9, 0.0, 0.5)}
    ax = plotting.plot_sparsity_tradeoff(models, Xte, yte)
    _draw(ax)
    (line,) = ax.get_lines()
    xs = line.get_xdata()
    assert np.all(np.diff(xs) >= 0)  # joined in order of sparsity
    expected = sorted((m.sparsity_, m.score(Xte, yte)) for m in models.values())
    np.testing.assert_allclose(xs, [e[0] for e in expected])
    np.testing.assert_allclose(line.get_ydata(), [e[1] for e in expected])
    assert sorted(t.get_text() for t in ax.texts) == sorted(models)

    df = compare_models(models, Xte, yte, n_repeats=1)
    ax2 = plotting.plot_sparsity_tradeoff(df)
    (line2,) = ax2.get_lines()
    order = np.argsort(df["sparsity"].to_numpy(), kind="stable")
    np.testing.assert_allclose(line2.get_ydata(), df["accuracy"].to_numpy()[order])
    assert ax2.get_ylabel() == "accuracy"
    with pytest.raises(ValueError, match="X_test and y_test"):
        plotting.plot_sparsity_tradeoff(list(models.values()))


PATH = [
    {"input_l1": 0.3, "n_selected": 1, "score": 0.70},
    {"input_l1": 0.01, "n_selected": 8, "score": 0.95},
    {"input_l1": 0.1, "n_selected": 3, "score": 0.93, "extra": "ignored"},
]


@pytest.mark.parametrize("kind", ["list", "frame", "dict"])
def test_feature_selection_path(kind):
    path = {"list": PATH, "frame": pd.DataFrame(PATH),
            "dict": {k: [row[k] for row in PATH] for k in ("input_l1", "n_selected", "score")}
            }[kind]
    ax = plotting.plot_feature_selection_path(path)
    _draw(ax)
    (steps,) = ax.get_lines()
    np.testing.assert_allclose(steps.get_xdata(), [0.01, 0.1, 0.3])
    np.testing.assert_allclose(steps.get_ydata(), [8, 3, 1])
    (score,) = ax.right_ax.get_lines()
    np.testing.assert_allclose(score.get_ydata(), [0.95, 0.93, 0.70])
    assert ax.get_xscale() == "log" and ax.get_xlabel() == "input_l1"


def test_feature_selection_path_without_score_and_bad_input():
    ax = plotting.plot_feature_selection_path(
        [{"input_l1": 0.0, "n_selected": 5}, {"input_l1": 0.1, "n_selected": 2}])
    assert len(ax.get_lines()) == 1 and not hasattr(ax, "right_ax")
    assert ax.get_xscale() == "linear"  # a zero penalty cannot sit on a log axis
    with pytest.raises(ValueError, match="n_selected"):
        plotting.plot_feature_selection_path([{"input_l1": 0.1, "score": 1.0}])


def test_unfitted_and_missing_matplotlib(monkeypatch):
    with pytest.raises(NotFittedError):
        plotting.plot_loss_curve(SparseMLPClassifier())
    import sys

    # None in sys.modules makes any import of it fail, as on a machine without it
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    with pytest.raises(ImportError, match="pip install matplotlib"):
        plotting.plot_feature_selection_path(PATH)
