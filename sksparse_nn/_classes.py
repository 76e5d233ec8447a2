"""The public estimators: :class:`SparseMLPClassifier` and :class:`SparseMLPRegressor`.

What differs between them lives here (target encoding, loss, output step,
``predict``/``predict_proba``), and the docstring text they share.
"""

import textwrap

import numpy as np
import scipy.sparse as sp
import torch
from scipy.special import expit
from sklearn.base import ClassifierMixin, RegressorMixin
from sklearn.preprocessing import LabelEncoder
from sklearn.utils.multiclass import check_classification_targets, type_of_target
from sklearn.utils.validation import column_or_1d

from ._estimator import _BaseSparseMLP


class _MultilabelBCE(torch.nn.BCEWithLogitsLoss):
    """Per-sample binary cross-entropy summed over the labels: MLPClassifier's
    multilabel loss (``binary_log_loss`` sums over labels, averages over samples),
    so ``l1`` and ``input_l1`` weigh the same against it as in the single-label
    case instead of shrinking with the number of labels."""

    def __init__(self):
        super().__init__(reduction="none")

    def forward(self, input, target):
        return super().forward(input, target).sum(dim=1)


def _predict_doc(summary, returns, description):
    """Give a prediction method its docstring.

    Every prediction method takes the same ``X``: one text for its parameter,
    so the methods (here and in the CV estimators) cannot drift apart.

    Parameters
    ----------
    summary : str
        The one-line summary.
    returns : str
        The returned value's name and type, as ``"y : ndarray of shape ..."``.
    description : str
        What the returned value holds (wrapped to the docstring's width).

    Returns
    -------
    decorate : callable
        Sets ``__doc__`` of the method it is applied to and returns the method.
    """
    body = textwrap.fill(description, width=80, initial_indent=" " * 12,
                         subsequent_indent=" " * 12)
    doc = (f"{summary}\n\n"
           "        Parameters\n"
           "        ----------\n"
           "        X : {array-like, sparse matrix} of shape (n_samples, n_features)\n"
           "            Input data (sparse matrices stay sparse).\n\n"
           "        Returns\n"
           "        -------\n"
           f"        {returns}\n{body}\n        ")

    def decorate(method):
        method.__doc__ = doc
        return method
    return decorate


