"""The torch side: an MLP of masked linear layers, neuron removal, compaction.

Nothing in this file knows scikit-learn or skorch. Sparsity lives in two places:

* every :class:`MaskedLinear` carries a boolean ``mask`` buffer; masked weights are
  kept at exactly zero (the training callbacks re-apply the mask after each step);
* :meth:`SparseMLP.remove_neurons` physically deletes hidden units (row ``j`` of
  ``W_l`` and ``b_l``, column ``j`` of ``W_{l+1}``), folding the constant output of a
  unit with no inputs into the next layer's bias so that predictions do not change.

:class:`CompactMLP` is the inference form of a trained network: batch norm folded
into the weights, unused input columns dropped, each layer stored as a dense
``ndarray`` or (when mostly zeros) as a ``scipy.sparse`` CSR matrix. Large float32
batches run on torch's CPU kernels (oneDNN products, ``embedding_bag`` for a sparse
first layer), everything else on numpy and scipy in the input's precision; a
mostly-zero first layer is multiplied sparsely where that is measured to pay.
"""

import numpy as np
import scipy.sparse as sp
import torch
from scipy.special import expit
from torch import nn
from torch.nn import functional as F

ACTIVATIONS = {
    "relu": torch.relu,
    "tanh": torch.tanh,
    "logistic": torch.sigmoid,
    "identity": lambda x: x,
}

# Below this density a layer is stored as CSR (small pickles).
SPARSE_DENSITY = 0.1
# Layers smaller than this are always dense: the CSR bookkeeping is not worth it.
SPARSE_MIN_SIZE = 4096
# numpy path (float64 input, or torch without the kernels below): the first layer
# is multiplied sparsely when its density, counted over the full input width, is
# at most this. Measured on the 2-core machine (MNIST rows, caches cold as in a
# real call): a CSR product over transposed row chunks costs about as much per
# stored entry as 10 dense multiply-adds, plus the transposition of the input; a
# 98%-sparse first layer of 163 units (2.8% dense) then runs 1.2-1.6x faster than
# the dense product over its surviving units, a 30-42 unit layer at 10-15% runs
# faster dense. scipy's CSR product holds the GIL and runs on one core.
SPARSE_FIRST_DENSITY = 0.07
# torch path (float32 input): dense layers go through oneDNN's fused linear, a
# sparse first layer through F.embedding_bag (see CompactMLP._decision_bags),
# which pays for transposing the input whatever the sparsity. Costs in ns per
# input row, fitted on the 2-core machine over 43 first layers (30-1000 units,
# 0.5-30% dense, 784 inputs, one output layer of 10, 10,000 rows, repeated calls;
# within 20%): the sparse path 0.73 per input column, 0.14 per unit and 0.031 per
# stored weight, the dense product 0.0115 per multiply-add. The sparse path is
# taken when cheaper and the layer is at most BAGS_MAX_DENSITY dense: for 784
# inputs from about 70 units on at 1-2% (1,000 units at 1%: 9.6 against 86 ms;
# 163 units at 2%: 6.6 against 14.3 ms; 300 units at 20%: 25 against 27 ms;
# 30 units at 2%: 5.8 against 3.1 ms, dense). Checked on 40 layers timed after
# an idle 0.25 s (as in benchmarks/run.py; both paths slower there): it picked
# the faster path for all but one tie (100 units at 7%: 11.4 against 11.4 ms).
# Below this many rows float32 input stays on numpy: each oneDNN call costs about
# 20 us more than a small BLAS product (batch 1: 110 against 26 us for the dense
# MNIST network), and the two break even at 500-2,500 rows depending on the net.
# Networks on the torch sparse path (embedding_bag, see CompactMLP.sparse_first)
# take it from TORCH_MIN_ROWS_BAGS rows on: the gradual-98% MNIST network, each
# path timed in a process of its own, ran 1,000 rows in 1.3 against 2.4 ms on
# numpy when called back to back (2.3 against 2.4 ms after 0.25 s idle), 2,000 in
# 3.3-3.5 against 4.5-4.8 ms, 512 in 0.9 against 0.9 ms (a tie, idle or not),
# 64 in 0.5 against 0.2 ms.
TORCH_MIN_ROWS = 2048
TORCH_MIN_ROWS_BAGS = 512
COST_TRANSPOSE = 0.73
COST_UNIT = 0.14
COST_NNZ = 0.031
COST_FMA = 0.0115
# Per-step sparsity work (the L1 proximal step) runs on the gathered free weights
# of a layer whose mask keeps at most this fraction, on the whole matrix otherwise.
FREE_INDEX_DENSITY = 0.25
# Rows per chunk of the sparse first layer: the transposed chunk (n_features x 256)
# and its product stay in cache.
_CHUNK = 256
# Size of the transposed-input table of the torch sparse first layer (whole
# chunks, at least one): 5 chunks of MNIST rows. On 16,384 MNIST rows, blocks of
# 4-8 chunks measured 15-17 ms, 16-32 chunks 17-19 ms, one table 34-38 ms.
_BAGS_TABLE_BYTES = 4 << 20
# The torch sparse path takes layers at most this dense as bags: the first when
# the cost model says so, each following one while the layers before it are bags
# (else batched dense products). Measured on 40 chunks of 256 rows, bags against
# dense: 91 x 163 at 10%: 0.5 against 1.9 ms, at 30%: 1.2 against 1.9, at 50%:
# 2.0 against 1.9; 300 x 300 at 30%: 7.1 against 10.5 ms.
BAGS_MAX_DENSITY = 0.3

# Hidden activations of the torch path: fused into oneDNN's product (attribute
# name) or applied in place.
_TORCH_ATTR = {"relu": "relu", "tanh": "tanh", "logistic": "sigmoid", "identity": "none"}
_TORCH_ACT_ = {"relu": torch.relu_, "tanh": torch.tanh_, "logistic": torch.sigmoid_,
               "identity": lambda h: h}
_TORCH_PROBE = {}


def _linear(x, weight, bias, attr="none"):
    """``attr(x @ weight.T + bias)`` by oneDNN (float32, CPU). This is the op that
    torch's compiler (inductor, with freezing) emits for linear layers on CPU; it
    is not public API, so :func:`torch_kernels_ok` checks it before any use."""
    return torch.ops.mkldnn._linear_pointwise(x, weight, bias, attr, [None], "")


