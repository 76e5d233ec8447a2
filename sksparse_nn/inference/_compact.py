"""The compact inference model: :class:`CompactMLP`.

A trained network becomes a chain of ``H = act(H @ W.T + b)`` with batch norm
folded in, dropout dropped, and the units and input columns pruning removed
simply absent. Each layer is stored as a dense ``ndarray`` or, when mostly zeros,
as a ``scipy.sparse`` CSR matrix (small pickles). The kernels that run it are in
:mod:`._kernels`, the choice between them in :mod:`._dispatch`.
"""

import numpy as np
import scipy.sparse as sp
import torch
from torch import nn

from .._activations import ACTIVATIONS
from . import _kernels as K
from ._dispatch import ENGINES, KERNELS, KernelDispatch

# Storage (not speed): a layer with at most this fraction of nonzeros is kept as
# CSR, since value + index per stored weight is then far smaller than the matrix.
SPARSE_DENSITY = 0.1
# Layers smaller than this stay dense: a few kB either way, and CSR's index
# arrays would be most of it.
SPARSE_MIN_SIZE = 4096


class _Setting:
    """A validated, pickled setting of a :class:`CompactMLP` (``kernel``,
    ``engine``): reading gives ``"auto"`` until set; setting another value
    than ``choices`` raises ValueError."""

    def __init__(self, name, choices, doc):
        self.name, self.choices, self.__doc__ = name, choices, doc
        self.key = f"_{name}_setting"

    def __get__(self, model, owner=None):
        if model is None:
            return self
        return model.__dict__.get(self.key, "auto")

    def __set__(self, model, value):
        if value not in self.choices:
            raise ValueError(f"{self.name} must be one of {self.choices}; got {value!r}.")
        model.__dict__[self.key] = value


