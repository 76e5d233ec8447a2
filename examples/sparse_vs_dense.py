"""
Sparse against dense: quality, size and speed side by side
==========================================================

Three models on the digits data (64 pixels, 10 classes): the same (256, 128)
network trained dense, and trained with L1 + gradual magnitude pruning to 95%
zeros; scikit-learn's own :class:`~sklearn.neural_network.MLPClassifier` as a
reference. The table comes from :func:`sksparse_nn.report.compare_models`:
accuracy, macro precision / recall / F1, parameters (weights + biases) and how
many are nonzero, predict latency on the test set (best of 5) and the pickled
size.

Run: ``python examples/sparse_vs_dense.py [--fast]``
"""

# %%
import argparse
import warnings

from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sksparse_nn import SparseMLPClassifier
from sksparse_nn.report import compare_models


# %%
# Fit the three models and compare them
# -------------------------------------


def main(fast=False):
    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.3, random_state=0, stratify=y)
    epochs = 15 if fast else 60  # 15: enough for the pruned net to recover
    common = dict(hidden_layer_sizes=(256, 128), max_iter=epochs, random_state=0)
    models = {
        "dense": SparseMLPClassifier(**common),
        "sparse 95%": SparseMLPClassifier(l1=1e-3, prune_schedule="gradual",
                                          target_sparsity=0.95, **common),
        "sklearn MLP": MLPClassifier(**common),
    }
    fitted = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # fixed epoch budget
        for name, est in models.items():
            fitted[name] = make_pipeline(StandardScaler(), est).fit(X_train, y_train)

    table = compare_models(fitted, X_test, y_test)
    sparse = fitted["sparse 95%"][-1]
    print(table.to_string(float_format=lambda v: f"{v:.3f}"))
    print()
    print(f"sparse model: hidden sizes {sparse.hidden_layer_sizes_} (built (256, 128)), "
          f"{sparse.n_features_selected_} of 64 pixels read")
    ratio = table.loc["dense", "pickle_bytes"] / table.loc["sparse 95%", "pickle_bytes"]
    print(f"pickle {ratio:.1f}x smaller, "
          f"{table.loc['dense', 'nonzero_params'] / table.loc['sparse 95%', 'nonzero_params']:.0f}x "
          "fewer nonzero parameters, accuracy "
          f"{table.loc['sparse 95%', 'accuracy'] - table.loc['dense', 'accuracy']:+.3f}")
    return {"table": table}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Sparse against dense: quality, size and speed side by side.")
    parser.add_argument("--fast", action="store_true", help="a few epochs only (smoke test)")
    results = main(**vars(parser.parse_args()))

# %%
# Accuracy against sparsity
# -------------------------
# :func:`~sksparse_nn.plotting.plot_sparsity_tradeoff` reads the table
# directly: its ``sparsity`` and ``accuracy`` columns, one point per model.
if __name__ == "__main__":
    from sksparse_nn.plotting import plot_sparsity_tradeoff

    plot_sparsity_tradeoff(results["table"])
