"""Inputs scikit-learn's MLP takes, at scale: sparse matrices that stay sparse,
multilabel indicator targets, partial_fit that honours every hyperparameter,
out-of-core training through dask-ml's Incremental."""

import pickle
import tracemalloc
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.datasets import make_classification
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder

from sksparse_nn import SparseMLPClassifier, SparseMLPRegressor
from sksparse_nn.feature_selection import input_l1_path


@pytest.fixture(scope="module")
def sparse_data():
    X, y = make_classification(300, 40, n_informative=5, random_state=0)
    X[np.abs(X) < 1.0] = 0.0  # about 30% nonzero
    return X.astype(np.float32), y


# ------------------------------------------------------------------ sparse X
@pytest.mark.parametrize("kw", [
    dict(),
    dict(l1=1e-3, input_l1=0.3),
    dict(target_sparsity=0.8, prune_schedule="gradual"),
    dict(selective_pruning_tol=0.01),
])
@pytest.mark.parametrize("fmt", ["csr", "csc"])
def test_sparse_and_dense_input_give_the_same_model(sparse_data, kw, fmt):
    X, y = sparse_data
    Xs = sp.csr_matrix(X) if fmt == "csr" else sp.csc_matrix(X)
    est = dict(hidden_layer_sizes=(16,), max_iter=20, random_state=0, **kw)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dense = SparseMLPClassifier(**est).fit(X, y)
        sparse = SparseMLPClassifier(**est).fit(Xs, y)
    np.testing.assert_allclose(sparse.predict_proba(Xs), dense.predict_proba(X), atol=1e-4)
    np.testing.assert_array_equal(sparse.predict(Xs), sparse.predict(X))
    assert sparse.n_features_selected_ == dense.n_features_selected_
    assert sparse.hidden_layer_sizes_ == dense.hidden_layer_sizes_


def test_sparse_input_regressor_and_partial_fit(sparse_data):
    X, y = sparse_data
    Xs = sp.csr_matrix(X)
    target = X[:, :3].sum(axis=1)
    a = SparseMLPRegressor((8,), max_iter=10, random_state=0).fit(X, target)
    b = SparseMLPRegressor((8,), max_iter=10, random_state=0).fit(Xs, target)
    np.testing.assert_allclose(a.predict(X), b.predict(Xs), rtol=1e-4, atol=1e-4)
    c = SparseMLPClassifier((8,), random_state=0, max_iter=3)
    d = SparseMLPClassifier((8,), random_state=0, max_iter=3)
    for start in range(0, 300, 100):
        c.partial_fit(X[start:start + 100], y[start:start + 100], classes=[0, 1])
        d.partial_fit(Xs[start:start + 100], y[start:start + 100], classes=[0, 1])
    np.testing.assert_allclose(c.predict_proba(X), d.predict_proba(Xs), atol=1e-4)


def test_sparse_prune_neurons_and_input_l1_path(sparse_data):
    X, y = sparse_data
    Xs = sp.csr_matrix(X)
    est = dict(hidden_layer_sizes=(16,), max_iter=20, random_state=0, input_l1=0.3)
    a = SparseMLPClassifier(**est).fit(X, y).prune_neurons(X[:100], y[:100], tol=0.05)
    b = SparseMLPClassifier(**est).fit(Xs, y).prune_neurons(Xs[:100], y[:100], tol=0.05)
    assert a.hidden_layer_sizes_ == b.hidden_layer_sizes_
    assert a.selective_pruning_record_["n_removed"] > 0
    np.testing.assert_allclose(a.predict_proba(X), b.predict_proba(Xs), atol=1e-4)
    template = SparseMLPClassifier((16,), max_iter=10, random_state=0)
    pa = input_l1_path(template, X, y, [0.01, 0.3], step_max_iter=5)
    pb = input_l1_path(template, sp.csr_matrix(X), y, [0.01, 0.3], step_max_iter=5)
    np.testing.assert_array_equal(pa.n_selected, pb.n_selected)
    np.testing.assert_allclose(pa.scores, pb.scores)


