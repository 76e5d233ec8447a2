"""The compact inference model: every kernel computes the same outputs, the
``kernel``/``engine`` overrides work and validate, and "auto" keeps the kernel
that measured fastest (timed with a fake clock here, never for real)."""

import pickle
import warnings
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import torch

from sksparse_nn._network import SparseMLP
from sksparse_nn._surgery import remove_dead_units
from sksparse_nn.inference import CompactMLP
from sksparse_nn.inference import _kernels as K
from sksparse_nn.inference._dispatch import KernelDispatch

from _networks import tiny_network

ACTIVATIONS = ["relu", "tanh", "logistic", "identity"]
KERNELS = [K.NumpyDense, K.NumpySparse, K.TorchDense, K.TorchSparse]
needs_torch_kernels = pytest.mark.skipif(not K.torch_kernels_ok(),
                                         reason="this torch build lacks oneDNN's linear")


def _network(activation="relu", density=0.03, hidden=(100, 20), seed=0, later_density=(),
             read=None):
    """A module with 200 inputs whose first layer is ``density`` dense (the first 30
    inputs unread, or only the inputs in ``read``); ``later_density``: the
    densities of the layers after it, as far as given."""
    torch.manual_seed(seed)
    m = SparseMLP(200, hidden, 4, activation=activation)
    with torch.no_grad():
        for linear, d in zip(m.linears, (density, *later_density)):
            linear.mask &= torch.rand_like(linear.weight) < d
        m.linears[0].mask[:, :30] = False  # inputs the network no longer reads
        if read is not None:
            keep = torch.zeros(200, dtype=torch.bool)
            keep[list(read)] = True
            m.linears[0].mask &= keep
        m.apply_masks_()
    return m.eval()


# the networks every kernel must agree on: a sparse first layer (and later bag
# layers on torch), a dense widened one, a dense gathered one (40 inputs read)
NETWORKS = {
    "sparse first": dict(),
    "bag chain": dict(later_density=(0.2,)),
    "all sparse": dict(later_density=(0.2, 0.2)),
    "one hidden, all sparse": dict(hidden=(100,), later_density=(0.2,)),
    "dense": dict(density=0.5),
    "gathered": dict(density=0.5, read=range(30, 70)),
}


def _reference(m, X):
    with torch.no_grad():
        return m(torch.as_tensor(X, dtype=torch.float64).float()).double().numpy()


def _kernel_or_skip(cls, cm, dtype):
    if not cls.applies(cm, dtype):
        pytest.skip(f"{cls.name} does not run {np.dtype(dtype).name} here")
    return cls.prepare(cm, dtype)


# every kernel with every dtype it takes (torch's are float32 only)
KERNEL_DTYPES = [pytest.param(cls, dtype, id=f"{cls.name}-{np.dtype(dtype).name}")
                 for cls in KERNELS for dtype in (np.float32, np.float64)
                 if cls.engine == "numpy" or dtype == np.float32]


