"""
Quick start: a sparse MLP on the breast-cancer data
===================================================

Fits the same (100,) network three ways on scikit-learn's bundled breast-cancer
data: dense, with an L1 penalty, and with L1 plus gradual magnitude pruning to
90% zeros. For each it prints the test accuracy, the fraction of weights that
are exactly zero, the hidden units left after compaction and the size of the
pickled pipeline.

Run: ``python examples/quickstart.py`` (``--fast`` for a shorter run).
"""

# %%
import argparse
import pickle

from sklearn.datasets import load_breast_cancer
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sksparse_nn import SparseMLPClassifier


def main(fast=False):
    X, y = load_breast_cancer(return_X_y=True)
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.3, random_state=0, stratify=y)
    epochs = 30 if fast else 100
    settings = {
        # no schedule fixes a dense run's length: it trains until the training loss
        # settles (a ConvergenceWarning would ask for more epochs otherwise); with
        # L1 or a prune schedule, max_iter is the plan of the run
        "dense": dict(max_iter=300, tol=1e-3),
        "l1": dict(l1=3e-3, max_iter=epochs),
        "l1 + gradual 90%": dict(l1=1e-3, prune_schedule="gradual", target_sparsity=0.9,
                                 max_iter=epochs),
    }
    print(f"{'model':<18} {'accuracy':>8} {'zeros':>7} {'hidden':>8} {'pickle':>9}")
    models = {}
    for name, kw in settings.items():
        model = make_pipeline(
            StandardScaler(),
            SparseMLPClassifier(hidden_layer_sizes=(100,), random_state=0, **kw),
        ).fit(Xtr, ytr)
        est = model[-1]
        size = len(pickle.dumps(model))
        print(f"{name:<18} {model.score(Xte, yte):8.3f} {est.sparsity_:7.1%} "
              f"{str(est.hidden_layer_sizes_):>8} {size:>8,}B")
        models[name] = model
    return {"models": models}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description="Quick start: a sparse MLP on the breast-cancer data.")
    parser.add_argument("--fast", action="store_true", help="fewer epochs")
    main(**vars(parser.parse_args()))
