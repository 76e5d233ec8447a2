"""The compact inference model: :class:`CompactMLP`.

A trained network becomes a chain of ``H = act(H @ W.T + b)`` with batch norm
folded in, dropout dropped, and the units and input columns pruning removed
simply absent. Each layer is stored as a dense ``ndarray`` or, when mostly zeros,
as a ``scipy.sparse`` CSR matrix (small pickles).
"""

import numpy as np
import scipy.sparse as sp
import torch
from torch import nn
from torch.nn import functional as F

from .._activations import ACTIVATIONS
from .._surgery import widen_columns
from . import _kernels as K


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
    def from_module(cls, module, sparse_density=K.SPARSE_DENSITY):
        """Build the inference form of a trained network module.

        Parameters
        ----------
        module : SparseMLP
            The trained torch module (``estimator.net_.module_``).
        sparse_density : float, default=K.SPARSE_DENSITY
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
        least = K.TORCH_MIN_ROWS_BAGS if self.sparse_first("torch") else K.TORCH_MIN_ROWS
        return "torch" if n_rows >= least and K.torch_kernels_ok() else "numpy"

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
                    Ws[0] = K._packed(Ws[0])
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
               and np.count_nonzero(dense[n_bags]) <= K.BAGS_MAX_DENSITY * dense[n_bags].size):
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
        return widen_columns(np.asarray(W, dtype=dtype), self.input_index, self.n_features)

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
            if size < K.SPARSE_MIN_SIZE:
                sparse = False
            elif engine == "numpy":
                sparse = nnz <= K.SPARSE_FIRST_DENSITY * size
            else:
                width = n_in if self._widen_first() else W.shape[1]
                sparse = (nnz <= K.BAGS_MAX_DENSITY * size
                          and K.COST_TRANSPOSE * n_in + K.COST_UNIT * units + K.COST_NNZ * nnz
                          < K.COST_FMA * units * width)
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
            K._TORCH_PROBE["ok"] = False  # oneDNN refused after all: numpy from now on
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
        act = ACTIVATIONS[self.activation].numpy_
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
            H = K._linear(torch.from_numpy(_torch_ready(H)), Ws[0], bs[0])
            if reads_all:
                input_ok = bool(np.isfinite(H.numpy().sum()))
            out = self._torch_rest(H, Ws, bs)
            return (out, input_ok) if check_finite else out
        act = ACTIVATIONS[self.activation].numpy_
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
            ACTIVATIONS[self.activation].torch_(H)
        attr = ACTIVATIONS[self.activation].onednn
        for i in range(1, last + 1):
            H = K._linear(H, Ws[i], bs[i], attr if i < last else "none")
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
        per_block = min(max(1, K._BAGS_TABLE_BYTES // (4 * rows * K._CHUNK)), -(-n // K._CHUNK))
        table = torch.empty((per_block, rows, K._CHUNK), dtype=torch.float32)
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
        act = ACTIVATIONS[self.activation].torch_
        Xt = torch.from_numpy(_torch_ready(X))
        result = np.empty((n, len(self.biases[-1])), dtype=np.float32)
        input_ok = True
        for lo in range(0, n, per_block * K._CHUNK):
            m = min(per_block * K._CHUNK, n - lo)
            chunks, whole = -(-m // K._CHUNK), m // K._CHUNK
            table[:whole, :n_in].copy_(
                Xt[lo:lo + whole * K._CHUNK].view(whole, K._CHUNK, n_in).transpose(1, 2))
            if whole < chunks:  # the last chunk is short: zeros after its rows
                tail = m - whole * K._CHUNK
                table[whole, :n_in, :tail].copy_(Xt[lo + whole * K._CHUNK:lo + m].T)
                table[whole, :n_in, tail:] = 0.0
            H, units = table[:chunks], n_in  # (chunks, rows, K._CHUNK), rows >= units
            for i, step in enumerate(steps):
                if i:
                    act(H[:, :units])
                if step[0] == "bags":
                    idx, offsets, w = blocked[i]
                    k, n_bags = len(idx) // per_block * chunks, len(offsets) // per_block
                    H = F.embedding_bag(idx[:k], H.reshape(-1, K._CHUNK), offsets[:chunks * n_bags],
                                        mode="sum", per_sample_weights=w[:k])
                    H, units = H.view(chunks, n_bags, K._CHUNK), step[2]
                    if i == 0 and check_finite and input_ok:  # its last bag
                        input_ok = bool(torch.isfinite(H[:, -1].sum()))
                else:
                    _, W, b = step
                    H = torch.baddbmm(b[:, None], W.expand(chunks, -1, -1), H[:, :units])
                    units = len(b)
            out = H[:, :units].transpose(1, 2).reshape(chunks * K._CHUNK, units)
            result[lo:lo + m] = out[:m].numpy()
        return (result, input_ok) if check_finite else result

    def _decision_sparse_first(self, X, dtype, Ws, bs, check_finite):
        """Transposed layout: ``H.T = act(W1 @ X.T + b1)`` chunk by chunk (CSR times
        a transposed chunk of rows), then ``W @ H.T`` per layer."""
        act = ACTIVATIONS[self.activation].numpy_
        n = X.shape[0]
        first, last = Ws[0], len(Ws) - 1
        HT = np.empty((first.shape[0], n), dtype=dtype)
        input_ok = True
        for start in range(0, n, K._CHUNK):
            stop = min(start + K._CHUNK, n)
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


def _torch_ready(X):
    """``X`` itself if torch can share its memory (C-ordered and writable), else a
    C-ordered copy: ``torch.from_numpy`` warns on read-only arrays."""
    if X.flags.c_contiguous and X.flags.writeable:
        return X
    return np.array(X, order="C")


def _storage(W, sparse_density):
    if W.size >= K.SPARSE_MIN_SIZE and np.count_nonzero(W) <= sparse_density * W.size:
        return sp.csr_array(W)
    return np.ascontiguousarray(W)