def test_compact_model_matches_torch_and_drops_unused_inputs():
    m = tiny_network(batch_norm=True)
    with torch.no_grad():
        m.linears[0].weight[:, [0, 3]] = 0.0
    cm = CompactMLP.from_module(m)
    assert list(cm.input_index) == [1, 2, 4, 5]
    X = np.random.RandomState(0).randn(20, 6)
    with torch.no_grad():
        expected = m(torch.as_tensor(X, dtype=torch.float32)).numpy()
    np.testing.assert_allclose(cm.decision(X), expected, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(cm.decision(X.astype(np.float32)), expected, rtol=1e-4, atol=1e-5)
    torch_twin = cm.to_torch()
    with torch.no_grad():
        got = torch_twin(torch.as_tensor(X[:, cm.input_index], dtype=torch.float32)).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("network", list(NETWORKS))
@pytest.mark.parametrize("cls, dtype", KERNEL_DTYPES)
def test_every_kernel_computes_the_network(cls, dtype, network, activation="relu"):
    m = _network(activation, **NETWORKS[network])
    cm = CompactMLP.from_module(m)
    assert (len(cm.input_index) == 40) == (network == "gathered")
    kernel = _kernel_or_skip(cls, cm, dtype)
    for n in (1, 100, 1500):  # 1 row, a partial chunk, and several chunks
        X = np.random.RandomState(n).randn(n, 200).astype(dtype)
        got, ok = kernel.run(X, check_finite=True)
        assert ok and got.dtype == dtype and got.shape == (n, 4)
        np.testing.assert_allclose(got, _reference(m, X), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("activation", ACTIVATIONS[1:])
@pytest.mark.parametrize("network", ["all sparse", "gathered"])
@pytest.mark.parametrize("cls, dtype", KERNEL_DTYPES)
def test_every_kernel_computes_every_activation(cls, dtype, network, activation):
    test_every_kernel_computes_the_network(cls, dtype, network, activation)


@pytest.mark.parametrize("network", list(NETWORKS))
@pytest.mark.parametrize("cls, dtype", KERNEL_DTYPES)
def test_every_kernel_flags_nonfinite_input_anywhere(cls, dtype, network):
    cm = CompactMLP.from_module(_network(**NETWORKS[network]))
    kernel = _kernel_or_skip(cls, cm, dtype)
    X = np.random.RandomState(0).randn(700, 200).astype(dtype)
    assert kernel.run(X, check_finite=True)[1]
    ignored = np.setdiff1d(np.arange(200), cm.input_index)[0]
    for col in (ignored, cm.input_index[0]):
        for value in (np.nan, np.inf, -np.inf):
            bad = X.copy()
            bad[600, col] = value
            with np.errstate(invalid="ignore", over="ignore"):  # as predict does
                assert not kernel.run(bad, check_finite=True)[1], (col, value)


@pytest.mark.parametrize("kernel", ["auto", "dense", "sparse"])
@pytest.mark.parametrize("engine", ["auto", "numpy", "torch"])
def test_every_setting_gives_the_same_predictions(kernel, engine):
    """What a user sees: the overrides change speed, not answers, for any dtype,
    batch size, and for sparse (scipy) input."""
    import scipy.sparse as sp

    m = _network(later_density=(0.2,))
    cm = CompactMLP.from_module(m)
    cm.kernel, cm.engine = kernel, engine
    for n in (3, 600):
        X = np.random.RandomState(n).randn(n, 200)
        X[X < 0.5] = 0.0
        want = _reference(m, X)
        for Xi in (X, X.astype(np.float32), sp.csr_array(X)):
            np.testing.assert_allclose(cm.decision(Xi), want, rtol=1e-4, atol=1e-5)


def test_kernel_and_engine_settings_validate_and_survive_pickling():
    cm = CompactMLP.from_module(_network())
    assert (cm.kernel, cm.engine) == ("auto", "auto")
    for bad in ("fast", "Dense", None, 1):
        with pytest.raises(ValueError, match="kernel must be one of"):
            cm.kernel = bad
        with pytest.raises(ValueError, match="engine must be one of"):
            cm.engine = bad
    cm.kernel, cm.engine = "sparse", "numpy"
    again = pickle.loads(pickle.dumps(cm))
    assert (again.kernel, again.engine) == ("sparse", "numpy")


class _FakeCosts:
    """A fake clock that each kernel run advances by that kernel's cost."""

    def __init__(self, monkeypatch, costs):
        self.now, self.costs, self.runs = 0.0, costs, []
        for cls in KERNELS:
            monkeypatch.setattr(cls, "run", self._wrap(cls.run))

    def _wrap(self, run):
        def timed(kernel, X, check_finite=False):
            self.runs.append(kernel.name)
            self.now += self.costs[kernel.name] * len(X)
            return run(kernel, X, check_finite)
        return timed

    def __call__(self):
        return self.now


def _measured_model(monkeypatch, costs, **network):
    cm = CompactMLP.from_module(_network(**network))
    clock = _FakeCosts(monkeypatch, costs)
    cm.__dict__["_dispatch"] = KernelDispatch(clock=clock)
    return cm, clock


@pytest.mark.parametrize("fastest", ["numpy dense", "numpy sparse", "torch dense",
                                     "torch sparse"])
def test_auto_keeps_the_kernel_that_measured_fastest(fastest, monkeypatch):
    costs = dict.fromkeys(["numpy dense", "numpy sparse", "torch dense", "torch sparse"], 2e-3)
    costs[fastest] = 1e-3
    cm, clock = _measured_model(monkeypatch, costs)
    names = [c.name for c in cm._dispatcher().candidates(cm, np.dtype(np.float32))]
    if fastest not in names:
        pytest.skip(f"{fastest} cannot run here")
    X = np.random.RandomState(0).randn(1000, 200).astype(np.float32)
    first = cm.decision(X)
    assert set(clock.runs) == set(names)  # each candidate was timed
    ((key, chosen),) = cm.kernel_choices().items()
    assert chosen == fastest and key[0] == "float32" and key[1] <= 1000
    np.testing.assert_allclose(first, cm.decision(X.astype(np.float64)), rtol=1e-4, atol=1e-5)
    clock.runs.clear()
    for n in (1000, 700, 2000):  # the same range of sizes: no new measurement
        cm.decision(X[:n] if n <= 1000 else np.tile(X, (2, 1))[:n])
    assert clock.runs == [fastest] * 3


def test_each_range_of_batch_sizes_is_measured_once(monkeypatch):
    costs = {"numpy dense": 1e-3, "numpy sparse": 2e-3, "torch dense": 3e-3,
             "torch sparse": 4e-3}
    cm, clock = _measured_model(monkeypatch, costs)
    X = np.random.RandomState(0).randn(10000, 200).astype(np.float32)
    for n in (150, 300, 600, 2000, 3000, 10000, 9000):
        cm.decision(X[:n])
    assert sorted(rows for _, rows, _ in cm.kernel_choices()) == [128, 512, 2048, 8192]
    assert set(cm.kernel_choices().values()) == {"numpy dense"}


def test_small_batches_never_pay_for_a_measurement(monkeypatch):
    """Batches below 128 rows run one kernel once (the latency case)."""
    costs = dict.fromkeys(["numpy dense", "numpy sparse", "torch dense", "torch sparse"], 1e-3)
    for network in (dict(), dict(density=0.5)):
        cm, clock = _measured_model(monkeypatch, costs, **network)
        X = np.random.RandomState(0).randn(100, 200)
        for n in (1, 2, 50, 100, 127):
            for dtype in (np.float32, np.float64):
                clock.runs.clear()
                cm.decision(X[:n].astype(dtype) if n <= 100 else np.tile(X, (2, 1))[:n])
                assert len(clock.runs) == 1 and clock.runs[0].startswith("numpy")
        assert cm.kernel_choices() == {}


def test_overrides_restrict_the_measured_candidates(monkeypatch):
    costs = {"numpy dense": 1e-3, "numpy sparse": 2e-3, "torch dense": 3e-3,
             "torch sparse": 4e-3}
    cm, clock = _measured_model(monkeypatch, costs)
    X = np.random.RandomState(0).randn(500, 200).astype(np.float32)
    cm.kernel = "sparse"
    cm.decision(X)
    assert set(clock.runs) <= {"numpy sparse", "torch sparse"}
    assert set(cm.kernel_choices().values()) == {"numpy sparse"}
    cm.engine = "torch"
    clock.runs.clear()
    cm.decision(X)
    assert set(clock.runs) == ({"torch sparse"} if K.torch_kernels_ok() else {"numpy sparse"})
    cm.kernel = "dense"
    clock.runs.clear()
    cm.decision(X)
    assert set(clock.runs) == ({"torch dense"} if K.torch_kernels_ok() else {"numpy dense"})


def test_the_measured_choice_is_not_pickled(monkeypatch):
    costs = {"numpy dense": 2e-3, "numpy sparse": 1e-3, "torch dense": 3e-3,
             "torch sparse": 4e-3}
    cm, clock = _measured_model(monkeypatch, costs)
    X = np.random.RandomState(0).randn(300, 200)
    cm.decision(X)
    ((key, chosen),) = cm.kernel_choices().items()
    assert key[:2] == ("float64", 128) and chosen == "numpy sparse"
    blob = pickle.dumps(cm)
    again = pickle.loads(blob)
    assert again.kernel_choices() == {}
    assert b"numpy sparse" not in blob and b"_dispatch" not in blob
    np.testing.assert_array_equal(again.decision(X), cm.decision(X))


def test_dense_networks_do_not_measure_sparse_kernels(monkeypatch):
    """More than half dense, a sparse product cannot win anywhere: not timed."""
    costs = dict.fromkeys(["numpy dense", "numpy sparse", "torch dense", "torch sparse"], 1e-3)
    cm, clock = _measured_model(monkeypatch, costs, density=0.9)
    cm.decision(np.random.RandomState(0).randn(300, 200).astype(np.float32))
    assert clock.runs and not any("sparse" in name for name in clock.runs)


def test_sparse_kernel_is_subset_invariant_and_flags_nonfinite_rows():
    cm = CompactMLP.from_module(_network())
    cm.kernel = "sparse"
    X = np.random.RandomState(0).randn(1000, 200)
    full = cm.decision(X)
    for idx in (slice(0, 1), slice(300, 700), slice(999, 1000)):
        np.testing.assert_allclose(cm.decision(X[idx]), full[idx], rtol=1e-7, atol=0)
    for col in (0, 100):  # an ignored column and (probably) a read one
        bad = X.copy()
        bad[600, col] = np.nan
        _, ok = cm.decision(bad, check_finite=True)
        assert not ok
    assert cm.decision(X, check_finite=True)[1]


@pytest.mark.parametrize("kernel", ["auto", "dense", "sparse"])
def test_predictions_from_threads(kernel):
    cm = CompactMLP.from_module(_network())
    cm.kernel = kernel
    X = np.random.RandomState(0).randn(2000, 200).astype(np.float32)
    expected = cm.decision(X)  # measured here (auto): every thread runs the winner
    cm.__dict__.pop("_kernels")  # the threads race to prepare it again
    with ThreadPoolExecutor(4) as pool:
        for got in pool.map(lambda _: cm.decision(X), range(8)):
            np.testing.assert_array_equal(got, expected)


def test_threads_racing_on_an_unmeasured_model_agree():
    cm = CompactMLP.from_module(_network())
    X = np.random.RandomState(0).randn(600, 200).astype(np.float32)
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: cm.decision(X), range(8)))
    for got in results:
        np.testing.assert_allclose(got, results[0], rtol=1e-5, atol=1e-6)
    assert len(cm.kernel_choices()) == 1  # measured once, under the lock


