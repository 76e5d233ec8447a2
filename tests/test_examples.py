"""Every example runs (fast mode) and shows what it claims to show."""

import inspect
import runpy
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"

pytestmark = pytest.mark.filterwarnings(
    "ignore::sklearn.exceptions.ConvergenceWarning",
    "ignore::UserWarning",
)


def _main(name):
    namespace = runpy.run_path(str(EXAMPLES / f"{name}.py"), run_name="example")
    return namespace["main"]


def test_every_example_has_a_fast_main():
    names = sorted(p.stem for p in EXAMPLES.glob("*.py"))
    mine = [n for n in names if n != "quickstart"]
    assert len(mine) >= 8
    for name in mine:
        params = inspect.signature(_main(name)).parameters
        assert "fast" in params and params["fast"].default is False, name


def test_binary_classifier(capsys):
    out = _main("binary_classifier")(fast=True)
    text = capsys.readouterr().out
    assert "test accuracy" in text and "hidden units left" in text
    assert out["accuracy"] > 0.85
    assert out["proba"].shape == (len(out["y_test"]), 2)


def test_multiclass_classifier(capsys):
    out = _main("multiclass_classifier")(fast=True)
    assert out["accuracy"] > 0.7
    assert "confusion matrix" in capsys.readouterr().out


def test_synthetic_regression_reaches_the_goal(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    main = _main("synthetic_regression")
    out = main(fast=True, out_dir=str(tmp_path))
    assert out["mse"] <= 0.0168
    assert out["selected"].tolist() == [0, 1, 2]
    assert out["ok"]
    model = out["model"]
    assert model.n_features_selected_ == 3
    # --fast is a shorter run (80 epochs; the full one plans 200 and uses ~190)
    assert model.n_iter_ <= 80
    for name in ("loss", "weights", "importances"):
        path = Path(out["files"][name])
        assert path.parent == tmp_path
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "goal reached" in capsys.readouterr().out


def test_sparse_vs_dense_table(capsys):
    table = _main("sparse_vs_dense")(fast=True)["table"]
    assert list(table.index) == ["dense", "sparse 95%", "sklearn MLP"]
    for col in ("accuracy", "precision", "recall", "f1", "nonzero_params", "predict_ms",
                "pickle_bytes"):
        assert col in table.columns
    assert table.loc["sparse 95%", "nonzero_params"] < 0.2 * table.loc["dense", "nonzero_params"]
    assert table.loc["sparse 95%", "pickle_bytes"] < table.loc["dense", "pickle_bytes"]
    assert "pickle" in capsys.readouterr().out


def test_pruning_schedules(tmp_path):
    pytest.importorskip("matplotlib")
    out = _main("pruning_schedules")(fast=True, out_dir=str(tmp_path))
    table = out["table"]
    assert list(table.index) == ["one_shot", "gradual", "iterative", "dynamic",
                                 "gradual, max_units"]
    np.testing.assert_allclose(table["sparsity"], 0.9, atol=0.02)
    capped = table.loc["gradual, max_units", "hidden_sizes"]
    assert capped[0] <= 32 and capped[1] <= 16
    assert (tmp_path / "sparsity.png").stat().st_size > 0


def test_selective_pruning(capsys):
    out = _main("selective_pruning")(fast=True)
    # the units the records count are gone from the fitted networks
    record = out["fit"].selective_pruning_record_
    assert record["n_removed"] > 0
    assert (sum(out["plain"].hidden_layer_sizes_) - sum(out["fit"].hidden_layer_sizes_)
            == record["n_removed"])
    later = out["after_fit"].selective_pruning_record_
    assert later["n_removed"] > 0
    assert (sum(out["sizes_before_prune"]) - sum(out["after_fit"].hidden_layer_sizes_)
            == later["n_removed"])
    # prune_neurons fine-tunes on the data it selected on: no held-out "after" loss
    assert out["after_fit"].selective_pruning_record_["val_loss_after_fine_tune"] is None
    printed = capsys.readouterr().out
    assert "selective_pruning_record_" in printed and "data['train']" in printed


def test_feature_selection_pipeline(tmp_path):
    pytest.importorskip("matplotlib")
    out = _main("feature_selection_pipeline")(fast=True, out_dir=str(tmp_path))
    from sklearn.datasets import load_breast_cancer

    names = set(load_breast_cancer().feature_names)
    assert out["selected"] and set(out["selected"]) <= names
    path = out["path"]
    assert [set(step) for step in path] == [{"input_l1", "n_selected", "score"}] * 5
    # a stronger penalty keeps fewer features: the path reaches few from all
    kept = [step["n_selected"] for step in path]
    assert kept == sorted(kept, reverse=True) and kept[0] >= 25 and kept[-1] <= 5
    assert (tmp_path / "path.png").exists() and (tmp_path / "importances.png").exists()


def test_grid_search():
    search = _main("grid_search")(fast=True)["search"]
    assert len(search.cv_results_["params"]) == 4
    assert set(search.best_params_) == {"net__l1", "net__target_sparsity"}


def test_runs_as_a_script(tmp_path):
    pytest.importorskip("matplotlib")
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / "synthetic_regression.py"), "--fast",
         "--out-dir", str(tmp_path)],
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "selected features    [0, 1, 2]" in result.stdout
    assert (tmp_path / "loss.png").exists()


