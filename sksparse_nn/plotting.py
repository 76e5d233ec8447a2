"""Matplotlib figures for fitted sparse MLPs (needs the ``plot`` extra).

Every function draws on ``ax`` (a new figure's axes when None) and returns the
Axes it drew on. matplotlib is imported only when a function is called, so
``import sksparse_nn.plotting`` works without it.

* :func:`plot_loss_curve` - training (and validation) loss per epoch
* :func:`plot_weight_histogram` - nonzero weights per layer
* :func:`plot_sparsity` - weight sparsity and hidden units alive per epoch
* :func:`plot_feature_importances` - input importances, with feature names
* :func:`plot_sparsity_tradeoff` - test score against sparsity over several models
* :func:`plot_feature_selection_path` - features kept and score along an
  ``input_l1`` path
* :func:`plot_search_pareto` - every candidate of a search, score against
  sparsity or latency, with the Pareto front and the chosen candidate
* :func:`plot_network` - the pruned network: surviving connections, removed
  units and unread inputs
"""

import numpy as np

from ._docstrings import fill_doc
from ._optional import require

__all__ = [
    "plot_loss_curve",
    "plot_weight_histogram",
    "plot_sparsity",
    "plot_feature_importances",
    "plot_sparsity_tradeoff",
    "plot_feature_selection_path",
    "plot_search_pareto",
    "plot_network",
]


# Parameter and return texts most plotting functions share (see fill_doc).
_DOC = {
    "estimator": """\
    estimator : SparseMLPClassifier, SparseMLPRegressor or Pipeline
        A fitted estimator, or a pipeline ending in one.
""",
    "ax": """\
    ax : matplotlib.axes.Axes, default=None
        Where to draw; None draws on a new figure.
""",
    "returns_ax": """\
    Returns
    -------
    ax : matplotlib.axes.Axes
        The Axes drawn on.
""",
}
_shared_doc = fill_doc(**_DOC)


def _plt():
    return require("matplotlib.pyplot", "sksparse_nn.plotting",
                   "`pip install matplotlib` or `pip install sksparse_nn[plot]`")


def _axes(ax):
    if ax is None:
        _, ax = _plt().subplots()
    else:
        _plt()
    return ax


def _final_step(model):
    steps = getattr(model, "steps", None)
    return steps[-1][1] if steps else model


def _fitted(model, attr="compact_model_"):
    est = _final_step(model)
    if not hasattr(est, attr):
        from sklearn.exceptions import NotFittedError

        raise NotFittedError(
            f"{type(est).__name__} has no {attr}: pass a fitted SparseMLPClassifier / "
            "SparseMLPRegressor (or a pipeline ending in one)."
        )
    return est


def _history_column(est, key):
    """(epochs, values) of ``key`` in the net's per-epoch history."""
    history = est.net_.history
    rows = [(i + 1, row[key]) for i, row in enumerate(history) if key in row]
    if not rows:
        return np.array([], dtype=int), np.array([], dtype=float)
    epochs, values = zip(*rows)
    return np.asarray(epochs), np.asarray(values, dtype=float)


@_shared_doc
def plot_loss_curve(estimator, ax=None, validation=True):
    """Plot the training loss per epoch, and the validation loss when there is one.

    A validation loss exists when a validation split was held out (early
    stopping or selective pruning). Lines are labelled ``"train"`` and
    ``"validation"``. For the regressor the loss is the mean squared error of the
    internally standardised target.

    Parameters
    ----------
{estimator}
{ax}
    validation : bool, default=True
        Also draw the validation loss, when there is one.

{returns_ax}
    """
    est = _fitted(estimator)
    ax = _axes(ax)
    epochs, train = _history_column(est, "train_loss")
    ax.plot(epochs, train, label="train")
    if validation:
        v_epochs, valid = _history_column(est, "valid_loss")
        if len(valid):
            ax.plot(v_epochs, valid, label="validation")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    ax.set_title("Loss curve")
    ax.legend()
    return ax