@needs_torch_kernels
@pytest.mark.parametrize("table_bytes", [1, 3 * 201 * 256 * 4])  # blocks of 1 and 3 chunks
def test_sparse_torch_blocks_and_chunks_give_the_rows_of_the_whole_batch(table_bytes,
                                                                       monkeypatch):
    """The transposed-input table is reused block by block; rows split anywhere
    (between chunks, within one, past a block) give the same outputs."""
    monkeypatch.setattr(K.TorchSparse, "TABLE_BYTES", table_bytes)
    cm = CompactMLP.from_module(_network(later_density=(0.2, 0.5)))
    kernel = K.TorchSparse.prepare(cm, np.float32)
    assert [step[0] for step in kernel.steps] == ["bags", "bags", "dense"]
    X = np.random.RandomState(0).randn(1900, 200).astype(np.float32)
    full, _ = kernel.run(X)
    np.testing.assert_allclose(full, cm.decision(X.astype(np.float64)), rtol=1e-4, atol=1e-5)
    for rows in (slice(0, 256), slice(5, 1000), slice(700, 1900), slice(1899, 1900)):
        np.testing.assert_allclose(kernel.run(X[rows])[0], full[rows], rtol=1e-5, atol=1e-6)
    bad = X.copy()
    bad[1850, 3] = np.nan  # in the last, short chunk of the last block
    assert not kernel.run(bad, check_finite=True)[1]
    assert kernel.run(X[:1850], check_finite=True)[1]


