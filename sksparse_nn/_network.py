"""The training network: an MLP of masked linear layers.

Nothing here knows scikit-learn or skorch. Every :class:`MaskedLinear` carries a
boolean ``mask`` buffer; masked weights are stored as exact zeros (the training
callbacks re-apply the mask after each optimizer step). Removing units and input
columns is :mod:`sksparse_nn._surgery`'s job, packing the state for pickling
:mod:`sksparse_nn._persistence`'s, and the inference form is
:class:`sksparse_nn.inference.CompactMLP`.
"""

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from ._activations import ACTIVATIONS


def count_true(mask):
    """Number of True entries of a boolean tensor. On the CPU through numpy, whose
    count is several times faster than torch's boolean reduction on the sizes of
    a weight matrix (it runs at every mask update and mask change)."""
    if mask.device.type == "cpu":
        return int(np.count_nonzero(mask.numpy(force=True)))
    return int(mask.sum())


def float_mask(mask, dtype):
    """The boolean ``mask`` as 0/1 of ``dtype``; on the CPU through numpy, which
    converts booleans several times faster than torch does."""
    if mask.device.type == "cpu" and dtype in (torch.float32, torch.float64):
        return torch.from_numpy(mask.numpy(force=True).astype(
            np.float32 if dtype == torch.float32 else np.float64))
    return mask.to(dtype)


# Per-step sparsity work (the L1 proximal step) runs on the gathered free weights
# of a layer whose mask keeps at most this fraction, on the whole matrix otherwise.
FREE_INDEX_DENSITY = 0.25


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
            if count_true(m) <= FREE_INDEX_DENSITY * m.numel():
                free = (torch.from_numpy(np.flatnonzero(m.numpy(force=True)))
                        if m.device.type == "cpu" else torch.nonzero(m.view(-1)).flatten())
            cache = (m, m._version, float_mask(m, self.weight.dtype), free)
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
        # avoids a bool-to-float conversion per step (several times faster, see
        # benchmarks/PERFORMANCE.md, Training); through .data, since a no_grad
        # context costs more than the product on small layers
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
        self._act = ACTIVATIONS[activation].torch
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
        #: True once any mask holds a zero: each optimizer step then re-applies the
        #: masks (a dense network skips that work); set by :meth:`mask_changed`
        self.masked = False
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

    @torch.no_grad()
    def mask_changed(self):
        """Call after any change to a mask: keeps :attr:`masked` true to the masks."""
        self.masked = any(count_true(linear.mask) < linear.mask.numel()
                          for linear in self.linears)

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

    def init_kwargs(self):
        return dict(n_features=self.n_features, hidden_layer_sizes=self.hidden_layer_sizes,
                    n_outputs=self.n_outputs, activation=self.activation,
                    dropout=self.dropout, batch_norm=self.batch_norm)