def _packed(weight):
    """``weight`` reordered into oneDNN's blocked layout (for :func:`_linear`)."""
    return torch.ops.mkldnn._reorder_linear_weight(weight, None)


def torch_kernels_ok():
    """Whether the float32 inference path can run on torch's kernels: oneDNN's fused
    linear and weight packing exist and agree with plain torch, and
    ``embedding_bag`` turns a zero weight on a NaN or inf into NaN (the sparse first
    layer finds non-finite input that way). Checked once per process; if anything
    differs or raises, float32 input takes the numpy path."""
    if "ok" not in _TORCH_PROBE:
        ok = False
        try:
            if torch.backends.mkldnn.is_available():
                g = torch.Generator().manual_seed(0)
                x = torch.randn(37, 19, generator=g)
                w = torch.randn(11, 19, generator=g)
                b = torch.randn(11, generator=g)
                ref = x @ w.T + b
                ok = all(torch.allclose(_linear(x, w, b, attr), fn(ref.clone()), atol=1e-5)
                         for attr, fn in (("none", lambda h: h), ("relu", torch.relu_),
                                          ("tanh", torch.tanh_), ("sigmoid", torch.sigmoid_)))
                ok = ok and all(torch.allclose(_linear(x[:k], _packed(w), b), ref[:k], atol=1e-5)
                                for k in (1, 37))
                table = torch.ones(3, 4)
                table[1, 2] = float("nan")
                table[2, 0] = float("inf")
                out = F.embedding_bag(torch.tensor([0, 1, 2, 0]), table, torch.tensor([0, 1]),
                                      mode="sum",
                                      per_sample_weights=torch.tensor([2.0, 0.0, 0.0, 1.0]))
                ok = (ok and torch.equal(out[0], torch.full((4,), 2.0))
                      and torch.equal(torch.isnan(out[1]), torch.tensor([True, False, True, False]))
                      and torch.equal(out[1, [1, 3]], torch.ones(2)))
        except Exception:  # an older or newer torch without the op: numpy path
            ok = False
        _TORCH_PROBE["ok"] = bool(ok)
    return _TORCH_PROBE["ok"]


class MaskedLinear(nn.Linear):
    """``nn.Linear`` with a boolean ``mask`` buffer of the weight's shape.

    The forward pass is a plain ``F.linear``: masked entries are stored as exact
    zeros, so no multiplication by the mask is needed at forward time.
    """

    def __init__(self, in_features, out_features, bias=True, device=None, dtype=None):
        super().__init__(in_features, out_features, bias=bias, device=device, dtype=dtype)
        self.register_buffer("mask", torch.ones_like(self.weight, dtype=torch.bool))

    @torch.no_grad()
    def reset_parameters(self):
        # Zeros here; SparseMLP initialises from its own generator, so building a
        # layer never draws from (or changes) the global torch RNG.
        self.weight.zero_()
        if self.bias is not None:
            self.bias.zero_()

    def _mask_views(self):
        """``(float copy of the mask, flat indices of the free entries or None)``,
        rebuilt only when the mask changes (in-place edits bump the tensor's
        version; ``.to()`` and ``load_state_dict`` replace or bump it)."""
        m = self.mask
        cache = self.__dict__.get("_mask_cache")
        if (cache is None or cache[0] is not m or cache[1] != m._version
                or cache[2].dtype != self.weight.dtype):
            free = None
            if int(m.sum()) <= FREE_INDEX_DENSITY * m.numel():
                free = torch.nonzero(m.view(-1)).flatten()
            cache = (m, m._version, m.to(self.weight.dtype), free)
            self.__dict__["_mask_cache"] = cache
        return cache[2], cache[3]

    def forward(self, X):
        if X.layout != torch.strided:
            # a sparse mini-batch (text, one-hot): sparse @ dense, the weight's
            # gradient comes back dense, so masks and proximal steps work unchanged
            return torch.addmm(self.bias, X, self.weight.t())
        return F.linear(X, self.weight, self.bias)

    def apply_mask_(self):
        # runs after every optimizer step: multiplying by a float copy of the mask
        # is ~7x faster than by the bool mask (measured: 0.011 vs 0.075 ms for
        # 300 x 784); through .data, since a no_grad context costs more than the
        # product on small layers
        self.weight.data.mul_(self._mask_views()[0])

    def free_index(self):
        """Flat indices of the unmasked weights when they are at most
        ``FREE_INDEX_DENSITY`` of the layer (per-step work on them alone is then
        cheaper than on the whole matrix), else None."""
        return self._mask_views()[1]

    def __getstate__(self):
        state = dict(super().__getstate__())
        state.pop("_mask_cache", None)
        return state


