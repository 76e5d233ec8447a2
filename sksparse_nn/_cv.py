"""Cross-validated feature selection: SparseMLPClassifierCV and SparseMLPRegressorCV.

The pattern is scikit-learn's ``LassoCV`` / ``LogisticRegressionCV``: on every
fold of ``cv`` the warm-started ``input_l1`` path
(:func:`~sksparse_nn.feature_selection.input_l1_path`'s machinery) is fitted on
the training part and scored on the held-out part; the held-out scores are
averaged per ``input_l1``; a selection rule picks ``input_l1_``; the path is then
fitted on all the data up to ``input_l1_`` and that model (``best_estimator_``)
predicts and exposes the plain estimator's fitted attributes.
"""

import math
import warnings
from numbers import Integral, Real

import numpy as np
from joblib import Parallel, delayed
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin, _fit_context
from sklearn.metrics import check_scoring
from sklearn.model_selection import check_cv
from sklearn.utils import _safe_indexing, check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import (
    _check_sample_weight,
    check_is_fitted,
    column_or_1d,
    validate_data,
)

from ._classes import SparseMLPClassifier, SparseMLPRegressor, _predict_doc
from ._docstrings import fill_doc
from ._estimator import _BaseSparseMLP, _sparse_mlp_tags
from .feature_selection import _fit_path, _grid
from .schedules import L1Schedule

__all__ = ["SparseMLPClassifierCV", "SparseMLPRegressorCV"]

# Default grid. A column stays at zero while the running mean of its gradient
# is below about input_l1 * sqrt(n_hidden) (the threshold is scaled by Adam's
# preconditioner, see ProximalL1): a scale set by the loss (targets are
# standardised internally) and by the input scale (standardised inputs, as for
# any lasso), not by the learning rate.
_DEFAULT_L1_RANGE = (2e-3, 0.2)
_FIRST_STEPS, _LATER_STEPS = 800, 80
# Every step of the CV path ramps the input_l1 penalty up until 60% of its
# optimizer steps and re-weights at 65% (the plain estimators: 30% / 50%).
# Measured on Friedman #1 (750 rows, 50 features, one fit per value, 13 values
# 1.26x apart, seeds 0-2): the values that keep exactly the 5 true features
# went from 0 / 3 / 1 to 0 / 6 / 3; with the fast ramp the weak true feature
# (x2 - 0.5)^2 went out together with the noise. Not the plain default: with
# only 20% of the steps at full strength, short fits drop fewer features.
_PATH_SCHEDULE = L1Schedule(ramp_end=0.6, reweight_at=0.65)


