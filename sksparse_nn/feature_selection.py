"""Feature selection with ``input_l1``: a warm-started sparsity path.

``input_l1`` is a group lasso on each input feature's outgoing first-layer
weights, applied as a proximal step, so a feature the network does not need ends
with exactly zero weights: ``feature_importances_`` is exactly 0 for it and
:class:`sklearn.feature_selection.SelectFromModel` (default threshold) drops it.

:func:`input_l1_path` fits one network along an increasing sequence of
``input_l1`` values. The first value is fitted in full; every later value
continues from the previous weights for a few epochs only (``warm_start``), and
features dropped on the way stay dropped, so the path is nested and costs a small
fraction of fitting every value from scratch. Each step records the selected
features and a score on a held-out split; :func:`select_path_step` picks a step
(the best score, or the sparsest step within a tolerance of the best).

:class:`~sksparse_nn.SparseMLPRegressorCV` and
:class:`~sksparse_nn.SparseMLPClassifierCV` (also importable from here) choose
``input_l1`` by cross-validation over this path and refit, in one estimator.
"""

import copy
import time
import warnings

import numpy as np
from sklearn.base import clone, is_classifier
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import check_scoring
from sklearn.model_selection import train_test_split
from sklearn.utils.multiclass import type_of_target

__all__ = ["InputL1Path", "input_l1_path", "select_path_step", "SparseMLPClassifierCV",
           "SparseMLPRegressorCV"]

_DEFAULT_GRID = (1e-3, 0.3)


class InputL1Path:
    """The result of :func:`input_l1_path`.

    Iterating over it yields one dict per step with keys ``input_l1``,
    ``n_selected``, ``score``, ``selected`` (column indices), ``feature_names``
    (or None), ``n_epochs`` and ``fit_time``; that is the form
    :func:`sksparse_nn.plotting.plot_feature_selection_path` reads.

    Parameters
    ----------
    input_l1s : array-like of shape (n_steps,)
        Penalty of each step.
    support : array-like of bool, shape (n_steps, n_features)
        ``support[k, j]``: feature ``j`` is still read after step ``k``.
    scores : array-like of shape (n_steps,)
        Held-out score of each step.
    n_epochs : array-like of int, shape (n_steps,)
        Epochs trained in each step.
    fit_times : array-like of shape (n_steps,)
        Seconds spent fitting each step.
    names_in : array-like of str, default=None
        Column names of ``X``, when it had them.
    estimators : list, default=None
        A copy of the fitted estimator after each step.

    Attributes
    ----------
    input_l1s : ndarray of shape (n_steps,)
        Penalty of each step.
    support : ndarray of bool, shape (n_steps, n_features)
        ``support[k, j]``: feature ``j`` is still read after step ``k``.
    selected : list of ndarray of int
        Column indices kept after each step.
    feature_names : list of ndarray of str, or None
        Names of the selected columns when ``X`` had column names (a DataFrame).
    n_selected : ndarray of int
        Number of features kept after each step.
    scores : ndarray of float
        Score on the held-out split (the estimator's ``score`` unless ``scoring``
        was given): accuracy for classifiers, R^2 for regressors.
    n_epochs : ndarray of int
        Epochs trained in each step.
    fit_times : ndarray of float
        Seconds spent fitting each step.
    estimators : list or None
        A copy of the fitted estimator after each step (``return_estimators=True``).
    """

    def __init__(self, input_l1s, support, scores, n_epochs, fit_times, names_in=None,
                 estimators=None):
        self.input_l1s = np.asarray(input_l1s, dtype=float)
        self.support = np.asarray(support, dtype=bool).reshape(len(self.input_l1s), -1)
        self.scores = np.asarray(scores, dtype=float)
        self.n_epochs = np.asarray(n_epochs, dtype=int)
        self.fit_times = np.asarray(fit_times, dtype=float)
        self.selected = [np.flatnonzero(s) for s in self.support]
        self.n_selected = self.support.sum(axis=1).astype(int)
        self.names_in = None if names_in is None else np.asarray(names_in, dtype=object)
        self.feature_names = (None if self.names_in is None
                              else [self.names_in[idx] for idx in self.selected])
        self.estimators = estimators

    def __len__(self):
        return len(self.input_l1s)

    def __getitem__(self, k):
        return {
            "input_l1": float(self.input_l1s[k]),
            "n_selected": int(self.n_selected[k]),
            "score": float(self.scores[k]),
            "selected": self.selected[k],
            "feature_names": None if self.feature_names is None else self.feature_names[k],
            "n_epochs": int(self.n_epochs[k]),
            "fit_time": float(self.fit_times[k]),
        }

    def __iter__(self):
        return (self[k] for k in range(len(self)))

    @property
    def total_time(self):
        """Seconds spent fitting the whole path."""
        return float(self.fit_times.sum())

    def best_index(self, rule="best", tol=0.01):
        """Return the index of a step, as :func:`select_path_step` on this path.

        Parameters
        ----------
        rule : {"best", "sparsest"}, default="best"
            See :func:`select_path_step`.
        tol : float >= 0, default=0.01
            See :func:`select_path_step`.

        Returns
        -------
        index : int
            The chosen step.
        """
        return select_path_step(self, rule=rule, tol=tol)

    def __repr__(self):
        rows = [f"  input_l1={r['input_l1']:.4g}  n_selected={r['n_selected']}  "
                f"score={r['score']:.4f}" for r in self]
        return "InputL1Path(\n" + "\n".join(rows) + "\n)"


