"""
Multiclass classifier with elastic-net weights, batch norm and dropout
======================================================================

The Keras network::

    Dense(128, kernel_regularizer=l1_l2(l1=0.01, l2=0.001)), BatchNormalization(),
    Activation("relu"), Dropout(0.5), ... Dense(10, "softmax")

is one estimator here: ``l1`` + ``l2`` is the elastic net (the L1 part as an
exact-zero proximal step, the L2 part as weight decay), ``batch_norm=True`` puts
batch normalisation before each hidden activation and ``dropout=0.5`` drops half
the units after it. At prediction time batch norm is folded into the weights and
dropout is gone.

Run: ``python examples/multiclass_classifier.py [--fast]``
"""

# %%
import argparse

from sklearn.datasets import load_digits
from sklearn.metrics import confusion_matrix
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sksparse_nn import SparseMLPClassifier


# %%
# Fit and report
# --------------


def main(fast=False):
    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.2, random_state=0, stratify=y)

    clf = SparseMLPClassifier(
        hidden_layer_sizes=(128, 64),
        l1=0.01,           # elastic net: L1 part ...
        l2=0.001,          # ... and L2 part
        batch_norm=True,
        dropout=0.5,
        max_iter=12 if fast else 100,
        early_stopping=True,
        n_iter_no_change=15,
        random_state=0,
    )
    # With l1 > 0 the sparsity pattern is frozen after 80% of max_iter and early
    # stopping only counts from there: a run that ends at max_iter does so by design,
    # and no ConvergenceWarning is raised for it.
    model = make_pipeline(StandardScaler(), clf).fit(X_train, y_train)

    accuracy = model.score(X_test, y_test)
    print(f"test accuracy        {accuracy:.3f}")
    print(f"epochs run           {clf.n_iter_}")
    print(f"zero weights         {clf.sparsity_:.1%}")
    print(f"nonzero per layer    {clf.nonzero_weights_}")
    print(f"hidden sizes         {clf.hidden_layer_sizes_} (built as (128, 64))")
    print(f"pixels used          {clf.n_features_selected_} of {X.shape[1]}")
    print("confusion matrix (rows: true digit)")
    print(confusion_matrix(y_test, model.predict(X_test)))
    return {
        "accuracy": accuracy,
        "sparsity": clf.sparsity_,
        "hidden_layer_sizes": clf.hidden_layer_sizes_,
        "model": clf,
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Multiclass classifier with elastic-net weights, batch norm and dropout.")
    parser.add_argument("--fast", action="store_true", help="a few epochs only (smoke test)")
    results = main(**vars(parser.parse_args()))

# %%
# Sparsity during training
# ------------------------
# The fraction of zero weights and the hidden units alive per epoch
# (:func:`~sksparse_nn.plotting.plot_sparsity`).
if __name__ == "__main__":
    from sksparse_nn.plotting import plot_sparsity

    plot_sparsity(results["model"])