class SparseMLP(nn.Module):
    """A multi-layer perceptron whose Linear layers are :class:`MaskedLinear`.

    Parameters
    ----------
    n_features, hidden_layer_sizes, n_outputs : int, tuple of int, int
    activation : {"relu", "tanh", "logistic", "identity"}
    dropout : float in [0, 1)
        Dropout after every hidden activation.
    batch_norm : bool
        ``BatchNorm1d`` between each hidden Linear layer and its activation.
    """

    def __init__(self, n_features, hidden_layer_sizes, n_outputs, activation="relu",
                 dropout=0.0, batch_norm=False, generator=None):
        super().__init__()
        self.n_features = int(n_features)
        self.hidden_layer_sizes = tuple(int(h) for h in hidden_layer_sizes)
        self.n_outputs = int(n_outputs)
        self.activation = activation
        self.dropout = float(dropout)
        self.batch_norm = bool(batch_norm)
        sizes = (self.n_features, *self.hidden_layer_sizes, self.n_outputs)
        self.linears = nn.ModuleList(
            MaskedLinear(a, b) for a, b in zip(sizes[:-1], sizes[1:])
        )
        self.norms = nn.ModuleList(
            nn.BatchNorm1d(h) if self.batch_norm and h > 0 else nn.Identity()
            for h in self.hidden_layer_sizes
        )
        self._act = ACTIVATIONS[activation]
        #: per layer, nonzero weights of units removed while training went on
        #: (:meth:`shrink_units_`); counted by ``n_nonzero(retired=True)``
        self.retired_nonzero = [0] * len(self.linears)
        #: per hidden layer, the indices (in the network as built) of the units still
        #: there; :meth:`remove_neurons` keeps it in step with every removal
        self.unit_index = [np.arange(h) for h in self.hidden_layer_sizes]
        # columns of the input the first layer reads while dead input columns are
        # cut out during training (see shrink_inputs_); None: all of them
        self.register_buffer("input_index", None, persistent=False)
        #: torch.Generator for dropout masks (None: the global RNG)
        self.dropout_generator = None
        self._glorot_init(generator if generator is not None else torch.Generator().manual_seed(0))

    def __getstate__(self):
        state = dict(super().__getstate__())
        state["dropout_generator"] = None  # a per-fit stream, not part of the model
        return state

    @torch.no_grad()
    def _glorot_init(self, generator):
        """Glorot-uniform weights and biases, as scikit-learn's MLP initialises them
        (bound ``sqrt(6 / (fan_in + fan_out))``, ``sqrt(2 / ...)`` for logistic).
        Measured on MNIST-5k (300, 100): torch's default init trailed
        scikit-learn by 0.3-1.7 points at equal epochs; this init matches it.

        ``generator`` is a ``torch.Generator`` or a ``numpy.random.RandomState``;
        from a RandomState the draws are scikit-learn's own (per layer the
        ``(fan_in, fan_out)`` weights, then the biases), so a network seeded with
        ``random_state=k`` starts where ``MLPClassifier(random_state=k)`` starts.
        After a few dozen steps (one pass of a small ``partial_fit`` stream) the
        score still depends mostly on this draw."""
        factor = 2.0 if self.activation == "logistic" else 6.0
        for linear in self.linears:
            fan_out, fan_in = linear.weight.shape
            if fan_in + fan_out == 0:
                continue
            bound = (factor / (fan_in + fan_out)) ** 0.5
            if isinstance(generator, np.random.RandomState):
                W = generator.uniform(-bound, bound, (fan_in, fan_out))
                b = generator.uniform(-bound, bound, fan_out)
                linear.weight.copy_(torch.as_tensor(W.T, dtype=linear.weight.dtype))
                linear.bias.copy_(torch.as_tensor(b, dtype=linear.bias.dtype))
            else:
                linear.weight.uniform_(-bound, bound, generator=generator)
                linear.bias.uniform_(-bound, bound, generator=generator)

    def select_inputs(self, X):
        """The input columns the first layer reads (all of them, except while
        training runs on a network shrunk by :meth:`shrink_inputs_`)."""
        idx = self.input_index
        if idx is None:
            return X
        if X.layout == torch.sparse_csr:  # index_select has no CSR kernel; COO has one
            X = X.to_sparse_coo()
        return X.index_select(1, idx)

    def forward(self, X):
        X = self.select_inputs(X)
        for linear, norm in zip(self.linears[:-1], self.norms):
            X = linear(X)
            X = norm(X)
            X = self._act(X)
            if self.dropout > 0.0 and self.training:
                X = self._dropout(X)
        return self.linears[-1](X)

    def _dropout(self, X):
        if self.dropout_generator is None:
            return F.dropout(X, self.dropout, True)
        keep = torch.rand(X.shape, generator=self.dropout_generator, device=X.device,
                          dtype=X.dtype) >= self.dropout
        return X * keep / (1.0 - self.dropout)

    # ------------------------------------------------------------------ sparsity
    def apply_masks_(self):
        for linear in self.linears:
            linear.apply_mask_()

    def n_weights(self):
        """Number of connection weights (biases excluded) of the current shapes."""
        return sum(linear.weight.numel() for linear in self.linears)

    @torch.no_grad()
    def n_nonzero(self, retired=False):
        """Per-layer count of nonzero connection weights; with ``retired`` the
        weights of units removed during training count too, as they were when
        removed (sparsity is counted against the network as built)."""
        counts = [int(torch.count_nonzero(linear.weight)) for linear in self.linears]
        if retired:
            counts = [c + r for c, r in zip(counts, self.retired_nonzero)]
        return counts

    @torch.no_grad()
    def hidden_output_constant(self, layer, idx):
        """Eval-mode output of hidden units ``idx`` of ``layer`` when their inputs are 0."""
        linear, norm = self.linears[layer], self.norms[layer]
        z = linear.bias[idx].clone()
        if isinstance(norm, nn.BatchNorm1d):
            scale = norm.weight[idx] / torch.sqrt(norm.running_var[idx] + norm.eps)
            z = (z - norm.running_mean[idx]) * scale + norm.bias[idx]
        return self._act(z)

    @torch.no_grad()
    def dead_neurons(self, threshold=0.0):
        """Indices of hidden units with incoming or outgoing weight norm <= threshold.

        Returns a list (one entry per hidden layer) of ``(dead_in, dead_out)`` boolean
        tensors.
        """
        out = []
        for layer in range(len(self.hidden_layer_sizes)):
            w_in = self.linears[layer].weight
            w_out = self.linears[layer + 1].weight
            dead_in = torch.linalg.vector_norm(w_in, dim=1) <= threshold
            dead_out = torch.linalg.vector_norm(w_out, dim=0) <= threshold
            out.append((dead_in, dead_out))
        return out

    @torch.no_grad()
    def remove_neurons(self, layer, remove, fill=None, on_resize=None):
        """Physically delete hidden units ``remove`` (bool mask or indices) of ``layer``.

        The removed units' contribution to the next layer is replaced by a constant:
        ``fill`` (their assumed output value, one per removed unit); by default the
        output the unit gives when all its incoming weights are zero, which makes
        the removal exact for units with no incoming weights and for units with no
        outgoing weights alike. The layers shrink in place (see ``on_resize`` in
        the in-place shrinking section below); a batch norm layer is rebuilt.
        """
        n = self.hidden_layer_sizes[layer]
        remove_mask = torch.zeros(n, dtype=torch.bool, device=self.linears[layer].weight.device)
        remove_mask[remove] = True
        if not bool(remove_mask.any()):
            return 0
        rm_idx = torch.nonzero(remove_mask).flatten()
        keep_idx = torch.nonzero(~remove_mask).flatten()
        nxt = self.linears[layer + 1]
        if fill is None:
            fill = self.hidden_output_constant(layer, rm_idx)
        fill = torch.as_tensor(fill, dtype=nxt.weight.dtype, device=nxt.weight.device)
        nxt.bias += nxt.weight[:, rm_idx] @ fill

        _resize_linear_(self.linears[layer], rows=keep_idx, on_resize=on_resize)
        _resize_linear_(nxt, cols=keep_idx, on_resize=on_resize)
        norm = self.norms[layer]
        if isinstance(norm, nn.BatchNorm1d):
            if len(keep_idx) == 0:
                self.norms[layer] = nn.Identity()
            else:
                new = nn.BatchNorm1d(len(keep_idx), eps=norm.eps, momentum=norm.momentum)
                new.to(norm.weight.device)
                new.weight.copy_(norm.weight[keep_idx])
                new.bias.copy_(norm.bias[keep_idx])
                new.running_mean.copy_(norm.running_mean[keep_idx])
                new.running_var.copy_(norm.running_var[keep_idx])
                new.num_batches_tracked.copy_(norm.num_batches_tracked)
                new.train(norm.training)
                self.norms[layer] = new
        self.unit_index[layer] = self.unit_index[layer][keep_idx.cpu().numpy()]
        sizes = list(self.hidden_layer_sizes)
        sizes[layer] = len(keep_idx)
        self.hidden_layer_sizes = tuple(sizes)
        return len(rm_idx)

    @torch.no_grad()
    def remove_dead_neurons(self, threshold=0.0):
        """Remove every hidden unit whose incoming or outgoing weights have norm <=
        ``threshold``, repeating until none is left. Returns the count per layer."""
        removed = [0] * len(self.hidden_layer_sizes)
        changed = True
        while changed:
            changed = False
            for layer, (dead_in, dead_out) in enumerate(self.dead_neurons(threshold)):
                dead = dead_in | dead_out
                if bool(dead.any()):
                    if threshold > 0:
                        # below-threshold weights are treated as zero from here on
                        self.linears[layer].weight[dead_in] = 0.0
                        self.linears[layer + 1].weight[:, dead_out] = 0.0
                    removed[layer] += self.remove_neurons(layer, dead)
                    changed = True
        return removed

    # ------------------------------------------------------- in-place shrinking
    # Used while training continues (masks final, dead units cut out so that the
    # remaining epochs run a smaller network): the parameter objects are kept and
    # only their data replaced, and ``on_resize(param, take)`` is called for each
    # resized parameter with the function that maps a tensor of its old shape to
    # the new one, so the optimizer's per-parameter state can follow.

    def masked_dead_units(self):
        """Per hidden layer, the units whose incoming or outgoing weights are all
        masked (bool tensors): with the masks final they can never come back."""
        return [~self.linears[l].mask.any(dim=1) | ~self.linears[l + 1].mask.any(dim=0)
                for l in range(len(self.hidden_layer_sizes))]

    @torch.no_grad()
    def shrink_dead_(self, inputs=True, on_resize=None):
        """Delete every hidden unit whose incoming or outgoing weights are all
        masked (repeating: a removal can leave a unit of the next layer without
        inputs) and, with ``inputs``, stop reading input columns that every unit
        masks. Returns True when anything was cut."""
        changed, cut = True, False
        while changed:
            changed = False
            for layer, dead in enumerate(self.masked_dead_units()):
                if bool(dead.any()):
                    self.shrink_units_(layer, dead, on_resize=on_resize)
                    changed = cut = True
        if inputs:
            dead = ~self.linears[0].mask.any(dim=0)
            if bool(dead.any()):
                self.shrink_inputs_(dead, on_resize=on_resize)
                cut = True
        return cut

    @torch.no_grad()
    def shrink_units_(self, layer, remove, on_resize=None):
        """Delete hidden units ``remove`` (bool mask) of ``layer`` in place, folding
        their zero-input output into the next layer's bias (exact for units whose
        incoming or outgoing weights are all zero). Not for batch norm networks
        (their training-mode output is not the folded constant). The nonzero
        weights removed are added to ``retired_nonzero``. Returns the number of
        units removed."""
        if self.batch_norm:
            raise ValueError("in-place unit removal does not support batch_norm=True")
        rm = torch.nonzero(remove).flatten()
        self.retired_nonzero[layer] += int(torch.count_nonzero(self.linears[layer].weight[rm]))
        self.retired_nonzero[layer + 1] += int(
            torch.count_nonzero(self.linears[layer + 1].weight[:, rm]))
        return self.remove_neurons(layer, remove, on_resize=on_resize)

    @torch.no_grad()
    def shrink_inputs_(self, remove, on_resize=None):
        """Stop reading the first layer's input columns ``remove`` (bool mask over
        its current columns; their weights must be zero): the layer narrows and
        :meth:`select_inputs` gathers the rest. :meth:`expand_inputs_` undoes it."""
        first = self.linears[0]
        keep = torch.nonzero(~remove).flatten()
        current = self.input_index
        self.input_index = keep if current is None else current[keep]
        _resize_linear_(first, cols=keep, on_resize=on_resize)

    @torch.no_grad()
    def expand_inputs_(self, on_resize=None):
        """Back to reading every input column (the cut ones with zero, masked
        weights)."""
        idx = self.input_index
        if idx is None:
            return
        first = self.linears[0]

        def take(t):
            full = t.new_zeros((t.shape[0], self.n_features))
            full[:, idx] = t
            return full

        _resize_linear_(first, cols=idx, on_resize=on_resize, take=take)
        self.input_index = None

    def init_kwargs(self):
        return dict(n_features=self.n_features, hidden_layer_sizes=self.hidden_layer_sizes,
                    n_outputs=self.n_outputs, activation=self.activation,
                    dropout=self.dropout, batch_norm=self.batch_norm)


