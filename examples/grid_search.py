"""
GridSearchCV over the sparsity hyperparameters
==============================================

Every hyperparameter is a flat constructor argument, so scikit-learn's model
selection works unchanged: here a grid over ``l1``, ``dropout``,
``prune_schedule``, ``target_sparsity`` and ``neuron_threshold`` on the
breast-cancer data, 3-fold cross-validated, with a
:class:`~sklearn.preprocessing.StandardScaler` in the pipeline (fitted inside
each fold).

Prints the best parameters, the five best candidates with their sparsity, and
the refitted best model's test accuracy and size. The gallery runs the tiny
``--fast`` grid.

Run: ``python examples/grid_search.py [--n-jobs N] [--fast]``
"""

# %%
import argparse
import warnings

import pandas as pd
from sklearn.datasets import load_breast_cancer
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV, StratifiedKFold, train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from sksparse_nn import SparseMLPClassifier


# %%
# The search
# ----------
# Parameters of the network step are addressed as ``net__<name>``, as for any
# scikit-learn pipeline.


def main(fast=False, n_jobs=1):
    X, y = load_breast_cancer(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.25, random_state=0, stratify=y)
    pipe = Pipeline([
        ("scale", StandardScaler()),
        ("net", SparseMLPClassifier(hidden_layer_sizes=(32,), learning_rate_init=0.01,
                                    max_iter=6 if fast else 40,
                                    random_state=0)),
    ])
    if fast:
        grid = {"net__l1": [0.0, 0.01], "net__target_sparsity": [0.0, 0.8]}
    else:
        grid = {
            "net__l1": [0.0, 0.01],
            "net__dropout": [0.0, 0.3],
            "net__prune_schedule": ["gradual", "iterative"],
            "net__target_sparsity": [0.5, 0.9],
            "net__neuron_threshold": [0.0, 0.05],
        }
    search = GridSearchCV(pipe, grid, cv=StratifiedKFold(3, shuffle=True, random_state=0),
                          n_jobs=n_jobs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # fixed epoch budget
        search.fit(X_train, y_train)

    n_candidates = len(search.cv_results_["params"])
    print(f"{n_candidates} candidates x 3 folds")
    print(f"best CV accuracy {search.best_score_:.3f} with")
    for key, value in search.best_params_.items():
        print(f"  {key:<24} {value}")

    results = pd.DataFrame(search.cv_results_)
    cols = ["rank_test_score", "mean_test_score", "std_test_score"] + [
        f"param_{k}" for k in grid]
    top = results.sort_values("rank_test_score")[cols].head(5)
    top.columns = [c.replace("param_net__", "") for c in top.columns]
    print("\nbest five candidates:")
    print(top.to_string(index=False, float_format=lambda v: f"{v:.3f}"))

    best = search.best_estimator_["net"]
    accuracy = search.score(X_test, y_test)
    print(f"\nrefitted best model: test accuracy {accuracy:.3f}, {best.sparsity_:.0%} zero "
          f"weights, hidden units {best.hidden_layer_sizes_}, "
          f"{best.n_features_selected_} of {X.shape[1]} features read")
    return {"search": search, "accuracy": accuracy}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="GridSearchCV over the sparsity hyperparameters.")
    parser.add_argument("--n-jobs", type=int, default=1)
    parser.add_argument("--fast", action="store_true", help="a tiny grid (smoke test)")
    main(**vars(parser.parse_args()))