# The two estimators share every hyperparameter and fitted attribute: one text
# for both docstrings, so they cannot drift apart.
_PARAMETERS_DOC = """\
    hidden_layer_sizes : tuple of int, default=(100,)
        Units per hidden layer before pruning; ``hidden_layer_sizes_`` holds
        what is left after fit.
    activation : {"relu", "tanh", "logistic", "identity"}, default="relu"
        Activation of the hidden layers.
    l1 : float >= 0, default=0
        L1 strength on every connection weight, applied as a proximal
        (soft-threshold) step after each optimizer step, so weights become exactly
        zero. Roughly: a weight whose average loss gradient is smaller than ``l1``
        goes to zero. ``1e-4`` barely changes a network, ``1`` zeroes everything.
        The penalty starts after 25% of the steps; after 80% the zero pattern is
        frozen and the survivors are refitted without shrinkage (see
        ``l1_schedule``).
    l2 : float >= 0, default=0
        L2 strength (weight decay) on connection weights, not biases.
    input_l1 : float >= 0, default=0
        Group-lasso strength on each input feature's outgoing weights (proximal):
        whole features drop out with exactly zero weights (feature selection).
    l1_schedule : :class:`~sksparse_nn.schedules.L1Schedule` or None, default=None
        When ``l1`` and ``input_l1`` act, as fractions of the training steps:
        warm-up, ``input_l1`` ramp, re-weighting, frozen support. None means
        ``L1Schedule()`` (start at 25%, ``input_l1`` at full strength at 30%,
        re-weighted at 50%, frozen at 80%).
    dropout : float in [0, 1), default=0
        Dropout probability after each hidden activation.
    batch_norm : bool, default=False
        Batch normalisation before each hidden activation (folded into the
        weights for prediction).
    max_iter : int, default=200
        Number of epochs.
    batch_size : int or "auto", default="auto"
        Mini-batch size; ``"auto"`` is ``min(200, n_samples)``.
    learning_rate_init : float, default=1e-3
        Adam's learning rate.
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the data, stop when the validation
        score has not improved by ``tol`` for ``n_iter_no_change`` epochs, restore
        the best weights. Stopping waits until a prune schedule or the L1 support
        is final.
    validation_fraction : float in (0, 1), default=0.1
        Fraction of the training data held out for early stopping and selective
        pruning.
    n_iter_no_change : int, default=10
        Epochs without an improvement of at least ``tol`` before training stops.
    tol : float, default=1e-4
        Without early stopping, training stops when the training loss has not
        improved by ``tol`` for ``n_iter_no_change`` epochs (as scikit-learn's MLP).
    prune_schedule : str, PruneSchedule or None, default=None
        When weights are pruned by magnitude: "one_shot", "gradual",
        "iterative", "dynamic", or a :class:`~sksparse_nn.schedules.PruneSchedule`
        object (its parameters are then tunable, e.g. ``prune_schedule__end``).
        None with ``target_sparsity > 0`` means "gradual".
    target_sparsity : float in [0, 1), default=0
        Fraction of connection weights that are exactly zero at the end of fit.
    neuron_threshold : float >= 0, default=0
        After fit, hidden units whose incoming or outgoing weight norm is at most
        this are physically removed. 0 removes only exactly dead units (lossless).
    selective_pruning_tol : None or float >= 0, default=None
        If set, after training each hidden unit is tried out on the validation
        split and removed if the validation loss rises by at most this much
        (accumulated over all removals), passes repeat until nothing more goes,
        then a short fine-tune. See ``selective_pruning_record_``.
    random_state : int, RandomState instance or None, default=None
        Seeds the weight initialisation, the shuffling, dropout and the
        validation split; the global torch random state is left untouched.
    device : str or torch.device, default="cpu"
        Where training runs ("cuda" for a GPU). Prediction runs on the CPU on the
        compacted network.
    verbose : int, default=0
        1: a per-epoch log; 2: also a progress bar over batches.
    warm_start : bool, default=False
        Continue training the fitted network on the next call of fit.
    n_threads : int or None, default=None
        Torch threads while fitting; None chooses by network size (one thread for
        small nets). The global setting is restored afterwards.
"""