def _resize_linear_(linear, rows=None, cols=None, on_resize=None, take=None):
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


# ---------------------------------------------------------------------- persistence
def pack_state(module):
    """A compact, torch-free picture of ``module``: its init kwargs and its state,
    each tensor stored densely or (when mostly zeros) as flat indices + values."""
    state = {}
    sd = module.state_dict()
    for key, t in sd.items():
        a = t.detach().cpu().numpy()
        wkey = key[: -len("mask")] + "weight"
        if key.endswith(".mask") and wkey in sd and torch.equal(t, sd[wkey] != 0):
            state[key] = ("nonzero_of", wkey)
        elif a.size >= 64 and a.dtype != np.bool_ and np.count_nonzero(a) < a.size / 3:
            flat = np.flatnonzero(a)
            state[key] = ("sparse", a.shape, a.dtype.str, flat.astype(np.int32), a.ravel()[flat])
        elif a.dtype == np.bool_ and a.size >= 64:
            state[key] = ("bits", a.shape, np.packbits(a.ravel()))
        else:
            state[key] = ("dense", a.copy())
    # the nonzero weights of units cut while training (sparsity counts them): a
    # partial_fit stream pickled between blocks (dask) keeps counting them
    return {"kwargs": module.init_kwargs(), "state": state,
            "unit_index": [np.asarray(ix) for ix in module.unit_index],
            "retired": list(module.retired_nonzero)}