class CompactMLP:
    """Inference-only form of a trained :class:`SparseMLP`.

    Batch norm is folded into the weights and dropout dropped, so the network is
    a chain of ``H = act(H @ W.T + b)``. Units and input columns that pruning
    removed are simply absent. Computation runs in the input's float precision
    (float32 in float32, anything else in float64).

    Several kernels compute the same outputs: the first layer as a dense product
    or, when it is still mostly zeros, a sparse one, each on numpy/scipy or (for
    float32) on torch's CPU kernels (oneDNN's fused linear, ``embedding_bag``).
    Which is fastest depends on the machine and the batch size, so with
    ``kernel="auto"`` the first batch of each range of sizes (from 128 rows on)
    times the candidates and keeps the fastest for that range; smaller batches
    never pay for a measurement and run on numpy. The measured choice is not
    pickled: a model loaded on another machine measures again. ``kernel`` and
    ``engine`` force a kernel. Each call uses one library's threads throughout,
    since the worker threads one library leaves spinning slow the other's.

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

    Examples
    --------
    >>> import numpy as np
    >>> from sksparse_nn import CompactMLP
    >>> model = CompactMLP([0, 1], [np.ones((3, 2)), np.ones((1, 3))],
    ...                    [np.zeros(3), np.zeros(1)], "relu")
    >>> model.decision(np.array([[1.0, 2.0]]))
    array([[9.]])
    >>> model.kernel = "sparse"  # force the sparse first-layer product
    """

    def __init__(self, input_index, weights, biases, activation, n_features=None):
        self.input_index = np.asarray(input_index, dtype=np.intp)
        self.weights = weights
        self.biases = biases
        self.activation = activation
        self.n_features = n_features if n_features is not None else len(self.input_index)

    kernel = _Setting("kernel", KERNELS, """The first-layer product form: ``"auto"``, ``"dense"`` or ``"sparse"``.

        ``"auto"`` (the default) measures which form is faster on this machine
        (see the class description); ``"dense"`` and ``"sparse"`` force the
        dense product or the sparse one (CSR on numpy, ``embedding_bag`` on
        torch) for the first layer. It applies to dense input: scipy sparse
        input always runs as sparse rows times the dense first layer (it is
        never densified). Assigning any other value raises ``ValueError``. The
        setting is pickled; the measured choice is not.
        """)
    engine = _Setting("engine", ENGINES, """The library that runs dense input: ``"auto"``, ``"numpy"`` or ``"torch"``.

        ``"auto"`` (the default) measures, as for :attr:`kernel`; ``"numpy"``
        forces numpy and scipy; ``"torch"`` forces torch's CPU kernels for
        float32 input (float64 input, networks with an empty layer, and torch
        builds without oneDNN's fused linear still run on numpy). Assigning any
        other value raises ``ValueError``.
        """)

    @classmethod
    @torch.no_grad()
    def from_module(cls, module, sparse_density=SPARSE_DENSITY):
        """Build the inference form of a trained network module.

        Parameters
        ----------
        module : SparseMLP
            The trained torch module (``estimator.net_.module_``).
        sparse_density : float, default=0.1
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
        # derived and machine-specific: prepared kernels and measured choices are
        # rebuilt (and re-measured) where the model is loaded
        state.pop("_kernels", None)
        state.pop("_dispatch", None)
        return state

    def _dispatcher(self):
        # setdefault: threads racing here keep one dispatcher between them
        dispatch = self.__dict__.get("_dispatch")
        if dispatch is None:
            dispatch = self.__dict__.setdefault("_dispatch", KernelDispatch())
        return dispatch

    def decision(self, X, check_finite=False):
        """Compute the raw network outputs for ``X``.

        float32 input runs in float32, anything else in float64, on the kernel
        :attr:`kernel` and :attr:`engine` select (measured with ``"auto"``; see
        the class description). Sparse scipy input is never densified.

        With ``check_finite`` it returns ``(outputs, input_ok)``: ``input_ok`` is
        False when ``X`` may hold NaN/inf. When the first layer is a dense product
        over every column (see :meth:`reads_every_column`) that is judged on its
        pre-activations: a non-finite input value makes its whole row non-finite
        there (nan * w, inf * 0 and inf - inf are all non-finite), so the input
        needs no separate scan. The sparse first layer judges each transposed
        chunk while it is in cache; otherwise the input itself is scanned.

        Parameters
        ----------
        X : array-like or scipy sparse matrix of shape (n_samples, n_features)
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
        if not sp.issparse(X):
            X = np.asarray(X)
        if X.ndim != 2 or X.shape[1] != self.n_features:
            raise ValueError(f"X has shape {X.shape}; this network takes (n_samples, "
                             f"{self.n_features}).")
        dispatch = self._dispatcher()
        try:
            out, ok = dispatch.run(self, X, check_finite)
        except K.TorchKernelError:
            # oneDNN refused after all (the ops are private API): numpy from now
            # on, in this process; earlier choices of torch are measured again
            K._TORCH_PROBE["ok"] = False
            dispatch.forget()
            out, ok = dispatch.run(self, X, check_finite)
        return (out, ok) if check_finite else out

    def kernel_choices(self):
        """Report the kernels measured so far for the current settings.

        Returns
        -------
        choices : dict
            ``{(dtype, from_rows, torch_threads): kernel}``: for input of dtype
            ``dtype`` (``"float32"`` or ``"float64"``) and batches from
            ``from_rows`` rows up to the next entry, with torch at
            ``torch_threads`` threads, the kernel measured fastest (``"numpy
            dense"``, ``"numpy sparse"``, ``"torch dense"`` or ``"torch
            sparse"``). Empty until a batch large enough to measure has run.
        """
        return self._dispatcher().choices(self.kernel, self.engine)

    def reads_every_column(self):
        """Tell whether the dense first-layer product reads every input column.

        Returns
        -------
        every : bool
            True when the dense kernels multiply the first layer over the full
            input width with at least one unit, so a non-finite input value
            shows in the product (and ``check_finite`` needs no scan of ``X``).
        """
        return K.widens_first(self) and self.weights[0].shape[0] > 0

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
        for i, (W, b) in enumerate(zip(self.weights, self.biases)):
            W = W.toarray() if sp.issparse(W) else W
            lin = nn.Linear(W.shape[1], W.shape[0])
            with torch.no_grad():
                lin.weight.copy_(torch.from_numpy(W))
                lin.bias.copy_(torch.from_numpy(b))
            layers.append(lin)
            if i < last:
                layers.append(ACTIVATIONS[self.activation].module())
        return nn.Sequential(*layers)


def _storage(W, sparse_density):
    if W.size >= SPARSE_MIN_SIZE and np.count_nonzero(W) <= sparse_density * W.size:
        return sp.csr_array(W)
    return np.ascontiguousarray(W)
