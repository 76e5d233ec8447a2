"""Export a fitted sparse MLP to ONNX (needs the ``export`` extra: onnx, onnxscript).

The exported graph is the *compacted* network (pruned units and unused inputs
removed, batch norm folded in) plus the estimator's output step, so an ONNX
runtime reproduces ``predict_proba`` (classifiers) or ``predict`` (regressors)
in float32:

>>> from sksparse_nn.export import to_onnx
>>> to_onnx(clf, "model.onnx")  # doctest: +SKIP
>>> import onnxruntime as ort  # doctest: +SKIP
>>> proba = ort.InferenceSession("model.onnx").run(None, {"X": X.astype("float32")})[0]

For the bare network use ``estimator.compact_model_.to_torch()``: it takes the
columns ``X[:, estimator.compact_model_.input_index]`` and returns raw outputs.
"""

import warnings

import numpy as np
import torch
from sklearn.utils.validation import check_is_fitted
from torch import nn

__all__ = ["to_onnx", "to_torch"]


class _ExportModel(nn.Module):
    """Column gather -> compact network -> output step of the estimator."""

    def __init__(self, network, input_index, head, y_mean=None, y_scale=None, squeeze=False):
        super().__init__()
        self.network = network
        if input_index is not None:
            input_index = torch.as_tensor(input_index, dtype=torch.long)
        self.register_buffer("input_index", input_index)
        self.head = head
        self.squeeze = squeeze
        if y_mean is not None:
            self.register_buffer("y_mean", torch.as_tensor(y_mean, dtype=torch.float32))
            self.register_buffer("y_scale", torch.as_tensor(y_scale, dtype=torch.float32))

    def forward(self, X):
        if self.input_index is not None:
            X = torch.index_select(X, 1, self.input_index)
        z = self.network(X)
        if self.head == "binary":
            p = torch.sigmoid(z)
            return torch.cat([1.0 - p, p], dim=1)
        if self.head == "multilabel":
            return torch.sigmoid(z)
        if self.head == "softmax":
            return torch.softmax(z, dim=1)
        z = z * self.y_scale + self.y_mean
        return z[:, 0] if self.squeeze else z


def _estimator(estimator):
    if hasattr(estimator, "steps"):
        raise TypeError(
            "to_onnx exports a fitted SparseMLPClassifier / SparseMLPRegressor, not a "
            "Pipeline: export pipeline[-1] and apply the preceding steps "
            "(pipeline[:-1].transform(X)) before running the ONNX model."
        )
    check_is_fitted(estimator)
    return estimator


def to_torch(estimator, full_input=True):
    """Return a float32 torch module equivalent to the fitted estimator.

    It computes ``predict_proba`` (classifier) or ``predict`` (regressor).

    Parameters
    ----------
    estimator : SparseMLPClassifier or SparseMLPRegressor
        A fitted estimator.
    full_input : bool, default=True
        True: the module takes all ``n_features_in_`` columns and picks the ones
        the network still reads itself; False: it takes
        ``X[:, estimator.compact_model_.input_index]``.

    Returns
    -------
    module : torch.nn.Module
        The network in eval mode.
    """
    est = _estimator(estimator)
    compact = est.compact_model_
    network = compact.to_torch().float()
    index = compact.input_index if full_input else None
    if hasattr(est, "classes_"):
        if getattr(est, "_multilabel", False):
            head = "multilabel"  # one probability per label
        else:
            head = "binary" if len(est.classes_) == 2 else "softmax"
        model = _ExportModel(network, index, head)
    else:
        # the regressor's output step: predict() = output * y_scale_ + y_mean_, one
        # column per output, flattened when the targets were 1-D (a float y_mean_)
        model = _ExportModel(network, index, "regression",
                             y_mean=np.reshape(est.y_mean_, -1).astype(np.float32),
                             y_scale=np.reshape(est.y_scale_, -1).astype(np.float32),
                             squeeze=np.ndim(est.y_mean_) == 0)
    return model.eval()


def to_onnx(estimator, path, *, full_input=True, opset_version=None, dynamo=True):
    """Write the fitted estimator as an ONNX model to ``path``.

    The model has one float32 input ``"X"`` of shape ``(batch, n_features_in_)``
    (or ``(batch, n_features_selected_)`` with ``full_input=False``, taking
    ``X[:, estimator.compact_model_.input_index]``) and one output:
    ``"probabilities"`` (classifiers; columns ordered as ``classes_``, so the
    predicted label is ``classes_[argmax]``) or ``"predictions"`` (regressors, in
    the original target scale). The batch dimension is dynamic.

    Parameters
    ----------
    estimator : SparseMLPClassifier or SparseMLPRegressor
        A fitted estimator.
    path : str or path-like
        The file to write.
    full_input : bool, default=True
        Whether the model takes all ``n_features_in_`` columns (see above).
    opset_version : int, default=None
        ONNX opset; None uses the exporter's default.
    dynamo : bool, default=True
        True uses torch's ``torch.export``-based exporter (needs the
        ``onnxscript`` package); False the legacy TorchScript one.

    Returns
    -------
    path : str or path-like
        ``path``, as given.
    """
    _estimator(estimator)
    try:
        import onnx  # noqa: F401
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "to_onnx needs the onnx package: pip install onnx onnxscript "
            "(or pip install sksparse_nn[export])."
        ) from exc
    model = to_torch(estimator, full_input=full_input)
    n_in = estimator.n_features_in_ if full_input else len(estimator.compact_model_.input_index)
    example = torch.zeros(2, n_in, dtype=torch.float32)
    output = "probabilities" if hasattr(estimator, "classes_") else "predictions"
    kwargs = dict(input_names=["X"], output_names=[output], dynamo=dynamo)
    if opset_version is not None:
        kwargs["opset_version"] = opset_version
    if dynamo:
        kwargs["dynamic_shapes"] = ({0: torch.export.Dim("batch")},)
        kwargs["verbose"] = False
    else:
        kwargs["dynamic_axes"] = {"X": {0: "batch"}, output: {0: "batch"}}
    with warnings.catch_warnings():  # torch-internal deprecation chatter
        warnings.simplefilter("ignore", FutureWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(model, (example,), str(path), **kwargs)
    return path
