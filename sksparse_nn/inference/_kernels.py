"""The kernels that run a compact network, one small class per way of running it.

Each kernel is a :class:`Kernel` subclass with :meth:`Kernel.prepare` (the
weights made ready for its product, cached on the model per dtype) and
:meth:`Kernel.run`. They compute the same function and differ only in speed,
which depends on the machine: :mod:`._dispatch` chooses between them.

The float32 torch kernels run on oneDNN's fused linear (the op torch's compiler
emits for linear layers on CPU) and on ``embedding_bag`` for a sparse first
layer. Neither fused op is public API, so :func:`torch_kernels_ok` checks them
once per process before any use.
"""

import numpy as np
import scipy.sparse as sp
import torch
from torch.nn import functional as F

from .._activations import ACTIVATIONS
from .._surgery import widen_columns

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
                ok = all(torch.allclose(_linear(x, w, b, act.onednn), act.torch_(ref.clone()),
                                        atol=1e-5)
                         for act in ACTIVATIONS.values())
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


def _torch_ready(X):
    """``X`` itself if torch can share its memory (C-ordered and writable), else a
    C-ordered copy: ``torch.from_numpy`` warns on read-only arrays."""
    if X.flags.c_contiguous and X.flags.writeable:
        return X
    return np.array(X, order="C")


def widens_first(model):
    """Whether the dense kernels multiply the first layer over the full input width
    (zero columns for the inputs it does not read) rather than gathering the read
    columns first. Gathering copies those columns of ``X``, a pass over the input
    that costs more than multiplying the zero columns once most columns are read;
    widening also lets ``check_finite`` judge the input from the product (see
    :meth:`Kernel.run`). Below a quarter of the columns the zero columns would
    be most of the product, so the copy pays."""
    return len(model.input_index) >= 0.25 * model.n_features


class Kernel:
    """One way to run a compact network: a layout of its weights and a product.

    ``prepare`` builds the weights in the kernel's layout once per model and
    dtype (cached in the model's ``_kernels``, which is not pickled); ``run``
    computes the raw outputs. Every kernel computes the same function.
    """

    #: the name :meth:`CompactMLP.kernel_choices` reports
    name = ""
    #: the library whose threads run the products ("numpy" or "torch")
    engine = "numpy"
    #: whether the first layer is multiplied as a sparse matrix
    sparse_first = False

    def __init__(self, model, dtype):
        self.dtype = np.dtype(dtype)
        self.activation = model.activation
        self.n_features = model.n_features
        self.input_index = model.input_index
        self.reads_every_column = False

    @classmethod
    def applies(cls, model, dtype):
        """Whether this kernel can run ``model`` on input of ``dtype``."""
        return True

    @classmethod
    def prepare(cls, model, dtype):
        """The kernel for ``model`` and ``dtype``, weights ready, cached on the model.

        Two threads may build it at once; both results are equal and the first
        stored wins (``setdefault``), so no lock is needed."""
        cache = model.__dict__.setdefault("_kernels", {})
        key = (cls.name, np.dtype(dtype).name)
        kernel = cache.get(key)
        if kernel is None:
            kernel = cache.setdefault(key, cls(model, dtype))
        return kernel

    def run(self, X, check_finite=False):
        """Return ``(outputs, input_ok)`` for the rows of ``X``.

        ``input_ok`` is False when ``X`` may hold NaN/inf (only judged with
        ``check_finite``; True otherwise)."""
        raise NotImplementedError

    def __repr__(self):
        return f"<{self.name} kernel, {self.dtype.name}>"


def _dense(weights):
    return [W.toarray() if sp.issparse(W) else W for W in weights]