@_shared_doc
def plot_weight_histogram(estimator, ax=None, bins=50, layers=None, log=False):
    """Plot a histogram of the nonzero connection weights of each layer.

    One (overlaid) histogram per layer, of the weights as the compact model uses
    them (``coefs_``; exact zeros left out).

    Parameters
    ----------
{estimator}
{ax}
    bins : int or sequence, default=50
        Shared bin edges across layers (computed over all plotted weights).
    layers : list of int or None
        Layer indices to plot (0 = input to first hidden layer); all by default.
    log : bool, default=False
        Logarithmic count axis.

{returns_ax}
    """
    est = _fitted(estimator)
    ax = _axes(ax)
    coefs = est.coefs_
    layers = range(len(coefs)) if layers is None else list(layers)
    values = [np.asarray(coefs[i]).ravel() for i in layers]
    values = [v[v != 0] for v in values]
    everything = np.concatenate(values) if values else np.array([])
    if np.isscalar(bins) and everything.size:
        edges = np.histogram_bin_edges(everything, bins=int(bins))
    else:
        edges = bins
    for i, v in zip(layers, values):
        ax.hist(v, bins=edges, alpha=0.6, log=log,
                label=f"layer {i + 1} ({v.size} nonzero)")
    ax.set_xlabel("weight")
    ax.set_ylabel("count")
    ax.set_title("Nonzero weights")
    ax.legend()
    return ax


@_shared_doc
def plot_sparsity(estimator, ax=None):
    """Plot the fraction of zero weights and the hidden units alive per epoch.

    The fraction of zero weights (counted against the network as built, as
    ``sparsity_as_built_``) is on the left axis, the hidden units alive on
    the right axis (a twin Axes, also available as ``ax.right_ax``), both at the
    end of each epoch.

    Parameters
    ----------
{estimator}
{ax}

{returns_ax}
    """
    est = _fitted(estimator)
    ax = _axes(ax)
    epochs, sparsity = _history_column(est, "sparsity")
    n_epochs, alive = _history_column(est, "neurons_alive")
    line1 = ax.plot(epochs, sparsity, color="C0", label="sparsity")
    ax.set_xlabel("epoch")
    ax.set_ylabel("fraction of zero weights (as built)")
    ax.set_ylim(0, 1.08)
    right = ax.twinx()
    line2 = right.plot(n_epochs, alive, color="C1", linestyle="--", label="neurons alive")
    right.set_ylabel("hidden units alive")
    right.set_ylim(0, 1.08 * max(alive.max(initial=0), 1))
    ax.right_ax = right
    ax.legend(line1 + line2, [ln.get_label() for ln in line1 + line2], loc="center right")
    ax.set_title("Sparsity during training")
    return ax


@_shared_doc
def plot_feature_importances(estimator, ax=None, feature_names=None, sort=True, top=None):
    """Plot ``feature_importances_`` as horizontal bars, one per input feature.

    Features the network no longer reads have zero-length bars.

    Parameters
    ----------
{estimator}
{ax}
    feature_names : list of str, default=None
        Bar labels; None takes the estimator's ``feature_names_in_`` (fitted on
        a DataFrame), else ``x0, x1, ...``.
    sort : bool, default=True
        Put the most important feature on top.
    top : int, default=None
        Keep only the ``top`` largest importances.

{returns_ax}
    """
    est = _fitted(estimator)
    ax = _axes(ax)
    imp = np.asarray(est.feature_importances_, dtype=float)
    if feature_names is None:
        feature_names = getattr(est, "feature_names_in_", None)
    if feature_names is None:
        feature_names = [f"x{i}" for i in range(len(imp))]
    feature_names = [str(n) for n in feature_names]
    if len(feature_names) != len(imp):
        raise ValueError(
            f"{len(feature_names)} feature names given for {len(imp)} features."
        )
    order = np.argsort(-imp, kind="stable") if sort else np.arange(len(imp))
    if top is not None:
        order = order[: int(top)]
    order = order[::-1]  # barh draws bottom-up: first in `order` ends on top
    ax.barh(np.arange(len(order)), imp[order], color="C0")
    ax.set_yticks(np.arange(len(order)))
    ax.set_yticklabels([feature_names[i] for i in order])
    ax.set_xlabel("importance")
    ax.set_title(f"Feature importances ({int(np.count_nonzero(imp))} of {len(imp)} used)")
    return ax