def test_wide_sparse_input_is_never_densified():
    # dense float32 X would be 40 MB; numpy/scipy allocations stay far below
    rng = np.random.RandomState(0)
    X = sp.random(100, 100_000, density=0.001, format="csr", dtype=np.float32,
                  random_state=rng)
    y = rng.randint(0, 2, 100)
    clf = SparseMLPClassifier((4,), max_iter=2, random_state=0)
    tracemalloc.start()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            clf.fit(X, y)
        proba = clf.predict_proba(X)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert proba.shape == (100, 2)
    assert peak < 20e6, f"{peak / 1e6:.1f} MB traced: X was densified"


def test_tfidf_and_one_hot_pipelines():
    rng = np.random.RandomState(0)
    vocab = [f"w{i}" for i in range(200)]
    docs, y = [], []
    for i in range(200):
        label = i % 2
        words = list(rng.choice(vocab, 12))
        words += ["good", "great"] if label else ["bad", "awful"]
        docs.append(" ".join(words))
        y.append(label)
    y = np.array(y)
    pipe = make_pipeline(TfidfVectorizer(), SparseMLPClassifier((8,), max_iter=50,
                                                                learning_rate_init=1e-2,
                                                                random_state=0))
    pipe.fit(docs, y)
    assert pipe.score(docs, y) > 0.95
    cats = rng.randint(0, 5, size=(200, 3)).astype(str)
    target = (cats[:, 0] == "1").astype(int)
    pipe = make_pipeline(OneHotEncoder(sparse_output=True),
                         SparseMLPClassifier((8,), max_iter=50, learning_rate_init=1e-2,
                                             random_state=0))
    pipe.fit(cats, target)
    assert pipe.score(cats, target) > 0.95


# ---------------------------------------------------------------- multilabel
@pytest.fixture(scope="module")
def multilabel():
    from sklearn.datasets import make_multilabel_classification

    X, Y = make_multilabel_classification(300, 20, n_classes=4, random_state=0)
    return X / X.max(), Y


def test_multilabel_outputs_as_mlpclassifier(multilabel):
    from sklearn.neural_network import MLPClassifier

    X, Y = multilabel
    ref = MLPClassifier((16,), max_iter=5, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref.fit(X, Y)
    clf = SparseMLPClassifier((32,), max_iter=60, learning_rate_init=1e-2,
                              random_state=0).fit(X, Y)
    np.testing.assert_array_equal(clf.classes_, ref.classes_)
    assert clf.n_outputs_ == ref.n_outputs_ == 4
    assert clf.out_activation_ == ref.out_activation_ == "logistic"
    pred, proba = clf.predict(X), clf.predict_proba(X)
    assert pred.shape == proba.shape == Y.shape
    assert pred.dtype == ref.predict(X).dtype
    np.testing.assert_array_equal(pred, (proba > 0.5).astype(int))
    assert not np.allclose(proba.sum(axis=1), 1.0)  # independent labels, not a softmax
    assert clf.score(X, Y) > 0.4  # subset accuracy; chance is far below
    assert clf.__sklearn_tags__().classifier_tags.multi_label
    with pytest.raises(ValueError, match="multilabel indicator"):
        clf.partial_fit(X, Y[:, :3])
    with pytest.raises(ValueError, match="0 and 1 only"):
        SparseMLPClassifier(max_iter=2).fit(X, Y * 2)
    Y3 = Y.copy()
    Y3[0, 0] = 2
    with pytest.raises(ValueError, match="multilabel-indicator targets"):
        SparseMLPClassifier(max_iter=2).fit(X, Y3)


@pytest.mark.parametrize("kw", [
    dict(l1=1e-3, input_l1=0.01),
    *[dict(target_sparsity=0.8, prune_schedule=s)
      for s in ("one_shot", "gradual", "iterative", "dynamic")],
    dict(l1=3e-3, neuron_threshold=0.05, selective_pruning_tol=0.01),
])
def test_multilabel_with_sparsity_and_export(multilabel, kw, tmp_path):
    from sksparse_nn.export import to_torch

    X, Y = multilabel
    Xs = sp.csr_matrix(X)
    clf = SparseMLPClassifier((32,), max_iter=40, learning_rate_init=1e-2,
                              random_state=0, **kw)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=UserWarning)
        clf.fit(Xs, Y)
    assert clf.sparsity_ > 0.1
    if "target_sparsity" in kw:
        assert clf.sparsity_as_built_ == pytest.approx(0.8, abs=0.02)
    if "selective_pruning_tol" in kw:
        assert clf.hidden_layer_sizes_[0] < 32
    assert clf.score(X, Y) > 0.3
    proba = clf.predict_proba(X)
    torch_model = to_torch(clf)
    import torch

    out = torch_model(torch.as_tensor(X, dtype=torch.float32)).detach().numpy()
    np.testing.assert_allclose(out, proba, atol=1e-5)