def unpack_state(packed):
    module = SparseMLP(**packed["kwargs"])
    state = {}
    for key, entry in packed["state"].items():
        if entry[0] == "nonzero_of":
            continue
        if entry[0] == "sparse":
            _, shape, dtype, flat, values = entry
            a = np.zeros(int(np.prod(shape)), dtype=np.dtype(dtype))
            a[flat] = values
            state[key] = torch.from_numpy(a.reshape(shape))
        elif entry[0] == "bits":
            _, shape, bits = entry
            n = int(np.prod(shape))
            state[key] = torch.from_numpy(np.unpackbits(bits)[:n].astype(bool).reshape(shape))
        else:
            state[key] = torch.from_numpy(entry[1])
    for key, entry in packed["state"].items():
        if entry[0] == "nonzero_of":
            state[key] = state[entry[1]] != 0
    module.load_state_dict(state)
    if "unit_index" in packed:
        module.unit_index = [np.asarray(ix) for ix in packed["unit_index"]]
    module.retired_nonzero = list(packed.get("retired", module.retired_nonzero))
    return module


# ------------------------------------------------------------------------ inference
_NP_ACTIVATIONS = {
    "relu": lambda h: np.maximum(h, 0.0, out=h),
    "tanh": lambda h: np.tanh(h, out=h),
    "logistic": lambda h: expit(h, out=h),
    "identity": lambda h: h,
}