def _auto_training(n_samples):
    """Training settings for ``"auto"``: batch size, learning rate, first-step
    epochs and epochs per later step, from the number of training samples.

    The proximal penalty acts once per optimizer step, scaled by the learning
    rate, so what decides whether features are dropped is the number of
    optimizer steps times the learning rate. The plain estimators' defaults
    (batch 200, lr 1e-3, 200 epochs) give 1,000 rows only 1,000 small steps:
    too few for the penalty to separate weak true features from noise. Here
    the batch is small enough for at least ~20 steps per epoch (between 16 and
    200 rows), the learning rate is 3e-3, and the epochs are chosen so that the
    first step takes about 800 optimizer steps and every later step about 80
    (40 to 400 / 4 to 40 epochs), whatever the number of rows.
    """
    batch_size = int(np.clip(n_samples // 20, 16, 200))
    steps_per_epoch = math.ceil(n_samples / batch_size)
    max_iter = int(np.clip(math.ceil(_FIRST_STEPS / steps_per_epoch), 40, 400))
    step_max_iter = int(np.clip(math.ceil(_LATER_STEPS / steps_per_epoch), 4, 40))
    return batch_size, 3e-3, max_iter, step_max_iter


def _fold_path(template, X, y, sample_weight, train, test, grid, scorer, step_max_iter,
               stop_below):
    """The path on one fold: per-step held-out scores and supports, padded to
    the whole grid. The path ends early at a step that keeps no feature (every
    later step would keep none either) or that scores ``stop_below`` under the
    fold's best (stronger penalties score lower still, and no selection rule
    picks them); the steps not fitted repeat the last score and support."""
    X_tr, X_te = _safe_indexing(X, train), _safe_indexing(X, test)
    y_tr, y_te = _safe_indexing(y, train), _safe_indexing(y, test)
    w_tr = None if sample_weight is None else sample_weight[train]
    _, _, supports, scores, _, _, _ = _fit_path(template, grid, X_tr, y_tr, w_tr, X_te, y_te,
                                                scorer, step_max_iter, stop_when_empty=True,
                                                stop_below=stop_below,
                                                proximal_schedule=_PATH_SCHEDULE)
    n = len(scores)
    scores = np.concatenate([scores, np.repeat(scores[-1], len(grid) - n)])
    support = np.repeat(np.asarray(supports)[-1:], len(grid), axis=0)
    support[:n] = supports
    return scores, support


def _refit_method(name, summary, returns, description):
    """A prediction method that validates ``X`` and hands it to the refitted
    model's method ``name`` (with the shared prediction docstring)."""
    def method(self, X):
        X = self._refit_input(X)  # checks first that the estimator is fitted
        return getattr(self.best_estimator_, name)(X)

    method.__name__ = name
    return _predict_doc(summary, returns, description)(method)


class _BaseSparseMLPCV(BaseEstimator):
    """Shared machinery; see :class:`SparseMLPRegressorCV` for the parameters."""

    _plain = None  # the plain estimator class

    _parameter_constraints = {
        **{k: v for k, v in _BaseSparseMLP._parameter_constraints.items()
           if k not in ("input_l1", "max_iter", "batch_size", "learning_rate_init",
                        "warm_start")},
        "max_iter": [StrOptions({"auto"}), Interval(Integral, 1, None, closed="left")],
        "batch_size": [StrOptions({"auto"}), Interval(Integral, 1, None, closed="left")],
        "learning_rate_init": [StrOptions({"auto"}), Interval(Real, 0, None, closed="neither")],
        "input_l1s": ["array-like", None],
        "n_input_l1s": [Interval(Integral, 1, None, closed="left")],
        "step_max_iter": [StrOptions({"auto"}), Interval(Integral, 1, None, closed="left")],
        "cv": ["cv_object"],
        "scoring": [str, callable, None],
        "selection": [StrOptions({"best", "one_se", "tol"})],
        "selection_tol": [Interval(Real, 0, None, closed="left")],
        "n_jobs": [Integral, None],
    }

    def __init__(
        self,
        hidden_layer_sizes=(64,),
        activation="relu",
        *,
        input_l1s=None,
        n_input_l1s=20,
        cv=5,
        scoring=None,
        selection="one_se",
        selection_tol=0.01,
        step_max_iter="auto",
        n_jobs=None,
        l1=0.0,
        l2=0.0,
        dropout=0.0,
        batch_norm=False,
        max_iter="auto",
        batch_size="auto",
        learning_rate_init="auto",
        early_stopping=False, validation_fraction=0.1, n_iter_no_change=10, tol=0.0,
        prune_schedule=None, target_sparsity=0.0, neuron_threshold=0.0,
        selective_pruning_tol=None, random_state=None, device="cpu", verbose=0,
        n_threads=None,
    ):
        # stored as given (scikit-learn's contract), two to a line
        self.hidden_layer_sizes, self.activation = hidden_layer_sizes, activation
        self.input_l1s, self.n_input_l1s = input_l1s, n_input_l1s
        self.cv, self.scoring = cv, scoring
        self.selection, self.selection_tol = selection, selection_tol
        self.step_max_iter, self.n_jobs = step_max_iter, n_jobs
        self.l1, self.l2 = l1, l2
        self.dropout, self.batch_norm = dropout, batch_norm
        self.max_iter, self.batch_size = max_iter, batch_size
        self.learning_rate_init, self.early_stopping = learning_rate_init, early_stopping
        self.validation_fraction, self.n_iter_no_change = validation_fraction, n_iter_no_change
        self.tol, self.prune_schedule = tol, prune_schedule
        self.target_sparsity, self.neuron_threshold = target_sparsity, neuron_threshold
        self.selective_pruning_tol, self.random_state = selective_pruning_tol, random_state
        self.device, self.verbose = device, verbose
        self.n_threads = n_threads

    # ----------------------------------------------------------------- fit
    def _template(self, n_train, seed):
        """The plain estimator every fold and the refit start from, with the
        ``"auto"`` training settings resolved for ``n_train`` rows; returns it
        and the epochs of every warm-started step."""
        batch, lr, first, step = _auto_training(n_train)
        plain_names = set(self._plain().get_params())
        params = {k: v for k, v in self.get_params().items() if k in plain_names}
        params.update(
            batch_size=batch if self.batch_size == "auto" else self.batch_size,
            learning_rate_init=lr if self.learning_rate_init == "auto"
            else self.learning_rate_init,
            max_iter=first if self.max_iter == "auto" else self.max_iter,
            random_state=seed,
        )
        step_max_iter = step if self.step_max_iter == "auto" else self.step_max_iter
        return self._plain(**params), int(step_max_iter)

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None):
        """Choose ``input_l1`` by cross-validation, then refit on all the data.

        Parameters
        ----------
        X : array-like or sparse matrix of shape (n_samples, n_features)
            Training data. Column names of a DataFrame are kept
            (``feature_names_in_``).
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            Target values (class labels for the classifier).
        sample_weight : array-like of shape (n_samples,), default=None
            Per-sample weights of the training loss (held-out scores are
            unweighted).

        Returns
        -------
        self : object
            The fitted estimator.
        """
        X, y = validate_data(self, X, y, accept_sparse="csr", dtype=(np.float32, np.float64),
                             multi_output=True, y_numeric=not self._is_classifier())
        if self._is_classifier():
            y = self._check_targets(y)
        if sample_weight is not None:
            sample_weight = _check_sample_weight(sample_weight, X, ensure_non_negative=True)
        grid = self._input_l1_grid()
        seed = int(check_random_state(self.random_state).randint(np.iinfo(np.int32).max))
        cv = check_cv(self.cv, y, classifier=self._is_classifier())
        folds = list(cv.split(X, y))
        n_train = int(np.median([len(tr) for tr, _ in folds]))
        template, step_max_iter = self._template(n_train, seed)
        scorer = check_scoring(template, scoring=self.scoring)

        results = Parallel(n_jobs=self.n_jobs)(
            delayed(_fold_path)(template, X, y, sample_weight, train, test, grid, scorer,
                                step_max_iter, self._stop_below())
            for train, test in folds
        )
        scores = np.column_stack([r[0] for r in results])  # (n_steps, n_folds)
        supports = np.stack([r[1] for r in results])  # (n_folds, n_steps, n_features)
        self.input_l1s_ = grid
        self.scores_path_ = scores
        self.mean_scores_ = scores.mean(axis=1)
        self.std_scores_ = scores.std(axis=1)
        self.support_path_ = supports
        self.n_features_path_ = supports.sum(axis=2).T  # (n_steps, n_folds)
        self.best_index_ = self._select(self.mean_scores_, self.std_scores_,
                                        self.n_features_path_.mean(axis=1), len(folds))
        self.input_l1_ = float(grid[self.best_index_])
        self.best_score_ = float(self.mean_scores_[self.best_index_])

        # refit: the same path on all the data, up to the chosen step
        template, step_max_iter = self._template(X.shape[0], seed)
        est, *_ = _fit_path(template, grid, X, y, sample_weight, None, None, None,
                            step_max_iter, stop_when_empty=False, stop_at=self.best_index_,
                            proximal_schedule=_PATH_SCHEDULE)
        est.set_params(warm_start=False, max_iter=template.max_iter,
                       n_iter_no_change=template.n_iter_no_change)
        self.best_estimator_ = est
        if est.n_features_selected_ == 0:
            warnings.warn(
                f"The refit at input_l1={self.input_l1_:.4g} keeps no feature; the model "
                "predicts a constant. Pass smaller input_l1s.", UserWarning)
        return self

    def _stop_below(self):
        # a fold's path ends once a step scores this far under the fold's best:
        # the steps that follow are stronger penalties and score lower still
        # (with R^2 or accuracy near 1: 0.1, ten times the default tolerance)
        return max(0.1, 5 * self.selection_tol) if self.selection == "tol" else 0.1

    def _input_l1_grid(self):
        if self.input_l1s is None:
            lo, hi = _DEFAULT_L1_RANGE
            return np.geomspace(lo, hi, int(self.n_input_l1s))
        return _grid(self.input_l1s, None)

    def _select(self, mean, std, n_features, n_folds):
        """Index of the chosen step: the best mean score (``"best"``), or the
        strongest penalty whose mean score is within one standard error
        (``"one_se"``) or within ``selection_tol`` (``"tol"``) of the best.
        Steps that keep no feature on average are chosen only if all do."""
        usable = (n_features > 0) & np.isfinite(mean)
        if not usable.any():
            usable = np.isfinite(mean) if np.isfinite(mean).any() else np.ones_like(usable)
        idx = np.flatnonzero(usable)
        best = idx[np.argmax(mean[idx])]
        if self.selection == "best":
            return int(best)
        if self.selection == "one_se":
            margin = std[best] / math.sqrt(n_folds)
        else:
            margin = self.selection_tol
        within = idx[mean[idx] >= mean[best] - margin]
        return int(within.max())  # the strongest penalty: the sparsest model

    # ------------------------------------------------------------- predict
    def _refit_input(self, X):
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, accept_sparse="csr",
                          dtype=(np.float32, np.float64), ensure_min_samples=1)
        return X

    predict = _refit_method("predict", "Predict with the model refitted at ``input_l1_``.",
                            "y : ndarray of shape (n_samples,) or (n_samples, n_outputs)",
                            "Predicted values or class labels.")

    # ----------------------------------------------------------- delegation
    @property
    def penalty(self):
        """Always ``"l1"``, so ``SelectFromModel`` keeps exactly the features read.

        ``SelectFromModel`` then uses its near-zero default threshold and keeps
        exactly the features the refit model reads.
        """
        return "l1"

    @property
    def n_features_selected_path_(self):
        """Mean number of features kept per ``input_l1`` over the folds,
        shape (n_input_l1s,)."""
        check_is_fitted(self)
        return self.n_features_path_.mean(axis=1)

    def __getattr__(self, name):
        # Fitted attributes of the refit plain estimator (coefs_,
        # feature_importances_, n_features_selected_, sparsity_, net_, ...) are
        # the CV estimator's own: public names ending in "_" are looked up on
        # best_estimator_ once it exists.
        if not name.startswith("_") and name.endswith("_"):
            est = self.__dict__.get("best_estimator_")
            if est is not None:
                return getattr(est, name)
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def __sklearn_tags__(self):
        return _sparse_mlp_tags(super().__sklearn_tags__())