class NumpyDense(Kernel):
    """Every layer a dense BLAS product ``H @ Wt`` on rows (numpy, any dtype).

    The first layer is widened or gathered (:func:`widens_first`). Widened, a
    non-finite input value makes its whole row of the first product non-finite
    (nan * w, inf * 0 and inf - inf are all non-finite), so ``check_finite``
    needs no separate scan of ``X``."""

    name = "numpy dense"

    def __init__(self, model, dtype):
        super().__init__(model, dtype)
        self.widen = widens_first(model)
        Ws = _dense(model.weights)
        if self.widen:
            Ws[0] = widen_columns(np.asarray(Ws[0], dtype=self.dtype), self.input_index,
                                  self.n_features)
        self.Wts = [np.ascontiguousarray(W.T, dtype=self.dtype) for W in Ws]
        self.bs = [b.astype(self.dtype) for b in model.biases]
        self.reads_every_column = self.widen and model.weights[0].shape[0] > 0

    def _first_input(self, X):
        if self.widen:
            return X.astype(self.dtype, copy=False)
        # np.take, not X[:, index]: several times faster for a column gather
        return np.take(X, self.input_index, axis=1).astype(self.dtype, copy=False)

    def run(self, X, check_finite=False):
        input_ok = True
        if check_finite and not self.reads_every_column:
            input_ok = bool(np.isfinite(X.sum()))
        H = self._first_input(X)
        act = ACTIVATIONS[self.activation].numpy_
        last = len(self.Wts) - 1
        for i, (Wt, b) in enumerate(zip(self.Wts, self.bs)):
            H = H @ Wt
            if i == 0 and check_finite and self.reads_every_column:
                input_ok = bool(np.isfinite(H.sum()))
            H += b
            if i < last:
                act(H)
        return H, input_ok


class NumpySparse(Kernel):
    """Sparse first layer on numpy: ``H.T = act(W1 @ X.T + b1)`` with ``W1`` as CSR
    over the full input width, times transposed chunks of ``CHUNK`` rows; then
    ``W @ H.T`` per layer (dense: once units are removed the later layers are
    small, and BLAS beats CSR on small dense-ish matrices). scipy's CSR product
    holds the GIL and runs on one core."""

    name = "numpy sparse"
    sparse_first = True
    #: rows per transposed chunk: the chunk (n_features x 256) and its product
    #: stay in a core's cache
    CHUNK = 256

    def __init__(self, model, dtype):
        super().__init__(model, dtype)
        Ws = _dense(model.weights)
        W0 = sp.coo_array(Ws[0])
        self.first = sp.csr_array((W0.data.astype(self.dtype),
                                   (W0.row, self.input_index[W0.col])),
                                  shape=(W0.shape[0], self.n_features))
        self.rest = [np.ascontiguousarray(W, dtype=self.dtype) for W in Ws[1:]]
        self.bs = [b.astype(self.dtype)[:, None] for b in model.biases]

    def run(self, X, check_finite=False):
        act = ACTIVATIONS[self.activation].numpy_
        n = X.shape[0]
        HT = np.empty((self.first.shape[0], n), dtype=self.dtype)
        input_ok = True
        for start in range(0, n, self.CHUNK):
            stop = min(start + self.CHUNK, n)
            xt = np.ascontiguousarray(X[start:stop].T, dtype=self.dtype)
            if check_finite and input_ok:  # judged on the chunk while it is in cache
                input_ok = bool(np.isfinite(xt.sum()))
            HT[:, start:stop] = self.first @ xt
        HT += self.bs[0]
        for W, b in zip(self.rest, self.bs[1:]):
            act(HT)
            HT = W @ HT
            HT += b
        return HT.T, input_ok


class TorchKernelError(RuntimeError):
    """A torch kernel failed at run time (its ops are private torch API)."""


class _TorchKernel(Kernel):
    engine = "torch"

    def run(self, X, check_finite=False):
        try:
            return self._run(X, check_finite)
        except RuntimeError as exc:
            raise TorchKernelError(str(exc)) from exc

    @classmethod
    def applies(cls, model, dtype):
        # float32 only (oneDNN's fused linear here is float32), no empty layer
        # (oneDNN rejects it), and only where the private ops passed the probe
        return (np.dtype(dtype) == np.float32
                and all(min(W.shape) > 0 for W in model.weights) and torch_kernels_ok())