def test_run_as_main_leaves_the_figures_open_for_the_gallery(monkeypatch, capsys):
    # sphinx-gallery runs an example as __main__ with --fast and captures the
    # figures still open at the end of each cell
    plt = pytest.importorskip("matplotlib.pyplot")
    plt.close("all")
    monkeypatch.setattr(sys, "argv", ["synthetic_regression.py", "--fast"])
    try:
        namespace = runpy.run_path(str(EXAMPLES / "synthetic_regression.py"),
                                   run_name="__main__")
        titles = [plt.figure(n).axes[0].get_title() for n in plt.get_fignums()]
    finally:
        plt.close("all")
    assert titles == ["Loss curve", "Nonzero weights", "Feature importances (3 of 10 used)"]
    assert namespace["results"]["ok"]
    assert "goal reached" in capsys.readouterr().out


def test_pruning_schedules_tradeoff_reaches_each_target():
    out = _main("pruning_schedules")(fast=True)
    sparsities = [m.sparsity_as_built_ for m in out["tradeoff"].values()]
    np.testing.assert_allclose(sparsities, [0.0, 0.5, 0.8, 0.9], atol=0.02)
    accuracy = [m.score(out["X_test"], out["y_test"]) for m in out["tradeoff"].values()]
    # even the short fast run keeps most of the dense accuracy at 90% zeros
    assert min(accuracy) > 0.8 * accuracy[0]


def test_model_selection(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    out = _main("model_selection")(fast=True, out_dir=tmp_path)
    text = capsys.readouterr().out
    assert "plain GridSearchCV" in text and "sparsest_within" in text
    cancer = out["cancer"]
    plain, rule = cancer["plain"], cancer["rule"]
    # the rule's choice is within tol of the best mean CV accuracy, with fewer
    # nonzero weights than the plain (accuracy-only) choice
    assert rule["cv_accuracy"] >= cancer["best_cv_accuracy"] - cancer["tol"]
    assert plain["cv_accuracy"] == cancer["best_cv_accuracy"]
    assert rule["nonzero"] < plain["nonzero"]
    search = cancer["search"]
    assert search.best_index_ == rule["index"] != plain["index"]
    assert (tmp_path / "pareto.png").exists() and (tmp_path / "network.png").exists()


def test_out_of_core_dask():
    pytest.importorskip("dask_ml")
    pytest.importorskip("distributed")
    out = _main("out_of_core_dask")(fast=True)
    first, last = out["history"][0], out["history"][-1]
    assert last["calls"] == out["estimator"].max_iter  # one call per block and pass
    assert last["sparsity"] == pytest.approx(0.9, abs=0.01)
    assert last["accuracy"] > 0.85 and last["accuracy"] >= first["accuracy"] - 0.02
    assert out["predict_agrees"]


def test_text_feature_selection(tmp_path):
    pytest.importorskip("matplotlib")
    out = _main("text_feature_selection")(fast=True, out_dir=str(tmp_path))
    # the network reads exactly the planted words out of a ~2,300-word vocabulary
    assert sorted(out["kept"]) == out["planted"]
    assert out["n_vocabulary"] > 2000
    assert out["accuracy"] > 0.95
    assert (tmp_path / "kept_words.png").exists()


def test_feature_selection_cv(tmp_path):
    pytest.importorskip("matplotlib")
    out = _main("feature_selection_cv")(fast=True, out_dir=str(tmp_path))
    # default settings find exactly the true Friedman #1 features
    assert out["selected"] == [0, 1, 2, 3, 4]
    assert out["pipeline_selected"] == out["selected"]
    assert out["test_r2"] > 0.9
    assert (tmp_path / "cv_path.png").exists()