class CompactMLP:
    """Inference-only form of a trained :class:`SparseMLP`.

    Batch norm is folded into the weights and dropout dropped, so the network is
    a chain of ``H = act(H @ W.T + b)``. Computation runs in the input's float
    precision (float32 in float32, anything else in float64). float32 batches of
    ``TORCH_MIN_ROWS`` rows or more (``TORCH_MIN_ROWS_BAGS`` for a sparse first
    layer) run on torch's CPU kernels (oneDNN's fused linear, 1.1x faster than
    OpenBLAS on the dense MNIST network and 1.5x on narrow pruned ones; see
    :func:`torch_kernels_ok`), everything else on numpy
    and scipy. Units and input columns that pruning removed are simply absent.
    A first layer that
    is still mostly zeros is multiplied sparsely when that is measured to pay: on
    numpy as CSR over transposed chunks of rows (``SPARSE_FIRST_DENSITY``), on
    torch by ``embedding_bag`` (the cost model ``COST_*``), the sparse layers
    after it too (``BAGS_MAX_DENSITY``); otherwise every layer is a dense
    product. Each call uses one library's threads throughout: OpenBLAS keeps a
    core spinning for about 0.1 s after a product, which slowed oneDNN products
    that followed 2-5x when the two were mixed.

    Fitted estimators build it (``compact_model_``); it is rarely made by hand.

    Parameters
    ----------
    input_index : array-like of int
        Columns of the original input that the network still reads.
    weights : list of ndarray or scipy.sparse.csr_array, shape (out, in)
        Storage form: CSR for sparse layers (small pickles), dense otherwise.
    biases : list of ndarray
        Bias vector per layer.
    activation : {"relu", "tanh", "logistic", "identity"}
        Activation of the hidden layers (the output layer is linear).
    n_features : int, default=None
        Width of the original input; None means ``len(input_index)``.

    Attributes
    ----------
    input_index : ndarray of int
        Columns of the original input that the network still reads.
    n_features : int
        Width of the original input.
    weights : list of ndarray or scipy.sparse.csr_array
        The weight matrices, shape (out, in).
    biases : list of ndarray
        Bias vector per layer.
    activation : str
        Activation of the hidden layers.
    """

    def __init__(self, input_index, weights, biases, activation, n_features=None):
        self.input_index = np.asarray(input_index, dtype=np.intp)
        self.weights = weights
        self.biases = biases
        self.activation = activation
        self.n_features = n_features if n_features is not None else len(self.input_index)

    @classmethod
    @torch.no_grad()
    def from_module(cls, module, sparse_density=SPARSE_DENSITY):
        """Build the inference form of a trained network module.

        Parameters
        ----------
        module : SparseMLP
            The trained torch module (``estimator.net_.module_``).
        sparse_density : float, default=SPARSE_DENSITY
            Layers with at most this fraction of nonzeros are stored as CSR.

        Returns
        -------
        model : CompactMLP
            The compacted network.
        """
        Ws, bs = [], []
        n_hidden = len(module.hidden_layer_sizes)
        for i, linear in enumerate(module.linears):
            W = linear.weight.detach().cpu().double().numpy().copy()
            b = linear.bias.detach().cpu().double().numpy().copy()
            if i < n_hidden and isinstance(module.norms[i], nn.BatchNorm1d):
                bn = module.norms[i]
                scale = (bn.weight / torch.sqrt(bn.running_var + bn.eps)).cpu().double().numpy()
                W *= scale[:, None]
                b = (b - bn.running_mean.cpu().double().numpy()) * scale + bn.bias.cpu().double().numpy()
            Ws.append(W)
            bs.append(b)
        used = np.flatnonzero(np.any(Ws[0] != 0.0, axis=0))
        Ws[0] = Ws[0][:, used]
        Ws = [_storage(W, sparse_density) for W in Ws]
        return cls(used, Ws, bs, module.activation, n_features=module.n_features)

    def __getstate__(self):
        state = self.__dict__.copy()
        state.pop("_kernels", None)  # derived, rebuilt on first use
        return state

    def _engine(self, dtype, n_rows):
        """``"torch"`` for float32 input of at least ``TORCH_MIN_ROWS`` rows
        (``TORCH_MIN_ROWS_BAGS`` when the first layer takes the sparse torch path)
        when :func:`torch_kernels_ok`, else ``"numpy"`` (also for networks with an
        empty layer, which oneDNN rejects)."""
        if dtype != np.float32 or any(min(W.shape) == 0 for W in self.weights):
            return "numpy"
        least = TORCH_MIN_ROWS_BAGS if self.sparse_first("torch") else TORCH_MIN_ROWS
        return "torch" if n_rows >= least and torch_kernels_ok() else "numpy"

    def _kernel(self, dtype, engine="numpy"):
        """Per-dtype weights ready for the product, cached in ``_kernels`` (which
        also holds the :meth:`sparse_first` decisions; dropped when pickling),
        per dtype and engine (see :meth:`_engine`).

        numpy dense path (``"rows"``): transposed weights for ``H @ Wt``; the first
        layer is either gathered (few inputs kept) or widened with zero rows (so
        the input needs no column gather, which costs more than the product).
        numpy sparse-first path (``"T"``): the first layer as CSR over the full
        input width, the others dense and untransposed (``W @ H.T``), biases as
        columns. torch paths (``"torch"``, ``"bags"``): float32 tensors in the
        ``(out, in)`` layout of oneDNN's linear; ``"bags"`` holds the layers as
        the steps of :meth:`_decision_bags` (see :meth:`_bag_steps`)."""
        cache = self.__dict__.setdefault("_kernels", {})
        key = (np.dtype(dtype).name, engine)
        if key not in cache:
            dense = [W.toarray() if sp.issparse(W) else W for W in self.weights]
            if engine == "torch":
                Ws = [torch.from_numpy(np.ascontiguousarray(W, dtype=np.float32)) for W in dense]
                bs = [torch.from_numpy(np.ascontiguousarray(b, dtype=np.float32))
                      for b in self.biases]
                if self.sparse_first("torch"):
                    cache[key] = ("bags", self._bag_steps(dense, Ws, bs), None)
                else:
                    if self._widen_first():
                        Ws[0] = torch.from_numpy(self._widened(dense[0], np.float32))
                    # oneDNN's own weight layout: 10% faster on the dense MNIST
                    # (300, 100) network, no gain on small layers (slower on some)
                    Ws[0] = _packed(Ws[0])
                    cache[key] = ("torch", Ws, bs)
            elif self.sparse_first("numpy"):
                W0 = sp.coo_array(dense[0])
                first = sp.csr_array((W0.data.astype(dtype), (W0.row, self.input_index[W0.col])),
                                     shape=(W0.shape[0], self.n_features))
                # the later layers are small once units are removed: dense BLAS
                # beats CSR on them (MNIST 91 x 163 at 9.5%: 1 ms against 3.6 ms)
                rest = [np.ascontiguousarray(W, dtype=dtype) for W in dense[1:]]
                cache[key] = ("T", [first, *rest], [b.astype(dtype)[:, None] for b in self.biases])
            else:
                Wts = []
                for i, W in enumerate(dense):
                    if i == 0 and self._widen_first():
                        W = self._widened(W, dtype)
                    Wts.append(np.ascontiguousarray(W.T, dtype=dtype))
                cache[key] = ("rows", Wts, [b.astype(dtype) for b in self.biases])
        return cache[key]

    def _bag_steps(self, dense, Ws, bs):
        """The torch sparse path's layers (see :meth:`_decision_bags`): the first
        layer and each following one at most ``BAGS_MAX_DENSITY`` dense as
        ``embedding_bag`` arguments ``("bags", (indices, offsets, weights), units)``,
        the rest as ``("dense", W, b)``. A bag layer reads the rows of the layer
        before (for the first: the transposed input, a row per input column) and
        a row of ones for its bias; it passes a row of ones on when the next layer
        is a bag layer too. The first layer ends with one more bag: every input
        column at weight 0, NaN exactly where a row holds NaN or inf (0 * x is 0
        for finite x)."""
        n_bags = 1
        while (n_bags < len(dense)
               and np.count_nonzero(dense[n_bags]) <= BAGS_MAX_DENSITY * dense[n_bags].size):
            n_bags += 1
        steps = []
        reads, ones = self.input_index, self.n_features  # rows of the table read
        for i in range(n_bags):
            W = sp.csr_array(dense[i])  # bags = rows: indptr are the offsets
            W.sort_indices()
            starts = W.indptr[:-1] + np.arange(W.shape[0])  # one bias entry per bag
            idx = np.insert(reads[W.indices], W.indptr[1:], ones)
            w = np.insert(W.data, W.indptr[1:], self.biases[i])
            extra = []
            if i + 1 < n_bags:  # a row of ones for the next layer's biases
                extra.append(([ones], [1.0]))
            if i == 0:  # the NaN/inf check
                extra.append((np.arange(self.n_features), np.zeros(self.n_features)))
            for more_idx, more_w in extra:
                starts = np.append(starts, len(idx))
                idx, w = np.append(idx, more_idx), np.append(w, more_w)
            steps.append(("bags", (torch.from_numpy(idx.astype(np.int64)),
                                   torch.from_numpy(starts.astype(np.int64)),
                                   torch.from_numpy(w.astype(np.float32))),
                          W.shape[0]))
            reads, ones = np.arange(W.shape[0]), W.shape[0]
        steps += [("dense", W, b) for W, b in zip(Ws[n_bags:], bs[n_bags:])]
        return steps

    def _widen_first(self):
        return len(self.input_index) >= 0.25 * self.n_features

    def _widened(self, W, dtype):
        """The first layer ``W`` over the full input width: zero columns for the
        inputs the network does not read."""
        full = np.zeros((W.shape[0], self.n_features), dtype=dtype)
        full[:, self.input_index] = W
        return full

    def sparse_first(self, engine="numpy"):
        """Tell whether this engine multiplies the first layer as a sparse matrix.

        Decided once, in the kernel cache: for numpy by its density over the full
        input width (``SPARSE_FIRST_DENSITY``), for torch by the cost model
        (``COST_*``, ``BAGS_MAX_DENSITY``).

        Parameters
        ----------
        engine : {"numpy", "torch"}, default="numpy"
            The engine (see :meth:`decision`).

        Returns
        -------
        sparse : bool
            True when the first layer takes the sparse kernel.
        """
        cache = self.__dict__.setdefault("_kernels", {})
        key = ("sparse_first", engine)
        if key not in cache:
            W = self.weights[0]
            units, n_in = W.shape[0], self.n_features
            size = units * n_in
            nnz = W.nnz if sp.issparse(W) else np.count_nonzero(W)
            if size < SPARSE_MIN_SIZE:
                sparse = False
            elif engine == "numpy":
                sparse = nnz <= SPARSE_FIRST_DENSITY * size
            else:
                width = n_in if self._widen_first() else W.shape[1]
                sparse = (nnz <= BAGS_MAX_DENSITY * size
                          and COST_TRANSPOSE * n_in + COST_UNIT * units + COST_NNZ * nnz
                          < COST_FMA * units * width)
            cache[key] = bool(sparse)
        return cache[key]

    def decision(self, X, check_finite=False):
        """Compute the raw network outputs for ``X``.

        float32 input runs in float32, on torch's kernels from ``TORCH_MIN_ROWS``
        rows on (``TORCH_MIN_ROWS_BAGS`` for a sparse first layer; see :meth:`_engine`
        and :func:`torch_kernels_ok`), on numpy below; anything else runs in float64
        on numpy and scipy.

        With ``check_finite`` it returns ``(outputs, input_ok)``: ``input_ok`` is
        False when ``X`` may hold NaN/inf. When the first layer is a dense product
        over every column (see :meth:`reads_every_column`) that is judged on its
        pre-activations: a non-finite input value makes its whole row non-finite
        there (nan * w, inf * 0 and inf - inf are all non-finite), so the input
        needs no separate scan. The sparse first layer judges each transposed
        chunk while it is in cache; otherwise the input itself is scanned.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Input, all ``n_features`` columns of the original data.
        check_finite : bool, default=False
            Also return whether ``X`` was free of NaN and inf.

        Returns
        -------
        outputs : ndarray of shape (n_samples, n_outputs)
            Raw outputs (before the estimator's output activation).
        input_ok : bool
            Only with ``check_finite=True``: False when ``X`` may hold NaN/inf.
        """
        if sp.issparse(X):
            return self._decision_csr(X, check_finite)
        X = np.asarray(X)
        if X.ndim != 2 or X.shape[1] != self.n_features:
            raise ValueError(f"X has shape {X.shape}; this network takes (n_samples, "
                             f"{self.n_features}).")
        dtype = np.float32 if X.dtype == np.float32 else np.float64
        engine = self._engine(dtype, X.shape[0])
        layout, Ws, bs = self._kernel(dtype, engine)
        try:
            if layout == "T":
                return self._decision_sparse_first(X, dtype, Ws, bs, check_finite)
            if layout == "bags":
                return self._decision_bags(X, Ws, check_finite)
            return self._decision_dense(X, dtype, engine, Ws, bs, check_finite)
        except RuntimeError:
            if engine != "torch":
                raise
            _TORCH_PROBE["ok"] = False  # oneDNN refused after all: numpy from now on
            return self.decision(X, check_finite)

    def _decision_csr(self, X, check_finite):
        """Sparse input (scipy): the columns the network reads are gathered from the
        CSR matrix (cost in its nonzeros), the first layer is CSR @ dense, the rest
        dense numpy. The input is never densified: a 20,000 x 40,000 TF-IDF matrix
        would be 3.2 GB as float32."""
        if X.ndim != 2 or X.shape[1] != self.n_features:
            raise ValueError(f"X has shape {X.shape}; this network takes (n_samples, "
                             f"{self.n_features}).")
        dtype = np.float32 if X.dtype == np.float32 else np.float64
        cache = self.__dict__.setdefault("_kernels", {})
        key = (np.dtype(dtype).name, "csr")
        if key not in cache:
            dense = [W.toarray() if sp.issparse(W) else W for W in self.weights]
            cache[key] = ([np.ascontiguousarray(W.T, dtype=dtype) for W in dense],
                          [b.astype(dtype) for b in self.biases])
        Wts, bs = cache[key]
        X = sp.csr_array(X)
        input_ok = bool(np.isfinite(X.data).all()) if check_finite else True
        X = X[:, self.input_index].astype(dtype, copy=False)
        act = _NP_ACTIVATIONS[self.activation]
        H = np.asarray(X @ Wts[0], dtype=dtype)
        last = len(Wts) - 1
        for i in range(last + 1):
            if i:
                H = H @ Wts[i]
            H += bs[i]
            if i < last:
                act(H)
        return (H, input_ok) if check_finite else H

    def _decision_dense(self, X, dtype, engine, Ws, bs, check_finite):
        """Dense first layer (gathered or widened input), on numpy or torch."""
        reads_all = check_finite and self.reads_every_column(engine)
        input_ok = True
        if check_finite and not reads_all:
            input_ok = bool(np.isfinite(X.sum()))
        if self._widen_first():
            H = X.astype(dtype, copy=False)
        else:
            # np.take, not X[:, index]: 1.5 against 5.5 ms for 125 of 784 columns
            H = np.take(X, self.input_index, axis=1).astype(dtype, copy=False)
        if engine == "torch":
            H = _linear(torch.from_numpy(_torch_ready(H)), Ws[0], bs[0])
            if reads_all:
                input_ok = bool(np.isfinite(H.numpy().sum()))
            out = self._torch_rest(H, Ws, bs)
            return (out, input_ok) if check_finite else out
        act = _NP_ACTIVATIONS[self.activation]
        last = len(Ws) - 1
        for i, (Wt, b) in enumerate(zip(Ws, bs)):
            H = H @ Wt
            if i == 0 and reads_all:
                input_ok = bool(np.isfinite(H.sum()))
            H += b
            if i < last:
                act(H)
        return (H, input_ok) if check_finite else H

    def _torch_rest(self, H, Ws, bs):
        """From the first layer's pre-activations (torch, rows) to the outputs."""
        last = len(Ws) - 1
        if last:
            _TORCH_ACT_[self.activation](H)
        attr = _TORCH_ATTR[self.activation]
        for i in range(1, last + 1):
            H = _linear(H, Ws[i], bs[i], attr if i < last else "none")
        return H.numpy()

    def _decision_bags(self, X, steps, check_finite):
        """Sparse first layer on torch, by ``F.embedding_bag`` (see :meth:`_bag_steps`).

        The input is transposed chunk by chunk (``_CHUNK`` rows) into a table: per
        chunk a row per input column plus a row of ones for the bias. Each unit of
        each chunk is the weighted sum of the table rows it reads. The network
        stays unit-major to the end: a sparse later layer is a bag layer over the
        rows of the one before, a dense one ``W @ H_chunk + b``, batched over the
        chunks; only the outputs are turned into rows. One table of about
        ``_BAGS_TABLE_BYTES`` is reused block by block: a table for the whole batch
        (51 MB for 16,384 MNIST rows) costs fresh pages on every call (38 against
        17 ms). Every step runs on torch's threads, the transposition (a strided
        copy) included."""
        n, n_in = X.shape
        rows = n_in + 1
        per_block = min(max(1, _BAGS_TABLE_BYTES // (4 * rows * _CHUNK)), -(-n // _CHUNK))
        table = torch.empty((per_block, rows, _CHUNK), dtype=torch.float32)
        table[:, n_in] = 1.0
        # the bag steps (a prefix of steps) for a whole block: chunk c reads the
        # rows of chunk c
        shift, blocked = torch.arange(per_block)[:, None], []
        for step in steps:
            if step[0] == "bags":
                idx, offsets, w = step[1]
                blocked.append(((idx + shift * rows).view(-1),
                                (offsets + shift * len(idx)).view(-1), w.repeat(per_block)))
                rows = len(offsets)
        act = _TORCH_ACT_[self.activation]
        Xt = torch.from_numpy(_torch_ready(X))
        result = np.empty((n, len(self.biases[-1])), dtype=np.float32)
        input_ok = True
        for lo in range(0, n, per_block * _CHUNK):
            m = min(per_block * _CHUNK, n - lo)
            chunks, whole = -(-m // _CHUNK), m // _CHUNK
            table[:whole, :n_in].copy_(
                Xt[lo:lo + whole * _CHUNK].view(whole, _CHUNK, n_in).transpose(1, 2))
            if whole < chunks:  # the last chunk is short: zeros after its rows
                tail = m - whole * _CHUNK
                table[whole, :n_in, :tail].copy_(Xt[lo + whole * _CHUNK:lo + m].T)
                table[whole, :n_in, tail:] = 0.0
            H, units = table[:chunks], n_in  # (chunks, rows, _CHUNK), rows >= units
            for i, step in enumerate(steps):
                if i:
                    act(H[:, :units])
                if step[0] == "bags":
                    idx, offsets, w = blocked[i]
                    k, n_bags = len(idx) // per_block * chunks, len(offsets) // per_block
                    H = F.embedding_bag(idx[:k], H.reshape(-1, _CHUNK), offsets[:chunks * n_bags],
                                        mode="sum", per_sample_weights=w[:k])
                    H, units = H.view(chunks, n_bags, _CHUNK), step[2]
                    if i == 0 and check_finite and input_ok:  # its last bag
                        input_ok = bool(torch.isfinite(H[:, -1].sum()))
                else:
                    _, W, b = step
                    H = torch.baddbmm(b[:, None], W.expand(chunks, -1, -1), H[:, :units])
                    units = len(b)
            out = H[:, :units].transpose(1, 2).reshape(chunks * _CHUNK, units)
            result[lo:lo + m] = out[:m].numpy()
        return (result, input_ok) if check_finite else result

    def _decision_sparse_first(self, X, dtype, Ws, bs, check_finite):
        """Transposed layout: ``H.T = act(W1 @ X.T + b1)`` chunk by chunk (CSR times
        a transposed chunk of rows), then ``W @ H.T`` per layer."""
        act = _NP_ACTIVATIONS[self.activation]
        n = X.shape[0]
        first, last = Ws[0], len(Ws) - 1
        HT = np.empty((first.shape[0], n), dtype=dtype)
        input_ok = True
        for start in range(0, n, _CHUNK):
            stop = min(start + _CHUNK, n)
            xt = np.ascontiguousarray(X[start:stop].T, dtype=dtype)
            if check_finite and input_ok:  # judged on the chunk while it is in cache
                input_ok = bool(np.isfinite(xt.sum()))
            HT[:, start:stop] = first @ xt
        HT += bs[0]
        for i in range(1, last + 1):
            act(HT)
            HT = Ws[i] @ HT
            HT += bs[i]
        return (HT.T, input_ok) if check_finite else HT.T

    def reads_every_column(self, engine="numpy"):
        """Tell whether the first product touches every input column.

        Parameters
        ----------
        engine : {"numpy", "torch"}, default="numpy"
            The engine (see :meth:`decision`).

        Returns
        -------
        every : bool
            True when this engine's first product reads every input column with
            at least one unit, so a non-finite input shows in its output.
        """
        return (not self.sparse_first(engine) and self._widen_first()
                and self.weights[0].shape[0] > 0)

    def n_nonzero(self):
        """Count the nonzero weights per layer.

        Returns
        -------
        counts : list of int
            Nonzero weights of each layer.
        """
        return [int(W.nnz) if sp.issparse(W) else int(np.count_nonzero(W)) for W in self.weights]

    def to_torch(self):
        """Return an equivalent ``torch.nn.Sequential`` (float32, dense).

        It takes the selected input columns ``X[:, input_index]``, e.g. for ONNX
        export.

        Returns
        -------
        network : torch.nn.Sequential
            Linear layers and activations.
        """
        layers = []
        last = len(self.weights) - 1
        act = {"relu": nn.ReLU, "tanh": nn.Tanh, "logistic": nn.Sigmoid, "identity": nn.Identity}
        for i, (W, b) in enumerate(zip(self.weights, self.biases)):
            W = W.toarray() if sp.issparse(W) else W
            lin = nn.Linear(W.shape[1], W.shape[0])
            with torch.no_grad():
                lin.weight.copy_(torch.from_numpy(W))
                lin.bias.copy_(torch.from_numpy(b))
            layers.append(lin)
            if i < last:
                layers.append(act[self.activation]())
        return nn.Sequential(*layers)


def _torch_ready(X):
    """``X`` itself if torch can share its memory (C-ordered and writable), else a
    C-ordered copy: ``torch.from_numpy`` warns on read-only arrays."""
    if X.flags.c_contiguous and X.flags.writeable:
        return X
    return np.array(X, order="C")


def _storage(W, sparse_density):
    if W.size >= SPARSE_MIN_SIZE and np.count_nonzero(W) <= sparse_density * W.size:
        return sp.csr_array(W)
    return np.ascontiguousarray(W)
