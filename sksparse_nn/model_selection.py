"""Sparsity in scikit-learn's model selection: scorers and a refit rule.

scikit-learn maximises every score, so each "smaller is better" quantity is
returned negated and its name starts with ``neg_``, as scikit-learn's own
``neg_mean_squared_error`` does:

* ``zero_fraction``: fraction of exact zeros among ``coefs_`` (higher = sparser);
* ``neg_nonzero_weights``: minus the nonzero entries of ``coefs_``;
* ``neg_hidden_units``: minus ``sum(hidden_layer_sizes_)``;
* ``neg_features_read``: minus ``n_features_selected_``;
* ``neg_latency_ms_per_1000``: minus the median ms of ``predict`` per 1,000 rows
  of the validation fold.

Every scorer is a plain callable ``scorer(estimator, X, y)``, so it goes straight
into ``scoring={...}`` of :class:`~sklearn.model_selection.GridSearchCV`,
:class:`~sklearn.model_selection.RandomizedSearchCV` or
:func:`~sklearn.model_selection.cross_validate`. The estimator may be a fitted
:class:`~sksparse_nn.SparseMLPClassifier` / :class:`~sksparse_nn.SparseMLPRegressor`,
a :class:`~sklearn.pipeline.Pipeline` ending in one, or any fitted object with
``coefs_`` (scikit-learn's MLPs included).

:func:`sparsest_within` is the refit rule: the sparsest (or fastest) candidate
whose mean score is within a tolerance of the best. :class:`SparseGridSearchCV`
and :class:`SparseRandomizedSearchCV` add the scorers that rule needs by
themselves.
"""

import math
import time
from numbers import Real

import numpy as np
from sklearn.model_selection import GridSearchCV, RandomizedSearchCV
from sklearn.utils.validation import check_is_fitted

from ._docstrings import fill_doc

__all__ = [
    "zero_fraction",
    "neg_nonzero_weights",
    "neg_hidden_units",
    "neg_features_read",
    "neg_latency_ms_per_1000",
    "latency_scorer",
    "SPARSITY_SCORERS",
    "BY_SCORER",
    "sparsity_scoring",
    "SparsestWithin",
    "sparsest_within",
    "SparseGridSearchCV",
    "SparseRandomizedSearchCV",
]


# ------------------------------------------------------------------- scorers
def final_step(estimator):
    """The network inside ``estimator``: the last step of a (nested) Pipeline.

    Parameters
    ----------
    estimator : estimator or Pipeline
        A fitted sparse MLP, a pipeline ending in one, or any fitted object with
        ``coefs_``.

    Returns
    -------
    estimator
        The final step, checked to be fitted and to expose ``coefs_``.
    """
    est = estimator
    while getattr(est, "steps", None):
        est = est.steps[-1][1]
    check_is_fitted(est)
    if not hasattr(est, "coefs_"):
        raise TypeError(
            f"{type(est).__name__} has no coefs_: the sparsity scorers need a fitted "
            "SparseMLPClassifier / SparseMLPRegressor (or a pipeline ending in one, or "
            "any fitted network exposing coefs_)."
        )
    return est


def _coefs(estimator):
    return [np.asarray(W) for W in final_step(estimator).coefs_]


# The parameters of every sparsity scorer: one text for their docstrings.
_scorer_doc = fill_doc(scorer_params="""\
    Parameters
    ----------
    estimator : fitted sparse MLP, Pipeline ending in one, or object with ``coefs_``
        The fitted network to measure.
    X, y : ignored
        Accepted so that the function is a scikit-learn scorer.
""")


@_scorer_doc
def zero_fraction(estimator, X=None, y=None):
    """Fraction of exactly-zero connection weights in ``coefs_`` (higher = sparser).

    The weights are those of the fitted network as the user sees it: ``coefs_``
    after units were removed (removed units are absent, unread inputs are zero
    rows of the first layer). Biases are not counted.

{scorer_params}

    Returns
    -------
    float
        In [0, 1].

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.neural_network import MLPClassifier
    >>> from sksparse_nn.model_selection import zero_fraction
    >>> net = MLPClassifier((3,), max_iter=5).fit(np.eye(4), [0, 1, 0, 1])
    >>> zero_fraction(net)
    0.0
    """
    coefs = _coefs(estimator)
    total = sum(W.size for W in coefs)
    if total == 0:
        return 1.0
    return float(1.0 - sum(np.count_nonzero(W) for W in coefs) / total)


