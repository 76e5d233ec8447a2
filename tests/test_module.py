"""The torch module: masks as buffers, exact neuron removal, compaction, packing."""

import copy
import pickle

import numpy as np
import pytest
import torch

from sksparse_nn._network import SparseMLP
from sksparse_nn._persistence import pack_state, unpack_state
from sksparse_nn._surgery import remove_dead_units
from sksparse_nn.inference import _kernels as impl
from sksparse_nn.inference import CompactMLP
from sksparse_nn.inference._kernels import torch_kernels_ok
from sksparse_nn._training._proximal import group_soft_threshold_, soft_threshold_


def _module(batch_norm=False, seed=0):
    torch.manual_seed(seed)
    m = SparseMLP(6, (8, 5), 3, activation="relu", batch_norm=batch_norm)
    if batch_norm:  # give the running stats something to fold
        m.train()
        m(torch.randn(64, 6))
    return m.eval()


def test_masks_are_buffers_that_survive_copies():
    m = _module()
    m.linears[0].mask[0, :3] = False
    m.apply_masks_()
    assert "linears.0.mask" in dict(m.named_buffers())
    for other in (copy.deepcopy(m), pickle.loads(pickle.dumps(m))):
        assert torch.equal(other.linears[0].mask, m.linears[0].mask)
        assert torch.count_nonzero(other.linears[0].weight[0, :3]) == 0


def test_removing_dead_neurons_leaves_predictions_unchanged():
    for bn in (False, True):
        m = _module(batch_norm=bn)
        X = torch.randn(50, 6)
        with torch.no_grad():
            m.linears[0].weight[[1, 4]] = 0.0      # no inputs: constant output, folded
            m.linears[0].bias[1] = 0.7
            m.linears[1].weight[:, 6] = 0.0         # no outputs
            m.linears[2].weight[:, 2] = 0.0
            before = m(X)
        removed = remove_dead_units(m, 0.0)
        assert removed == [3, 1]
        assert m.hidden_layer_sizes == (5, 4)
        assert m.linears[0].weight.shape == (5, 6) and m.linears[1].weight.shape == (4, 5)
        with torch.no_grad():
            torch.testing.assert_close(m(X), before, rtol=1e-5, atol=1e-6)


def test_empty_layer_still_predicts_a_constant():
    m = _module()
    with torch.no_grad():
        m.linears[0].weight.zero_()
    remove_dead_units(m, 0.0)
    assert m.hidden_layer_sizes[0] == 0
    out = m(torch.randn(4, 6))
    assert torch.isfinite(out).all() and torch.allclose(out, out[:1].expand_as(out))


def test_compact_model_matches_torch_and_drops_unused_inputs():
    m = _module(batch_norm=True)
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


def _sparse_first_module(activation="relu", density=0.03, hidden=(100, 20), seed=0,
                         later_density=()):
    """A module whose first layer is mostly zeros (CompactMLP multiplies it sparsely);
    ``later_density``: the densities of the layers after it, as far as given."""
    torch.manual_seed(seed)
    m = SparseMLP(200, hidden, 4, activation=activation)
    with torch.no_grad():
        for linear, d in zip(m.linears, (density, *later_density)):
            linear.mask &= torch.rand_like(linear.weight) < d
        m.linears[0].weight[:, :30] = 0.0  # inputs the network no longer reads
        m.apply_masks_()
    return m.eval()


@pytest.mark.parametrize("activation", ["relu", "tanh", "logistic", "identity"])
@pytest.mark.parametrize("hidden", [(100,), (100, 20)])
def test_sparse_first_layer_matches_the_torch_network(activation, hidden):
    m = _sparse_first_module(activation, hidden=hidden)
    cm = CompactMLP.from_module(m)
    assert cm.sparse_first() and not cm.reads_every_column()
    # 1 row, a partial chunk, and several chunks
    for n in (1, 100, 1500):
        X = np.random.RandomState(n).randn(n, 200)
        with torch.no_grad():
            expected = m(torch.as_tensor(X, dtype=torch.float32)).numpy()
        np.testing.assert_allclose(cm.decision(X), expected, rtol=1e-4, atol=1e-5)
        got32 = cm.decision(X.astype(np.float32))
        assert got32.dtype == np.float32
        np.testing.assert_allclose(got32, expected, rtol=1e-4, atol=1e-5)


def test_sparse_first_layer_is_chosen_by_density_only_when_it_pays():
    assert CompactMLP.from_module(_sparse_first_module(density=0.03)).sparse_first()
    assert not CompactMLP.from_module(_sparse_first_module(density=0.5)).sparse_first()
    small = SparseMLP(10, (5,), 2)  # too small for the CSR bookkeeping to pay
    with torch.no_grad():
        small.linears[0].weight[:, 1:] = 0.0
    assert not CompactMLP.from_module(small.eval()).sparse_first()


def test_sparse_first_layer_is_subset_invariant_and_flags_nonfinite_rows():
    cm = CompactMLP.from_module(_sparse_first_module())
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


def test_sparse_first_layer_from_threads():
    from concurrent.futures import ThreadPoolExecutor

    cm = CompactMLP.from_module(_sparse_first_module())
    X = np.random.RandomState(0).randn(2000, 200).astype(np.float32)
    expected = cm.decision(X)
    with ThreadPoolExecutor(4) as pool:
        for got in pool.map(lambda _: cm.decision(X), range(8)):
            np.testing.assert_array_equal(got, expected)


needs_torch_kernels = pytest.mark.skipif(not torch_kernels_ok(),
                                         reason="this torch build lacks oneDNN's linear")


@pytest.fixture
def torch_from_one_row(monkeypatch):
    """float32 input of any size takes the torch path."""
    monkeypatch.setattr(impl, "TORCH_MIN_ROWS", 1)
    monkeypatch.setattr(impl, "TORCH_MIN_ROWS_BAGS", 1)


def _force_bags(monkeypatch):
    """Make the cost model pick the embedding_bag first layer whenever it may."""
    for name in ("COST_TRANSPOSE", "COST_UNIT", "COST_NNZ"):
        monkeypatch.setattr(impl, name, 0.0)


def _float32_case(path, activation, monkeypatch):
    if path == "bags":  # the first layer only: the next (20 x 100) is dense
        _force_bags(monkeypatch)
        return _sparse_first_module(activation)
    if path == "bag chain":  # every layer a bag layer but the output layer
        _force_bags(monkeypatch)
        return _sparse_first_module(activation, later_density=(0.2,))
    if path == "all bags":  # the output layer too
        _force_bags(monkeypatch)
        return _sparse_first_module(activation, later_density=(0.2, 0.2))
    if path == "one hidden, all bags":
        _force_bags(monkeypatch)
        return _sparse_first_module(activation, hidden=(100,), later_density=(0.2,))
    if path == "dense":  # widened: every input column is multiplied
        return _sparse_first_module(activation, density=0.5)
    m = _sparse_first_module(activation, density=0.5)  # gathered: 40 of 200 inputs read
    with torch.no_grad():
        m.linears[0].weight[:, 70:] = 0.0  # (and the first 30 are already zero)
    return m


PATHS = ["bags", "bag chain", "all bags", "one hidden, all bags", "dense", "gathered"]


@needs_torch_kernels
@pytest.mark.parametrize("activation", ["relu", "tanh", "logistic", "identity"])
@pytest.mark.parametrize("path", PATHS)
def test_float32_torch_paths_match_the_float64_path(path, activation, monkeypatch,
                                                    torch_from_one_row):
    cm = CompactMLP.from_module(_float32_case(path, activation, monkeypatch))
    bags = "bag" in path
    layout, steps, _ = cm._kernel(np.float32, "torch")
    assert layout == ("bags" if bags else "torch")
    if bags:
        kinds = {"bags": ["bags", "dense", "dense"], "bag chain": ["bags", "bags", "dense"],
                 "all bags": ["bags"] * 3, "one hidden, all bags": ["bags"] * 2}
        assert [step[0] for step in steps] == kinds[path]
    assert cm._kernel(np.float64)[0] == ("T" if bags else "rows")
    assert (len(cm.input_index) == 40) == (path == "gathered")
    for n in (1, 100, 1500):  # 1 row, a partial chunk, and several chunks
        X = np.random.RandomState(n).randn(n, 200)
        got, ok = cm.decision(X.astype(np.float32), check_finite=True)
        assert got.dtype == np.float32 and got.shape == (n, 4) and ok
        np.testing.assert_allclose(got, cm.decision(X), rtol=1e-4, atol=1e-5)


@needs_torch_kernels
@pytest.mark.parametrize("path", PATHS)
def test_float32_torch_paths_flag_nonfinite_input_anywhere(path, monkeypatch,
                                                            torch_from_one_row):
    cm = CompactMLP.from_module(_float32_case(path, "relu", monkeypatch))
    X = np.random.RandomState(0).randn(700, 200).astype(np.float32)
    assert cm.decision(X, check_finite=True)[1]
    ignored = np.setdiff1d(np.arange(200), cm.input_index)[0]
    for col in (ignored, cm.input_index[0]):
        for value in (np.nan, np.inf, -np.inf):
            bad = X.copy()
            bad[600, col] = value
            assert not cm.decision(bad, check_finite=True)[1], (col, value)


@needs_torch_kernels
def test_float32_input_that_torch_cannot_share_is_copied_quietly(torch_from_one_row):
    import warnings

    cm = CompactMLP.from_module(_sparse_first_module(density=0.5))
    X = np.random.RandomState(0).randn(50, 200).astype(np.float32)
    expected = cm.decision(X)
    readonly, fortran = X.copy(), np.asfortranarray(X)
    readonly.flags.writeable = False
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # torch warns on sharing read-only memory
        for variant in (readonly, fortran):
            np.testing.assert_array_equal(cm.decision(variant), expected)


def test_float32_falls_back_to_numpy_without_the_torch_kernels(monkeypatch, torch_from_one_row):
    m = _sparse_first_module(density=0.5)
    X = np.random.RandomState(0).randn(300, 200)
    expected = CompactMLP.from_module(m).decision(X)
    monkeypatch.setitem(impl._TORCH_PROBE, "ok", False)
    cm = CompactMLP.from_module(m)
    assert cm._engine(np.float32, 300) == "numpy"
    np.testing.assert_allclose(cm.decision(X.astype(np.float32)), expected, rtol=1e-4, atol=1e-5)


@needs_torch_kernels
def test_float32_torch_failure_at_call_time_falls_back_to_numpy(monkeypatch, torch_from_one_row):
    monkeypatch.setitem(impl._TORCH_PROBE, "ok", True)
    cm = CompactMLP.from_module(_sparse_first_module(density=0.5))
    X = np.random.RandomState(0).randn(300, 200).astype(np.float32)
    expected = cm.decision(X.astype(np.float64))

    def refuse(*args, **kwargs):
        raise RuntimeError("could not create a primitive descriptor")

    monkeypatch.setattr(impl, "_linear", refuse)
    got, ok = cm.decision(X, check_finite=True)
    assert ok and got.dtype == np.float32
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)
    assert cm._engine(np.float32, 300) == "numpy" and not torch_kernels_ok()


def test_networks_with_an_empty_layer_predict_in_float32(torch_from_one_row):
    for kill in (0, 1):
        torch.manual_seed(0)
        m = SparseMLP(6, (8, 5), 3)
        with torch.no_grad():
            m.linears[kill].weight.zero_()
        remove_dead_units(m, 0.0)
        cm = CompactMLP.from_module(m.eval())
        X = np.random.RandomState(0).randn(5, 6)
        assert cm._engine(np.float32, 5) == "numpy"  # oneDNN rejects empty layers
        got = cm.decision(X.astype(np.float32))
        assert got.shape == (5, 3) and np.isfinite(got).all()
        np.testing.assert_allclose(got, cm.decision(X), rtol=1e-5, atol=1e-6)


@needs_torch_kernels
def test_bags_first_layer_from_threads(monkeypatch, torch_from_one_row):
    from concurrent.futures import ThreadPoolExecutor

    _force_bags(monkeypatch)
    cm = CompactMLP.from_module(_sparse_first_module())
    X = np.random.RandomState(0).randn(2000, 200).astype(np.float32)
    expected = cm.decision(X)
    assert cm._kernel(np.float32, "torch")[0] == "bags"
    with ThreadPoolExecutor(4) as pool:
        for got in pool.map(lambda _: cm.decision(X), range(8)):
            np.testing.assert_array_equal(got, expected)


@needs_torch_kernels
@pytest.mark.parametrize("table_bytes", [1, 3 * 201 * 256 * 4])  # blocks of 1 and 3 chunks
def test_bags_blocks_and_chunks_give_the_rows_of_the_whole_batch(
        table_bytes, monkeypatch, torch_from_one_row):
    """The transposed-input table is reused block by block; rows split anywhere
    (between chunks, within one, past a block) give the same outputs."""
    _force_bags(monkeypatch)
    monkeypatch.setattr(impl, "_BAGS_TABLE_BYTES", table_bytes)
    cm = CompactMLP.from_module(_sparse_first_module(later_density=(0.2, 0.5)))
    assert [step[0] for step in cm._kernel(np.float32, "torch")[1]] == ["bags", "bags", "dense"]
    X = np.random.RandomState(0).randn(1900, 200).astype(np.float32)
    full = cm.decision(X)
    np.testing.assert_allclose(full, cm.decision(X.astype(np.float64)), rtol=1e-4, atol=1e-5)
    for rows in (slice(0, 256), slice(5, 1000), slice(700, 1900), slice(1899, 1900)):
        np.testing.assert_allclose(cm.decision(X[rows]), full[rows], rtol=1e-5, atol=1e-6)
    bad = X.copy()
    bad[1850, 3] = np.nan  # in the last, short chunk of the last block
    assert not cm.decision(bad, check_finite=True)[1]
    assert cm.decision(X[:1850], check_finite=True)[1]


def test_first_layer_kernel_choice_follows_the_cost_model():
    """float32: the sparse (bags) first layer where the cost model prices it below
    the dense product: not for narrow layers, nor for too many stored weights."""
    def first_layer(units, density):
        torch.manual_seed(0)
        m = SparseMLP(784, (units,), 10)
        with torch.no_grad():
            m.linears[0].mask &= torch.rand_like(m.linears[0].weight) < density
            m.apply_masks_()
        return CompactMLP.from_module(m.eval())

    if torch_kernels_ok():
        assert first_layer(1000, 0.01).sparse_first("torch")
        assert first_layer(100, 0.01).sparse_first("torch")
        assert not first_layer(30, 0.02).sparse_first("torch")  # too narrow to pay
        assert first_layer(1000, 0.2).sparse_first("torch")
        assert not first_layer(100, 0.2).sparse_first("torch")  # too many weights to pay
        assert not first_layer(1000, 0.4).sparse_first("torch")  # over BAGS_MAX_DENSITY
    assert first_layer(30, 0.02).sparse_first("numpy")  # numpy: density alone
    assert not first_layer(1000, 0.2).sparse_first("numpy")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_wrong_input_width_raises_on_every_path(dtype, monkeypatch, torch_from_one_row):
    _force_bags(monkeypatch)
    cm = CompactMLP.from_module(_sparse_first_module())
    torch_on = torch_kernels_ok()
    for shape in ((300, 199), (300, 201), (200,)):
        with pytest.raises(ValueError, match="takes \\(n_samples, 200\\)"):
            cm.decision(np.ones(shape, dtype=dtype))
    assert torch_kernels_ok() == torch_on  # a torch error would have switched it off


def test_small_float32_batches_stay_on_numpy():
    """oneDNN's per-call cost loses to a small BLAS product: batches below
    TORCH_MIN_ROWS run on numpy (in float32), larger ones on torch."""
    cm = CompactMLP.from_module(_sparse_first_module(density=0.5))
    assert cm._engine(np.float32, impl.TORCH_MIN_ROWS - 1) == "numpy"
    assert cm._engine(np.float64, 10**6) == "numpy"
    assert cm._engine(np.float32, impl.TORCH_MIN_ROWS) == (
        "torch" if torch_kernels_ok() else "numpy")
    X = np.random.RandomState(0).randn(impl.TORCH_MIN_ROWS + 5, 200).astype(np.float32)
    np.testing.assert_allclose(cm.decision(X[:5]), cm.decision(X)[:5], rtol=1e-5, atol=1e-6)


def test_sparse_path_networks_take_torch_from_fewer_rows():
    """The embedding_bag path pays from fewer rows than oneDNN's dense products."""
    assert impl.TORCH_MIN_ROWS_BAGS < impl.TORCH_MIN_ROWS
    cm = CompactMLP.from_module(_sparse_first_module())  # chosen by the cost model
    on_torch = "torch" if torch_kernels_ok() else "numpy"
    assert cm.sparse_first("torch") or not torch_kernels_ok()
    assert cm._engine(np.float32, impl.TORCH_MIN_ROWS_BAGS - 1) == "numpy"
    assert cm._engine(np.float32, impl.TORCH_MIN_ROWS_BAGS) == on_torch
    assert cm._engine(np.float64, impl.TORCH_MIN_ROWS) == "numpy"
    X = np.random.RandomState(0).randn(impl.TORCH_MIN_ROWS_BAGS, 200)
    np.testing.assert_allclose(cm.decision(X.astype(np.float32)), cm.decision(X),
                               rtol=1e-4, atol=1e-5)


