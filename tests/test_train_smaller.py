"""Training goes on on a smaller network once the masks are final (TrainSmaller)."""

import warnings

import numpy as np
import pytest
import torch
from skorch.callbacks import Callback
from sklearn.datasets import make_classification

from sksparse_nn import Gradual, SparseMLPClassifier
from sksparse_nn._network import SparseMLP
from sksparse_nn._surgery import expand_inputs_, shrink_dead_
from sksparse_nn._estimator import _BaseSparseMLP
from sksparse_nn._training import optimizer_state_follows


def _masked_module():
    torch.manual_seed(0)
    module = SparseMLP(12, (8, 6), 3, generator=torch.Generator().manual_seed(1))
    l0, l1, l2 = module.linears
    l0.mask[2, :] = False      # unit 2 of layer 0: no inputs (constant output)
    l1.mask[:, 5] = False      # unit 5 of layer 0: no outputs
    l1.mask[1, :] = False      # unit 1 of layer 1: no inputs
    l0.mask[:, [4, 7]] = False  # input columns 4 and 7: read by no unit
    l0.mask[0, :6] = False     # plus scattered zeros that must stay
    with torch.no_grad():
        l0.bias[2] = 0.7           # a live constant, folded into the next bias
    module.apply_masks_()
    module.mask_changed()
    return module


def _adam_step(module, opt, X, y):
    opt.zero_grad()
    torch.nn.functional.cross_entropy(module(X), y).backward()
    opt.step()
    module.apply_masks_()


def test_shrink_dead_keeps_function_and_optimizer_state():
    module = _masked_module()
    X = torch.randn(50, 12)
    y = torch.randint(0, 3, (50,))
    opt = torch.optim.Adam(module.parameters(), lr=1e-2)
    _adam_step(module, opt, X, y)
    nnz_before = sum(module.n_nonzero())
    W0 = module.linears[0].weight.detach().clone()
    v0 = opt.state[module.linears[0].weight]["exp_avg_sq"].clone()
    params_before = [id(p) for p in module.parameters()]
    with torch.no_grad():
        out_before = module(X)

    assert shrink_dead_(module, on_resize=optimizer_state_follows(opt))

    assert module.hidden_layer_sizes == (6, 5)
    assert module.linears[0].weight.shape == (6, 10)
    assert module.input_index.tolist() == [0, 1, 2, 3, 5, 6, 8, 9, 10, 11]
    assert [id(p) for p in module.parameters()] == params_before  # the optimizer's
    with torch.no_grad():
        torch.testing.assert_close(module(X), out_before)
    # removed units' nonzero weights are tallied: the count against the built net holds
    assert sum(module.n_nonzero(retired=True)) == nnz_before
    assert sum(module.n_nonzero()) < nnz_before
    rows = [0, 1, 3, 4, 6, 7]
    cols = module.input_index
    torch.testing.assert_close(module.linears[0].weight, W0[rows][:, cols])
    for p in module.parameters():
        for key in ("exp_avg", "exp_avg_sq"):
            assert opt.state[p][key].shape == p.shape
    torch.testing.assert_close(opt.state[module.linears[0].weight]["exp_avg_sq"],
                               v0[rows][:, cols])
    # training goes on, masks still hold on the smaller layers
    _adam_step(module, opt, X, y)
    assert not module.linears[0].weight[~module.linears[0].mask].any()
    assert not shrink_dead_(module)  # nothing left to cut

    with torch.no_grad():
        out_small = module(X)
    expand_inputs_(module, on_resize=optimizer_state_follows(opt))
    assert module.input_index is None and module.linears[0].weight.shape == (6, 12)
    assert not module.linears[0].weight[:, [4, 7]].any()
    assert not module.linears[0].mask[:, [4, 7]].any()
    assert opt.state[module.linears[0].weight]["exp_avg"].shape == (6, 12)
    with torch.no_grad():
        torch.testing.assert_close(module(X), out_small)
    _adam_step(module, opt, X, y)  # and again on the full input width


@pytest.fixture(scope="module")
def data():
    X, y = make_classification(600, 30, n_informative=6, n_redundant=0, n_classes=3,
                               random_state=0)
    return X.astype(np.float32), y


class _Spy:
    """Records the first layer's shape at every epoch end, after every other
    epoch-end hook (a callback appended last to the estimator's list)."""

    def __init__(self, monkeypatch):
        self.shapes = []
        original = _BaseSparseMLP._set_training_callbacks
        spy = self

        class Shapes(Callback):
            def on_epoch_end(self, net, **kwargs):
                spy.shapes.append(tuple(net.module_.linears[0].weight.shape))
                spy.after(net)

        def set_callbacks(self, net, *args, **kwargs):
            original(self, net, *args, **kwargs)
            net.callbacks = list(net.callbacks) + [("spy", Shapes())]
            net.initialize_callbacks()

        monkeypatch.setattr(_BaseSparseMLP, "_set_training_callbacks", set_callbacks)

    def after(self, net):
        pass