@_scorer_doc
def neg_nonzero_weights(estimator, X=None, y=None):
    """Count the nonzero connection weights in ``coefs_``, negated (higher = sparser).

{scorer_params}

    Returns
    -------
    float
        ``-count_nonzero(coefs_)`` (a float, as scorers return).
    """
    return -float(sum(np.count_nonzero(W) for W in _coefs(estimator)))


@_scorer_doc
def neg_hidden_units(estimator, X=None, y=None):
    """Count the hidden units left, negated (higher = smaller network).

    ``sum(hidden_layer_sizes_)``; for a network without that attribute (e.g.
    scikit-learn's MLP), the widths of its hidden weight matrices.

{scorer_params}

    Returns
    -------
    float
        Minus the hidden units left.
    """
    est = final_step(estimator)
    sizes = getattr(est, "hidden_layer_sizes_", None)
    if sizes is None:
        sizes = [np.shape(W)[1] for W in est.coefs_[:-1]]
    return -float(sum(sizes))


@_scorer_doc
def neg_features_read(estimator, X=None, y=None):
    """Count the input features the network reads, negated (higher = fewer).

    ``n_features_selected_``; for a network without that attribute, the rows of
    the first weight matrix that hold a nonzero weight.

{scorer_params}

    Returns
    -------
    float
        Minus the input features the network reads.
    """
    est = final_step(estimator)
    n = getattr(est, "n_features_selected_", None)
    if n is None:
        n = int(np.count_nonzero(np.any(np.asarray(est.coefs_[0]) != 0, axis=1)))
    return -float(n)


class _LatencyScorer:
    """Minus the median wall time of ``estimator.<method>(X)`` in ms per 1,000 rows."""

    def __init__(self, n_repeats=5, method="predict"):
        if not (isinstance(n_repeats, int) and n_repeats >= 1):
            raise ValueError(f"n_repeats must be a positive int, got {n_repeats!r}.")
        self.n_repeats = n_repeats
        self.method = method

    def __call__(self, estimator, X, y=None):
        if X is None or len(X) == 0:
            raise ValueError("The latency scorer needs the rows of the validation fold.")
        predict = getattr(estimator, self.method)
        predict(X)  # untimed: first-call costs (caches, thread wake-up) are not latency
        times = []
        for _ in range(self.n_repeats):
            start = time.perf_counter()
            predict(X)
            times.append(time.perf_counter() - start)
        return -float(np.median(times) * 1e3 * 1000.0 / len(X))

    def __repr__(self):
        return f"latency_scorer(n_repeats={self.n_repeats}, method={self.method!r})"


def latency_scorer(n_repeats=5, method="predict"):
    """Make a scorer: minus the median time to predict, in ms per 1,000 rows.

    The whole estimator (the entire pipeline) is timed on the rows the scorer
    gets, which in a search are the validation fold: one untimed call, then
    ``n_repeats`` timed calls; the median is scaled to 1,000 rows. Timings depend
    on the machine and its load; compare candidates of one search, not runs.

    Parameters
    ----------
    n_repeats : int, default=5
        Timed calls per fold.
    method : str, default="predict"
        The method timed (e.g. ``"predict_proba"``).

    Returns
    -------
    callable
        ``scorer(estimator, X, y)`` returning a negative float (higher = faster).
    """
    return _LatencyScorer(n_repeats=n_repeats, method=method)


#: minus the median ms of ``predict`` per 1,000 rows (5 repetitions)
neg_latency_ms_per_1000 = latency_scorer()

