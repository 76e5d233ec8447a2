"""Unit and input surgery on a :class:`~sksparse_nn._network.SparseMLP`.

Removing hidden unit ``j`` of layer ``l`` deletes row ``j`` of ``W_l`` and
``b_l`` and column ``j`` of ``W_{l+1}``, and folds the unit's constant output into
``b_{l+1}``, so predictions do not change for a unit with no incoming or no
outgoing weights. Two callers need it:

* after training (and after a prune round), :func:`remove_dead_units` deletes
  every unit whose weight norms are at most a threshold;
* while training goes on with final masks, :func:`shrink_dead_` deletes the units
  whose weights are all masked and stops reading input columns nobody reads. The
  parameter objects are kept (their data replaced) and ``on_resize(param, take)``
  is called for each resized parameter with the function that maps a tensor of
  its old shape to the new one, so the optimizer's per-parameter state follows
  (see :func:`sksparse_nn._training.optimizer_state_follows`).

Both repeat until nothing is dead (:func:`_until_none_dead`): a removal can leave
a unit of the next layer without inputs.
"""

import numpy as np
import torch
from torch import nn


def widen_columns(W, columns, n_columns):
    """``W`` (rows x len(columns)) placed at ``columns`` of a zero matrix of
    ``n_columns`` columns: the first layer over the full input width. Works on
    numpy arrays and torch tensors."""
    if torch.is_tensor(W):
        full = W.new_zeros((W.shape[0], n_columns))
    else:
        full = np.zeros((W.shape[0], n_columns), dtype=W.dtype)
    full[:, columns] = W
    return full


@torch.no_grad()
def hidden_output_constant(module, layer, idx):
    """Eval-mode output of hidden units ``idx`` of ``layer`` when their inputs are 0."""
    linear, norm = module.linears[layer], module.norms[layer]
    z = linear.bias[idx].clone()
    if isinstance(norm, nn.BatchNorm1d):
        scale = norm.weight[idx] / torch.sqrt(norm.running_var[idx] + norm.eps)
        z = (z - norm.running_mean[idx]) * scale + norm.bias[idx]
    return module._act(z)


@torch.no_grad()
def dead_units(module, threshold=0.0):
    """Per hidden layer, the units whose incoming or outgoing weights have norm at
    most ``threshold``, as ``(dead_in, dead_out)`` boolean tensors."""
    out = []
    for layer in range(len(module.hidden_layer_sizes)):
        w_in = module.linears[layer].weight
        w_out = module.linears[layer + 1].weight
        dead_in = torch.linalg.vector_norm(w_in, dim=1) <= threshold
        dead_out = torch.linalg.vector_norm(w_out, dim=0) <= threshold
        out.append((dead_in, dead_out))
    return out


@torch.no_grad()
def units_on_paths(module):
    """Per hidden layer, the units on a path of nonzero weights from an input to
    an output (bool tensors). Deleting dead units (:func:`shrink_dead_`,
    :func:`remove_dead_units`) removes none of them and folds the others into
    biases, so the count is the same before and after."""
    n_hidden = len(module.hidden_layer_sizes)
    forward, reach = [], None
    for layer in range(n_hidden):
        nz = module.linears[layer].weight != 0
        reach = nz.any(dim=1) if reach is None else nz[:, reach].any(dim=1)
        forward.append(reach)
    backward, reach = [None] * n_hidden, None
    for layer in reversed(range(n_hidden)):
        nz = module.linears[layer + 1].weight != 0
        reach = nz.any(dim=0) if reach is None else nz[reach].any(dim=0)
        backward[layer] = reach
    return [f & b for f, b in zip(forward, backward)]


def masked_dead_units(module):
    """Per hidden layer, the units whose incoming or outgoing weights are all
    masked (bool tensors): with the masks final they can never come back."""
    return [~module.linears[l].mask.any(dim=1) | ~module.linears[l + 1].mask.any(dim=0)
            for l in range(len(module.hidden_layer_sizes))]


@torch.no_grad()
def remove_units(module, layer, remove, fill=None, on_resize=None):
    """Physically delete hidden units ``remove`` (bool mask or indices) of ``layer``.

    The removed units' contribution to the next layer is replaced by a constant:
    ``fill`` (their assumed output value, one per removed unit); by default the
    output the unit gives when all its incoming weights are zero, which makes the
    removal exact for units with no incoming weights and for units with no
    outgoing weights alike. The layers shrink in place (see the module docstring
    for ``on_resize``); a batch norm layer is rebuilt. Returns the number removed.
    """
    n = module.hidden_layer_sizes[layer]
    remove_mask = torch.zeros(n, dtype=torch.bool, device=module.linears[layer].weight.device)
    remove_mask[remove] = True
    if not bool(remove_mask.any()):
        return 0
    rm_idx = torch.nonzero(remove_mask).flatten()
    keep_idx = torch.nonzero(~remove_mask).flatten()
    nxt = module.linears[layer + 1]
    if fill is None:
        fill = hidden_output_constant(module, layer, rm_idx)
    fill = torch.as_tensor(fill, dtype=nxt.weight.dtype, device=nxt.weight.device)
    nxt.bias += nxt.weight[:, rm_idx] @ fill

    resize_linear_(module.linears[layer], rows=keep_idx, on_resize=on_resize)
    resize_linear_(nxt, cols=keep_idx, on_resize=on_resize)
    norm = module.norms[layer]
    if isinstance(norm, nn.BatchNorm1d):
        if len(keep_idx) == 0:
            module.norms[layer] = nn.Identity()
        else:
            new = nn.BatchNorm1d(len(keep_idx), eps=norm.eps, momentum=norm.momentum)
            new.to(norm.weight.device)
            new.weight.copy_(norm.weight[keep_idx])
            new.bias.copy_(norm.bias[keep_idx])
            new.running_mean.copy_(norm.running_mean[keep_idx])
            new.running_var.copy_(norm.running_var[keep_idx])
            new.num_batches_tracked.copy_(norm.num_batches_tracked)
            new.train(norm.training)
            module.norms[layer] = new
    module.unit_index[layer] = module.unit_index[layer][keep_idx.cpu().numpy()]
    sizes = list(module.hidden_layer_sizes)
    sizes[layer] = len(keep_idx)
    module.hidden_layer_sizes = tuple(sizes)
    return len(rm_idx)


