"""Persistence (skops) and export (ONNX) of fitted estimators; a CUDA fit when a GPU
is present. Each test skips when its optional package is missing."""

import numpy as np
import pytest
import torch
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sksparse_nn import SparseMLPClassifier, SparseMLPRegressor

pytestmark = pytest.mark.filterwarnings(
    "ignore::sklearn.exceptions.ConvergenceWarning",
    "ignore::FutureWarning",
    "ignore::DeprecationWarning",
)


@pytest.fixture(scope="module")
def binary(cancer):
    Xtr, Xte, ytr, yte = cancer
    model = SparseMLPClassifier((16,), input_l1=0.2, batch_norm=True, target_sparsity=0.5,
                                max_iter=15, random_state=0).fit(Xtr, ytr)
    assert model.n_features_selected_ < Xtr.shape[1]  # the export must gather columns
    return model, Xte


@pytest.fixture(scope="module")
def multiclass(digits):
    Xtr, Xte, ytr, yte = digits
    model = SparseMLPClassifier((16,), l1=0.01, dropout=0.2, max_iter=5,
                                random_state=0).fit(Xtr, ytr)
    return model, Xte


@pytest.fixture(scope="module")
def regressor(diabetes):
    Xtr, Xte, ytr, yte = diabetes
    model = SparseMLPRegressor((16,), input_l1=0.05, max_iter=10, random_state=0).fit(Xtr, ytr)
    return model, Xte


# ---------------------------------------------------------------------- skops
def test_skops_round_trip_pipeline(cancer, tmp_path):
    sio = pytest.importorskip("skops.io")
    Xtr, Xte, ytr, _ = cancer
    pipe = make_pipeline(StandardScaler(), SparseMLPClassifier(
        (16,), l1=0.01, target_sparsity=0.5, max_iter=8, random_state=0)).fit(Xtr, ytr)
    path = tmp_path / "model.skops"
    sio.dump(pipe, path)
    untrusted = sio.get_untrusted_types(file=path)
    # only our own estimator needs trusting: no torch or skorch objects are stored
    assert untrusted == ["sksparse_nn._classes.SparseMLPClassifier"]
    loaded = sio.load(path, trusted=untrusted)
    np.testing.assert_array_equal(loaded.predict_proba(Xte), pipe.predict_proba(Xte))
    np.testing.assert_array_equal(loaded.predict(Xte), pipe.predict(Xte))
    est, est2 = pipe[-1], loaded[-1]
    assert est2.sparsity_ == est.sparsity_ and est2.loss_curve_ == est.loss_curve_
    # the training engine is rebuilt on demand, with its history
    assert len(est2.net_.history) == len(est.net_.history)


def test_skops_round_trip_regressor_and_refit(regressor, diabetes, tmp_path):
    sio = pytest.importorskip("skops.io")
    model, Xte = regressor
    data = sio.dumps(model)
    loaded = sio.loads(data, trusted=sio.get_untrusted_types(data=data))
    np.testing.assert_array_equal(loaded.predict(Xte), model.predict(Xte))
    Xtr, _, ytr, _ = diabetes
    refit = loaded.set_params(max_iter=3).fit(Xtr, ytr)  # still a working estimator
    assert refit.predict(Xte).shape == (len(Xte),)


def test_skops_after_partial_fit_trusts_only_the_estimator(digits, tmp_path):
    sio = pytest.importorskip("skops.io")
    Xtr, Xte, ytr, _ = digits
    m = SparseMLPClassifier((8,), max_iter=3, random_state=0)
    m.partial_fit(Xtr, ytr, classes=np.arange(10))
    data = sio.dumps(m)
    assert sio.get_untrusted_types(data=data) == ["sksparse_nn._classes.SparseMLPClassifier"]
    loaded = sio.loads(data, trusted=sio.get_untrusted_types(data=data))
    assert loaded.partial_fit_plan_ == m.partial_fit_plan_
    loaded.partial_fit(Xtr, ytr)  # the stream goes on where it was
    assert loaded.partial_fit_plan_.calls == 2


def test_skops_refuses_untrusted(binary):
    sio = pytest.importorskip("skops.io")
    model, _ = binary
    with pytest.raises(Exception, match="(?i)untrusted"):
        sio.loads(sio.dumps(model))


# ----------------------------------------------------------------------- ONNX
def _session(path):
    ort = pytest.importorskip("onnxruntime")
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def test_onnx_compact_network_matches_decision(binary, tmp_path):
    """The bare compact network, exported by hand: takes X[:, input_index]."""
    pytest.importorskip("onnx")
    pytest.importorskip("onnxscript")
    model, Xte = binary
    compact = model.compact_model_
    net = compact.to_torch().eval()
    example = torch.zeros(2, len(compact.input_index))
    path = tmp_path / "compact.onnx"
    torch.onnx.export(net, (example,), str(path), input_names=["X"], output_names=["logit"],
                      dynamic_shapes=({0: torch.export.Dim("batch")},), dynamo=True,
                      verbose=False)
    sess = _session(path)
    (logit,) = sess.run(None, {"X": Xte[:, compact.input_index].astype(np.float32)})
    p = 1.0 / (1.0 + np.exp(-logit[:, 0].astype(np.float64)))
    np.testing.assert_allclose(p, model.predict_proba(Xte)[:, 1], atol=1e-5)
    pred = model.classes_[(logit[:, 0] > 0).astype(int)]
    assert np.mean(pred == model.predict(Xte)) >= 0.99  # ties at 0 may flip in float32


@pytest.mark.parametrize("full_input", [True, False])
@pytest.mark.parametrize("which", ["binary", "multiclass"])
def test_to_onnx_classifier(which, full_input, request, tmp_path):
    pytest.importorskip("onnx")
    pytest.importorskip("onnxscript")
    from sksparse_nn.export import to_onnx

    model, Xte = request.getfixturevalue(which)
    path = to_onnx(model, tmp_path / "m.onnx", full_input=full_input)
    sess = _session(path)
    assert [o.name for o in sess.get_outputs()] == ["probabilities"]
    X = Xte if full_input else Xte[:, model.compact_model_.input_index]
    assert sess.get_inputs()[0].shape[1] == X.shape[1]
    (proba,) = sess.run(None, {"X": X.astype(np.float32)})
    np.testing.assert_allclose(proba, model.predict_proba(Xte), atol=1e-5)
    agree = np.mean(model.classes_[proba.argmax(axis=1)] == model.predict(Xte))
    assert agree >= 0.99
    # dynamic batch dimension: a single row works too
    (one,) = sess.run(None, {"X": X[:1].astype(np.float32)})
    np.testing.assert_allclose(one, proba[:1], atol=1e-6)


def test_to_onnx_regressor(regressor, tmp_path):
    pytest.importorskip("onnx")
    pytest.importorskip("onnxscript")
    from sksparse_nn.export import to_onnx

    model, Xte = regressor
    sess = _session(to_onnx(model, tmp_path / "r.onnx"))
    (pred,) = sess.run(None, {"X": Xte.astype(np.float32)})
    expected = model.predict(Xte)
    assert pred.shape == expected.shape
    np.testing.assert_allclose(pred, expected, rtol=1e-5, atol=1e-5 * np.abs(expected).max())


def test_to_torch_regressor_reads_the_public_target_scaling(regressor, diabetes):
    """The exported output step is ``network * y_scale_ + y_mean_``: shifting the
    fitted attributes shifts predict and the exported module alike; 2-D targets
    export with one column per output."""
    import copy

    from sksparse_nn.export import to_torch

    model, Xte = regressor
    X = torch.as_tensor(Xte, dtype=torch.float32)
    moved = copy.deepcopy(model)
    moved.y_mean_ = model.y_mean_ + 100.0
    moved.y_scale_ = 2.0 * model.y_scale_
    expected = 2.0 * (model.predict(Xte) - model.y_mean_) + model.y_mean_ + 100.0
    np.testing.assert_allclose(moved.predict(Xte), expected, rtol=1e-6)
    with torch.no_grad():
        out = to_torch(moved)(X).numpy()
    assert out.shape == (len(Xte),)
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-3)
    Xtr, _, ytr, _ = diabetes
    two = SparseMLPRegressor((8,), max_iter=3, random_state=0).fit(
        Xtr, np.column_stack([ytr, 10 * ytr]))
    with torch.no_grad():
        out = to_torch(two)(X).numpy()
    np.testing.assert_allclose(out, two.predict(Xte), rtol=1e-5, atol=1e-3)


def test_to_torch_and_to_onnx_guards(binary, cancer):
    from sksparse_nn.export import to_onnx, to_torch

    model, Xte = binary
    with torch.no_grad():
        proba = to_torch(model)(torch.as_tensor(Xte, dtype=torch.float32)).numpy()
    np.testing.assert_allclose(proba, model.predict_proba(Xte), atol=1e-5)
    Xtr, _, ytr, _ = cancer
    pipe = make_pipeline(StandardScaler(), SparseMLPClassifier((4,), max_iter=2)).fit(Xtr, ytr)
    with pytest.raises(TypeError, match="Pipeline"):
        to_onnx(pipe, "unused.onnx")
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        to_torch(SparseMLPClassifier())


# ------------------------------------------------------------------------ GPU
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_fit_on_cuda_matches_cpu_quality(cancer, tmp_path):
    Xtr, Xte, ytr, yte = cancer
    kw = dict(hidden_layer_sizes=(32,), l1=0.01, target_sparsity=0.7, max_iter=30,
              random_state=0)
    gpu = SparseMLPClassifier(device="cuda", **kw).fit(Xtr, ytr)
    cpu = SparseMLPClassifier(device="cpu", **kw).fit(Xtr, ytr)
    assert next(gpu.net_.module_.parameters()).is_cuda
    assert gpu.score(Xte, yte) >= cpu.score(Xte, yte) - 0.05
    assert gpu.sparsity_ >= 0.69
    # prediction runs on the CPU copy, and the model pickles without the GPU state
    import pickle

    loaded = pickle.loads(pickle.dumps(gpu))
    np.testing.assert_array_equal(loaded.predict_proba(Xte), gpu.predict_proba(Xte))