def _grid(input_l1s, n_input_l1s):
    if input_l1s is None:
        lo, hi = _DEFAULT_GRID
        input_l1s = np.geomspace(lo, hi, int(n_input_l1s))
    grid = np.sort(np.asarray(input_l1s, dtype=float).ravel())
    if grid.size == 0:
        raise ValueError("input_l1s must hold at least one value.")
    if not np.all(np.isfinite(grid)) or np.any(grid < 0):
        raise ValueError(f"input_l1s must be finite and >= 0, got {input_l1s!r}.")
    return grid


def _split(estimator, X, y, sample_weight, validation_fraction, random_state):
    stratify = None
    if is_classifier(estimator) and type_of_target(y) in ("binary", "multiclass"):
        _, counts = np.unique(np.asarray(y), return_counts=True)
        if counts.min() >= 2:
            stratify = y
    arrays = [X, y] if sample_weight is None else [X, y, np.asarray(sample_weight)]
    parts = train_test_split(*arrays, test_size=validation_fraction,
                             random_state=random_state, stratify=stratify)
    X_tr, X_va, y_tr, y_va = parts[:4]
    w_tr, w_va = (parts[4], parts[5]) if sample_weight is not None else (None, None)
    return X_tr, X_va, y_tr, y_va, w_tr, w_va


def input_l1_path(estimator, X, y, input_l1s=None, *, n_input_l1s=10,
                  validation_fraction=0.2, step_max_iter=20, scoring=None,
                  sample_weight=None, stop_when_empty=True, return_estimators=False,
                  random_state=0):
    """Fit a warm-started ``input_l1`` path and score every step on held-out data.

    Parameters
    ----------
    estimator : SparseMLPClassifier or SparseMLPRegressor
        The template (it is cloned, never fitted itself). Its ``max_iter`` is
        used for the first step; its other hyperparameters for every step.
    X : array-like or DataFrame of shape (n_samples, n_features)
        Training data (a share is held out for scoring).
    y : array-like of shape (n_samples,) or (n_samples, n_outputs)
        Targets.
    input_l1s : array-like of float, default=None
        Penalty values, fitted in increasing order. None: ``n_input_l1s`` values
        spaced geometrically from 1e-3 to 0.3.
    n_input_l1s : int, default=10
        Number of penalty values when ``input_l1s`` is None.
    validation_fraction : float in (0, 1), default=0.2
        Share of the samples held out to score each step (stratified for
        classifiers).
    step_max_iter : int, default=20
        Epochs of each warm-started step after the first. Within a step the
        penalty follows the usual schedule (off for the first quarter, ramped,
        re-weighted, support frozen for the last fifth); ``n_iter_no_change`` is
        raised to at least ``step_max_iter`` so that no step stops early.
    scoring : str, callable or None, default=None
        Held-out score; None uses the estimator's ``score``.
    sample_weight : array-like of shape (n_samples,), default=None
        Per-sample weights of the training loss.
    stop_when_empty : bool, default=True
        End the path at the first step that keeps no feature (the path is
        nested: later steps could keep none either).
    return_estimators : bool, default=False
        Keep a copy of the fitted estimator after every step
        (``InputL1Path.estimators``).
    random_state : int, RandomState or None, default=0
        Seeds the held-out split.

    Returns
    -------
    path : InputL1Path
        One entry per step: penalty, kept features and held-out score.
    """
    if not 0 < validation_fraction < 1:
        raise ValueError(f"validation_fraction must be in (0, 1), got {validation_fraction}.")
    if int(step_max_iter) < 1:
        raise ValueError(f"step_max_iter must be >= 1, got {step_max_iter}.")
    grid = _grid(input_l1s, n_input_l1s)
    X_tr, X_va, y_tr, y_va, w_tr, _ = _split(estimator, X, y, sample_weight,
                                             validation_fraction, random_state)
    scorer = check_scoring(estimator, scoring=scoring)
    est, lams, supports, scores, epochs, times, models = _fit_path(
        estimator, grid, X_tr, y_tr, w_tr, X_va, y_va, scorer, step_max_iter,
        stop_when_empty=stop_when_empty, return_estimators=return_estimators)
    names = getattr(est, "feature_names_in_", None)
    return InputL1Path(lams, np.array(supports), scores, epochs, times, names_in=names,
                       estimators=models if return_estimators else None)