@needs_torch_kernels
def test_float32_input_that_torch_cannot_share_is_copied_quietly():
    cm = CompactMLP.from_module(_network(density=0.5))
    cm.engine = "torch"
    X = np.random.RandomState(0).randn(50, 200).astype(np.float32)
    expected = cm.decision(X)
    readonly, fortran = X.copy(), np.asfortranarray(X)
    readonly.flags.writeable = False
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # torch warns on sharing read-only memory
        for variant in (readonly, fortran):
            np.testing.assert_array_equal(cm.decision(variant), expected)


def test_float32_falls_back_to_numpy_without_the_torch_kernels(monkeypatch):
    m = _network(density=0.5)
    X = np.random.RandomState(0).randn(300, 200)
    expected = CompactMLP.from_module(m).decision(X)
    monkeypatch.setitem(K._TORCH_PROBE, "ok", False)
    cm = CompactMLP.from_module(m)
    cm.engine = "torch"  # asked for, but it cannot run: numpy
    np.testing.assert_allclose(cm.decision(X.astype(np.float32)), expected, rtol=1e-4, atol=1e-5)
    assert not K.TorchDense.applies(cm, np.float32)


@needs_torch_kernels
def test_float32_torch_failure_at_call_time_falls_back_to_numpy(monkeypatch):
    monkeypatch.setitem(K._TORCH_PROBE, "ok", True)
    cm = CompactMLP.from_module(_network(density=0.5))
    cm.engine = "torch"
    X = np.random.RandomState(0).randn(300, 200).astype(np.float32)
    expected = cm.decision(X.astype(np.float64))

    def refuse(*args, **kwargs):
        raise RuntimeError("could not create a primitive descriptor")

    monkeypatch.setattr(K, "_linear", refuse)
    got, ok = cm.decision(X, check_finite=True)
    assert ok and got.dtype == np.float32
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)
    assert not K.torch_kernels_ok()


