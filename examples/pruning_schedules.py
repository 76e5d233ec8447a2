"""
Pruning schedules compared at one target sparsity
=================================================

The same (128, 64) network on the digits data, pruned by weight magnitude to
90% zeros with each built-in schedule (see :doc:`/user_guide/prune_schedules`):

* ``"one_shot"``: prune everything at once midway, then fine-tune;
* ``"gradual"``: raise the sparsity along a cubic curve (Zhu & Gupta style);
* ``"iterative"``: several prune-and-retrain rounds;
* ``"dynamic"``: start sparse, then repeatedly drop weak and regrow new weights;
* ``"gradual, max_units"``: the gradual ramp with at most (32, 16) hidden units
  surviving, plus a little L1: a much smaller network to predict with.

Then the gradual schedule at several targets: test accuracy against sparsity.

Run: ``python examples/pruning_schedules.py [--out-dir DIR] [--fast]``; with
``--out-dir`` the sparsity and units-alive curves are also saved there as
``sparsity.png``.
"""

# %%
import argparse
import os
import time
import warnings

import pandas as pd
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from sksparse_nn import Gradual, SparseMLPClassifier, plotting

SCHEDULES = {
    "one_shot": {"prune_schedule": "one_shot"},
    "gradual": {"prune_schedule": "gradual"},
    "iterative": {"prune_schedule": "iterative"},
    "dynamic": {"prune_schedule": "dynamic"},
    "gradual, max_units": {"prune_schedule": Gradual(max_units=(32, 16)), "l1": 1e-4},
}


def plot_schedules(models):
    """Sparsity and hidden units alive per epoch, one panel per schedule."""
    import matplotlib.pyplot as plt

    n_rows = -(-len(models) // 3)
    fig, axes = plt.subplots(n_rows, 3, figsize=(13, 3.6 * n_rows), squeeze=False)
    for ax, (name, clf) in zip(axes.ravel(), models.items()):
        plotting.plot_sparsity(clf, ax=ax).set_title(name)
    for ax in axes.ravel()[len(models):]:
        ax.set_visible(False)
    fig.tight_layout()
    return fig


# %%
# Fitting every schedule
# ----------------------
# Every fit has the same epoch budget; a schedule decides *when* weights go,
# ``target_sparsity`` *how many*. The table gives test accuracy, the sparsity
# reached, the hidden units left after compaction and the fit time.


def main(fast=False, out_dir=None, target_sparsity=0.9):
    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.3, random_state=0, stratify=y)
    scaler = StandardScaler().fit(X_train)
    X_train, X_test = scaler.transform(X_train), scaler.transform(X_test)
    epochs = 6 if fast else 60

    def fit(max_iter=epochs, **params):
        clf = SparseMLPClassifier(hidden_layer_sizes=(128, 64), max_iter=max_iter,
                                  random_state=0, **params)
        with warnings.catch_warnings():
            # the trade-off's dense point (target 0) trains on a fixed epoch budget
            warnings.simplefilter("ignore", ConvergenceWarning)
            return clf.fit(X_train, y_train)

    rows, models = {}, {}
    for schedule, params in SCHEDULES.items():
        start = time.perf_counter()
        clf = fit(target_sparsity=target_sparsity, **params)
        rows[schedule] = {
            "accuracy": clf.score(X_test, y_test),
            "sparsity": clf.sparsity_as_built_,  # what target_sparsity sets
            "zeros in coefs_": clf.sparsity_,  # the compacted network
            "hidden_sizes": clf.hidden_layer_sizes_,
            "epochs": clf.n_iter_,
            "fit_s": time.perf_counter() - start,
        }
        models[schedule] = clf
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = f"schedule (target {target_sparsity:.0%})"
    print(table.to_string(float_format=lambda v: f"{v:.3f}"))

    # the accuracy / sparsity trade-off of the gradual schedule (a few more epochs
    # in the fast run: six are too few to prune to 90% and recover)
    targets = [0.0, 0.5, 0.8, 0.9] if fast else [0.0, 0.5, 0.8, 0.9, 0.95, 0.98, 0.99]
    tradeoff = {f"{t:.0%}": fit(max_iter=20 if fast else epochs, prune_schedule="gradual",
                                target_sparsity=t)
                for t in targets}
    print("\ngradual: test accuracy by target sparsity")
    for name, clf in tradeoff.items():
        print(f"  {name:>4}  {clf.score(X_test, y_test):.3f}")

    if out_dir:
        import matplotlib.pyplot as plt

        os.makedirs(out_dir, exist_ok=True)
        fig = plot_schedules(models)
        path = os.path.join(out_dir, "sparsity.png")
        fig.savefig(path, dpi=90)
        plt.close(fig)
        print(f"saved {path}")
    return {"table": table, "models": models, "tradeoff": tradeoff,
            "X_test": X_test, "y_test": y_test}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description="Pruning schedules compared at one target sparsity.")
    parser.add_argument("--out-dir", default=None, help="also save sparsity.png here")
    parser.add_argument("--target-sparsity", type=float, default=0.9)
    parser.add_argument("--fast", action="store_true", help="a few epochs only (smoke test)")
    results = main(**vars(parser.parse_args()))

# %%
# Sparsity and units alive per epoch
# ----------------------------------
# :func:`~sksparse_nn.plotting.plot_sparsity` draws the fraction of zero weights
# (left axis) and the hidden units still alive (right axis) at the end of each
# epoch. One-shot jumps, gradual ramps, iterative climbs in steps, dynamic is at
# the target from the start. Units die when all their incoming or outgoing
# weights are gone; with ``max_units`` the weakest units are emptied on purpose,
# which is what makes the compacted network small.
if __name__ == "__main__":
    plot_schedules(results["models"])

# %%
# Accuracy against sparsity
# -------------------------
# :func:`~sksparse_nn.plotting.plot_sparsity_tradeoff` scores each model on the
# test set and places it at its sparsity. With enough epochs the gradual schedule
# keeps the dense accuracy up to 90-95% zeros (the gallery runs the short
# ``--fast`` budget).
if __name__ == "__main__":
    plotting.plot_sparsity_tradeoff(results["tradeoff"], results["X_test"], results["y_test"])