#: every sparsity scorer by its scorer name
SPARSITY_SCORERS = {
    "zero_fraction": zero_fraction,
    "neg_nonzero_weights": neg_nonzero_weights,
    "neg_hidden_units": neg_hidden_units,
    "neg_features_read": neg_features_read,
    "neg_latency_ms_per_1000": neg_latency_ms_per_1000,
}

#: the ``by=`` keys of :func:`sparsest_within` and the scorer each one reads
BY_SCORER = {
    "nonzero": "neg_nonzero_weights",
    "zero_fraction": "zero_fraction",
    "units": "neg_hidden_units",
    "features": "neg_features_read",
    "latency": "neg_latency_ms_per_1000",
}


def _check_by(by):
    if by not in BY_SCORER:
        raise ValueError(f"by must be one of {sorted(BY_SCORER)}, got {by!r}.")
    return by


def sparsity_scoring(metric="accuracy", by=("zero_fraction", "nonzero", "units",
                                            "features")):
    """A ``scoring`` dict: ``metric`` plus sparsity scorers.

    Parameters
    ----------
    metric : str, callable or dict, default="accuracy"
        The quality metric: a scikit-learn scorer name (its key is that name), a
        callable scorer (key ``"score"``), or a dict of several.
    by : str or iterable of str, default=("zero_fraction", "nonzero", "units", "features")
        Which sparsity scorers to add, by the keys of :data:`BY_SCORER`; add
        ``"latency"`` to time predictions too (it costs a few ``predict`` calls
        per fold).

    Returns
    -------
    dict
        Scorer name -> scorer name or callable, for ``scoring=``.

    Examples
    --------
    >>> from sksparse_nn.model_selection import sparsity_scoring
    >>> sorted(sparsity_scoring("accuracy", by="nonzero"))
    ['accuracy', 'neg_nonzero_weights']
    """
    if isinstance(metric, dict):
        scoring = dict(metric)
    elif isinstance(metric, str):
        scoring = {metric: metric}
    elif callable(metric):
        scoring = {"score": metric}
    else:
        raise ValueError(f"metric must be a scorer name, a callable or a dict, got {metric!r}.")
    for key in ([by] if isinstance(by, str) else list(by)):
        name = BY_SCORER[_check_by(key)]
        scoring.setdefault(name, SPARSITY_SCORERS[name])
    return scoring


# --------------------------------------------------------------- refit rule
def _param_getter(i):
    """A getter of the ``i``-th stored parameter of a :class:`SparsestWithin`."""
    def get(self):
        return self._params[i]
    return get