def test_fit_trains_the_smaller_network_after_the_last_mask_update(data, monkeypatch):
    X, y = data
    spy = _Spy(monkeypatch)
    clf = SparseMLPClassifier((40, 20), max_iter=12, prune_schedule=Gradual(end=0.4),
                              target_sparsity=0.95, random_state=0).fit(X, y)
    # the schedule ends in epoch 5: before it the full network, after it a smaller one
    assert spy.shapes[0] == (40, 30)
    assert all(s == spy.shapes[4] for s in spy.shapes[4:])
    assert spy.shapes[-1][0] < 40 and spy.shapes[-1][1] < 30
    # the estimator reads every input column again; the exact count still holds
    module = clf.net_.module_
    assert module.input_index is None and module.linears[0].weight.shape[1] == 30
    n_built = 30 * 40 + 40 * 20 + 20 * 3
    assert abs(round((1 - clf.sparsity_as_built_) * n_built) - round(0.05 * n_built)) <= 1
    assert clf.net_.history[-1]["sparsity"] == pytest.approx(clf.sparsity_as_built_)
    assert clf.hidden_layer_sizes_[0] <= spy.shapes[-1][0]
    # optimizer state matches the parameters (warm start continues from it)
    for p in module.parameters():
        st = clf.net_.optimizer_.state.get(p)
        assert not st or st["exp_avg"].shape == p.shape
    np.testing.assert_allclose(
        clf.predict_proba(X[:20]),
        torch.softmax(module.eval()(torch.as_tensor(X[:20])), 1).detach().numpy(),
        rtol=1e-4, atol=1e-6)


def test_warm_start_and_early_stopping_after_shrinking(data, monkeypatch):
    X, y = data
    spy = _Spy(monkeypatch)
    clf = SparseMLPClassifier((40, 20), max_iter=30, prune_schedule=Gradual(end=0.3),
                              target_sparsity=0.9, l1=1e-4, early_stopping=True,
                              learning_rate_init=1e-2, n_iter_no_change=5,
                              warm_start=True, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clf.fit(X, y)
        assert min(s[0] for s in spy.shapes) < 40  # it did train a smaller network
        first = clf.score(X, y)
        clf.fit(X, y)
    assert first > 0.7 and clf.score(X, y) > 0.7
    assert clf.net_.module_.linears[0].weight.shape[1] == 30


def test_divergence_after_shrinking_restores_the_smaller_network(data, monkeypatch):
    X, y = data
    spy = _Spy(monkeypatch)

    def blow_up(net):  # once the network is smaller, make the next epoch diverge
        if net.module_.linears[0].weight.shape[0] < 40 and not blown:
            blown.append(len(net.history))
            with torch.no_grad():
                out = net.module_.eval()(torch.as_tensor(X))
            blown.append(float((out.argmax(1).numpy() == y).mean()))
            for g in net.optimizer_.param_groups:
                g["lr"] = 1e30

    blown = []
    spy.after = blow_up
    clf = SparseMLPClassifier((40, 20), max_iter=12, prune_schedule=Gradual(end=0.3),
                              target_sparsity=0.9, learning_rate_init=1e-2, random_state=0)
    with pytest.warns(UserWarning, match="Training diverged") as rec:
        clf.fit(X, y)
    # the snapshot taken right after shrinking (same epoch end) is what comes back
    assert f"end of epoch {blown[0]} were restored" in str(rec[0].message)
    assert np.isfinite(clf.predict_proba(X)).all()
    assert clf.score(X, y) == pytest.approx(blown[1])
    assert clf.net_.module_.linears[0].weight.shape[1] == 30


def test_selective_fine_tune_restore_after_units_lost_their_inputs(data, monkeypatch):
    """Selective removals can leave a unit of the next layer with every input
    masked; the fine-tune (which trains the smaller network) must still be able to
    go back to the weights before it when it raises the loss."""
    import sksparse_nn._prune_fitted as base

    X, y = data
    real_train = SparseMLPClassifier._train
    calls = []

    def prune(module, Xv, yv, loss_fn, tol):  # stands in for a removal's side effect
        with torch.no_grad():
            before = float(loss_fn(module.eval()(Xv), yv))
            module.linears[1].mask[0, :] = False  # unit 0 of layer 1: no inputs left
            module.apply_masks_()
            after = float(loss_fn(module.eval()(Xv), yv))
        return [{"pass": 1, "layer": 1, "neuron": 0, "loss": after}], before, after

    def train(self, net, data, epochs):
        outcome = real_train(self, net, data, epochs)
        calls.append(epochs)
        if len(calls) == 2:  # the fine-tune: make it raise the loss
            with torch.no_grad():
                for p in net.module_.linears[-1].parameters():
                    p.mul_(-20.0)
        return outcome

    monkeypatch.setattr(base, "selective_prune", prune)
    monkeypatch.setattr(SparseMLPClassifier, "_train", train)
    clf = SparseMLPClassifier((40, 20), max_iter=20,
                              prune_schedule=Gradual(end=0.3, ranking="magnitude"),
                              target_sparsity=0.8, selective_pruning_tol=0.0,
                              learning_rate_init=1e-2, random_state=0).fit(X, y)
    rec = clf.selective_pruning_record_
    assert len(calls) == 2
    # the fine-tune was undone: the loss is the one right after the removal
    assert not rec["fine_tune_kept"]
    assert rec["val_loss_after_fine_tune"] == pytest.approx(rec["removed"][0]["loss"], rel=1e-5)
    assert clf.hidden_layer_sizes_[1] < 20
    assert clf.net_.module_.linears[0].weight.shape[1] == 30
    assert clf.score(X, y) > 0.7