def _until_none_dead(module, find, cut):
    """Call ``cut(layer, dead)`` for every layer where ``find()`` reports dead units,
    repeating until it reports none. Returns the number cut per layer."""
    removed = [0] * len(module.hidden_layer_sizes)
    changed = True
    while changed:
        changed = False
        for layer, dead in enumerate(find()):
            if bool(dead.any()):
                removed[layer] += cut(layer, dead)
                changed = True
    return removed


@torch.no_grad()
def remove_dead_units(module, threshold=0.0):
    """Remove every hidden unit whose incoming or outgoing weights have norm at most
    ``threshold``, until none is left. Returns the count removed per layer."""
    found = {}

    def find():
        found["pairs"] = dead_units(module, threshold)
        return [dead_in | dead_out for dead_in, dead_out in found["pairs"]]

    def cut(layer, dead):
        if threshold > 0:
            # below-threshold weights are treated as zero from here on
            dead_in, dead_out = found["pairs"][layer]
            module.linears[layer].weight[dead_in] = 0.0
            module.linears[layer + 1].weight[:, dead_out] = 0.0
        return remove_units(module, layer, dead)

    return _until_none_dead(module, find, cut)


@torch.no_grad()
def shrink_units_(module, layer, remove, on_resize=None):
    """Delete hidden units ``remove`` (bool mask) of ``layer`` while training goes
    on. Not for batch norm networks (their training-mode output is not the folded
    constant). The nonzero weights removed are added to ``retired_nonzero``, so
    sparsity keeps counting against the network as built. Returns the number of
    units removed."""
    if module.batch_norm:
        raise ValueError("in-place unit removal does not support batch_norm=True")
    rm = torch.nonzero(remove).flatten()
    module.retired_nonzero[layer] += int(torch.count_nonzero(module.linears[layer].weight[rm]))
    module.retired_nonzero[layer + 1] += int(
        torch.count_nonzero(module.linears[layer + 1].weight[:, rm]))
    return remove_units(module, layer, remove, on_resize=on_resize)


@torch.no_grad()
def shrink_dead_(module, inputs=True, on_resize=None):
    """Delete every hidden unit whose incoming or outgoing weights are all masked
    and, with ``inputs``, stop reading input columns that every unit masks.
    Returns True when anything was cut."""
    removed = _until_none_dead(
        module, lambda: masked_dead_units(module),
        lambda layer, dead: shrink_units_(module, layer, dead, on_resize=on_resize))
    cut = any(removed)
    if inputs:
        dead = ~module.linears[0].mask.any(dim=0)
        if bool(dead.any()):
            shrink_inputs_(module, dead, on_resize=on_resize)
            cut = True
    return cut


@torch.no_grad()
def shrink_inputs_(module, remove, on_resize=None):
    """Stop reading the first layer's input columns ``remove`` (bool mask over its
    current columns; their weights must be zero): the layer narrows and
    ``module.select_inputs`` gathers the rest. :func:`expand_inputs_` undoes it."""
    first = module.linears[0]
    keep = torch.nonzero(~remove).flatten()
    current = module.input_index
    module.input_index = keep if current is None else current[keep]
    resize_linear_(first, cols=keep, on_resize=on_resize)


@torch.no_grad()
def expand_inputs_(module, on_resize=None):
    """Back to reading every input column (the cut ones with zero, masked weights)."""
    idx = module.input_index
    if idx is None:
        return
    resize_linear_(module.linears[0], cols=idx, on_resize=on_resize,
                   take=lambda t: widen_columns(t, idx, module.n_features))
    module.input_index = None


def resize_linear_(linear, rows=None, cols=None, on_resize=None, take=None):
    """Keep ``rows``/``cols`` of a MaskedLinear in place (parameter objects kept,
    their data, gradient and the mask replaced); ``take`` overrides the mapping of
    the weight-shaped tensors."""
    if take is None:
        def take(t):
            if rows is not None:
                t = t[rows]
            if cols is not None:
                t = t[:, cols]
            return t.contiguous()

    def take_bias(t):
        return t[rows].contiguous()

    params = [(linear.weight, take)]
    if rows is not None and linear.bias is not None:
        params.append((linear.bias, take_bias))
    for p, fn in params:
        p.data = fn(p.data)
        p.grad = None
        if on_resize is not None:
            on_resize(p, fn)
    linear.mask = take(linear.mask)
    linear.out_features, linear.in_features = linear.weight.shape
