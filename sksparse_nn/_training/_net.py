"""The skorch training engine behind the estimators.

:class:`TorchNet` is a small ``skorch.NeuralNet`` subclass that keeps skorch's
callbacks, history, ``ValidSplit``, ``EarlyStopping`` and ``ProgressBar`` but feeds
batches as slices of whole tensors (skorch's default per-sample ``Dataset`` +
``collate`` is a Python call per sample, which dominates on small nets; see
benchmarks/PERFORMANCE.md, Training),
computes a (sample-weighted) per-sample loss, keeps masked weights at zero after
every optimizer step, and detects a non-finite loss in the batch where it happens.

It is an internal engine: users meet the scikit-learn estimators, never this class.
"""

import math

import warnings

import numpy as np
import scipy.sparse as sp
import torch
from skorch import NeuralNet
from skorch.callbacks import Callback, EpochTimer, PrintLog
from skorch.utils import TeeGenerator


class NonFiniteLossError(FloatingPointError):
    """Raised inside the training loop when a batch loss is NaN or infinite."""

    def __init__(self, epoch, value):
        super().__init__(f"training loss became {value} in epoch {epoch}")
        self.epoch = epoch
        self.value = value


def sparse_rows(X, device="cpu"):
    """A scipy CSR matrix as a torch sparse CSR tensor (shares the value buffer).

    The first layer multiplies it as ``addmm(b, X, W.T)``: a mini-batch of a
    text-like matrix is never densified.
    """
    if X.format != "csr":
        X = X.tocsr()
    with warnings.catch_warnings():  # "sparse CSR support is in beta": we rely on addmm only
        warnings.simplefilter("ignore", UserWarning)
        return torch.sparse_csr_tensor(
            torch.from_numpy(X.indptr.astype(np.int64)),
            torch.from_numpy(X.indices.astype(np.int64)),
            torch.from_numpy(np.asarray(X.data, dtype=np.float32)),
            size=X.shape, device=device)


class TensorData(torch.utils.data.Dataset):
    """Whole-tensor dataset: ``X``, ``y`` and optional sample weights ``w``.

    ``X`` is a torch tensor or a scipy CSR matrix (kept on the CPU; each
    mini-batch becomes a torch sparse tensor on ``y``'s device, see
    :func:`sparse_rows`).
    """

    def __init__(self, X, y, w=None):
        self.X, self.y, self.w = X, y, w

    @property
    def sparse(self):
        return sp.issparse(self.X)

    def __len__(self):
        return self.X.shape[0]

    def __getitem__(self, i):  # used only by generic tools, never in training
        return self.X[i], self.y[i]

    def rows(self, index=None):
        """``X`` (or its rows ``index``) as a torch tensor for the module."""
        X = self.X if index is None else self.X[index]
        return sparse_rows(X, self.y.device) if self.sparse else X

    def take(self, index):
        index = np.asarray(index)
        index_t = torch.as_tensor(index, dtype=torch.long, device=self.y.device)
        w = None if self.w is None else self.w[index_t]
        X = self.X[index] if self.sparse else self.X[index_t]
        return TensorData(X, self.y[index_t], w)


def as_tensor_data(dataset):
    """Resolve a ``TensorData`` or a ``Subset`` of one (what ``ValidSplit`` returns)."""
    if isinstance(dataset, torch.utils.data.Subset):
        return as_tensor_data(dataset.dataset).take(dataset.indices)
    if not isinstance(dataset, TensorData):
        raise TypeError(f"expected TensorData, got {type(dataset).__name__}")
    return dataset