def test_pack_state_is_small_for_sparse_nets_and_exact():
    torch.manual_seed(0)
    m = SparseMLP(200, (100,), 10)
    with torch.no_grad():
        for lin in m.linears:
            lin.mask &= torch.rand_like(lin.weight) < 0.05
        m.apply_masks_()
    packed = pack_state(m)
    size = len(pickle.dumps(packed))
    dense_size = len(pickle.dumps(m.state_dict()))
    assert size < dense_size / 8
    again = unpack_state(packed)
    for a, b in zip(m.state_dict().values(), again.state_dict().values()):
        assert torch.equal(a, b)


def test_soft_threshold_gives_exact_zeros():
    w = torch.tensor([-1.0, -0.05, 0.0, 0.02, 0.5])
    soft_threshold_(w, 0.1)
    torch.testing.assert_close(w, torch.tensor([-0.9, 0.0, 0.0, 0.0, 0.4]))
    W = torch.tensor([[3.0, 0.01], [4.0, 0.01]])
    dead = group_soft_threshold_(W, torch.tensor([1.0, 1.0]), dim=0)
    assert dead.tolist() == [False, True]
    torch.testing.assert_close(W[:, 0], torch.tensor([3.0, 4.0]) * 0.8)
    assert torch.count_nonzero(W[:, 1]) == 0


def test_adam_soft_threshold_matches_the_definition():
    from sksparse_nn._training._proximal import adam_soft_threshold_

    torch.manual_seed(0)
    w = torch.randn(50)
    v = torch.rand(50) * 1e-4
    ref = w.clone()
    v_hat = v / (1 - 0.999 ** 7)
    soft_threshold_(ref, 0.05 / (v_hat.sqrt() + 1e-8))
    adam_soft_threshold_(w, v, torch.tensor(7.0), 0.999, 1e-8, 0.05)
    torch.testing.assert_close(w, ref)
    assert int((w == 0).sum()) > 0


def test_adam_soft_threshold_on_free_entries_only():
    from sksparse_nn._training._proximal import adam_soft_threshold_

    torch.manual_seed(0)
    lin = SparseMLP(40, (30,), 2).linears[0]
    with torch.no_grad():
        lin.mask &= torch.rand_like(lin.weight) < 0.1
        lin.weight.copy_(torch.randn(30, 40) * 0.05)  # masked entries nonzero on purpose
    index = lin.free_index()
    assert index is not None and len(index) == int(lin.mask.sum())
    v = torch.rand(30, 40) * 1e-4
    full = lin.weight.detach().clone()
    adam_soft_threshold_(full, v, torch.tensor(7.0), 0.999, 1e-8, 0.05)
    part = lin.weight.detach().clone()
    adam_soft_threshold_(part, v, torch.tensor(7.0), 0.999, 1e-8, 0.05, index=index)
    torch.testing.assert_close(part[lin.mask], full[lin.mask], rtol=0, atol=0)
    assert torch.equal(part[~lin.mask], lin.weight.detach()[~lin.mask])  # untouched
    assert int((part[lin.mask] == 0).sum()) > 0
    with torch.no_grad():  # a mostly free mask: the whole matrix is cheaper
        lin.mask.fill_(True)
    assert lin.free_index() is None


def test_apply_mask_follows_every_mask_change():
    lin = SparseMLP(4, (3,), 2).linears[0]
    with torch.no_grad():
        lin.weight.fill_(1.0)
    lin.apply_mask_()
    assert torch.count_nonzero(lin.weight) == 12
    lin.mask[0, 0] = False  # in-place edit
    with torch.no_grad():
        lin.weight.fill_(1.0)
    lin.apply_mask_()
    assert lin.weight[0, 0] == 0 and torch.count_nonzero(lin.weight) == 11
    lin.load_state_dict({**lin.state_dict(), "mask": torch.zeros(3, 4, dtype=torch.bool)})
    lin.apply_mask_()
    assert torch.count_nonzero(lin.weight) == 0
    clone = copy.deepcopy(lin)
    assert "_mask_cache" not in pickle.loads(pickle.dumps(lin)).__dict__
    assert torch.equal(clone.mask, lin.mask)