class TorchDense(_TorchKernel):
    """Every layer through oneDNN's fused linear (float32), activation fused in.

    The first layer is widened or gathered as in :class:`NumpyDense` and stored in
    oneDNN's blocked weight layout (the reorder is paid once, here)."""

    name = "torch dense"

    def __init__(self, model, dtype):
        super().__init__(model, dtype)
        self.widen = widens_first(model)
        Ws = [np.ascontiguousarray(W, dtype=np.float32) for W in _dense(model.weights)]
        if self.widen:
            Ws[0] = widen_columns(Ws[0], self.input_index, self.n_features)
        self.Ws = [torch.from_numpy(W) for W in Ws]
        self.Ws[0] = _packed(self.Ws[0])
        self.bs = [torch.from_numpy(np.ascontiguousarray(b, dtype=np.float32))
                   for b in model.biases]
        self.reads_every_column = self.widen

    def _run(self, X, check_finite):
        input_ok = True
        if check_finite and not self.reads_every_column:
            input_ok = bool(np.isfinite(X.sum()))
        if self.widen:
            H = X.astype(np.float32, copy=False)
        else:
            H = np.take(X, self.input_index, axis=1).astype(np.float32, copy=False)
        H = _linear(torch.from_numpy(_torch_ready(H)), self.Ws[0], self.bs[0])
        if check_finite and self.reads_every_column:
            input_ok = bool(np.isfinite(H.numpy().sum()))
        last = len(self.Ws) - 1
        if last:
            ACTIVATIONS[self.activation].torch_(H)
        attr = ACTIVATIONS[self.activation].onednn
        for i in range(1, last + 1):
            H = _linear(H, self.Ws[i], self.bs[i], attr if i < last else "none")
        return H.numpy(), input_ok


