"""
Binary classifier with an L1 penalty
====================================

The classic Keras recipe in our API::

    Dense(64, activation="relu", kernel_regularizer=l1(0.01)), Dense(1, "sigmoid")
    compile(optimizer="adam", loss="binary_crossentropy"); fit(epochs=..., batch_size=32)

is ``SparseMLPClassifier((64,), l1=0.01, batch_size=32)``. Here the L1 term is a
proximal (soft-threshold) step after each Adam step, so the weights it kills are
exactly zero, and hidden units with no weights left are physically removed from
the model used for prediction (see :doc:`/user_guide/l1_proximal`).

Run: ``python examples/binary_classifier.py [--fast]``
"""

# %%
import argparse

import numpy as np
from sklearn.datasets import load_breast_cancer
from sklearn.metrics import classification_report
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sksparse_nn import SparseMLPClassifier


# %%
# Fit and report
# --------------
# Early stopping holds out 20% of the training data and keeps the best epoch.


def main(fast=False):
    X, y = load_breast_cancer(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.2, random_state=0, stratify=y)

    clf = SparseMLPClassifier(
        hidden_layer_sizes=(64,),  # Dense(64, activation="relu")
        activation="relu",
        l1=0.01,                   # kernel_regularizer=l1(0.01), on every layer
        batch_size=32,
        max_iter=10 if fast else 200,
        early_stopping=True,       # hold out 20%, keep the best epoch
        validation_fraction=0.2,
        n_iter_no_change=20,
        random_state=0,
    )
    model = make_pipeline(StandardScaler(), clf).fit(X_train, y_train)

    accuracy = model.score(X_test, y_test)
    n_weights = 30 * 64 + 64 * 1
    print(f"test accuracy        {accuracy:.3f}")
    print(f"epochs run           {clf.n_iter_}")
    print(f"zero weights         {clf.sparsity_:.1%} of {n_weights}")
    print(f"nonzero per layer    {clf.nonzero_weights_}")
    print(f"hidden units left    {clf.hidden_layer_sizes_[0]} of 64")
    print(f"input features used  {clf.n_features_selected_} of {X.shape[1]}")
    print()
    print(classification_report(y_test, model.predict(X_test),
                                target_names=["malignant", "benign"], digits=3))
    return {
        "accuracy": accuracy,
        "sparsity": clf.sparsity_,
        "hidden_layer_sizes": clf.hidden_layer_sizes_,
        "n_features_selected": clf.n_features_selected_,
        "proba": model.predict_proba(X_test),
        "y_test": np.asarray(y_test),
        "model": clf,
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Binary classifier with an L1 penalty (the classic Keras recipe, in our API).")
    parser.add_argument("--fast", action="store_true", help="a few epochs only (smoke test)")
    results = main(**vars(parser.parse_args()))

# %%
# Training and validation loss
# ----------------------------
# With ``l1 > 0`` the penalty starts after a quarter of the epochs and the zero
# pattern freezes after 80%; early stopping only counts from there.
if __name__ == "__main__":
    from sksparse_nn.plotting import plot_loss_curve

    plot_loss_curve(results["model"])
