"""
Feature selection with SelectFromModel in a pandas pipeline
===========================================================

``input_l1`` (a group lasso on each input column's outgoing weights) drives whole
input features to exactly zero. ``feature_importances_`` is then exactly 0 for
the dropped features, and the estimator reports ``penalty="l1"``, so
:class:`~sklearn.feature_selection.SelectFromModel` keeps exactly the features
the network still reads. With ``set_output(transform="pandas")`` the column names
survive every step. See :doc:`/user_guide/feature_selection`.

Prints the ``input_l1`` path (features kept and test accuracy per strength), the
selected column names and the final pipeline's test accuracy, then draws the
path and the importances.

Run: ``python examples/feature_selection_pipeline.py [--out-dir DIR] [--fast]``;
with ``--out-dir`` the figures are also saved there as ``path.png`` and
``importances.png``.
"""

# %%
import argparse
import os

import pandas as pd
from sklearn.datasets import load_breast_cancer
from sklearn.feature_selection import SelectFromModel
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sksparse_nn import SparseMLPClassifier, plotting


# %%
# The path, then the pipeline
# ---------------------------
# First one network per ``input_l1`` strength, to see how many of the 30
# features survive and what that costs in accuracy. Then a pipeline: scale,
# select with the sparse network, classify the kept columns with a logistic
# regression.


def main(fast=False, out_dir=None, input_l1=0.02):
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)  # a DataFrame
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.3, random_state=0, stratify=y)
    epochs = 40 if fast else 100  # 40 epochs are enough for a path worth drawing

    def selector_net(strength):
        return SparseMLPClassifier(hidden_layer_sizes=(16,), input_l1=strength,
                                   batch_size=32, max_iter=epochs, random_state=0)

    # 1) the input_l1 path: how many features survive, and at what accuracy
    strengths = [0.003, 0.01, 0.03, 0.1, 0.3] if fast else [0.003, 0.01, 0.02, 0.05, 0.1, 0.3]
    path = []
    # input_l1's schedule fixes each run's length: no ConvergenceWarning to silence
    for strength in strengths:
        net = make_pipeline(StandardScaler(), selector_net(strength)).fit(X_train, y_train)
        path.append({"input_l1": strength, "n_selected": net[-1].n_features_selected_,
                     "score": net.score(X_test, y_test)})
    print(pd.DataFrame(path).to_string(index=False, float_format=lambda v: f"{v:.3f}"))

    # 2) the pipeline: scale -> select with the sparse net -> a simple final model
    pipe = make_pipeline(
        StandardScaler(),
        SelectFromModel(selector_net(input_l1)),
        LogisticRegression(max_iter=1000),
    ).set_output(transform="pandas")
    pipe.fit(X_train, y_train)
    selected = list(pipe[:-1].get_feature_names_out())
    net = pipe.named_steps["selectfrommodel"].estimator_
    print(f"\ninput_l1={input_l1}: {len(selected)} of {X.shape[1]} features kept:")
    print("  " + ", ".join(selected))
    print(f"the final model sees a DataFrame: {type(pipe[:-1].transform(X_test)).__name__} "
          f"with columns {list(pipe[-1].feature_names_in_[:3])} ...")
    accuracy = pipe.score(X_test, y_test)
    print(f"test accuracy of the pipeline {accuracy:.3f}")

    if out_dir:
        import matplotlib.pyplot as plt

        os.makedirs(out_dir, exist_ok=True)
        for name, draw, size in [
            ("path", lambda ax: plotting.plot_feature_selection_path(path, ax=ax), (6, 4)),
            ("importances", lambda ax: plotting.plot_feature_importances(
                net, ax=ax, feature_names=X.columns), (6, 8)),
        ]:
            fig, ax = plt.subplots(figsize=size)
            draw(ax)
            fig.tight_layout()
            fig.savefig(os.path.join(out_dir, f"{name}.png"), dpi=90)
            plt.close(fig)
        print(f"saved path.png and importances.png to {out_dir}")
    return {"path": path, "selected": selected, "accuracy": accuracy, "pipeline": pipe,
            "selector": net, "feature_names": list(X.columns)}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description="Feature selection with SelectFromModel in a pandas pipeline.")
    parser.add_argument("--out-dir", default=None)
    parser.add_argument("--input-l1", type=float, default=0.02)
    parser.add_argument("--fast", action="store_true", help="a few epochs only (smoke test)")
    results = main(**vars(parser.parse_args()))

# %%
# The feature-selection path
# --------------------------
# :func:`~sksparse_nn.plotting.plot_feature_selection_path`: features kept (left
# axis) and test accuracy (right axis) against ``input_l1``. A stronger penalty
# keeps fewer features; the accuracy holds until the useful ones start to go.
# :func:`~sksparse_nn.feature_selection.input_l1_path` computes such a path with
# warm starts, much faster than one fit per value.
if __name__ == "__main__":
    plotting.plot_feature_selection_path(results["path"])

# %%
# What the selector kept
# ----------------------
# The selecting network's importances, with the column names of the DataFrame:
# features it no longer reads have zero-length bars and are dropped by
# ``SelectFromModel``.
if __name__ == "__main__":
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 8))
    plotting.plot_feature_importances(results["selector"], ax=ax,
                                      feature_names=results["feature_names"])
    fig.tight_layout()