class SparseMLPRegressorCV(RegressorMixin, _BaseSparseMLPCV):
    """Sparse MLP regressor whose input features are selected by cross-validation.

    For every fold of ``cv`` a network is fitted along an increasing grid of
    ``input_l1`` values (a warm-started path: the first value is fitted in full,
    each later one continues from the previous weights for ``step_max_iter``
    epochs, and dropped features stay dropped) and scored on the held-out part.
    The held-out scores are averaged per ``input_l1``, ``selection`` picks
    ``input_l1_``, and the path is fitted again on all the data up to
    ``input_l1_``: that model (``best_estimator_``) predicts, and its fitted
    attributes (``feature_importances_``, ``coefs_``, ``n_features_selected_``,
    ``sparsity_``, ...) are this estimator's.

    With the defaults nothing needs tuning (on standardised inputs, as for any
    lasso; targets are standardised internally): the training settings left at
    ``"auto"`` are chosen from the number of rows so that the penalty gets
    enough optimizer steps to act: a batch of ``n // 20`` rows (16 to 200),
    learning rate 3e-3, about 800 optimizer steps for the first value and 80
    for every later one. The plain estimators' own defaults (batch 200, learning
    rate 1e-3) give small data sets too few steps for the penalty to work.

    Parameters
    ----------
    hidden_layer_sizes : tuple of int, default=(64,)
        Units per hidden layer.
    activation : {"relu", "tanh", "logistic", "identity"}, default="relu"
        Hidden activation.
    input_l1s : array-like of float, default=None
        The ``input_l1`` grid (sorted ascending). None: ``n_input_l1s`` values
        spaced geometrically from 2e-3 to 0.2.
    n_input_l1s : int, default=20
        Length of the default grid.
    cv : int, cross-validation generator or iterable, default=5
        As in scikit-learn's ``LassoCV``: an int is the number of (stratified for
        the classifier) K folds.
    scoring : str, callable or None, default=None
        Held-out score; None uses the estimator's ``score`` (R^2 / accuracy).
    selection : {"one_se", "best", "tol"}, default="one_se"
        ``"best"``: the best mean held-out score. ``"one_se"``: the largest
        ``input_l1`` whose mean score is within one standard error (over folds)
        of the best. ``"tol"``: the largest ``input_l1`` within ``selection_tol``
        of the best.
    selection_tol : float >= 0, default=0.01
        Tolerance of ``selection="tol"``, in units of the score.
    step_max_iter : int or "auto", default="auto"
        Epochs of every warm-started step after the first ("auto": see above).
    n_jobs : int or None, default=None
        Folds fitted in parallel (joblib processes); None is one at a time.
    max_iter : int or "auto", default="auto"
        Epochs of the first value of the path ("auto": see above).
    batch_size : int or "auto", default="auto"
        Mini-batch size ("auto": see above).
    learning_rate_init : float or "auto", default="auto"
        Adam's learning rate ("auto": 3e-3).
    tol : float, default=0.0
        As in the plain estimator; 0 (no stopping on the training loss) so that
        every step runs its penalty schedule to the end.
    random_state : int, RandomState or None, default=None
        Seeds every fit (the same seed on every fold and the refit).

    Attributes
    ----------
    input_l1s_ : ndarray of shape (n_input_l1s,)
        The grid.
    scores_path_ : ndarray of shape (n_input_l1s, n_folds)
        Held-out score of every step on every fold.
    mean_scores_, std_scores_ : ndarray of shape (n_input_l1s,)
        Mean and standard deviation over the folds.
    n_features_path_ : ndarray of int, shape (n_input_l1s, n_folds)
        Features kept at every step on every fold.
    n_features_selected_path_ : ndarray of shape (n_input_l1s,)
        Mean over the folds of ``n_features_path_``.
    support_path_ : ndarray of bool, shape (n_folds, n_input_l1s, n_features)
        Which features every fold's path kept at every step.
    best_index_ : int
        Index of ``input_l1_`` in ``input_l1s_``.
    input_l1_ : float
        The chosen penalty.
    best_score_ : float
        Mean held-out score at ``input_l1_``.
    best_estimator_ : SparseMLPRegressor
        The model fitted on all the data along the path up to ``input_l1_``.
{fitted_tail}

    Every other fitted attribute of :class:`~sksparse_nn.SparseMLPRegressor`
    (``coefs_``, ``intercepts_``, ``sparsity_``, ``compact_model_``, ...) is
    read from ``best_estimator_``.

    See Also
    --------
    sksparse_nn.feature_selection.input_l1_path : The path on one held-out split.
    sksparse_nn.plotting.plot_feature_selection_path : Plots the path.

    Examples
    --------
    >>> from sklearn.datasets import make_friedman1
    >>> from sksparse_nn import SparseMLPRegressorCV
    >>> X, y = make_friedman1(n_samples=200, n_features=8, random_state=0)
    >>> model = SparseMLPRegressorCV(cv=2, n_input_l1s=3, max_iter=5,
    ...                              step_max_iter=2, random_state=0).fit(X, y)
    >>> model.input_l1s_.shape
    (3,)
    """

    _plain = SparseMLPRegressor

    def _is_classifier(self):
        return False

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags


class SparseMLPClassifierCV(ClassifierMixin, _BaseSparseMLPCV):
    """Sparse MLP classifier whose input features are selected by cross-validation.

    The classifier counterpart of :class:`SparseMLPRegressorCV` (same
    parameters; ``cv`` as an int means stratified K folds, the default score is
    accuracy), refitting a :class:`~sksparse_nn.SparseMLPClassifier`.

    Parameters
    ----------
    cv : int, cross-validation generator or iterable, default=5
        Folds (an int: stratified K folds).
    scoring : str, callable or None, default=None
        Held-out score; None is accuracy.
    selection : {"one_se", "best", "tol"}, default="one_se"
        How ``input_l1_`` is chosen (see :class:`SparseMLPRegressorCV`).
    selection_tol : float >= 0, default=0.01
        Tolerance of ``selection="tol"``.
    step_max_iter : int or "auto", default="auto"
        Epochs of every warm-started step after the first.
    n_jobs : int or None, default=None
        Folds fitted in parallel (joblib processes).
    max_iter : int or "auto", default="auto"
        Epochs of the first value of the path.
    batch_size : int or "auto", default="auto"
        Mini-batch size.
    learning_rate_init : float or "auto", default="auto"
        Adam's learning rate.
    tol : float, default=0.0
        As in the plain estimator.
    random_state : int, RandomState or None, default=None
        Seeds every fit.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        Class labels.
    input_l1s_, scores_path_, mean_scores_, std_scores_, n_features_path_, \
n_features_selected_path_, support_path_, best_index_, input_l1_, best_score_
        As in :class:`SparseMLPRegressorCV`.
    best_estimator_ : SparseMLPClassifier
        The model fitted on all the data along the path up to ``input_l1_``.
{fitted_tail}

    See Also
    --------
    SparseMLPRegressorCV : The regressor, with the details of the defaults.

    Examples
    --------
    In a pipeline, after scaling (the penalty compares features' weights):

    >>> from sklearn.datasets import make_classification
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.preprocessing import StandardScaler
    >>> from sksparse_nn import SparseMLPClassifierCV
    >>> X, y = make_classification(n_samples=200, n_features=8, random_state=0)
    >>> clf = make_pipeline(StandardScaler(), SparseMLPClassifierCV(
    ...     cv=2, n_input_l1s=3, max_iter=5, step_max_iter=2, random_state=0)).fit(X, y)
    >>> clf[-1].classes_
    array([0, 1])
    """

    _plain = SparseMLPClassifier

    def _is_classifier(self):
        return True

    def _check_targets(self, y):
        y = np.asarray(y)
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        check_classification_targets(y)
        self.classes_ = np.unique(y)
        if len(self.classes_) < 2:
            raise ValueError(
                f"The target has only one class ({self.classes_[0]!r}); a classifier "
                "needs samples of at least 2 classes.")
        return y

    predict_proba = _refit_method(
        "predict_proba", "Class probabilities of the model refitted at ``input_l1_``.",
        "proba : ndarray of shape (n_samples, n_classes)", "Columns ordered as ``classes_``.")

    predict_log_proba = _refit_method(
        "predict_log_proba", "Log of :meth:`predict_proba`.",
        "log_proba : ndarray of shape (n_samples, n_classes)", "Columns ordered as ``classes_``.")

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = False
        return tags


