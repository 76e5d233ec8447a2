"""The kernel choice: :class:`KernelDispatch` picks the kernel that runs a batch.

Which kernel is fastest depends on the machine (cores, SIMD width, BLAS build,
torch's thread count) as much as on the network, so the choice is measured where
the code runs rather than predicted by costs fitted on one machine: the first
batch of each range of sizes runs every candidate kernel up to three times, and the fastest
is kept for that range. The measurement is cached on the model and not pickled,
so a model loaded on another machine measures again. Every threshold of the
choice lives here, each a rule that holds on any machine (see the comments).
"""

import threading
import time

import numpy as np
import scipy.sparse as sp
import torch

from ._kernels import DENSE_INPUT_KERNELS, SparseInput

KERNELS = ("auto", "dense", "sparse")
ENGINES = ("auto", "numpy", "torch")


class KernelDispatch:
    """Chooses and runs the kernel for each batch of one :class:`CompactMLP`.

    Parameters
    ----------
    clock : callable, default=time.perf_counter
        Returns seconds; the measurement times each candidate with it (tests pass
        a fake one).
    """

    # Batches below this many rows never pay for a measurement (the latency case,
    # 1-100 rows): they run on numpy by the rule in _small_batch. A batch of 128
    # rows already amortises a one-time measurement of a few products.
    MEASURE_MIN_ROWS = 128
    # Batch sizes measured apart: a factor of 4 (128-511, 512-2047, 2048-8191,
    # 8192+). Per-call overheads (thread wake-up, oneDNN setup, a Python loop
    # over chunks) weigh differently at 100 and 10,000 rows, so one choice
    # cannot serve every size; within a factor of 4 their share moves little,
    # and four measurements per model and dtype stay cheap.
    RANGE_FACTOR = 4
    # The last range is open: the estimators predict in chunks of 16,384 rows.
    MEASURE_TOP_ROWS = 8192
    # A first layer with fewer weights than this is never run sparse unless
    # forced: its whole product takes microseconds either way, not worth the
    # time a measurement of the sparse kernels would cost.
    SPARSE_MIN_SIZE = 4096
    # Nor one more than half dense: a stored weight takes its value plus an
    # index, so a sparse layer then moves more bytes than the dense matrix, and a
    # sparse product cannot win on any machine.
    SPARSE_MAX_DENSITY = 0.5
    # Small batches (below MEASURE_MIN_ROWS) run the first layer sparsely (CSR)
    # when at most this dense. At a few rows the product is bound by reading the
    # weights: at a tenth, CSR reads at most a fifth of the dense matrix's bytes
    # (a value and an index per stored weight) and does a tenth of its
    # multiply-adds, which makes up for its scalar inner loop against SIMD lanes
    # on common CPUs; near the break-even the two forms cost about the same, so
    # landing on the wrong side of it costs little.
    SMALL_SPARSE_MAX_DENSITY = 0.1

    def __init__(self, clock=time.perf_counter):
        self.clock = clock
        self._choices = {}
        self._plans = {}
        self._lock = threading.Lock()

    # ---------------------------------------------------------------- the rules
    def _range(self, n_rows):
        """The smallest row count of the measured range ``n_rows`` falls in."""
        low = self.MEASURE_MIN_ROWS
        while low * self.RANGE_FACTOR <= n_rows and low < self.MEASURE_TOP_ROWS:
            low *= self.RANGE_FACTOR
        return low

    def _first_layer_density(self, model):
        W = model.weights[0]
        nnz = W.nnz if sp.issparse(W) else np.count_nonzero(W)
        size = W.shape[0] * model.n_features
        return size, nnz / max(size, 1)

    def candidates(self, model, dtype, kernel="auto", engine="auto"):
        """The kernel classes that may run ``model`` on dense input of ``dtype``.

        Parameters
        ----------
        model : CompactMLP
            The network.
        dtype : numpy dtype
            float32 or float64.
        kernel : {"auto", "dense", "sparse"}, default="auto"
            Forced first-layer form, or "auto".
        engine : {"auto", "numpy", "torch"}, default="auto"
            Forced engine, or "auto".

        Returns
        -------
        kernels : list of type
            Kernel classes (at least one: numpy runs everything).
        """
        if kernel == "auto":
            size, density = self._first_layer_density(model)
            sparse_ok = size >= self.SPARSE_MIN_SIZE and density <= self.SPARSE_MAX_DENSITY
            forms = ("dense", "sparse") if sparse_ok else ("dense",)
        else:
            forms = (kernel,)
        out = []
        for form in forms:
            for eng in (("numpy", "torch") if engine == "auto" else (engine,)):
                cls = DENSE_INPUT_KERNELS[(form, eng)]
                if cls.applies(model, dtype):
                    out.append(cls)
        if not out:  # torch forced where it cannot run (float64, no oneDNN): numpy
            out = [DENSE_INPUT_KERNELS[(form, "numpy")] for form in forms]
        return out

    def _small_batch(self, model, cands):
        """The kernel of a batch too small to measure: numpy (oneDNN's per-call
        setup costs more than a small BLAS product), unless only torch is
        allowed; the first layer sparse by SMALL_SPARSE_MAX_DENSITY."""
        numpy_ones = [c for c in cands if c.engine == "numpy"] or cands
        if len(numpy_ones) == 1:
            return numpy_ones[0]
        size, density = self._first_layer_density(model)
        sparse = density <= self.SMALL_SPARSE_MAX_DENSITY
        return next(c for c in numpy_ones if c.sparse_first == sparse)

    # ------------------------------------------------------------------ running
    def run(self, model, X, check_finite=False):
        """Run the kernel chosen for ``X`` and return ``(outputs, input_ok)``.

        Parameters
        ----------
        model : CompactMLP
            The network.
        X : ndarray or scipy sparse matrix of shape (n_samples, n_features)
            Input, all columns of the original data.
        check_finite : bool, default=False
            Also judge whether ``X`` was free of NaN and inf.

        Returns
        -------
        outputs : ndarray of shape (n_samples, n_outputs)
            Raw network outputs.
        input_ok : bool
            False when ``X`` may hold NaN/inf (True without ``check_finite``).
        """
        dtype = np.dtype(np.float32 if X.dtype == np.float32 else np.float64)
        if sp.issparse(X):
            return SparseInput.prepare(model, dtype).run(X, check_finite)
        kernel, engine = model.kernel, model.engine
        # the candidates (and the small-batch kernel) once per setting: counting
        # the first layer's nonzeros on every call would cost more than a
        # one-row product
        plan = self._plans.get((dtype.name, kernel, engine))
        if plan is None:
            cands = self.candidates(model, dtype, kernel, engine)
            plan = (cands, cands[0] if len(cands) == 1 else self._small_batch(model, cands))
            plan = self._plans.setdefault((dtype.name, kernel, engine), plan)
        cands, small = plan
        if len(cands) == 1 or X.shape[0] < self.MEASURE_MIN_ROWS:
            return small.prepare(model, dtype).run(X, check_finite)
        # torch's thread count changes which engine wins; key on it too
        key = (dtype.name, self._range(X.shape[0]), kernel, engine, torch.get_num_threads())
        chosen = self._choices.get(key)
        if chosen is None:
            with self._lock:  # one measurement per key, not one per racing thread
                chosen = self._choices.get(key)
                if chosen is None:
                    chosen, result = self._measure(model, dtype, cands, X, check_finite)
                    self._choices[key] = chosen
                    return result
        return chosen.prepare(model, dtype).run(X, check_finite)

    def _measure(self, model, dtype, cands, X, check_finite):
        """Run each candidate on ``X`` up to three times in a row and keep the
        faster of its last two times: the first run pays for warm-up and for the
        other library's worker threads still spinning from the candidate before,
        which a model called again and again on one kernel does not pay. A
        candidate whose second run (the first after warm-up) took over ``4x``
        the best time so far cannot win and is not run a third time; the first
        run never decides, since a kernel's first call can cost many times its
        later ones (thread pools starting, buffers allocated). Returns the
        winner and its outputs for ``X``.

        The torch candidates go first. numpy's BLAS (OpenBLAS) keeps its worker
        threads spinning for a while after a call, and a torch kernel timed then
        shares the cores with them: on 2 cores the gradual-98% MNIST network's
        torch sparse kernel (7.0 ms for 10,000 rows when it runs alone) lost to
        numpy dense (10.5 ms) in 7 of 12 fresh measurements with numpy first, in
        none of 12 with torch first. torch's own threads stop spinning soon after
        a call, so the numpy candidates timed after them are not held back."""
        best = {}
        cands = sorted(cands, key=lambda c: c.engine != "torch")  # stable: torch first
        for cls in cands:
            kernel = cls.prepare(model, dtype)  # preparation is paid once, untimed
            fastest = min((t for t, _ in best.values()), default=np.inf)
            times = []
            for run in range(3):
                start = self.clock()
                result = kernel.run(X, check_finite)
                times.append(self.clock() - start)
                if run == 1 and times[1] > 4 * fastest:
                    break
            best[cls] = (min(times[1:] or times), result)
        winner = min(cands, key=lambda c: best[c][0])
        return winner, best[winner][1]

    def choices(self, kernel="auto", engine="auto"):
        """The measured choices so far under these settings, as ``{(dtype,
        from_rows, torch_threads): kernel name}``."""
        return {(dtype, rows, threads): cls.name
                for (dtype, rows, k, e, threads), cls in list(self._choices.items())
                if k == kernel and e == engine}

    def forget(self):
        """Drop every measured choice (after torch's kernels failed at run time)."""
        self._choices.clear()
        self._plans.clear()
