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
"""

import numpy as np

__all__ = [
    "plot_loss_curve",
    "plot_weight_histogram",
    "plot_sparsity",
    "plot_feature_importances",
    "plot_sparsity_tradeoff",
    "plot_feature_selection_path",
]


def _plt():
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "sksparse_nn.plotting needs matplotlib; install it with "
            "`pip install matplotlib` or `pip install sksparse_nn[plot]`."
        ) from exc
    return plt


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


def plot_loss_curve(estimator, ax=None, validation=True):
    """Training loss per epoch (``loss_curve_``) and, when a validation split was
    held out (early stopping or selective pruning), the validation loss.

    Lines are labelled ``"train"`` and ``"validation"``. For the regressor the loss
    is the mean squared error of the internally standardised target.
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


def plot_weight_histogram(estimator, ax=None, bins=50, layers=None, log=False):
    """Histogram of the nonzero connection weights, one (overlaid) histogram per
    layer, as the compact model uses them (``coefs_``; exact zeros left out).

    Parameters
    ----------
    estimator : fitted sparse MLP or pipeline ending in one
    bins : int or sequence, default=50
        Shared bin edges across layers (computed over all plotted weights).
    layers : list of int or None
        Layer indices to plot (0 = input to first hidden layer); all by default.
    log : bool, default=False
        Logarithmic count axis.
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


def plot_sparsity(estimator, ax=None):
    """Fraction of zero weights (left axis) and hidden units alive (right axis,
    a twin Axes, also available as ``ax.right_ax``) at the end of each epoch."""
    est = _fitted(estimator)
    ax = _axes(ax)
    epochs, sparsity = _history_column(est, "sparsity")
    n_epochs, alive = _history_column(est, "neurons_alive")
    line1 = ax.plot(epochs, sparsity, color="C0", label="sparsity")
    ax.set_xlabel("epoch")
    ax.set_ylabel("fraction of zero weights")
    ax.set_ylim(0, 1.08)
    right = ax.twinx()
    line2 = right.plot(n_epochs, alive, color="C1", linestyle="--", label="neurons alive")
    right.set_ylabel("hidden units alive")
    right.set_ylim(0, 1.08 * max(alive.max(initial=0), 1))
    ax.right_ax = right
    ax.legend(line1 + line2, [ln.get_label() for ln in line1 + line2], loc="center right")
    ax.set_title("Sparsity during training")
    return ax


def plot_feature_importances(estimator, ax=None, feature_names=None, sort=True, top=None):
    """Horizontal bars of ``feature_importances_``, one per input feature.

    Feature names come from ``feature_names``, else the estimator's
    ``feature_names_in_`` (fitted on a DataFrame), else ``x0, x1, ...``. With
    ``sort=True`` the most important feature is on top; ``top`` keeps only the
    ``top`` largest. Features the network no longer reads have zero-length bars.
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


def plot_sparsity_tradeoff(models, X_test=None, y_test=None, ax=None, score=None,
                           sparsity="sparsity", labels=None):
    """Test score against sparsity.

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
    X_test, y_test : needed for estimators.
    labels : list of str, optional
        Point labels (overrides the dict keys / DataFrame index).

    The points are joined in order of increasing sparsity.
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
    """Features kept (left axis) and score (right axis, ``ax.right_ax``) against
    ``input_l1``.

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
    ax : matplotlib Axes, default=None
        Where to draw (None: a new figure).
    log : bool or None, default=None
        Logarithmic x axis (None: when every ``input_l1`` is positive).

    Returns
    -------
    ax : matplotlib Axes
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