def _score_column(df, score):
    if score is not None:
        return score
    for name in ("score", "accuracy", "r2", "mean_test_score"):
        if name in df.columns:
            return name
    raise ValueError(
        f"No score column found among {list(df.columns)}; pass score=<column name>."
    )


@_shared_doc
def plot_sparsity_tradeoff(models, X_test=None, y_test=None, ax=None, score=None,
                           sparsity="sparsity", labels=None):
    """Plot the test score against sparsity, one point per model.

    The points are joined in order of increasing sparsity.

    Parameters
    ----------
    models : list or dict of fitted estimators, or a pandas DataFrame
        Estimators (or pipelines) are scored with ``model.score(X_test, y_test)``
        (accuracy / R^2) and placed at their final step's ``sparsity_``; a dict's
        keys label the points. A DataFrame (e.g. from
        :func:`sksparse_nn.report.compare_models`) needs a ``sparsity`` column and
        a score column: ``score`` names it, else the first of ``score``,
        ``accuracy``, ``r2``, ``mean_test_score`` present; its index labels the
        points.
    X_test : array-like of shape (n_samples, n_features), default=None
        Test data; needed for estimators.
    y_test : array-like of shape (n_samples,), default=None
        Test targets; needed for estimators.
{ax}
    score : str, default=None
        Score column of a DataFrame (see ``models``), or the y-axis label for
        estimators.
    sparsity : str, default="sparsity"
        Sparsity column of a DataFrame.
    labels : list of str, default=None
        Point labels (overrides the dict keys / DataFrame index).

{returns_ax}
    """
    ax = _axes(ax)
    if hasattr(models, "columns"):  # a DataFrame
        df = models
        ycol = _score_column(df, score)
        xs = np.asarray(df[sparsity], dtype=float)
        ys = np.asarray(df[ycol], dtype=float)
        names = [str(i) for i in df.index] if labels is None else labels
        ylabel = ycol
    else:
        if X_test is None or y_test is None:
            raise ValueError("X_test and y_test are needed to score fitted estimators.")
        if isinstance(models, dict):
            names = [str(k) for k in models] if labels is None else labels
            models = list(models.values())
        else:
            models = list(models)
            names = labels
        xs = np.array([float(_fitted(m, "sparsity_").sparsity_) for m in models])
        ys = np.array([float(m.score(X_test, y_test)) for m in models])
        ylabel = "test score" if score is None else score
    order = np.argsort(xs, kind="stable")
    ax.plot(xs[order], ys[order], marker="o", label=ylabel)
    if names is not None:
        for x, y, name in zip(xs, ys, names):
            ax.annotate(str(name), (x, y), textcoords="offset points", xytext=(4, 4),
                        fontsize="small")
    ax.set_xlabel("sparsity (fraction of zero weights)")
    ax.set_ylabel(ylabel)
    ax.set_title("Score vs sparsity")
    return ax


def _path_table(path):
    """Columns input_l1, n_selected (, score) from a DataFrame, a dict of
    columns, or a list of dicts (extra keys are ignored)."""
    if hasattr(path, "columns"):  # a DataFrame
        cols = {c: np.asarray(path[c]) for c in path.columns}
    elif isinstance(path, dict):
        cols = {k: np.asarray(v) for k, v in path.items()}
    else:
        rows = [dict(r) for r in path]
        keys = set().union(*(r.keys() for r in rows)) if rows else set()
        cols = {k: np.asarray([r.get(k, np.nan) for r in rows], dtype=object) for k in keys}
    missing = {"input_l1", "n_selected"} - set(cols)
    if missing:
        raise ValueError(
            f"The feature-selection path needs 'input_l1' and 'n_selected' entries "
            f"(and optionally 'score'); missing {sorted(missing)}."
        )
    return cols


def _cv_path_table(model):
    """Columns of a fitted SparseMLPClassifierCV / SparseMLPRegressorCV: the mean
    over the folds of the features kept and of the held-out score."""
    return {"input_l1": np.asarray(model.input_l1s_),
            "n_selected": np.asarray(model.n_features_path_).mean(axis=1),
            "score": np.asarray(model.mean_scores_),
            "score_std": np.asarray(model.std_scores_)}


