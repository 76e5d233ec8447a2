"""Side-by-side comparison of fitted models: quality, size and speed in one table.

>>> from sksparse_nn.report import compare_models
>>> compare_models({"dense": dense, "sparse": sparse}, X_test, y_test)  # doctest: +SKIP

Works for any fitted scikit-learn estimator or pipeline; the parameter counts are
read from the final step's ``coefs_`` / ``intercepts_`` (MLPs, including
scikit-learn's own) or ``coef_`` / ``intercept_`` (linear models), and are NaN
for anything else.
"""

import pickle
import time

import numpy as np
import pandas as pd
from sklearn.base import is_classifier
from sklearn.metrics import (
    accuracy_score,
    f1_score,
    mean_absolute_error,
    mean_squared_error,
    precision_score,
    r2_score,
    recall_score,
)

__all__ = ["compare_models", "count_parameters", "predict_latency"]


def _final_step(model):
    steps = getattr(model, "steps", None)
    return steps[-1][1] if steps else model


def count_parameters(model):
    """Count the parameters and the nonzero parameters of a fitted model.

    Counts connection weights and biases of the final step's network as it is
    used for prediction (for a :class:`~sksparse_nn.SparseMLPClassifier`, the
    compacted one: removed units are gone, removed inputs are zero rows).

    Parameters
    ----------
    model : estimator or Pipeline
        A fitted model exposing ``coefs_`` / ``intercepts_`` or ``coef_`` /
        ``intercept_`` (for a pipeline: its final step).

    Returns
    -------
    n_params : int or float
        Weights and biases; NaN when the model exposes no weights.
    n_nonzero : int or float
        How many of them are nonzero; NaN when the model exposes no weights.
    """
    est = _final_step(model)
    arrays = None
    if hasattr(est, "coefs_") and hasattr(est, "intercepts_"):
        arrays = list(est.coefs_) + list(est.intercepts_)
    elif hasattr(est, "coef_"):
        arrays = [est.coef_, np.atleast_1d(getattr(est, "intercept_", []))]
    if arrays is None:
        return float("nan"), float("nan")
    arrays = [a.toarray() if hasattr(a, "toarray") else np.asarray(a) for a in arrays]
    return (int(sum(a.size for a in arrays)),
            int(sum(np.count_nonzero(a) for a in arrays)))


def predict_latency(model, X, n_repeats=5, method="predict"):
    """Time ``model.<method>(X)``: the best of ``n_repeats`` calls after a warm-up.

    Parameters
    ----------
    model : estimator or Pipeline
        A fitted model.
    X : array-like
        The input of every call.
    n_repeats : int, default=5
        Timed calls.
    method : str, default="predict"
        The method to time.

    Returns
    -------
    milliseconds : float
        The fastest call's wall time.
    """
    fn = getattr(model, method)
    fn(X)
    best = float("inf")
    for _ in range(max(1, int(n_repeats))):
        start = time.perf_counter()
        fn(X)
        best = min(best, time.perf_counter() - start)
    return 1e3 * best


def compare_models(models, X_test, y_test, *, average=None, n_repeats=5):
    """Compare fitted models: test metrics, nonzero parameters, latency, pickle size.

    Parameters
    ----------
    models : dict of {name: fitted estimator or pipeline}
        The models, one row each.
    X_test : array-like of shape (n_samples, n_features)
        Held-out data every model is scored on.
    y_test : array-like of shape (n_samples,)
        Its targets.
    average : str or None, default=None
        ``average`` for precision / recall / F1 of classifiers. None means
        ``"binary"`` (positive class = the larger label) for two classes and
        ``"macro"`` otherwise.
    n_repeats : int, default=5
        Timed calls of ``predict`` per model; the best is reported.

    Returns
    -------
    table : pandas.DataFrame
        Indexed by model name. Classifiers get ``accuracy``, ``precision``,
        ``recall``, ``f1``; regressors ``mse``, ``mae``, ``r2``. Every row has
        ``n_params`` (weights + biases of the final step), ``nonzero_params``,
        ``sparsity`` (``1 - nonzero_params / n_params``), ``predict_ms`` (best
        of ``n_repeats``) and ``pickle_bytes`` (``len(pickle.dumps(model))``).
    """
    if not isinstance(models, dict) or not models:
        raise ValueError("models must be a non-empty dict of {name: fitted estimator}.")
    y_test = np.asarray(y_test)
    rows = {}
    for name, model in models.items():
        y_pred = model.predict(X_test)
        row = {}
        if is_classifier(model):
            avg, pos = average, 1
            if avg is None:
                labels = np.unique(np.concatenate([np.unique(y_test), np.unique(y_pred)]))
                avg = "binary" if len(labels) <= 2 else "macro"
                pos = labels[-1]
            kw = dict(average=avg, zero_division=0)
            if avg == "binary":
                kw["pos_label"] = pos
            row["accuracy"] = accuracy_score(y_test, y_pred)
            row["precision"] = precision_score(y_test, y_pred, **kw)
            row["recall"] = recall_score(y_test, y_pred, **kw)
            row["f1"] = f1_score(y_test, y_pred, **kw)
        else:
            row["mse"] = mean_squared_error(y_test, y_pred)
            row["mae"] = mean_absolute_error(y_test, y_pred)
            row["r2"] = r2_score(y_test, y_pred)
        n_params, nonzero = count_parameters(model)
        row["n_params"] = n_params
        row["nonzero_params"] = nonzero
        row["sparsity"] = 1.0 - nonzero / n_params if np.isfinite(n_params) and n_params else np.nan
        row["predict_ms"] = predict_latency(model, X_test, n_repeats=n_repeats)
        row["pickle_bytes"] = len(pickle.dumps(model))
        rows[name] = row
    df = pd.DataFrame.from_dict(rows, orient="index")
    df.index.name = "model"
    return df

