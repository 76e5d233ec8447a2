import pickle

import numpy as np
import pandas as pd
import pytest
from sklearn.dummy import DummyClassifier
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.metrics import accuracy_score, f1_score, mean_squared_error, precision_score, r2_score
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sksparse_nn import SparseMLPClassifier, SparseMLPRegressor
from sksparse_nn.report import compare_models, count_parameters

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


@pytest.fixture(scope="module")
def fitted(cancer):
    Xtr, Xte, ytr, yte = cancer
    kw = dict(hidden_layer_sizes=(16,), max_iter=15, random_state=0)
    models = {
        "dense": SparseMLPClassifier(**kw).fit(Xtr, ytr),
        "sparse": SparseMLPClassifier(l1=0.01, target_sparsity=0.8, **kw).fit(Xtr, ytr),
        "logreg": LogisticRegression(max_iter=200).fit(Xtr, ytr),
    }
    return models, Xte, yte


def test_classifier_table(fitted):
    models, Xte, yte = fitted
    df = compare_models(models, Xte, yte, n_repeats=2)
    assert isinstance(df, pd.DataFrame)
    assert list(df.index) == ["dense", "sparse", "logreg"]
    assert {"accuracy", "precision", "recall", "f1", "n_params", "nonzero_params",
            "sparsity", "predict_ms", "pickle_bytes"} <= set(df.columns)
    for name, model in models.items():
        pred = model.predict(Xte)
        row = df.loc[name]
        assert row["accuracy"] == pytest.approx(accuracy_score(yte, pred))
        assert row["precision"] == pytest.approx(precision_score(yte, pred))
        assert row["f1"] == pytest.approx(f1_score(yte, pred))
        assert row["pickle_bytes"] == len(pickle.dumps(model))
        assert row["predict_ms"] > 0
    dense, sparse = models["dense"], models["sparse"]
    n_dense = sum(w.size for w in dense.coefs_) + sum(b.size for b in dense.intercepts_)
    assert df.loc["dense", "n_params"] == n_dense
    nz_sparse = (sum(np.count_nonzero(w) for w in sparse.coefs_)
                 + sum(np.count_nonzero(b) for b in sparse.intercepts_))
    assert df.loc["sparse", "nonzero_params"] == nz_sparse
    assert df.loc["sparse", "nonzero_params"] < 0.5 * df.loc["dense", "nonzero_params"]
    assert df.loc["sparse", "sparsity"] > 0.5
    assert df.loc["sparse", "pickle_bytes"] < df.loc["dense", "pickle_bytes"]
    # logistic regression: coef_ (1 x 30) + intercept_
    assert df.loc["logreg", "n_params"] == Xte.shape[1] + 1


def test_multiclass_macro_and_pipelines(digits):
    Xtr, Xte, ytr, yte = digits
    pipe = make_pipeline(StandardScaler(),
                         SparseMLPClassifier((16,), max_iter=5, random_state=0)).fit(Xtr, ytr)
    sk = MLPClassifier((16,), max_iter=5, random_state=0).fit(Xtr, ytr)
    dummy = DummyClassifier().fit(Xtr, ytr)
    df = compare_models({"pipe": pipe, "sklearn": sk, "dummy": dummy}, Xte, yte, n_repeats=1)
    pred = pipe.predict(Xte)
    assert df.loc["pipe", "f1"] == pytest.approx(f1_score(yte, pred, average="macro"))
    assert df.loc["pipe", "n_params"] == count_parameters(pipe[-1])[0]
    assert df.loc["sklearn", "n_params"] == 64 * 16 + 16 + 16 * 10 + 10
    assert np.isnan(df.loc["dummy", "n_params"]) and np.isnan(df.loc["dummy", "sparsity"])


def test_string_labels_binary(cancer):
    Xtr, Xte, ytr, yte = cancer
    names = np.array(["malignant", "benign"])
    model = SparseMLPClassifier((8,), max_iter=5, random_state=0).fit(Xtr, names[ytr])
    df = compare_models({"m": model}, Xte, names[yte], n_repeats=1)
    pred = model.predict(Xte)
    assert df.loc["m", "recall"] == pytest.approx(
        precision_score(pred, names[yte], pos_label="malignant"))  # recall = swapped precision


def test_regressor_table(diabetes):
    Xtr, Xte, ytr, yte = diabetes
    models = {"sparse": SparseMLPRegressor((16,), l1=0.01, max_iter=10, random_state=0),
              "ridge": Ridge()}
    models = {k: m.fit(Xtr, ytr) for k, m in models.items()}
    df = compare_models(models, Xte, yte, n_repeats=1)
    assert {"mse", "mae", "r2"} <= set(df.columns) and "accuracy" not in df.columns
    for name, model in models.items():
        pred = model.predict(Xte)
        assert df.loc[name, "mse"] == pytest.approx(mean_squared_error(yte, pred))
        assert df.loc[name, "r2"] == pytest.approx(r2_score(yte, pred))


def test_rejects_empty():
    with pytest.raises(ValueError, match="non-empty dict"):
        compare_models({}, np.zeros((2, 2)), np.zeros(2))