def plot_feature_selection_path(path, ax=None, log=None):
    """Plot the features kept and the score against ``input_l1``.

    ``path`` is a list of dicts or a DataFrame with keys ``input_l1``,
    ``n_selected`` and optionally ``score`` (as returned by the ``input_l1`` path
    function of :mod:`sksparse_nn.feature_selection`), or a fitted
    :class:`~sksparse_nn.SparseMLPRegressorCV` / :class:`~sksparse_nn.SparseMLPClassifierCV`:
    then the mean over the folds of the features kept and of the held-out score
    (with a band of one standard deviation) are drawn, and a vertical line marks
    the chosen ``input_l1_``. The x axis is logarithmic when every ``input_l1`` is
    positive (``log=None``) or when ``log=True``.

    Parameters
    ----------
    path : InputL1Path, list of dict, DataFrame or fitted CV estimator
        The path.
    ax : matplotlib.axes.Axes, default=None
        Where to draw (None: a new figure).
    log : bool or None, default=None
        Logarithmic x axis (None: when every ``input_l1`` is positive).

    Returns
    -------
    ax : matplotlib.axes.Axes
        The left axes; the score axes is ``ax.right_ax``.
    """
    chosen = None
    if hasattr(path, "input_l1s_") and hasattr(path, "mean_scores_"):
        chosen = float(path.input_l1_)
        cols = _cv_path_table(path)
    elif hasattr(path, "get_params") and hasattr(path, "cv"):
        _fitted(path, "input_l1s_")
    else:
        cols = _path_table(path)
    ax = _axes(ax)
    x = np.asarray(cols["input_l1"], dtype=float)
    order = np.argsort(x, kind="stable")
    x = x[order]
    n_sel = np.asarray(cols["n_selected"], dtype=float)[order]
    lines = ax.plot(x, n_sel, color="C0", marker="o", label="features selected")
    ax.set_ylabel("features selected")
    ax.set_xlabel("input_l1")
    ax.set_ylim(bottom=0)
    if log or (log is None and len(x) and np.all(x > 0)):
        ax.set_xscale("log")
    if "score" in cols:
        s = np.asarray(cols["score"], dtype=float)[order]
        right = ax.twinx()
        lines = lines + right.plot(x, s, color="C1", marker="s", linestyle="--", label="score")
        if "score_std" in cols:
            sd = np.asarray(cols["score_std"], dtype=float)[order]
            right.fill_between(x, s - sd, s + sd, color="C1", alpha=0.2)
        right.set_ylabel("score")
        ax.right_ax = right
    if chosen is not None:
        lines = lines + [ax.axvline(chosen, color="k", linestyle=":",
                                    label=f"input_l1_ = {chosen:.3g}")]
    ax.legend(lines, [ln.get_label() for ln in lines], loc="best")
    ax.set_title("Feature-selection path")
    return ax


# ------------------------------------------------------------ model selection
_PARETO_AXIS = {
    # by key: (label, smaller is better)
    "nonzero": ("nonzero weights", True),
    "zero_fraction": ("fraction of zero weights", False),
    "units": ("hidden units left", True),
    "features": ("input features read", True),
    "latency": ("latency (ms per 1,000 rows)", True),
}


def _search_metric(search, results, metric):
    from .model_selection import SPARSITY_SCORERS, SparsestWithin

    if metric is not None:
        return metric
    refit = getattr(search, "refit", None)
    if isinstance(refit, SparsestWithin):
        return refit.metric
    if isinstance(refit, str) and f"mean_test_{refit}" in results:
        return refit
    for key in results:
        if key.startswith("mean_test_"):
            name = key[len("mean_test_"):]
            if name not in SPARSITY_SCORERS:
                return name
    raise ValueError("The search has no score column; pass metric=<scorer name>.")