def test_networks_with_an_empty_layer_predict_in_float32():
    for kill in (0, 1):
        torch.manual_seed(0)
        m = SparseMLP(6, (8, 5), 3)
        with torch.no_grad():
            m.linears[kill].weight.zero_()
        remove_dead_units(m, 0.0)
        cm = CompactMLP.from_module(m.eval())
        assert not K.TorchDense.applies(cm, np.float32)  # oneDNN rejects empty layers
        X = np.random.RandomState(0).randn(300, 6)
        for engine in ("auto", "torch"):
            cm.engine = engine
            got = cm.decision(X.astype(np.float32))
            assert got.shape == (300, 3) and np.isfinite(got).all()
            np.testing.assert_allclose(got, cm.decision(X), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kernel", ["auto", "dense", "sparse"])
def test_wrong_input_width_raises_on_every_path(dtype, kernel):
    cm = CompactMLP.from_module(_network())
    cm.kernel = kernel
    torch_on = K.torch_kernels_ok()
    for shape in ((300, 199), (300, 201), (200,)):
        with pytest.raises(ValueError, match="takes \\(n_samples, 200\\)"):
            cm.decision(np.ones(shape, dtype=dtype))
    assert K.torch_kernels_ok() == torch_on  # a torch error would have switched it off


def test_reads_every_column_follows_the_inputs_read():
    assert CompactMLP.from_module(_network(density=0.5)).reads_every_column()
    assert not CompactMLP.from_module(_network(density=0.5, read=range(30, 70))
                                      ).reads_every_column()