def test_multilabel_onnx_export(multilabel, tmp_path):
    pytest.importorskip("onnx")
    pytest.importorskip("onnxscript")
    ort = pytest.importorskip("onnxruntime")
    from sksparse_nn.export import to_onnx

    X, Y = multilabel
    clf = SparseMLPClassifier((16,), input_l1=0.01, max_iter=30, learning_rate_init=1e-2,
                              random_state=0).fit(X, Y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        path = to_onnx(clf, tmp_path / "ml.onnx")
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (proba,) = sess.run(None, {"X": X.astype(np.float32)})
    np.testing.assert_allclose(proba, clf.predict_proba(X), atol=1e-5)


# --------------------------------------------------------------- partial_fit
@pytest.fixture(scope="module")
def stream():
    X, y = make_classification(1200, 20, n_informative=6, random_state=0)
    return X, y


@pytest.mark.parametrize("schedule", ["one_shot", "gradual", "iterative", "dynamic"])
def test_partial_fit_follows_the_prune_schedule_call_by_call(stream, schedule):
    X, y = stream
    clf = SparseMLPClassifier((32,), max_iter=6, prune_schedule=schedule,
                              target_sparsity=0.9, random_state=0)
    seen = []
    for k in range(9):
        block = slice(100 * k, 100 * k + 100 - (20 if k % 2 else 0))  # uneven blocks
        clf.partial_fit(X[block], y[block], classes=[0, 1])
        seen.append(clf.sparsity_as_built_)
        if k == 2:  # a stream pickled between blocks (as dask may) keeps its plan
            clf = pickle.loads(pickle.dumps(clf))
        if k == 5:
            zeros = [W == 0 for W in clf.coefs_]
    assert seen[5] == pytest.approx(0.9, abs=0.01)  # the target after max_iter calls
    assert all(b >= a - 1e-9 for a, b in zip(seen, seen[1:]))  # masks never loosen
    if schedule not in ("one_shot", "dynamic"):  # ramps: on the way, below the target
        assert 0.0 < min(s for s in seen if s > 0) < 0.85
    # later calls keep the masks: every zero stays zero
    for W, z in zip(clf.coefs_, zeros):
        assert np.all(W[z[:, :W.shape[1]]] == 0) if W.shape == z.shape else True
    assert seen[-1] == pytest.approx(0.9, abs=0.01)
    assert clf.n_iter_ == 9


def test_partial_fit_l1_warmup_and_frozen_support(stream):
    X, y = stream
    clf = SparseMLPClassifier((32,), max_iter=8, l1=1e-2, input_l1=0.05, batch_size=10,
                              random_state=0)
    seen = []
    for k in range(11):
        clf.partial_fit(X[100 * k:100 * k + 100], y[100 * k:100 * k + 100], classes=[0, 1])
        seen.append(clf.sparsity_as_built_)
        if k == 7:
            support = clf.feature_importances_ > 0
    assert seen[0] == 0.0  # warm-up: no penalty in the first quarter of the plan
    assert seen[7] > seen[3] > 0.0
    # after the plan the support is frozen: zeros stay zero, survivors are no
    # longer shrunk, no dropped feature comes back
    assert seen[7:] == [seen[7]] * 4
    assert not np.any((clf.feature_importances_ > 0) & ~support)


def test_partial_fit_says_what_it_does_not_apply(stream):
    X, y = stream
    clf = SparseMLPClassifier((8,), early_stopping=True, selective_pruning_tol=0.01)
    with pytest.warns(UserWarning, match="early_stopping=True.*selective_pruning_tol"):
        clf.partial_fit(X[:100], y[:100], classes=[0, 1])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # said once, not on every block
        clf.partial_fit(X[100:200], y[100:200])
    with pytest.raises(ValueError, match="classes must be passed"):
        SparseMLPClassifier((8,)).partial_fit(X[:100], y[:100])


def test_partial_fit_one_pass_learns_as_fast_as_mlpclassifier():
    from sklearn.neural_network import MLPClassifier

    X, y = make_classification(6000, 30, random_state=0)
    Xtr, ytr, Xte, yte = X[:5000], y[:5000], X[5000:], y[5000:]
    ours = SparseMLPClassifier((64,), learning_rate_init=1e-3, random_state=0)
    ref = MLPClassifier((64,), learning_rate_init=1e-3, random_state=0)
    for start in range(0, 5000, 500):
        ours.partial_fit(Xtr[start:start + 500], ytr[start:start + 500], classes=[0, 1])
        ref.partial_fit(Xtr[start:start + 500], ytr[start:start + 500], classes=[0, 1])
    assert ours.score(Xte, yte) >= ref.score(Xte, yte) - 0.03


# ------------------------------------------------------------- out of core
def test_dask_incremental_trains_sparse_network_on_local_cluster():
    da = pytest.importorskip("dask.array")
    distributed = pytest.importorskip("distributed")
    wrappers = pytest.importorskip("dask_ml.wrappers")

    X, y = make_classification(2000, 20, n_informative=6, random_state=0)
    Xd, yd = da.from_array(X, chunks=250), da.from_array(y, chunks=250)
    est = SparseMLPClassifier((32,), max_iter=16, batch_size=50, target_sparsity=0.8,
                              learning_rate_init=1e-2,
                              random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "port already in use" chatter
        with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                                      dashboard_address=None) as cluster, \
                distributed.Client(cluster):
            inc = wrappers.Incremental(est, shuffle_blocks=True, random_state=0)
            inc.fit(Xd, yd, classes=[0, 1])  # one pass: 8 blocks = 8 partial_fit calls
            assert inc.estimator_.n_iter_ == 8
            inc.partial_fit(Xd, yd)  # a second pass completes the 16 planned calls
            score = inc.score(Xd, yd)
            pred = inc.predict(Xd).compute()
            proba = inc.predict_proba(Xd[:5]).compute()
    fitted = inc.estimator_
    assert fitted.n_iter_ == 16
    assert fitted.sparsity_as_built_ == pytest.approx(0.8, abs=0.01)
    assert score > 0.75
    np.testing.assert_array_equal(pred, fitted.predict(X))
    assert proba.shape == (5, 2)
    # Incremental copies the learned attributes onto the wrapper
    np.testing.assert_array_equal(inc.classes_, [0, 1])


def test_partial_fit_after_fit_continues_with_the_masks(stream):
    X, y = stream
    clf = SparseMLPClassifier((32,), max_iter=10, target_sparsity=0.8,
                              random_state=0).fit(X, y)
    zeros, sizes = clf.coefs_[0] == 0, clf.hidden_layer_sizes_
    for start in range(0, 400, 100):
        clf.partial_fit(X[start:start + 100], y[start:start + 100])
    # fit's plan is complete: no schedule restarts (no denser phase), every zero
    # stays zero (units fit removed stay removed: they count as zeros)
    assert clf.sparsity_as_built_ >= 0.79
    assert clf.hidden_layer_sizes_ == sizes
    assert np.all(clf.coefs_[0][zeros] == 0)
    assert clf.n_iter_ == 14