def pareto_front(x, score, smaller_x_is_better=True):
    """Find the candidates no other candidate beats on both axes.

    A candidate is dominated when another one has an ``x`` at least as good and
    a score at least as high, one of them strictly. NaN candidates are never on
    the front.

    Parameters
    ----------
    x : array-like of shape (n,)
        Sparsity or latency per candidate.
    score : array-like of shape (n,)
        Mean test score per candidate (higher is better).
    smaller_x_is_better : bool, default=True
        False when a larger ``x`` is better (the zero fraction).

    Returns
    -------
    ndarray of int
        Front indices, ordered by increasing ``x``.
    """
    x = np.asarray(x, dtype=float)
    s = np.asarray(score, dtype=float)
    g = -x if smaller_x_is_better else x
    ok = np.isfinite(g) & np.isfinite(s)
    front = []
    for i in np.flatnonzero(ok):
        beaten = ok & (g >= g[i]) & (s >= s[i]) & ((g > g[i]) | (s > s[i]))
        if not beaten.any():
            front.append(i)
    front = np.asarray(front, dtype=int)
    return front[np.lexsort((-s[front], x[front]))] if len(front) else front


@_shared_doc
def plot_search_pareto(search, x="nonzero", metric=None, ax=None, annotate=True):
    """Mean test score against sparsity (or latency) for every candidate of a search.

    Every candidate of ``search.cv_results_`` is a point; the Pareto front (the
    candidates no other one beats on both score and ``x``) is joined by a line
    labelled ``"Pareto front"`` and its points are numbered by their candidate
    index; the chosen candidate (``best_index_``) is a star. When ``refit`` is a
    :func:`~sksparse_nn.model_selection.sparsest_within` rule, its threshold
    (best mean score minus the tolerance) is a dotted horizontal line.

    Parameters
    ----------
    search : fitted GridSearchCV, RandomizedSearchCV or similar
        Scored with a multi-metric ``scoring`` holding the ``x`` scorer (see
        :func:`~sksparse_nn.model_selection.sparsity_scoring`).
    x : {"nonzero", "zero_fraction", "units", "features", "latency"}, default="nonzero"
        The horizontal axis, in natural units (``neg_`` scores are negated back):
        nonzero weights, zero fraction, hidden units, features read, or ms per
        1,000 rows.
    metric : str or None, default=None
        The scorer key on the vertical axis; by default the metric of the refit
        rule, else ``refit`` when it names a scorer, else the first non-sparsity
        scorer.
    ax : matplotlib Axes, optional
        Where to draw; a new figure's Axes when None.
    annotate : bool, default=True
        Number the front points by candidate index.

{returns_ax}
    """
    from .model_selection import BY_SCORER, SparsestWithin

    results = getattr(search, "cv_results_", None)
    if results is None:
        from sklearn.exceptions import NotFittedError

        raise NotFittedError("plot_search_pareto needs a fitted search (cv_results_).")
    if x not in BY_SCORER:
        raise ValueError(f"x must be one of {sorted(BY_SCORER)}, got {x!r}.")
    metric = _search_metric(search, results, metric)
    xkey, ykey = f"mean_test_{BY_SCORER[x]}", f"mean_test_{metric}"
    for key in (xkey, ykey):
        if key not in results:
            raise ValueError(
                f"cv_results_ has no {key!r}; score the search with "
                f"sparsity_scoring({metric!r}, by={x!r}) or SparseGridSearchCV."
            )
    xlabel, smaller = _PARETO_AXIS[x]
    xs = np.asarray(results[xkey], dtype=float)
    xs = -xs if BY_SCORER[x].startswith("neg_") else xs
    ys = np.asarray(results[ykey], dtype=float)
    ax = _axes(ax)
    ax.scatter(xs, ys, color="C0", alpha=0.6, label="candidates", zorder=2)
    front = pareto_front(xs, ys, smaller_x_is_better=smaller)
    ax.plot(xs[front], ys[front], color="C1", marker="o", drawstyle="steps-post"
            if smaller else "steps-pre", label="Pareto front", zorder=3)
    if annotate:
        for i in front:
            ax.annotate(f"#{i}", (xs[i], ys[i]), textcoords="offset points",
                        xytext=(4, -10), fontsize="small", color="C1")
    refit = getattr(search, "refit", None)
    if isinstance(refit, SparsestWithin) and metric == refit.metric:
        ax.axhline(refit.threshold(results), color="grey", linestyle=":",
                   label=(f"threshold: best - {refit.tol:g}" if refit.rule == "tol"
                          else "threshold: best - 1 SE"), zorder=1)
    best = getattr(search, "best_index_", None)
    if best is not None:
        name = "chosen (refit rule)" if isinstance(refit, SparsestWithin) else "chosen"
        ax.scatter([xs[best]], [ys[best]], marker="*", s=250, color="C3",
                   edgecolor="black", label=f"{name}: #{best}", zorder=4)
    if smaller and np.all(xs[np.isfinite(xs)] > 0) and np.nanmax(xs) > 30 * np.nanmin(xs):
        ax.set_xscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(f"mean test {metric}")
    ax.set_title(f"{metric} vs {xlabel}: {len(xs)} candidates")
    ax.legend(loc="best", fontsize="small")
    return ax