def _entries(block):
    """A numpydoc Parameters block as ``{name: entry text}`` (a combined
    ``a, b, c`` entry is returned under each of its names)."""
    entries, name, lines = {}, None, []
    for line in block.splitlines(keepends=True):
        if line.startswith("    ") and not line.startswith("        "):
            if name is not None:
                entries[name] = "".join(lines)
            name, lines = line.strip(), [line]
        else:
            lines.append(line)
    if name is not None:
        entries[name] = "".join(lines)
    out = {}
    for key, text in entries.items():
        head = key.split(" : ")[0].rstrip("\\").strip()
        for part in head.split(","):
            if part.strip():
                out[part.strip()] = text
    return out


def _complete_parameters(cls, fallback=""):
    """Write the Parameters section of ``cls`` in signature order, each shared
    hyperparameter with the plain estimators' own entry (one text to maintain),
    so numpydoc sees every parameter with its type. Entries ``cls`` does not
    write come from ``fallback`` (another docstring's Parameters) first."""
    import inspect

    from ._classes import _PARAMETERS_DOC

    doc = cls.__doc__
    start = doc.index("    Parameters\n    ----------\n") + len("    Parameters\n    ----------\n")
    end = doc.index("\n    Attributes\n")
    own, shared = _entries(doc[start:end].rstrip("\n") + "\n"), _entries(_PARAMETERS_DOC)
    if fallback:
        head = "    Parameters\n    ----------\n"
        f_start = fallback.index(head) + len(head)
        f_end = fallback.index("\n    Attributes\n")
        own = {**_entries(fallback[f_start:f_end].rstrip("\n") + "\n"), **own}
    names = [p for p in inspect.signature(cls.__init__).parameters if p != "self"]
    body = []
    for name in names:
        text = own.get(name)
        if (text is None or text.lstrip().startswith(name + ",")
                or " : " not in text.split("\n")[0]):
            text = shared[name]  # documented as "as in the plain estimator"
        body.append(text if text.endswith("\n") else text + "\n")
    cls.__doc__ = doc[:start] + "".join(body) + doc[end:]


# the fitted attributes both CV estimators take from best_estimator_, written once
_fitted_tail = fill_doc(fitted_tail="""\
    feature_importances_ : ndarray of shape (n_features,)
        Of ``best_estimator_``: exactly 0 for dropped features.
    n_features_selected_ : int
        Features ``best_estimator_`` reads.
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (n_features,)
        Column names, when ``X`` was a DataFrame with string column names.
""")
_complete_parameters(_fitted_tail(SparseMLPRegressorCV))
# the classifier's own text where it differs, the regressor's otherwise
_complete_parameters(_fitted_tail(SparseMLPClassifierCV), SparseMLPRegressorCV.__doc__)