_ATTRIBUTES_DOC = """\
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (n_features,)
        Names of features seen during fit, when ``X`` had string column names.
    n_outputs_ : int
        Number of network outputs.
    net_ : skorch.NeuralNet
        The skorch net used for training; its ``history`` has per-epoch
        ``train_loss``, ``valid_loss``, ``valid_score``, ``sparsity`` and
        ``neurons_alive``.
    compact_model_ : CompactMLP
        The inference network ``predict`` uses (removed units and unread inputs
        are gone from its matrices).
    coefs_ : list of ndarray
        Effective weights per layer, scikit-learn layout ``(n_in, n_out)``
        (batch norm folded in).
    intercepts_ : list of ndarray
        Bias vector per layer.
    loss_curve_ : list of float
        Training loss per epoch.
    loss_ : float
        Training loss of the last epoch.
    best_loss_ : float
        Lowest training loss reached.
    n_iter_ : int
        Epochs run.
    validation_scores_ : list of float or None
        Validation score per epoch, with ``early_stopping=True``.
    best_validation_score_ : float or None
        Best validation score, with ``early_stopping=True``.
    sparsity_ : float
        Fraction of exactly-zero connection weights in ``coefs_`` (the fitted
        network: removed units are absent, unread inputs are zero rows).
    nonzero_weights_ : list of int
        Nonzero weights of each ``coefs_`` layer; their sum is the number of
        nonzeros in ``coefs_``.
    sparsity_as_built_ : float
        What ``target_sparsity`` sets: the fraction of zero weights of the trained
        network counted against the network as built, before dead units were
        removed (removed units count as zeros).
    hidden_layer_sizes_ : tuple of int
        Hidden sizes after neuron removal.
    hidden_layer_sizes_built_ : tuple of int
        Hidden sizes of the network as built by the first fit (a warm start or
        ``partial_fit`` must ask for the same).
    n_weights_built_ : int
        Connection weights of the network as built; ``sparsity_as_built_``
        counts zeros against it.
    hidden_units_kept_ : list of ndarray of int
        One array per hidden layer: the indices of the units left, numbered as
        in the network as built (``hidden_layer_sizes``).
    n_features_selected_ : int
        Input features the network still reads.
    feature_importances_ : ndarray of shape (n_features,)
        L2 norm of each input's outgoing weights, normalised to sum to 1;
        exactly 0 for features the network no longer reads.
    selective_pruning_record_ : dict or None
        Units removed by selective pruning and the losses before and after, each
        named by the data it was measured on (see :meth:`prune_neurons`).
    pruning_record_ : dict or None
        Set by :meth:`prune`: losses and scores before and after, and the data
        each was measured on.
    partial_fit_plan_ : PartialFitPlan or None
        Where a stream of ``partial_fit`` calls stands in its plan of
        ``max_iter`` one-epoch calls (``calls``, ``steps``,
        ``steps_per_epoch``); None after ``fit``.
"""


def _partial_fit_doc(method):
    """Append the end every ``partial_fit`` docstring shares (its last
    parameter, ``sample_weight``, and what it returns)."""
    method.__doc__ = method.__doc__.rstrip() + """
        sample_weight : array-like of shape (n_samples,), default=None
            Per-sample weights of the loss.

        Returns
        -------
        self : object
            The estimator, trained one more epoch.
        """
    return method


def _estimator_doc(intro, attributes, see_also, examples):
    """The docstring of a public estimator: its own ``intro`` (summary and
    notes), the shared Parameters, the shared Attributes followed by its own
    ``attributes``, ``see_also`` as (name, description) pairs, and ``examples``."""
    refs = "".join(f"    {name} : {text}\n" for name, text in see_also)
    return (f"{intro}\n"
            f"    Parameters\n    ----------\n{_PARAMETERS_DOC}\n"
            f"    Attributes\n    ----------\n{_ATTRIBUTES_DOC}{attributes}\n"
            f"    See Also\n    --------\n{refs}\n"
            f"    Examples\n    --------\n{examples}    ")