class SparsestWithin(str):
    """Refit rule: the sparsest candidate whose mean score is within ``tol`` of the best.

    Made by :func:`sparsest_within` (see there for the rule). An instance is
    callable on ``cv_results_`` (returning the chosen index, as scikit-learn's
    callable ``refit`` must) *and* a ``str`` equal to its metric name. The search
    uses the callable to choose ``best_index_``; ``search.score`` looks its scorer
    up by ``refit``, which finds the metric's scorer because the rule hashes and
    compares equal to that name. Plain scikit-learn cannot score with a callable
    ``refit`` under multi-metric scoring (``KeyError``); this one can.

    Parameters
    ----------
    metric : str
        The scorer key whose mean test score is compared.
    tol : float or None, default=None
        The tolerance (``rule="tol"``; None means 0.005).
    by : str, default="nonzero"
        The sparsity key (see :data:`BY_SCORER`).
    rule : {"tol", "one_se"}, default="tol"
        Within ``tol`` of the best mean score, or within one standard error.
    """

    def __new__(cls, metric, tol=None, by="nonzero", rule="tol"):
        if not isinstance(metric, str) or not metric:
            raise ValueError(f"metric must be a scorer name (a str), got {metric!r}.")
        _check_by(by)
        if rule not in ("tol", "one_se"):
            raise ValueError(f"rule must be 'tol' or 'one_se', got {rule!r}.")
        if rule == "one_se" and tol is not None:
            raise ValueError("rule='one_se' takes its tolerance from the folds; leave tol=None.")
        if rule == "tol":
            tol = 0.005 if tol is None else tol
            if (not isinstance(tol, Real) or isinstance(tol, bool) or not math.isfinite(tol)
                    or tol < 0):
                raise ValueError(f"tol must be a finite number >= 0, got {tol!r}.")
            tol = float(tol)
        self = super().__new__(cls, metric)
        self._params = (str(metric), tol, by, rule)
        return self

    # read-only views of the parameters (a str subclass holds them in _params)
    metric = property(_param_getter(0), doc="The scorer key whose mean test score is compared.")
    tol = property(_param_getter(1),
                   doc='The tolerance (``rule="tol"``), or None (``rule="one_se"``).')
    by = property(_param_getter(2), doc="The sparsity key (see :data:`BY_SCORER`).")
    rule = property(_param_getter(3), doc='``"tol"`` or ``"one_se"``.')

    @property
    def by_scorer(self):
        """The scorer key of the sparsity column read (e.g. ``"neg_nonzero_weights"``)."""
        return BY_SCORER[self.by]

    def __reduce__(self):
        return (type(self), self._params)

    def __copy__(self):
        return self

    def __deepcopy__(self, memo):
        return self

    def __repr__(self):
        metric, tol, by, rule = self._params
        tol_part = f", tol={tol!r}" if rule == "tol" else ""
        return f"sparsest_within({metric!r}{tol_part}, by={by!r}, rule={rule!r})"

    def _column(self, results, name, what):
        key = f"mean_test_{name}"
        if key not in results:
            raise KeyError(
                f"{self!r} needs cv_results_[{key!r}] ({what}), but the search did not "
                f"compute it. Score with scoring=sparsity_scoring({self.metric!r}, "
                f"by={self.by!r}) (or add {name!r} to your scoring dict), or use "
                "SparseGridSearchCV / SparseRandomizedSearchCV, which add it."
            )
        return np.asarray(results[key], dtype=float)

    def threshold(self, results):
        """The lowest mean score that counts as "within" the best.

        Parameters
        ----------
        results : dict
            ``cv_results_`` of a multi-metric search.

        Returns
        -------
        float
            ``best - tol``, or with ``rule="one_se"`` ``best - std / sqrt(n_splits)``
            of the best candidate.
        """
        mean = self._column(results, self.metric, "the metric")
        if not np.isfinite(mean).any():
            raise ValueError(f"Every candidate's mean test {self.metric} is NaN or infinite.")
        best = int(np.nanargmax(np.where(np.isfinite(mean), mean, np.nan)))
        if self.rule == "tol":
            return float(mean[best] - self.tol)
        std = np.asarray(results[f"std_test_{self.metric}"], dtype=float)
        n_splits = sum(1 for k in results
                       if k.startswith("split") and k.endswith(f"_test_{self.metric}"))
        return float(mean[best] - std[best] / math.sqrt(max(n_splits, 1)))

    def __call__(self, results):
        """The index of the chosen candidate in ``results`` (``cv_results_``)."""
        mean = self._column(results, self.metric, "the metric")
        sparse = self._column(results, self.by_scorer, f"the {self.by!r} sparsity")
        # a small slack so that a score exactly tol below the best (up to rounding)
        # is within
        eps = 1e-12 * max(1.0, float(np.nanmax(np.abs(mean[np.isfinite(mean)]), initial=1.0)))
        ok = np.isfinite(mean) & np.isfinite(sparse) & (mean >= self.threshold(results) - eps)
        if not ok.any():
            raise ValueError(f"No candidate has a finite {self.by_scorer!r} mean test score.")
        idx = np.flatnonzero(ok)
        # sparsest first, then the higher metric, then the first candidate
        order = np.lexsort((idx, -mean[idx], -sparse[idx]))
        return int(idx[order[0]])


