"""Quick start: a sparse MLP on scikit-learn's bundled breast-cancer data.

Fits the same network dense and with L1 + gradual magnitude pruning, then prints
accuracy, exact-zero fraction, surviving units and the size of the compact model.
Run: python examples/quickstart.py
"""

import pickle

from sklearn.datasets import load_breast_cancer
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sksparse_nn import SparseMLPClassifier


def main():
    X, y = load_breast_cancer(return_X_y=True)
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.3, random_state=0, stratify=y)
    settings = {
        # no schedule fixes a dense run's length: it trains until the training loss
        # settles (a ConvergenceWarning would ask for more epochs otherwise); with
        # L1 or a prune schedule, max_iter is the plan of the run
        "dense": dict(max_iter=300, tol=1e-3),
        "l1": dict(l1=3e-3, max_iter=100),
        "l1 + gradual 90%": dict(l1=1e-3, prune_schedule="gradual", target_sparsity=0.9,
                                 max_iter=100),
    }
    print(f"{'model':<18} {'accuracy':>8} {'zeros':>7} {'hidden':>8} {'pickle':>9}")
    for name, kw in settings.items():
        model = make_pipeline(
            StandardScaler(),
            SparseMLPClassifier(hidden_layer_sizes=(100,), random_state=0, **kw),
        ).fit(Xtr, ytr)
        est = model[-1]
        size = len(pickle.dumps(model))
        print(f"{name:<18} {model.score(Xte, yte):8.3f} {est.sparsity_:7.1%} "
              f"{str(est.hidden_layer_sizes_):>8} {size:>8,}B")


if __name__ == "__main__":
    main()