class SparseMLPClassifier(ClassifierMixin, _BaseSparseMLP):
    __doc__ = _estimator_doc(
        """Multi-layer perceptron classifier that trains genuinely sparse networks.

    Binary, multiclass and multilabel targets. Sparsity comes from an L1 proximal step
    (``l1``, ``input_l1``), magnitude pruning on a schedule (``prune_schedule``,
    ``target_sparsity``) and neuron removal; prediction runs on the compacted
    network. See the :ref:`user guide <user_guide>`.

    Multilabel indicator targets (a 0/1 matrix of shape ``(n_samples, n_labels)``)
    are taken as :class:`~sklearn.neural_network.MLPClassifier` takes them: one
    sigmoid output per label, ``predict`` returns the indicator matrix,
    ``predict_proba`` the label probabilities, ``classes_`` is ``arange(n_labels)``.
""",
        attributes="""\
    classes_ : ndarray of shape (n_classes,)
        Class labels.
""",
        see_also=[("SparseMLPRegressor", "The regressor."),
                  ("sklearn.neural_network.MLPClassifier", "The dense MLP of scikit-learn.")],
        examples="""\
    >>> from sklearn.datasets import load_breast_cancer
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.preprocessing import StandardScaler
    >>> from sksparse_nn import SparseMLPClassifier
    >>> X, y = load_breast_cancer(return_X_y=True)
    >>> clf = make_pipeline(StandardScaler(), SparseMLPClassifier(
    ...     (32,), target_sparsity=0.9, max_iter=20, random_state=0)).fit(X, y)
    >>> round(float(clf[-1].sparsity_as_built_), 2)
    0.9
""")

    @_partial_fit_doc
    def partial_fit(self, X, y, classes=None, sample_weight=None):
        """Train one epoch over ``(X, y)``, one of ``max_iter`` planned epochs.

        The L1 warm-up and freeze and the prune schedule advance call by call
        (optimizer steps per epoch are measured on the first block) and reach
        ``target_sparsity`` after ``max_iter`` calls; later calls keep the masks.
        ``early_stopping`` and ``selective_pruning_tol`` need a held-out split of
        the whole data set and are not applied (the first call warns). This is
        the method ``dask_ml.wrappers.Incremental`` drives block by block.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            A block of samples (sparse matrices stay sparse).
        y : array-like of shape (n_samples,) or (n_samples, n_labels)
            Labels, or a multilabel indicator matrix.
        classes : array-like of shape (n_classes,), default=None
            Every class of the stream; required on the first call for
            single-label targets (a block may lack some classes).
        """
        return self._partial_fit(X, y, sample_weight=sample_weight, classes=classes)

    def _is_classifier(self):
        return True

    def _score_kind(self):
        if self._multilabel:
            return "multilabel"
        return "binary" if len(self.classes_) == 2 else "multiclass"

    @property
    def _multilabel(self):
        return getattr(self, "_label_kind", None) == "multilabel"

    def _criterion(self):
        # multilabel: one sigmoid + binary cross-entropy per label, as MLPClassifier
        if self._multilabel:
            return _MultilabelBCE()
        if len(self.classes_) == 2:
            return torch.nn.BCEWithLogitsLoss(reduction="none")
        return torch.nn.CrossEntropyLoss(reduction="none")

    def _split_labels(self, y):
        if self._multilabel:
            return None  # as MLPClassifier: no stratified split for multilabel targets
        return self._label_encoder.transform(y)

    def _encode_y(self, y, first, classes, sample_weight=None, require_classes=False):
        """Encode ``y`` for the loss (``first``: fit the label encoding; a first
        ``partial_fit`` call passes ``require_classes``, since one block may lack
        some classes)."""
        if sp.issparse(y):
            y = y.toarray()
        y = np.asarray(y)
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        if y.ndim == 2:
            return self._encode_multilabel(y, first)
        if not first and self._multilabel:
            raise ValueError(
                f"The model was fitted on a multilabel indicator target with "
                f"{len(self.classes_)} labels; y of shape {y.shape} is not one."
            )
        y = y.ravel()
        self._check_label_types(y)
        check_classification_targets(y)
        if first:
            enc = LabelEncoder()
            if classes is not None:
                enc.fit(np.asarray(classes))
                self._check_seen(enc, y)
            elif require_classes:
                raise ValueError("classes must be passed on the first call to partial_fit.")
            else:
                enc.fit(y)
            if len(enc.classes_) < 2:
                raise ValueError(
                    "The target has only one class "
                    f"({enc.classes_[0]!r}); a classifier needs samples of at least 2 "
                    "classes."
                )
            self._label_encoder = enc
            self._label_kind = "single"
            self.classes_ = enc.classes_
            self.n_outputs_ = 1 if len(self.classes_) == 2 else len(self.classes_)
            self.out_activation_ = "logistic" if len(self.classes_) == 2 else "softmax"
        else:
            self._check_seen(self._label_encoder, y)
        codes = self._label_encoder.transform(y)
        if len(self.classes_) == 2:
            return torch.as_tensor(codes.reshape(-1, 1), dtype=torch.float32)
        return torch.as_tensor(codes, dtype=torch.long)

    def _encode_multilabel(self, y, first):
        """Multilabel indicator targets, as MLPClassifier takes them: one sigmoid
        output per label, ``classes_ = arange(n_labels)`` (its LabelBinarizer's)."""
        kind = type_of_target(y)
        if kind == "multilabel-indicator" and not np.isin(y, (0, 1)).all():
            raise ValueError(
                "A multilabel indicator target must hold 0 and 1 only, got values "
                f"{np.unique(y).tolist()}."
            )
        if kind != "multilabel-indicator":
            raise ValueError(
                f"{type(self).__name__} supports binary, multiclass and multilabel-"
                f"indicator targets, got a {kind} target of shape {y.shape}."
            )
        if first:
            self._label_kind = "multilabel"
            self.classes_ = np.arange(y.shape[1])
            self.n_outputs_ = y.shape[1]
            self.out_activation_ = "logistic"
        elif not self._multilabel or y.shape[1] != len(self.classes_):
            was = (f"{len(self.classes_)} labels" if self._multilabel
                   else f"single-label classes {self.classes_.tolist()}")
            raise ValueError(
                f"y is a multilabel indicator with {y.shape[1]} labels but the model "
                f"was fitted with {was}."
            )
        return torch.as_tensor(y.astype(np.float32))

    @staticmethod
    def _check_label_types(y):
        # sklearn's own message for str/int mixes is "Unknown label type: unknown"
        if y.dtype.kind == "O" and y.size:
            is_str = np.fromiter((isinstance(v, str) for v in y), dtype=bool, count=y.size)
            if is_str.any() and not is_str.all():
                kinds = sorted({type(v).__name__ for v in y})
                raise ValueError(
                    "y mixes string and non-string labels (types: "
                    f"{', '.join(kinds)}); use labels of one type, e.g. all strings."
                )

    @staticmethod
    def _check_seen(enc, y):
        unseen = np.setdiff1d(np.unique(y), enc.classes_)
        if len(unseen):
            raise ValueError(
                f"y contains labels not seen before: {unseen.tolist()}; known classes are "
                f"{enc.classes_.tolist()}."
            )

    @_predict_doc("Predict class probabilities.",
                  "proba : ndarray of shape (n_samples, n_classes)",
                  "Probabilities (float64), columns ordered as ``classes_``. For a "
                  "multilabel target: the probability of each label, shape "
                  "``(n_samples, n_labels)`` (rows do not sum to 1).")
    def predict_proba(self, X):
        z = self._decision(X)
        if self._multilabel:
            return expit(z.astype(np.float64))
        if len(self.classes_) == 2:
            p = expit(z[:, 0]).astype(np.float64)
            return np.column_stack([1.0 - p, p])
        # softmax computed class-major: the reductions then run along the samples
        # (long contiguous vectors) instead of along rows of n_classes values;
        # the result is the (n_samples, n_classes) transpose view
        zt = np.array(z.T, dtype=np.float64, order="C")
        zt -= zt.max(axis=0)
        np.exp(zt, out=zt)
        zt /= zt.sum(axis=0)
        return zt.T

    @_predict_doc("Predict the logarithm of the class probabilities.",
                  "log_proba : ndarray of shape (n_samples, n_classes)",
                  "Log-probabilities, columns ordered as ``classes_``.")
    def predict_log_proba(self, X):
        return np.log(self.predict_proba(X))

    @_predict_doc("Predict class labels.", "y : ndarray of shape (n_samples,)",
                  "Predicted labels, from ``classes_``.")
    def predict(self, X):
        z = self._decision(X)
        if self._multilabel:  # probability > 0.5, as MLPClassifier's indicator output
            return (z > 0).astype(np.int64)
        if len(self.classes_) == 2:
            return self.classes_[(z[:, 0] > 0).astype(int)]
        return self.classes_[np.argmax(z, axis=1)]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags


class SparseMLPRegressor(RegressorMixin, _BaseSparseMLP):
    __doc__ = _estimator_doc(
        """Multi-layer perceptron regressor that trains genuinely sparse networks.

    Targets are standardised internally (mean 0, variance 1 per output), so
    ``l1`` means the same on every target scale; ``loss_curve_`` is the mean
    squared error in that standardised scale. Multi-output ``y`` is supported.
    See the :ref:`user guide <user_guide>`.
""",
        attributes="""\
    y_mean_ : float or ndarray of shape (n_outputs,)
        Mean of the training targets (weighted by ``sample_weight``); a float
        when ``y`` was 1-D. ``predict`` returns ``network output * y_scale_ +
        y_mean_``.
    y_scale_ : float or ndarray of shape (n_outputs,)
        Standard deviation of the training targets (1 for a constant target),
        of the shape of ``y_mean_``.
""",
        see_also=[("SparseMLPClassifier", "The classifier."),
                  ("sklearn.neural_network.MLPRegressor", "The dense MLP of scikit-learn.")],
        examples="""\
    >>> import numpy as np
    >>> from sksparse_nn import SparseMLPRegressor
    >>> rng = np.random.RandomState(0)
    >>> X = rng.uniform(size=(200, 5))
    >>> y = X[:, 0] - 2 * X[:, 1]
    >>> reg = SparseMLPRegressor((16,), input_l1=0.02, max_iter=50, random_state=0)
    >>> reg.fit(X, y).n_features_selected_ <= 5
    True
""")

    @_partial_fit_doc
    def partial_fit(self, X, y, sample_weight=None):
        """Train one epoch over ``(X, y)``, one of ``max_iter`` planned epochs.

        See :meth:`SparseMLPClassifier.partial_fit` for how the hyperparameters
        are planned across calls. The target standardisation is fitted on the
        first block.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            A block of samples (sparse matrices stay sparse).
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            Targets.
        """
        return self._partial_fit(X, y, sample_weight=sample_weight)

    def _is_classifier(self):
        return False

    def _score_kind(self):
        return "regression"

    def _criterion(self):
        return torch.nn.MSELoss(reduction="none")

    def _split_labels(self, y):
        return None

    def _encode_y(self, y, first, classes, sample_weight=None, require_classes=False):
        """Standardise ``y`` (``first``: fit ``y_mean_`` and ``y_scale_``, each of
        the shape of one target: a float for 1-D ``y``)."""
        y = np.asarray(y, dtype=np.float64)
        if first:
            self.n_outputs_ = 1 if y.ndim == 1 else y.shape[1]
            mean = np.average(y, axis=0, weights=sample_weight)
            scale = np.sqrt(np.average((y - mean) ** 2, axis=0, weights=sample_weight))
            # a constant output: nothing to scale (predictions are its mean)
            scale = np.where(scale > 0, scale, 1.0)
            one = y.ndim == 1  # one target: plain floats, as the target's shape
            self.y_mean_ = float(mean) if one else mean
            self.y_scale_ = float(scale) if one else scale
            self.out_activation_ = "identity"
        y2 = y.reshape(len(y), -1)
        if y2.shape[1] != self.n_outputs_:
            raise ValueError(
                f"y has {y2.shape[1]} outputs but the model was fitted with {self.n_outputs_}."
            )
        mean, scale = np.reshape(self.y_mean_, -1), np.reshape(self.y_scale_, -1)
        return torch.as_tensor((y2 - mean) / scale, dtype=torch.float32)

    @_predict_doc("Predict target values.",
                  "y : ndarray of shape (n_samples,) or (n_samples, n_outputs)",
                  "Predictions, in the scale of the training targets.")
    def predict(self, X):
        z = self._decision(X) * self.y_scale_ + self.y_mean_
        return z[:, 0] if np.ndim(self.y_mean_) == 0 else z

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags
