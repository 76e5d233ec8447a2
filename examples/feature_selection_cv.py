"""
Choosing input_l1 by cross-validation
=====================================

:class:`~sksparse_nn.SparseMLPRegressorCV` does for the sparse network what
scikit-learn's ``LassoCV`` does for the lasso: on every fold it fits a
warm-started path of increasing ``input_l1`` (the group lasso on each input
feature's outgoing weights), scores every step on the held-out part, picks the
strongest penalty whose mean score is within one standard error of the best, and
refits on all the data. Nothing is tuned by hand: the grid is relative and the
batch size, learning rate and epochs are chosen from the number of rows.

The data is Friedman #1 with extra noise columns: only columns 0-4 matter, and
column 2 acts through ``(x2 - 0.5)^2``, which a linear model cannot see.

Run: ``python examples/feature_selection_cv.py [--fast] [--out-dir DIR]``
"""

# %%
# Data with a known answer
# ------------------------
import argparse
import os
import warnings

import numpy as np
from sklearn.datasets import make_friedman1
from sklearn.feature_selection import SelectFromModel
from sklearn.linear_model import LinearRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sksparse_nn import SparseMLPRegressorCV


def make_data(n_samples, n_features, seed=0):
    X, y = make_friedman1(n_samples=2 * n_samples, n_features=n_features, noise=0.5,
                          random_state=seed)
    X = StandardScaler().fit_transform(X)
    return train_test_split(X, y, train_size=n_samples, random_state=seed)


def main(fast=False, out_dir=None):
    # fast: a smaller problem and three folds (the selection still has to be right)
    n_samples, n_features, cv = (400, 15, 3) if fast else (1000, 50, 5)
    X_train, X_test, y_train, y_test = make_data(n_samples, n_features)

    # %%
    # One estimator, default settings
    # -------------------------------
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        model = SparseMLPRegressorCV(cv=cv, random_state=0).fit(X_train, y_train)
    selected = np.flatnonzero(model.feature_importances_).tolist()
    print(f"chosen input_l1_     {model.input_l1_:.4g}")
    print(f"selected features    {selected}  (truth: [0, 1, 2, 3, 4])")
    print(f"test R^2             {model.score(X_test, y_test):.3f}")

    # %%
    # The path: features kept and held-out score per input_l1
    # --------------------------------------------------------
    # ``n_features_path_`` holds the features each fold kept at every step,
    # ``mean_scores_`` the mean held-out R^2. Over a wide range of penalties
    # every fold keeps exactly the five true features.
    print("\n input_l1   kept (per fold)      mean R^2")
    for lam, kept, score in zip(model.input_l1s_, model.n_features_path_, model.mean_scores_):
        print(f" {lam:8.4f}   {str(kept.tolist()):20s} {score:.3f}")

    # %%
    # As a selector in a pipeline
    # ---------------------------
    # The dropped features have exactly zero importance, so ``SelectFromModel``
    # keeps exactly the selected ones; a plain linear model on them then sees
    # only signal. ``SelectFromModel(SparseMLPRegressorCV())`` fits the selector
    # inside the pipeline; here the model fitted above is reused (``prefit``).
    pipe = make_pipeline(SelectFromModel(model, prefit=True), LinearRegression())
    pipe.fit(X_train, y_train)
    pipe_selected = pipe[0].get_support(indices=True).tolist()
    print(f"\npipeline keeps       {pipe_selected}, "
          f"linear test R^2 {pipe.score(X_test, y_test):.3f}")

    # %%
    # Plot
    # ----
    if out_dir is not None or not fast:
        import matplotlib

        if out_dir is not None:
            matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        from sksparse_nn.plotting import plot_feature_selection_path

        ax = plot_feature_selection_path(model)
        if out_dir is not None:
            os.makedirs(out_dir, exist_ok=True)
            ax.figure.savefig(os.path.join(out_dir, "cv_path.png"), dpi=100,
                              bbox_inches="tight")
            plt.close(ax.figure)

    return {"model": model, "selected": selected, "pipeline_selected": pipe_selected,
            "test_r2": model.score(X_test, y_test)}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Choosing input_l1 by cross-validation.")
    parser.add_argument("--fast", action="store_true", help="a smaller problem")
    parser.add_argument("--out-dir", default=None, help="save cv_path.png here")
    args = parser.parse_args()
    main(fast=args.fast, out_dir=args.out_dir)