def sparsest_within(metric="accuracy", tol=None, by="nonzero", rule="tol"):
    """A ``refit`` rule: the sparsest (or fastest) candidate within ``tol`` of the best.

    Among the candidates of a search, take the best mean test score of
    ``metric``; every candidate whose mean test score is at least ``best - tol``
    (absolute difference, in the metric's units: ``tol=0.005`` is half a point of
    accuracy) is *within*. Of those, the one with the best mean ``by`` score is
    chosen: the fewest nonzero weights, the highest zero fraction, the fewest
    hidden units, the fewest features read or the lowest latency. Ties in
    sparsity go to the higher mean ``metric``, then to the first candidate in
    ``cv_results_`` order. Candidates whose scores are NaN (failed fits) are
    never chosen. The sparsity compared is the mean over the folds, so it
    describes the fold models, not the refitted one.

    With ``rule="one_se"`` the tolerance is the standard error of the best
    candidate's fold scores (``std_test / sqrt(n_splits)``), the "one standard
    error" rule.

    Use it as ``refit=`` of :class:`~sklearn.model_selection.GridSearchCV` /
    :class:`~sklearn.model_selection.RandomizedSearchCV` with a multi-metric
    ``scoring`` that holds ``metric`` and the ``by`` scorer (see
    :func:`sparsity_scoring`), or with :class:`SparseGridSearchCV`, which adds
    them. ``best_index_``, ``best_params_``, ``best_estimator_``, ``predict`` and
    ``score`` (scored with ``metric``) all follow the rule; ``best_score_`` is
    set by :class:`SparseGridSearchCV` only (scikit-learn leaves it unset for a
    callable ``refit``).

    Parameters
    ----------
    metric : str, default="accuracy"
        The key of the quality metric in ``scoring``.
    tol : float or None, default=None
        Allowed drop from the best mean score; None means 0.005 (``rule="tol"``).
        Must stay None with ``rule="one_se"``.
    by : {"nonzero", "zero_fraction", "units", "features", "latency"}, default="nonzero"
        What "sparsest" means (see :data:`BY_SCORER`).
    rule : {"tol", "one_se"}, default="tol"

    Returns
    -------
    SparsestWithin
        Callable on ``cv_results_``; equal to ``metric`` as a string.

    Examples
    --------
    >>> import numpy as np
    >>> from sksparse_nn.model_selection import sparsest_within
    >>> results = {"mean_test_accuracy": np.array([0.97, 0.966, 0.95]),
    ...            "mean_test_neg_nonzero_weights": np.array([-3000., -300., -30.])}
    >>> sparsest_within("accuracy", tol=0.005)(results)
    1
    """
    return SparsestWithin(metric, tol=tol, by=by, rule=rule)


# ---------------------------------------------------------- search wrappers
class _SparsitySearchMixin:
    """Adds the scorers a :class:`SparsestWithin` refit needs and sets ``best_score_``."""

    def _scoring_with_rule(self):
        rule, scoring = self.refit, self.scoring
        if not isinstance(rule, SparsestWithin):
            return scoring
        if scoring is None:
            scoring = {rule.metric: _PassthroughScore()}
        elif isinstance(scoring, str):
            scoring = {scoring: scoring}
        elif callable(scoring):
            raise ValueError(
                "With a sparsest_within refit, scoring must be a name, a dict or a list "
                "of names (a callable returning a dict cannot be extended)."
            )
        elif isinstance(scoring, dict):
            scoring = dict(scoring)
        else:
            scoring = {name: name for name in scoring}
        if rule.metric not in scoring:
            raise ValueError(
                f"The refit rule scores with {rule.metric!r}, which is not among the "
                f"scorers {sorted(scoring)}."
            )
        scoring.setdefault(rule.by_scorer, SPARSITY_SCORERS[rule.by_scorer])
        return scoring

    def _get_scorers(self):
        # scikit-learn reads self.scoring here (in fit and for metadata routing);
        # the user's parameter is put back untouched
        user_scoring = self.scoring
        self.scoring = self._scoring_with_rule()
        try:
            return super()._get_scorers()
        finally:
            self.scoring = user_scoring

    def fit(self, X, y=None, **params):
        """Run the search, then choose and refit as ``refit`` says.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs), default=None
            Targets.
        **params : dict
            Passed on to the estimator's ``fit`` (as scikit-learn's search does).

        Returns
        -------
        self : object
            The fitted search.
        """
        super().fit(X, y, **params)
        if isinstance(self.refit, SparsestWithin) and hasattr(self, "best_index_"):
            self.best_score_ = float(
                self.cv_results_[f"mean_test_{self.refit.metric}"][self.best_index_])
        return self