def _fit_path(estimator, grid, X_tr, y_tr, w_tr, X_va, y_va, scorer, step_max_iter,
              stop_when_empty=True, return_estimators=False, stop_at=None,
              stop_below=None, proximal_schedule=None):
    """Fit a clone of ``estimator`` along ``grid`` (warm-started) on the training
    part and score each step on ``(X_va, y_va)`` (no scoring when ``X_va`` is None).

    ``stop_at``: index of the last step to fit (the CV estimators' refit).
    ``stop_below``: end the path once a step scores more than this below the
    best step so far (the stronger penalties that follow score lower still).
    ``proximal_schedule``: an :class:`~sksparse_nn.schedules.L1Schedule` set as
    ``l1_schedule`` for every step.
    Returns the fitted estimator after the last step and the per-step lists
    (input_l1s, supports, scores, epochs, fit times, estimators).
    """
    est = clone(estimator)
    if proximal_schedule is not None:
        est.set_params(l1_schedule=proximal_schedule)
    first_max_iter = est.get_params()["max_iter"]
    n_iter_no_change = est.get_params()["n_iter_no_change"]
    lams, supports, scores, epochs, times, models = [], [], [], [], [], []
    for k, lam in enumerate(grid):
        if k == 0:
            est.set_params(input_l1=float(lam), warm_start=False, max_iter=first_max_iter)
        else:
            # each step runs its whole penalty schedule (warm-up, ramp, re-weighting,
            # frozen support): no stopping on a training loss the penalty raises
            est.set_params(input_l1=float(lam), warm_start=True, max_iter=int(step_max_iter),
                           n_iter_no_change=max(n_iter_no_change, int(step_max_iter)))
        before = est.n_iter_ if k else 0
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            warnings.simplefilter("ignore", UserWarning)  # "every feature driven to zero"
            t0 = time.perf_counter()
            if w_tr is None:
                est.fit(X_tr, y_tr)
            else:
                est.fit(X_tr, y_tr, sample_weight=w_tr)
            times.append(time.perf_counter() - t0)
            score = np.nan if X_va is None else float(scorer(est, X_va, y_va))
        support = est.feature_importances_ > 0
        lams.append(float(lam))
        supports.append(support)
        scores.append(score)
        epochs.append(est.n_iter_ - before)
        if return_estimators:
            models.append(copy.deepcopy(est))
        if stop_when_empty and not support.any():
            break
        if stop_at is not None and k >= stop_at:
            break
        if stop_below is not None and score < np.nanmax(scores) - stop_below:
            break
    return est, lams, supports, scores, epochs, times, models


def select_path_step(path, rule="best", tol=0.01):
    """Return the index of the step of an :class:`InputL1Path` a rule picks.

    Steps that keep no feature are never picked unless every step keeps none.

    Parameters
    ----------
    path : InputL1Path
        The path, from :func:`input_l1_path`.
    rule : {"best", "sparsest"}, default="best"
        ``"best"``: the step with the highest held-out score (the sparser one on
        ties). ``"sparsest"``: the step with the fewest selected features whose
        score is within ``tol`` of the best (``score >= best - tol``).
    tol : float >= 0, default=0.01
        Tolerance of the ``"sparsest"`` rule; with R^2 or accuracy, 0.01 is one
        point.

    Returns
    -------
    index : int
        The chosen step.
    """
    if rule not in ("best", "sparsest"):
        raise ValueError(f"rule must be 'best' or 'sparsest', got {rule!r}.")
    if tol < 0:
        raise ValueError(f"tol must be >= 0, got {tol}.")
    scores = np.asarray(path.scores, dtype=float)
    n_sel = np.asarray(path.n_selected)
    if len(scores) == 0:
        raise ValueError("The path is empty.")
    usable = (n_sel > 0) & np.isfinite(scores)
    if not usable.any():
        usable = np.isfinite(scores) if np.isfinite(scores).any() else np.ones_like(usable)
    idx = np.flatnonzero(usable)
    best = scores[idx].max()
    if rule == "best":
        cands = idx[scores[idx] == best]
    else:
        cands = idx[scores[idx] >= best - tol]
    # fewest features first, then the higher score, then the later (stronger) step
    order = sorted(cands, key=lambda k: (n_sel[k], -scores[k], -k))
    return int(order[0])


def __getattr__(name):
    # the CV estimators live in ._cv, which imports this module: load them lazily
    if name in ("SparseMLPClassifierCV", "SparseMLPRegressorCV"):
        from . import _cv

        return getattr(_cv, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