class TorchSparse(_TorchKernel):
    """Sparse first layer on torch, by ``F.embedding_bag`` (float32).

    The input is transposed chunk by chunk (``CHUNK`` rows) into a table: per
    chunk a row per input column plus a row of ones for the bias. Each unit of
    each chunk is the weighted sum of the table rows it reads. The network stays
    unit-major to the end: a later layer at most ``LATER_MAX_DENSITY`` dense
    (while the layers before it are bag layers) is a bag layer over the rows of
    the one before, any other ``W @ H_chunk + b``, batched over the chunks; only
    the outputs are turned into rows. One table of about ``TABLE_BYTES`` is reused
    block by block, since a table for the whole batch costs fresh pages on every
    call. Every step runs on torch's threads, the transposition (a strided copy)
    included."""

    name = "torch sparse"
    sparse_first = True
    #: rows per chunk (see NumpySparse.CHUNK)
    CHUNK = 256
    #: size of the reused table: a few MB stays in the last-level cache of
    #: current CPUs (and its pages stay mapped between calls)
    TABLE_BYTES = 4 << 20
    #: a later layer stays a bag layer up to this density. A bag sums one
    #: 256-wide table row per stored weight (a streamed axpy); the batched dense
    #: product does the same work for every weight, zeros included, but blocked
    #: in registers, typically 2-4x faster per weight on a SIMD CPU. Skipping the
    #: zeros pays below roughly a third (the first layer's form is measured, see
    #: _dispatch; a later layer is small once units are removed).
    LATER_MAX_DENSITY = 0.3

    def __init__(self, model, dtype):
        super().__init__(model, dtype)
        self.steps = self._steps(model)
        self.n_out = len(model.biases[-1])

    def _steps(self, model):
        """The layers as ``("bags", (indices, offsets, weights), units)`` (the first
        layer, and each following one while sparse enough) then ``("dense", W,
        b)``. A bag layer reads the rows of the layer before (for the first: the
        transposed input, a row per input column) and a row of ones for its bias;
        it passes a row of ones on when the next layer is a bag layer too. The
        first layer ends with one more bag: every input column at weight 0, NaN
        exactly where a row holds NaN or inf (0 * x is 0 for finite x)."""
        dense = _dense(model.weights)
        n_bags = 1
        while (n_bags < len(dense)
               and np.count_nonzero(dense[n_bags]) <= self.LATER_MAX_DENSITY * dense[n_bags].size):
            n_bags += 1
        steps = []
        reads, ones = self.input_index, self.n_features  # rows of the table read
        for i in range(n_bags):
            W = sp.csr_array(dense[i])  # bags = rows: indptr are the offsets
            W.sort_indices()
            starts = W.indptr[:-1] + np.arange(W.shape[0])  # one bias entry per bag
            idx = np.insert(reads[W.indices], W.indptr[1:], ones)
            w = np.insert(W.data, W.indptr[1:], model.biases[i])
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
        for W, b in zip(dense[n_bags:], model.biases[n_bags:]):
            steps.append(("dense", torch.from_numpy(np.ascontiguousarray(W, dtype=np.float32)),
                          torch.from_numpy(np.ascontiguousarray(b, dtype=np.float32))))
        return steps

    def _run(self, X, check_finite):
        chunk = self.CHUNK
        n, n_in = X.shape
        rows = n_in + 1
        per_block = min(max(1, self.TABLE_BYTES // (4 * rows * chunk)), -(-n // chunk))
        table = torch.empty((per_block, rows, chunk), dtype=torch.float32)
        table[:, n_in] = 1.0
        # the bag steps (a prefix of steps) for a whole block: chunk c reads the
        # rows of chunk c
        shift, blocked = torch.arange(per_block)[:, None], []
        for step in self.steps:
            if step[0] == "bags":
                idx, offsets, w = step[1]
                blocked.append(((idx + shift * rows).view(-1),
                                (offsets + shift * len(idx)).view(-1), w.repeat(per_block)))
                rows = len(offsets)
        act = ACTIVATIONS[self.activation].torch_
        Xt = torch.from_numpy(_torch_ready(X))
        result = np.empty((n, self.n_out), dtype=np.float32)
        input_ok = True
        for lo in range(0, n, per_block * chunk):
            m = min(per_block * chunk, n - lo)
            chunks, whole = -(-m // chunk), m // chunk
            table[:whole, :n_in].copy_(
                Xt[lo:lo + whole * chunk].view(whole, chunk, n_in).transpose(1, 2))
            if whole < chunks:  # the last chunk is short: zeros after its rows
                tail = m - whole * chunk
                table[whole, :n_in, :tail].copy_(Xt[lo + whole * chunk:lo + m].T)
                table[whole, :n_in, tail:] = 0.0
            H, units = table[:chunks], n_in  # (chunks, rows, chunk), rows >= units
            for i, step in enumerate(self.steps):
                if i:
                    act(H[:, :units])
                if step[0] == "bags":
                    idx, offsets, w = blocked[i]
                    k, n_bags = len(idx) // per_block * chunks, len(offsets) // per_block
                    H = F.embedding_bag(idx[:k], H.reshape(-1, chunk), offsets[:chunks * n_bags],
                                        mode="sum", per_sample_weights=w[:k])
                    H, units = H.view(chunks, n_bags, chunk), step[2]
                    if i == 0 and check_finite and input_ok:  # its last bag
                        input_ok = bool(torch.isfinite(H[:, -1].sum()))
                else:
                    _, W, b = step
                    H = torch.baddbmm(b[:, None], W.expand(chunks, -1, -1), H[:, :units])
                    units = len(b)
            out = H[:, :units].transpose(1, 2).reshape(chunks * chunk, units)
            result[lo:lo + m] = out[:m].numpy()
        return result, input_ok


class SparseInput(Kernel):
    """scipy sparse input: the columns the network reads are gathered from the CSR
    matrix (cost in its nonzeros), the first layer is CSR @ dense, the rest dense
    numpy. The input is never densified (a 20,000 x 40,000 TF-IDF matrix would be
    3.2 GB as float32), so this is the only kernel for sparse input."""

    name = "sparse input"

    def __init__(self, model, dtype):
        super().__init__(model, dtype)
        self.Wts = [np.ascontiguousarray(W.T, dtype=self.dtype) for W in _dense(model.weights)]
        self.bs = [b.astype(self.dtype) for b in model.biases]

    def run(self, X, check_finite=False):
        X = sp.csr_array(X)
        input_ok = bool(np.isfinite(X.data).all()) if check_finite else True
        X = X[:, self.input_index].astype(self.dtype, copy=False)
        act = ACTIVATIONS[self.activation].numpy_
        H = np.asarray(X @ self.Wts[0], dtype=self.dtype)
        last = len(self.Wts) - 1
        for i in range(last + 1):
            if i:
                H = H @ self.Wts[i]
            H += self.bs[i]
            if i < last:
                act(H)
        return H, input_ok


#: the kernels for dense input, by (first-layer form, engine)
DENSE_INPUT_KERNELS = {("dense", "numpy"): NumpyDense, ("sparse", "numpy"): NumpySparse,
                       ("dense", "torch"): TorchDense, ("sparse", "torch"): TorchSparse}
