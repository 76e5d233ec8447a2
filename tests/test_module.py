"""The torch module: masks as buffers, exact neuron removal, packing, proximal steps.

The compact inference model is tested in test_inference.py."""

import copy
import pickle

import torch

from sksparse_nn._network import SparseMLP
from sksparse_nn._persistence import pack_state, unpack_state
from sksparse_nn._surgery import remove_dead_units
from sksparse_nn._training._proximal import group_soft_threshold_, soft_threshold_

from _networks import tiny_network


def test_masks_are_buffers_that_survive_copies():
    m = tiny_network()
    m.linears[0].mask[0, :3] = False
    m.apply_masks_()
    assert "linears.0.mask" in dict(m.named_buffers())
    for other in (copy.deepcopy(m), pickle.loads(pickle.dumps(m))):
        assert torch.equal(other.linears[0].mask, m.linears[0].mask)
        assert torch.count_nonzero(other.linears[0].weight[0, :3]) == 0


def test_removing_dead_neurons_leaves_predictions_unchanged():
    for bn in (False, True):
        m = tiny_network(batch_norm=bn)
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
    m = tiny_network()
    with torch.no_grad():
        m.linears[0].weight.zero_()
    remove_dead_units(m, 0.0)
    assert m.hidden_layer_sizes[0] == 0
    out = m(torch.randn(4, 6))
    assert torch.isfinite(out).all() and torch.allclose(out, out[:1].expand_as(out))


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
