"""Pruning schedules compared at one target sparsity.

The same (128, 64) network on the digits data, pruned by weight magnitude to
90% zeros with each built-in schedule:

* "one_shot"  - prune everything at once midway, then fine-tune;
* "gradual"   - raise the sparsity along a cubic curve (Zhu & Gupta style);
* "iterative" - several prune-and-retrain rounds;
* "dynamic"   - start sparse, then repeatedly drop weak and regrow new weights;
* "gradual, max_units" - the gradual ramp with at most (32, 16) hidden units
  surviving, plus a little L1: a much smaller network to predict with.

Prints test accuracy, the sparsity reached, the hidden units left and the fit
time of each. With --out-dir, also saves sparsity.png: sparsity and hidden
units alive per epoch for every schedule.

Run: python examples/pruning_schedules.py [--out-dir DIR] [--fast]
"""

import argparse
import os
import time

import pandas as pd
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from sksparse_nn import Gradual, SparseMLPClassifier

SCHEDULES = {
    "one_shot": {"prune_schedule": "one_shot"},
    "gradual": {"prune_schedule": "gradual"},
    "iterative": {"prune_schedule": "iterative"},
    "dynamic": {"prune_schedule": "dynamic"},
    "gradual, max_units": {"prune_schedule": Gradual(max_units=(32, 16)), "l1": 1e-4},
}


def main(fast=False, out_dir=None, target_sparsity=0.9):
    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.3, random_state=0, stratify=y)
    scaler = StandardScaler().fit(X_train)
    X_train, X_test = scaler.transform(X_train), scaler.transform(X_test)

    rows, models = {}, {}
    for schedule, params in SCHEDULES.items():
        clf = SparseMLPClassifier(
            hidden_layer_sizes=(128, 64),
            **params,
            target_sparsity=target_sparsity,
            max_iter=6 if fast else 60,
            random_state=0,
        )
        start = time.perf_counter()
        clf.fit(X_train, y_train)  # the schedule fixes the run: no ConvergenceWarning
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

    if out_dir:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        from sksparse_nn.plotting import plot_sparsity

        os.makedirs(out_dir, exist_ok=True)
        fig, axes = plt.subplots(1, len(SCHEDULES), figsize=(4 * len(SCHEDULES), 3.5))
        for ax, (name, clf) in zip(axes, models.items()):
            plot_sparsity(clf, ax=ax).set_title(name)
        fig.tight_layout()
        path = os.path.join(out_dir, "sparsity.png")
        fig.savefig(path, dpi=90)
        plt.close(fig)
        print(f"saved {path}")
    return {"table": table, "models": models}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out-dir", default=None, help="save sparsity.png here")
    parser.add_argument("--target-sparsity", type=float, default=0.9)
    parser.add_argument("--fast", action="store_true", help="a few epochs only (smoke test)")
    main(**vars(parser.parse_args()))