def _network_columns(est):
    """Per column (inputs, hidden layers, outputs): (name, size as built, kept
    indices in the as-built numbering)."""
    n_in = int(est.n_features_in_)
    coefs = est.coefs_
    kept_hidden = getattr(est, "hidden_units_kept_", None)
    if kept_hidden is None:  # not recorded: number the units left 0..k-1
        kept_hidden = [np.arange(np.shape(W)[1]) for W in coefs[:-1]]
    built = getattr(est, "hidden_layer_sizes", None)
    if built is None or getattr(est, "hidden_units_kept_", None) is None:
        built = [len(k) for k in kept_hidden]
    elif np.isscalar(built):
        built = [int(built)]
    compact = getattr(est, "compact_model_", None)
    if compact is not None:
        read = np.asarray(compact.input_index, dtype=int)
    else:
        read = np.flatnonzero(np.any(np.asarray(coefs[0]) != 0, axis=1))
    n_out = np.shape(coefs[-1])[1]
    cols = [("inputs", n_in, read)]
    cols += [(f"hidden {i + 1}", int(b), np.asarray(k, dtype=int))
             for i, (b, k) in enumerate(zip(built, kept_hidden))]
    cols.append(("outputs", n_out, np.arange(n_out)))
    return cols


def plot_network(estimator, max_edges=500, max_units=40, ax=None):
    """Draw the network: layers as columns of units, surviving connections as lines.

    Columns are the inputs, each hidden layer as built (``hidden_layer_sizes``)
    and the outputs. Units still in the network are black; removed hidden units
    and inputs the network no longer reads are light grey. Each nonzero weight of
    ``coefs_`` is a line from its input unit to its output unit, blue when
    positive and red when negative, its width proportional to ``|weight|``.

    Big networks stay readable: a column with more than ``max_units`` units shows
    ``max_units`` of them (the kept ones with the strongest connections and, in
    proportion, removed ones), with "showing k of n" under it; only the
    ``max_edges`` strongest connections among the units shown are drawn, and the
    count of the rest is written at the bottom.

    Parameters
    ----------
    estimator : fitted sparse MLP or pipeline ending in one
        The network to draw.
    max_edges : int, default=500
        Most connections drawn.
    max_units : int, default=40
        Most units drawn per column.
    ax : matplotlib Axes, optional
        Where to draw; a new figure's Axes when None.

    Returns
    -------
    matplotlib Axes
        Also carries ``ax.network_summary_``: a dict with the counts drawn
        (``edges_drawn``, ``edges_total``, ``units_shown``, ``units_greyed``).
    """
    if int(max_edges) < 0 or int(max_units) < 1:
        raise ValueError("max_edges must be >= 0 and max_units >= 1.")
    est = _fitted(estimator)
    ax = _axes(ax)
    from matplotlib.collections import LineCollection

    cols = _network_columns(est)
    coefs = [np.asarray(W, dtype=float) for W in est.coefs_]
    # every nonzero weight as (column, source position, target position, weight),
    # positions in the as-built numbering
    src_pos = [np.arange(cols[0][1])] + [c[2] for c in cols[1:-1]]
    edges = []
    for layer, W in enumerate(coefs):
        r, c = np.nonzero(W)
        edges.append((np.full(len(r), layer), src_pos[layer][r], cols[layer + 1][2][c], W[r, c]))
    layer_of = np.concatenate([e[0] for e in edges])
    src = np.concatenate([e[1] for e in edges])
    dst = np.concatenate([e[2] for e in edges])
    w = np.concatenate([e[3] for e in edges])
    absw = np.abs(w)

    # choose the units shown per column, and their heights
    y_of, shown_total, greyed = [], 0, 0
    kept_xy, removed_xy = [], []
    for k, (name, n, kept) in enumerate(cols):
        strength = np.zeros(n)
        if k < len(cols) - 1:
            np.add.at(strength, src[layer_of == k], absw[layer_of == k])
        if k > 0:
            np.add.at(strength, dst[layer_of == k - 1], absw[layer_of == k - 1])
        is_kept = np.zeros(n, dtype=bool)
        is_kept[kept] = True
        if n <= max_units:
            show = np.arange(n)
        else:
            n_kept = int(is_kept.sum())
            k_kept = min(n_kept, max_units, max(1 if n_kept else 0,
                                                round(max_units * n_kept / n)))
            kept_idx = np.flatnonzero(is_kept)
            kept_idx = kept_idx[np.argsort(-strength[kept_idx], kind="stable")[:k_kept]]
            removed_idx = np.flatnonzero(~is_kept)[: max_units - k_kept]
            show = np.sort(np.concatenate([kept_idx, removed_idx]))
        y = np.full(n, np.nan)
        y[show] = np.linspace(1, 0, len(show)) if len(show) > 1 else 0.5
        y_of.append(y)
        for i in show:
            (kept_xy if is_kept[i] else removed_xy).append((k, y[i]))
        shown_total += len(show)
        greyed += int((~is_kept[show]).sum())
        if name == "inputs":
            head = f"inputs\n{len(kept)} of {n} read"
        elif name == "outputs":
            head = f"outputs\n{n}"
        else:
            head = f"{name}\n{len(kept)} of {n} left"
        ax.text(k, 1.06, head, ha="center", va="bottom", fontsize="small")
        if len(show) < n:
            ax.text(k, -0.06, f"showing {len(show)} of {n}", ha="center", va="top",
                    fontsize="x-small", color="dimgrey")

    # connections between shown units, strongest first
    y0 = np.array([y_of[l][s] for l, s in zip(layer_of, src)]) if len(w) else np.array([])
    y1 = np.array([y_of[l + 1][d] for l, d in zip(layer_of, dst)]) if len(w) else np.array([])
    visible = np.flatnonzero(np.isfinite(y0) & np.isfinite(y1))
    visible = visible[np.argsort(-absw[visible], kind="stable")][: int(max_edges)]
    wmax = absw.max() if len(absw) else 1.0
    for sign, color, label in ((1, "C0", "positive weight"), (-1, "C3", "negative weight")):
        sel = visible[np.sign(w[visible]) == sign]
        segs = [((layer_of[i], y0[i]), (layer_of[i] + 1, y1[i])) for i in sel]
        # an empty collection still needs one width for its legend entry
        widths = 0.2 + 2.8 * absw[sel] / wmax if len(sel) else 1.0
        lc = LineCollection(segs, colors=color, linewidths=widths,
                            alpha=0.6, label=label, zorder=1)
        ax.add_collection(lc)
    if kept_xy:
        ax.scatter(*zip(*kept_xy), s=18, color="black", zorder=2, label="unit")
    if removed_xy:
        ax.scatter(*zip(*removed_xy), s=18, color="lightgrey", edgecolor="darkgrey",
                   zorder=2, label="removed unit / unread input")
    n_total = len(w)
    note = (f"{len(visible)} of {n_total} connections drawn (the strongest); "
            f"{n_total - len(visible)} not shown" if len(visible) < n_total
            else f"{n_total} connections")
    ax.text((len(cols) - 1) / 2, -0.14, note, ha="center", va="top", fontsize="small")
    ax.set_xlim(-0.5, len(cols) - 0.5)
    ax.set_ylim(-0.22, 1.2)
    ax.set_axis_off()
    ax.set_title("Network after pruning")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=2, fontsize="x-small",
              frameon=False)
    ax.network_summary_ = {"edges_drawn": int(len(visible)), "edges_total": int(n_total),
                           "units_shown": int(shown_total), "units_greyed": int(greyed)}
    return ax
