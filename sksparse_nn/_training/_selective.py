"""Selective (trial-and-error) neuron pruning of a trained network.

Each hidden unit is replaced by its mean activation on held-out data; it stays
out when the loss stays within a tolerance of the loss before any removal.
"""

import math

import torch

from .._surgery import remove_units


@torch.no_grad()
def _hidden_activations(module, X, upto):
    """Eval-mode outputs of hidden layer ``upto`` (after activation)."""
    h = module.select_inputs(X)
    for i in range(upto + 1):
        h = module._act(module.norms[i](module.linears[i](h)))
    return h


@torch.no_grad()
def _suffix(module, h, start):
    """Rest of the network from the output of hidden layer ``start``."""
    n_hidden = len(module.hidden_layer_sizes)
    for i in range(start + 1, n_hidden):
        h = module._act(module.norms[i](module.linears[i](h)))
    return module.linears[-1](h)


@torch.no_grad()
def selective_prune(module, X, y, loss_fn, tol, max_passes=20):
    """Trial-and-error neuron pruning, in place.

    For each hidden unit (weakest ``||w_in|| * ||w_out||`` first) the validation loss
    is evaluated with the unit replaced by its mean activation on ``X``; if the loss
    stays within ``base_loss + tol`` the unit is removed for good (its mean folded
    into the next bias). Passes repeat until one removes nothing. The bound is on
    the loss *before* pruning, so the accumulated rise never exceeds ``tol``.

    Returns ``(record, base_loss, final_loss)``; ``record`` lists one dict per
    removed unit: pass, layer, original index, loss after removal.
    """
    module.eval()
    base = float(loss_fn(module(X), y))
    current = base
    original = [torch.arange(h) for h in module.hidden_layer_sizes]
    record = []
    for n_pass in range(1, max_passes + 1):
        removed_this_pass = 0
        for layer in range(len(module.hidden_layer_sizes)):
            if module.hidden_layer_sizes[layer] == 0:
                continue
            H = _hidden_activations(module, X, layer)
            mean = H.mean(dim=0)
            w_in = torch.linalg.vector_norm(module.linears[layer].weight, dim=1)
            w_out = torch.linalg.vector_norm(module.linears[layer + 1].weight, dim=0)
            order = torch.argsort(w_in * w_out).tolist()
            removed = torch.zeros(H.shape[1], dtype=torch.bool)
            for j in order:
                trial = H.clone()
                trial[:, removed] = mean[removed]
                trial[:, j] = mean[j]
                loss = float(loss_fn(_suffix(module, trial, layer), y))
                if math.isfinite(loss) and loss <= base + tol:
                    removed[j] = True
                    current = loss
                    record.append({"pass": n_pass, "layer": layer,
                                   "neuron": int(original[layer][j]), "loss": loss})
            if bool(removed.any()):
                remove_units(module, layer, removed, fill=mean[removed])
                original[layer] = original[layer][~removed]
                removed_this_pass += int(removed.sum())
        if removed_this_pass == 0:
            break
    return record, base, current