class _PassthroughScore:
    """``estimator.score(X, y)`` as a scorer (``scoring=None`` made explicit)."""

    def __call__(self, estimator, X, y=None):
        return estimator.score(X, y)

    def __repr__(self):
        return "estimator.score"


# The parameters and attributes both searches share with scikit-learn's: one
# text for both docstrings ({base} is the scikit-learn class).
_SEARCH_COMMON_DOC = """\
    scoring : str, list, dict or None, default=None
        The scorers; a :func:`sparsest_within` refit adds its own.
    n_jobs : int, default=None
        As for {base}.
    refit : bool, str, callable or SparsestWithin, default=True
        How to choose the candidate refitted on the whole data.
    cv : int, cross-validation generator or iterable, default=None
        As for {base}.
    verbose : int, default=0
        As for {base}.
    pre_dispatch : int or str, default="2*n_jobs"
        As for {base}.
"""
_SEARCH_TAIL_DOC = """\
    error_score : "raise" or float, default=np.nan
        As for {base}.
    return_train_score : bool, default=False
        As for {base}.

    Attributes
    ----------
    cv_results_, best_index_, best_params_, best_estimator_, best_score_, scorer_,
    multimetric_ : as in {base}.
"""


class SparseGridSearchCV(_SparsitySearchMixin, GridSearchCV):
    __doc__ = f"""GridSearchCV that adds the scorers its :func:`sparsest_within` refit needs.

    Same parameters and attributes as GridSearchCV. When ``refit`` is a
    :func:`sparsest_within` rule, its metric and its sparsity scorer are scored
    even if ``scoring`` does not name the sparsity scorer (``scoring=None`` scores
    with ``estimator.score`` under the rule's metric name), and ``best_score_`` is
    the chosen candidate's mean test score. With any other ``refit`` it is plain
    GridSearchCV.

    Parameters
    ----------
    estimator : estimator
        A sparse MLP or a pipeline ending in one.
    param_grid : dict or list of dicts
        The grid, as for GridSearchCV.
{_SEARCH_COMMON_DOC.format(base="GridSearchCV")}\
{_SEARCH_TAIL_DOC.format(base="GridSearchCV")}
    Examples
    --------
    >>> from sklearn.datasets import load_breast_cancer
    >>> from sksparse_nn import SparseMLPClassifier
    >>> from sksparse_nn.model_selection import SparseGridSearchCV, sparsest_within
    >>> X, y = load_breast_cancer(return_X_y=True)
    >>> search = SparseGridSearchCV(
    ...     SparseMLPClassifier((8,), max_iter=3, random_state=0),
    ...     {{"l1": [0.0, 1e-2]}}, scoring="accuracy", cv=2,
    ...     refit=sparsest_within("accuracy", tol=0.01)).fit(X[:100], y[:100])
    >>> "mean_test_neg_nonzero_weights" in search.cv_results_
    True
    """


class SparseRandomizedSearchCV(_SparsitySearchMixin, RandomizedSearchCV):
    __doc__ = f"""RandomizedSearchCV that adds the scorers its :func:`sparsest_within` refit needs.

    See :class:`SparseGridSearchCV`; the parameters are RandomizedSearchCV's.

    Parameters
    ----------
    estimator : estimator
        A sparse MLP or a pipeline ending in one.
    param_distributions : dict or list of dicts
        The distributions sampled, as for RandomizedSearchCV.
    n_iter : int, default=10
        Candidates sampled.
{_SEARCH_COMMON_DOC.format(base="RandomizedSearchCV")}\
    random_state : int, RandomState instance or None, default=None
        As for RandomizedSearchCV.
{_SEARCH_TAIL_DOC.format(base="RandomizedSearchCV")}\
    """