class TensorBatches:
    """Iterates ``(X, y, w)`` slices; reshuffles with ``generator`` every epoch."""

    def __init__(self, data, batch_size, shuffle, generator=None):
        self.data = data
        self.batch_size = int(batch_size)
        self.shuffle = shuffle
        self.generator = generator

    def __len__(self):
        return math.ceil(len(self.data) / self.batch_size)

    def __iter__(self):
        X, y, w = self.data.X, self.data.y, self.data.w
        n = X.shape[0]
        if self.data.sparse:
            yield from self._sparse_batches(X, y, w, n)
            return
        if self.shuffle and n > 1:
            perm = torch.randperm(n, generator=self.generator).to(X.device)
            X, y = X[perm], y[perm]
            w = None if w is None else w[perm]
        bs = self.batch_size
        for start in range(0, n, bs):
            stop = start + bs
            yield X[start:stop], y[start:stop], (None if w is None else w[start:stop])

    def _sparse_batches(self, X, y, w, n):
        # rows are gathered from the CSR matrix per batch: never a dense copy of X
        perm = None
        if self.shuffle and n > 1:
            perm = torch.randperm(n, generator=self.generator)
        device = y.device
        for start in range(0, n, self.batch_size):
            stop = min(start + self.batch_size, n)
            if perm is None:
                Xb, yb, wb = X[start:stop], y[start:stop], (None if w is None else w[start:stop])
            else:
                idx = perm[start:stop]
                idx_d = idx.to(device)
                Xb, yb = X[idx.numpy()], y[idx_d]
                wb = None if w is None else w[idx_d]
            yield sparse_rows(Xb, device), yb, wb


class TorchNet(NeuralNet):
    """skorch net with tensor-slice batches, weighted loss and sparsity hooks.

    Extra attributes set by the estimator before ``initialize``:
    ``l2`` (weight decay on connection weights only), ``shuffle_generator``,
    ``record_batches`` (keep per-batch losses: only needed by ``ProgressBar``).
    """

    def __init__(self, *args, l2=0.0, record_batches=False, **kwargs):
        super().__init__(*args, **kwargs)
        self.l2 = l2
        self.record_batches = record_batches

    @property
    def _default_callbacks(self):
        return [("epoch_timer", EpochTimer()), ("print_log", PrintLog())]

    # ------------------------------------------------------------------ optimizer
    def initialize_optimizer(self, triggered_directly=None):
        """Adam-family optimizer, L2 (weight decay) on connection weights only."""
        decay, no_decay = [], []
        for linear in self.module_.linears:
            decay.append(linear.weight)
        decay_ids = {id(p) for p in decay}
        for p in self.module_.parameters():
            if id(p) not in decay_ids:
                no_decay.append(p)
        _, kwargs = self.get_params_for_optimizer("optimizer", [])
        kwargs.pop("params", None)
        kwargs.setdefault("lr", self.lr)
        if self.l2 > 0:
            groups = [{"params": decay, "weight_decay": self.l2},
                      {"params": no_decay, "weight_decay": 0.0}]
        else:  # one group: one kernel launch per step instead of two
            groups = [{"params": decay + no_decay}]
        self.optimizer_ = self.optimizer(groups, **kwargs)
        return self

    # ---------------------------------------------------------------------- data
    def get_dataset(self, X, y=None):
        if isinstance(X, (TensorData, torch.utils.data.Subset)):
            return X
        if isinstance(X, dict):
            return TensorData(X["X"], y, X.get("sample_weight"))
        return TensorData(X, y)

    def get_iterator(self, dataset, training=False):
        data = as_tensor_data(dataset)
        if training:
            return TensorBatches(data, self.batch_size, shuffle=True,
                                 generator=getattr(self, "shuffle_generator", None))
        return TensorBatches(data, max(self.batch_size, 4096), shuffle=False)

    # ---------------------------------------------------------------------- loss
    def get_loss(self, y_pred, y_true, X=None, training=False):
        y, w = y_true
        loss = self.criterion_(y_pred, y)
        if w is None:  # every sample has the same number of outputs: one mean
            return loss.mean()
        if loss.dim() > 1:
            loss = loss.mean(dim=tuple(range(1, loss.dim())))
        return (loss * w).sum() / w.sum().clamp(min=torch.finfo(w.dtype).tiny)

    def train_step_single(self, batch, **fit_params):
        # train/eval mode is set once per epoch in run_single_epoch
        Xi, yi, wi = batch
        if Xi.shape[0] == 1 and self.module_.training:
            # batch norm cannot normalise a single sample by the batch's statistics
            # (torch raises): a trailing batch of one uses the running statistics
            norms = [m for m in self.module_.modules() if isinstance(m, torch.nn.BatchNorm1d)]
            for m in norms:
                m.eval()
            try:
                y_pred = self.module_(Xi)
            finally:
                for m in norms:
                    m.train()
        else:
            y_pred = self.module_(Xi)
        loss = self.get_loss(y_pred, (yi, wi), X=Xi, training=True)
        loss.backward()
        return {"loss": loss, "y_pred": y_pred}

    def train_step(self, batch, **fit_params):
        """One optimizer step, with skorch's hook where skorch fires it:
        ``on_grad_computed`` after the backward pass, before the step (e.g.
        skorch's ``GradientNormClipping`` clips there). No closure is passed to
        the optimizer (Adam calls it once, so it would only add a call); then the
        masks are re-applied, since the step moves masked weights off zero."""
        self.optimizer_.zero_grad(set_to_none=True)
        step = self.train_step_single(batch)
        grad_cbs = self._grad_callbacks()
        if grad_cbs:
            named = TeeGenerator(self.get_all_learnable_params())
            for cb in grad_cbs:
                cb.on_grad_computed(self, named_parameters=named, batch=batch, training=True)
        self.optimizer_.step()
        if self.module_.masked:
            self.module_.apply_masks_()
        return step

    def validation_step(self, batch, **fit_params):
        Xi, yi, wi = batch
        with torch.no_grad():
            y_pred = self.module_(Xi)
            loss = self.get_loss(y_pred, (yi, wi), X=Xi, training=False)
        return {"loss": loss, "y_pred": y_pred}

    # --------------------------------------------------------------------- epoch
    def run_single_epoch(self, iterator, training, prefix, step_fn, **fit_params):
        """One pass; records the epoch's mean loss as ``{prefix}_loss``.

        Only callbacks that define a batch hook are called per batch, and batch
        losses go to the history only when ``record_batches`` is set.
        """
        if iterator is None:
            return
        self._set_training(training)
        batch_cbs = self._batch_callbacks()
        total, count, n_batches = 0.0, 0, 0
        record = self.record_batches
        for batch in iterator:
            for cb in batch_cbs[0]:
                cb.on_batch_begin(self, batch=batch, training=training)
            step = step_fn(batch)
            value = step["loss"].item()
            if not math.isfinite(value):
                raise NonFiniteLossError(len(self.history), value)
            bs = batch[0].shape[0]
            total += value * bs
            count += bs
            n_batches += 1
            if record:
                self.history.new_batch()
                self.history.record_batch(prefix + "_loss", value)
                self.history.record_batch(prefix + "_batch_size", bs)
            for cb in batch_cbs[1]:
                cb.on_batch_end(self, batch=batch, training=training, **step)
        if training:
            # the last step of an epoch can make weights non-finite while its loss
            # was still finite: caught here, before any epoch-end hook sees them
            # (and whatever a later epoch or the end of training would show)
            with torch.no_grad():
                if not all(bool(torch.isfinite(p).all()) for p in self.module_.parameters()):
                    raise NonFiniteLossError(len(self.history), float("nan"))
        self.history.record(prefix + "_batch_count", n_batches)
        if count:
            self.history.record(prefix + "_loss", total / count)

    def _batch_callbacks(self):
        """The callbacks that define a batch hook (the others are not called per
        batch: a call per batch and callback costs as much as a small step)."""
        begin, end = [], []
        for _, cb in self.callbacks_:
            if type(cb).on_batch_begin is not Callback.on_batch_begin:
                begin.append(cb)
            if type(cb).on_batch_end is not Callback.on_batch_end:
                end.append(cb)
        return begin, end

    def _grad_callbacks(self):
        cached = self.__dict__.get("_grad_cbs")
        if cached is not None and cached[0] is self.callbacks_:
            return cached[1]
        cbs = [cb for _, cb in self.callbacks_
               if type(cb).on_grad_computed is not Callback.on_grad_computed]
        self.__dict__["_grad_cbs"] = (self.callbacks_, cbs)
        return cbs
