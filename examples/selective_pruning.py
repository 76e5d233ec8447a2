"""
Selective (trial-and-error) neuron pruning
==========================================

Magnitude pruning removes weights; selective pruning removes whole hidden units
(see :doc:`/user_guide/neuron_removal`). With ``selective_pruning_tol`` set, after
training every hidden unit is tried out on the validation split: it stays out if
the validation loss rises by at most the tolerance (accumulated over all
removals). Passes repeat until nothing more can go, then the smaller network is
fine-tuned. ``selective_pruning_record_`` says what went and what it cost.

:meth:`~sksparse_nn.SparseMLPClassifier.prune_neurons` does the same to an
already fitted model, on held-out data you provide.

Run: ``python examples/selective_pruning.py [--fast]``
"""

# %%
import argparse
import warnings

import pandas as pd
from sklearn.datasets import load_breast_cancer
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from sksparse_nn import SparseMLPClassifier


def _print_record(record, removals=False):
    for key in ("n_removed", "val_loss_before", "val_loss_after_removal",
                "val_loss_after_fine_tune", "train_loss_after_fine_tune",
                "hidden_layer_sizes_after"):
        value = record[key]
        print(f"  {key:<26} {value:.4f}" if isinstance(value, float)
              else f"  {key:<26} {value}")
    for key, where in record["data"].items():  # which data each loss comes from
        print(f"  data[{key!r}]: {where}")
    if removals and record["removed"]:
        print("  removed (in order; loss = validation loss once this unit was out):")
        table = pd.DataFrame(record["removed"])
        print("    " + table.to_string(index=False, float_format=lambda v: f"{v:.4f}")
              .replace("\n", "\n    "))


# %%
# In ``fit``, then on a fitted model
# ----------------------------------


def main(fast=False, tol=0.02):
    X, y = load_breast_cancer(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.25, random_state=0, stratify=y)
    X_fit, X_hold, y_fit, y_hold = train_test_split(
        X_train, y_train, test_size=0.25, random_state=0, stratify=y_train)
    scaler = StandardScaler().fit(X_fit)
    X_fit, X_hold, X_test = (scaler.transform(a) for a in (X_fit, X_hold, X_test))
    X_train = scaler.transform(X_train)

    kw = dict(hidden_layer_sizes=(32, 16), max_iter=8 if fast else 80, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # fixed epoch budget
        plain = SparseMLPClassifier(**kw).fit(X_train, y_train)
        pruned = SparseMLPClassifier(selective_pruning_tol=tol, **kw).fit(X_train, y_train)

    print(f"1) selective_pruning_tol={tol} inside fit (validation split: 10% of the data)")
    print(f"  test accuracy          {plain.score(X_test, y_test):.3f} (no pruning) -> "
          f"{pruned.score(X_test, y_test):.3f}")
    print(f"  hidden sizes           {plain.hidden_layer_sizes_} -> {pruned.hidden_layer_sizes_}")
    print("  selective_pruning_record_:")
    _print_record(pruned.selective_pruning_record_, removals=True)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        later = SparseMLPClassifier(**kw).fit(X_fit, y_fit)
        before = later.score(X_test, y_test)
        sizes_before = later.hidden_layer_sizes_
        later.prune_neurons(X_hold, y_hold, tol=tol)
    print(f"\n2) prune_neurons(X_hold, y_hold, tol={tol}) on a fitted model")
    print(f"  test accuracy          {before:.3f} -> {later.score(X_test, y_test):.3f}")
    print(f"  hidden sizes           {sizes_before} -> {later.hidden_layer_sizes_}")
    print("  selective_pruning_record_:")
    _print_record(later.selective_pruning_record_)
    return {"fit": pruned, "after_fit": later, "plain": plain,
            "sizes_before_prune": sizes_before}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Selective (trial-and-error) neuron pruning.")
    parser.add_argument("--tol", type=float, default=0.02)
    parser.add_argument("--fast", action="store_true", help="a few epochs only (smoke test)")
    main(**vars(parser.parse_args()))
