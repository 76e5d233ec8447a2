"""Schedules: *when* connection weights are pruned, and when the L1 penalties act,
as functions of progress.

:class:`L1Schedule` times the ``l1`` / ``input_l1`` penalties (warm-up, ramp,
re-weighting, frozen support). The prune schedules below time ``target_sparsity``.

A schedule never touches a network. It answers two questions the pruning callback
asks: at which optimizer steps are masks updated (:meth:`update_steps`, rounded up,
so that the progress at an update is never short of the schedule's point) and what
sparsity should hold after an update at a given progress (:meth:`sparsity_at`,
progress = fraction of all training steps done, in [0, 1]). *How much* to prune
(``target_sparsity``) is the estimator's hyperparameter and is passed in.

Schedules are scikit-learn style objects: their parameters show up in the
estimator's ``get_params(deep=True)``, so ``GridSearchCV`` can tune e.g.
``prune_schedule__end``.
"""

from numbers import Real

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils._param_validation import Interval, StrOptions, validate_params

__all__ = [
    "L1Schedule",
    "PruneSchedule",
    "OneShot",
    "Gradual",
    "Iterative",
    "Dynamic",
    "get_schedule",
]


class L1Schedule(BaseEstimator):
    """When the ``l1`` and ``input_l1`` penalties act, as fractions of the training steps.

    Pass one as the estimators' ``l1_schedule`` (None means these defaults).
    Training runs in phases of the whole run (``max_iter`` epochs, or the
    ``max_iter`` calls a stream of ``partial_fit`` calls plans): dense training
    until ``warmup``; then the proximal L1 steps; the ``input_l1`` penalty grows
    linearly from 0 at ``warmup`` to full strength at ``ramp_end``; at
    ``reweight_at`` it is re-weighted adaptively (strong features are shrunk
    less); from ``freeze_at`` on the support is frozen (weights that are zero
    stay zero, the survivors train without the penalty's bias). Has no effect
    when ``l1`` and ``input_l1`` are both 0.

    Parameters
    ----------
    warmup : float in [0, 1], default=0.25
        Fraction of the steps before any penalty acts. A network that has
        learnt something first loses the right weights, not random ones.
    ramp_end : float in [0, 1], default=0.3
        Where ``input_l1`` reaches full strength (no ramp when <= ``warmup``).
        A slower ramp drops features one at a time, weakest first (the CV
        estimators use 0.6), at the cost of fewer steps at full strength.
    reweight_at : float in [0, 1], default=0.5
        When ``input_l1`` is re-weighted (adaptive group lasso): each surviving
        feature's penalty is multiplied by ``(n_min / ||w_j||) ** gamma``, with
        ``n_min`` the smallest surviving norm.
    gamma : float >= 0, default=2.0
        Exponent of the re-weighting; 0 switches it off.
    freeze_at : float in [0, 1], default=0.8
        Fraction of the steps after which the support is frozen. Early stopping
        starts counting only after it.

    Examples
    --------
    >>> from sksparse_nn import SparseMLPRegressor
    >>> from sksparse_nn.schedules import L1Schedule
    >>> reg = SparseMLPRegressor(input_l1=0.01,
    ...                          l1_schedule=L1Schedule(ramp_end=0.6, reweight_at=0.65))
    >>> reg.get_params()["l1_schedule__ramp_end"]
    0.6
    """

    _parameter_constraints = {
        "warmup": [Interval(Real, 0, 1, closed="both")],
        "ramp_end": [Interval(Real, 0, 1, closed="both")],
        "reweight_at": [Interval(Real, 0, 1, closed="both")],
        "gamma": [Interval(Real, 0, None, closed="left")],
        "freeze_at": [Interval(Real, 0, 1, closed="both")],
    }

    def __init__(self, warmup=0.25, ramp_end=0.3, reweight_at=0.5, gamma=2.0, freeze_at=0.8):
        self.warmup = warmup
        self.ramp_end = ramp_end
        self.reweight_at = reweight_at
        self.gamma = gamma
        self.freeze_at = freeze_at

    def _check(self):
        """Raise a ValueError naming the parameter when a value is out of range."""
        try:
            self._validate_params()
        except Exception as exc:  # sklearn's InvalidParameterError is a ValueError
            raise ValueError(f"L1Schedule: {exc}") from None
        return self


# the fewest mask updates a Gradual ramp gets when min_interval would space them out
_MIN_UPDATES = 8
# from this many updates on, Gradual spaces them evenly in time; fewer go at equal
# shares of the pruning
_EVEN_TIMES_FROM = 16


def _ceil(x):
    """Round up, ignoring float noise (0.6 * 100 is 60, not 61)."""
    return int(np.ceil(x - 1e-9))


# The parameters every magnitude-ranking schedule shares (OneShot, Gradual,
# Iterative): one text for their docstrings, one setter for their values.
_RANKING_DOC = """\
    scope : {"global", "layer"}, default="global"
        ``"global"``: one magnitude ranking over all layers (with a per-layer
        floor, so no layer is emptied); ``"layer"``: every layer pruned to the
        same sparsity.
    unit_power : float >= 0, default=0
        Bias the magnitude ranking towards emptying whole hidden units and
        inputs (see :class:`PruneSchedule`); 0 is plain magnitude pruning.
    max_units : int, list of int or None, default=None
        Cap on the hidden units that survive, for all layers or per hidden
        layer (see :class:`PruneSchedule`).
    ranking : {"magnitude", "activation"}, default="magnitude"
        What a weight is ranked by: ``|w|`` times the RMS of its input on the
        current mini-batch, or ``|w|`` alone (see :class:`PruneSchedule`).
    lr_scaling : float >= 0, default=0.8
        Learning rate ``learning_rate_init * (1 - s) ** -lr_scaling`` while the
        schedule plans sparsity ``s`` (see :class:`PruneSchedule`); 0 keeps it.
    weight_decay : float >= 0, default=2e-3
        L2 strength on the connection weights from the first step until the
        masks are final, added to the estimator's ``l2`` (see
        :class:`PruneSchedule`); 0 switches it off.
"""


class PruneSchedule(BaseEstimator):
    """Base class of the prune schedules.

    Subclasses define :meth:`sparsity_at` and :meth:`update_steps`; the
    estimator's pruning callback asks them when to update the masks and to what
    sparsity. ``scope`` is ``"global"`` (one magnitude ranking over all layers) or
    ``"layer"`` (every layer pruned to the same sparsity).

    ``unit_power`` (>= 0) biases the magnitude ranking towards emptying whole
    hidden units and input features: a weight's score is ``|w|`` times the relative
    norms of its unit and its input, each to this power. 0 is plain magnitude
    pruning; 1-2 removes many units at little accuracy cost, and removed units are
    what makes predictions faster.

    ``max_units`` caps the hidden units that survive: None (no cap), an int (the
    same cap for every hidden layer) or one entry per hidden layer (None there: no
    cap). Units go gradually: after an update that reaches sparsity ``s`` of the
    target ``T``, a layer built with ``n`` units keeps at most
    ``n - (n - cap) * s / T``, the weakest by ``||w_in|| * ||w_out||`` losing all
    their weights; the weight budget they free goes to the other units. It fixes
    the size, hence the prediction cost, of the compacted network directly.

    ``ranking`` is what a weight is ranked by: ``"magnitude"`` (default) ranks
    ``|w_ij|``; ``"activation"`` ranks ``|w_ij|`` times the root mean square of
    input ``j`` on the current mini-batch, the size of the weight's contribution
    (weights reading inputs that are always zero, such as blank image borders,
    go first whatever their size; Sun et al., 2023). Layers are ranked together,
    so with ``"activation"`` each layer's share follows the scale of its inputs.
    Measured at 4 seeds (with the earlier defaults ``lr_scaling=0.4`` and no
    decay): 98% on MNIST-5k (pixels in [0, 1]) in 30 epochs lost 0.2 point
    against the dense network with ``"activation"``, 0.8 with ``"magnitude"``;
    but ``"activation"`` lost more on breast cancer, ``make_classification`` and
    unscaled digits, so it is not the default (``weight_decay`` now steers
    magnitude ranking away from such weights).

    ``lr_scaling`` (>= 0) raises Adam's step while the network is pruned: once
    the schedule plans sparsity ``s``, the learning rate is ``learning_rate_init *
    (1 - s) ** -lr_scaling`` (0.8: 1.7x at 50%, 6.3x at 90%), but never above
    0.005 (nor below ``learning_rate_init``), and it returns to
    ``learning_rate_init`` when training ends. Each surviving weight has to
    carry more of the fit, and short fits (few steps per epoch on small data)
    need the larger step most. With scikit-learn's default 1e-3 the step reaches
    the ceiling from 87% on. Against 0.4 (8 tuning seeds for MNIST-5k, 4-6 for
    the others): 98% on MNIST-5k in 30 epochs 0.9449 against 0.9400 (dense
    0.9419); digits (1,300 rows, 40 epochs, 7 steps per epoch) at 90% 0.950
    against 0.933 (dense 0.956); Friedman #1 at 90% R^2 0.92 against 0.81;
    neutral on breast cancer, ``make_classification`` and diabetes. 0 keeps
    the learning rate fixed.

    ``weight_decay`` (>= 0) is an L2 penalty on the connection weights (not the
    biases) while the masks are being chosen: from the first step until the
    schedule's last update, added to the estimator's ``l2``; the fine-tune after
    it trains without it. Magnitude ranking assumes that a large weight is one
    the loss needs. Without decay that is not so: Adam scales every weight's
    step alike, so a weight reading a pixel that is lit in one image of a
    hundred moves as far per step as one reading a pixel lit in every image,
    and such weights survive pruning on magnitude alone (348 of the 1,591
    first-layer weights left at 99% on MNIST-5k read pixels lit in under 1% of
    the images). The decay shrinks the weights no gradient keeps up, so the
    ranking keeps the useful ones. At 99% on MNIST-5k, ``(300, 100)``, 50
    epochs, default learning rate (8 tuning seeds, ``lr_scaling=0.4``): 0.9327
    without, 0.9435 with 2e-3, against 0.9426 dense (0.9443 with
    ``lr_scaling=0.8``); neutral to positive on digits, breast cancer,
    ``make_classification``, diabetes and Friedman #1 at 90% and 98%.
    """

    unit_power = 0.0
    max_units = None
    ranking = "magnitude"
    lr_scaling = 0.0
    weight_decay = 0.0

    def _set_ranking(self, scope, unit_power, max_units, ranking, lr_scaling, weight_decay):
        """Store the parameters every magnitude-ranking schedule takes (as
        ``__init__`` must: unchanged, for ``get_params`` and ``clone``)."""
        self.scope = scope
        self.unit_power = unit_power
        self.max_units = max_units
        self.ranking = ranking
        self.lr_scaling = lr_scaling
        self.weight_decay = weight_decay

    def lr_factor(self, sparsity):
        """Multiplier of the learning rate at ``sparsity`` (see ``lr_scaling``).

        Parameters
        ----------
        sparsity : float
            Planned fraction of pruned weights, in [0, 1].

        Returns
        -------
        float
            ``(1 - sparsity) ** -lr_scaling``; 1 without pruning.
        """
        if not self.lr_scaling or sparsity <= 0:
            return 1.0
        return float((1.0 - min(float(sparsity), 0.9999)) ** -float(self.lr_scaling))

    # the callback regrows weights at updates (dynamic sparse training)
    regrow = False
    # survivors are rewound to early values after each prune round
    rewind_epoch = None

    def sparsity_at(self, progress, target):  # pragma: no cover - abstract
        """Return the sparsity that should hold after an update at ``progress``.

        Parameters
        ----------
        progress : float in [0, 1]
            Fraction of all training steps done.
        target : float in [0, 1)
            The estimator's ``target_sparsity``.

        Returns
        -------
        sparsity : float
            Fraction of connection weights to be zero.
        """
        raise NotImplementedError

    def update_steps(self, total_steps):  # pragma: no cover - abstract
        """Return the optimizer steps at which the masks are updated.

        Parameters
        ----------
        total_steps : int
            Optimizer steps of the whole fit.

        Returns
        -------
        steps : ndarray of int
            Increasing step numbers (rounded up, so that the progress at an
            update is never short of the schedule's point).
        """
        raise NotImplementedError

    def unit_caps(self, n_units, sparsity, target):
        """Return the most units each hidden layer may keep after an update.

        Parameters
        ----------
        n_units : list of int
            Units each hidden layer was built with.
        sparsity : float
            The sparsity the update reaches.
        target : float
            The estimator's ``target_sparsity``.

        Returns
        -------
        caps : list of int or None
            One entry per hidden layer; None where uncapped.
        """
        caps = self.max_units
        if caps is None:
            return [None] * len(n_units)
        if np.ndim(caps) == 0:
            caps = [caps] * len(n_units)
        if len(caps) != len(n_units):
            raise ValueError(
                f"max_units has {len(caps)} entries for {len(n_units)} hidden layers."
            )
        frac = min(1.0, sparsity / target) if target > 0 else 1.0
        return [None if c is None or c >= n else int(round(n - (n - int(c)) * frac))
                for c, n in zip(caps, n_units)]

    def end_step(self, total_steps):
        """Return the step after which the masks are final.

        Parameters
        ----------
        total_steps : int
            Length of the run in optimizer steps; the last of
            :meth:`update_steps` for it is the answer.

        Returns
        -------
        step : int
            The last update step (0 when the schedule makes no update).
        """
        steps = self.update_steps(total_steps)
        return int(steps[-1]) if len(steps) else 0

    def _check(self):
        if not (0.0 <= self.start <= self.end <= 1.0):
            raise ValueError(
                f"{type(self).__name__} needs 0 <= start <= end <= 1, got "
                f"start={self.start}, end={self.end}."
            )
        if self.scope not in ("global", "layer"):
            raise ValueError(f"scope must be 'global' or 'layer', got {self.scope!r}.")
        self._check_max_units()
        self._check_ranking()

    def _check_ranking(self):
        if self.ranking not in ("activation", "magnitude"):
            raise ValueError(
                f"ranking must be 'activation' or 'magnitude', got {self.ranking!r}.")
        for name in ("lr_scaling", "weight_decay"):
            v = getattr(self, name)
            if (isinstance(v, bool) or not isinstance(v, (int, float, np.number))
                    or not 0 <= v < np.inf):
                raise ValueError(f"{name} must be a finite number >= 0, got {v!r}.")

    def _check_max_units(self):
        caps = self.max_units
        if caps is None:
            return
        for c in ([caps] if np.ndim(caps) == 0 else caps):
            if c is not None and (isinstance(c, bool) or not isinstance(c, (int, np.integer))
                                  or c < 1):
                raise ValueError(
                    "max_units must be None, an int >= 1 or one such entry (or None) "
                    f"per hidden layer, got {self.max_units!r}."
                )


class OneShot(PruneSchedule):
    __doc__ = f"""Prune once: train dense, prune to the target at ``at``, then fine-tune.

    Parameters
    ----------
    at : float in [0, 1), default=0.5
        When to prune, as a fraction of training.
{_RANKING_DOC}    """

    def __init__(self, at=0.5, scope="global", unit_power=0.0, max_units=None,
                 ranking="magnitude", lr_scaling=0.8, weight_decay=2e-3):
        self.at = at
        self._set_ranking(scope, unit_power, max_units, ranking, lr_scaling, weight_decay)

    def _check(self):
        if not 0.0 <= self.at < 1.0:
            raise ValueError(f"OneShot needs 0 <= at < 1, got at={self.at}.")
        if self.scope not in ("global", "layer"):
            raise ValueError(f"scope must be 'global' or 'layer', got {self.scope!r}.")
        self._check_max_units()
        self._check_ranking()

    def sparsity_at(self, progress, target):
        return float(target) if progress >= self.at else 0.0

    def update_steps(self, total_steps):
        return np.array([_ceil(self.at * total_steps)])


class Gradual(PruneSchedule):
    __doc__ = f"""Prune gradually along a polynomial ramp (Zhu & Gupta, 2017).

    ``s_t = s_f + (s_i - s_f) * (1 - (t - t0) / (t1 - t0)) ** power``

    between ``start`` and ``end`` (fractions of training), frozen after ``end``.
    Masks are updated every ``update_every`` optimizer steps, or (``None``) at
    ``n`` points. From 16 updates on they are evenly spaced in time. Fewer go
    where the ramp has planned 1/n, 2/n, ... of its pruning, so that each
    prunes the same share of the target: at equal times the cubic ramp prunes
    a sixth of the target in the first of 16 updates and a few weights in the
    last, and with few updates the first ones are too big. On 5-epoch MNIST
    fits (l1 plus 90%, 10 seeds) 8 updates at equal shares scored 0.917, like
    18 at equal times, while 8-13 at equal times scored 0.910-0.913. On long
    ramps at 99% equal times are better (the last share is then most of the
    weights still left).

    ``n`` is one update per ``min_interval`` steps of the ramp, at least 8 (one per
    step on a ramp shorter than that) and at most ``n_updates``. An update ranks every weight once (and, with
    ``ranking="activation"``, runs one forward pass), which costs about as much
    as one or two optimizer steps at the default batch size on any machine,
    since both scale with the number of weights; ten steps per update bound
    that overhead to about a tenth of the ramp's cost.

    Parameters
    ----------
    start : float in [0, 1], default=0.1
        Fraction of training where the ramp starts.
    end : float in [0, 1], default=0.6
        Fraction of training where the target is reached and the masks freeze.
    power : float, default=3
        Exponent of the ramp (3: prune fast early, slowly near the target).
    initial_sparsity : float, default=0
        Sparsity at ``start``.
    update_every : int or None, default=None
        Optimizer steps between mask updates.
    n_updates : int, default=50
        Most updates the ramp has when ``update_every`` is None.
{_RANKING_DOC}    min_interval : int >= 1, default=10
        Optimizer steps of the ramp per mask update when ``update_every`` is
        None (keeps the updates' cost small on short fits); a short ramp still
        gets 8 updates.
    """

    def __init__(self, start=0.1, end=0.6, power=3, initial_sparsity=0.0,
                 update_every=None, n_updates=50, scope="global", unit_power=0.0,
                 max_units=None, ranking="magnitude", lr_scaling=0.8, weight_decay=2e-3,
                 min_interval=10):
        self._set_ranking(scope, unit_power, max_units, ranking, lr_scaling, weight_decay)
        self.min_interval = min_interval
        self.start = start
        self.end = end
        self.power = power
        self.initial_sparsity = initial_sparsity
        self.update_every = update_every
        self.n_updates = n_updates

    def sparsity_at(self, progress, target):
        if progress < self.start:
            return 0.0
        if self.end <= self.start or progress >= self.end:
            return float(target)
        frac = (progress - self.start) / (self.end - self.start)
        s_i = min(self.initial_sparsity, target)
        return float(target + (s_i - target) * (1.0 - frac) ** self.power)

    def update_steps(self, total_steps):
        t0 = _ceil(self.start * total_steps)
        t1 = max(_ceil(self.end * total_steps), t0)
        ramp = t1 - t0
        if self.update_every:
            steps = np.arange(t0, t1 + 1, int(self.update_every))
            if len(steps) == 0 or steps[-1] != t1:
                steps = np.append(steps, t1)
            return steps
        # one update per min_interval steps, at least _MIN_UPDATES, at most n_updates
        # (and one per step)
        n = min(max(ramp // max(int(self.min_interval or 1), 1), _MIN_UPDATES),
                max(int(self.n_updates), 1), max(ramp, 1))
        share = np.arange(1, n + 1) / n
        power = float(self.power)
        if n >= _EVEN_TIMES_FROM or power <= 0:
            frac = share  # evenly spaced in time
        else:  # update j where the ramp has planned j/n of its pruning
            frac = 1.0 - (1.0 - share) ** (1.0 / power)
        steps = np.minimum(np.ceil(t0 + frac * ramp - 1e-9).astype(int), t1)
        # updates that round to the same step (the first ones of a short ramp) move
        # apart: n distinct steps fit, since n <= ramp
        for j in range(1, n):
            steps[j] = max(steps[j], steps[j - 1] + 1)
        steps[-1] = t1
        for j in range(n - 2, -1, -1):
            steps[j] = min(steps[j], steps[j + 1] - 1)
        if self.initial_sparsity > 0:  # the jump to initial_sparsity at the start
            steps = np.concatenate([[t0], steps])
        return np.unique(steps)


class Iterative(PruneSchedule):
    __doc__ = f"""Prune in rounds of train, prune, retrain.

    ``n_rounds`` prunes evenly spaced over [start, end]; after round ``k`` the
    sparsity is ``1 - (1 - target) ** (k / n)`` (each round prunes the same
    fraction of the survivors).

    Parameters
    ----------
    n_rounds : int, default=5
        Number of prune rounds.
    start : float in [0, 1], default=0.2
        Fraction of training of the first round.
    end : float in [0, 1], default=0.8
        Fraction of training of the last round.
    rewind_epoch : int or None, default=None
        If set, after every round the surviving weights are reset to their
        values at the end of that epoch (lottery-ticket rewinding) and the
        optimizer state is reset; otherwise training continues from the pruned
        weights.
{_RANKING_DOC}    """

    def __init__(self, n_rounds=5, start=0.2, end=0.8, rewind_epoch=None, scope="global",
                 unit_power=0.0, max_units=None, ranking="magnitude", lr_scaling=0.8,
                 weight_decay=2e-3):
        self._set_ranking(scope, unit_power, max_units, ranking, lr_scaling, weight_decay)
        self.n_rounds = n_rounds
        self.start = start
        self.end = end
        self.rewind_epoch = rewind_epoch

    def _round_points(self):
        n = int(self.n_rounds)
        if n == 1:
            return np.array([self.end])
        return np.linspace(self.start, self.end, n)

    def sparsity_at(self, progress, target):
        points = self._round_points()
        k = int(np.searchsorted(points, progress + 1e-12, side="right"))
        if k == 0:
            return 0.0
        return float(1.0 - (1.0 - target) ** (k / len(points)))

    def update_steps(self, total_steps):
        return np.unique([_ceil(p * total_steps) for p in self._round_points()])


class Dynamic(PruneSchedule):
    """Train sparse from the start, dropping and regrowing weights (SET / RigL).

    Sparse at the target from the first step; every ``update_every`` steps until
    ``end``, drop the ``drop_fraction`` (cosine-decayed) smallest-magnitude active
    weights of each layer and regrow as many, at random
    (``regrow_method="random"``, SET) or where the gradient is largest
    (``regrow_method="gradient"``, RigL). Regrown weights start at 0.

    Parameters
    ----------
    update_every : int, default=50
        Optimizer steps between drop-and-regrow updates.
    drop_fraction : float, default=0.3
        Fraction of each layer's active weights dropped at the first update
        (cosine-decayed to 0 at ``end``).
    end : float in [0, 1], default=0.75
        Fraction of training after which the masks are final.
    regrow_method : {"gradient", "random"}, default="gradient"
        Where weights regrow.
    scope : {"global", "layer"}, default="global"
        ``"global"``: one magnitude ranking over all layers; ``"layer"``: every
        layer alike.
    """

    regrow = True

    def __init__(self, update_every=50, drop_fraction=0.3, end=0.75,
                 regrow_method="gradient", scope="global"):
        self.update_every = update_every
        self.drop_fraction = drop_fraction
        self.end = end
        self.regrow_method = regrow_method
        self.scope = scope

    @property
    def start(self):
        """Always 0: dynamic sparse training is sparse from the first step."""
        return 0.0

    def _check(self):
        super()._check()
        if self.regrow_method not in ("random", "gradient"):
            raise ValueError(
                f"regrow_method must be 'random' or 'gradient', got {self.regrow_method!r}."
            )

    def sparsity_at(self, progress, target):
        return float(target)

    def drop_fraction_at(self, progress):
        """Return the fraction of active weights dropped at ``progress``.

        Parameters
        ----------
        progress : float in [0, 1]
            Fraction of all training steps done.

        Returns
        -------
        fraction : float
            ``drop_fraction`` decayed along a cosine to 0 at ``end``.
        """
        if progress >= self.end or self.end == 0:
            return 0.0
        return float(self.drop_fraction * 0.5 * (1.0 + np.cos(np.pi * progress / self.end)))

    def update_steps(self, total_steps):
        t1 = int(round(self.end * total_steps))
        return np.arange(0, max(t1, 0) + 1, max(int(self.update_every), 1))


_SCHEDULES = {"one_shot": OneShot, "gradual": Gradual, "iterative": Iterative,
              "dynamic": Dynamic}


@validate_params(
    {"schedule": [None, StrOptions(set(_SCHEDULES)), PruneSchedule]},
    prefer_skip_nested_validation=True,
)
def get_schedule(schedule):
    """Return the schedule object for a ``prune_schedule`` value.

    Parameters
    ----------
    schedule : {None, "one_shot", "gradual", "iterative", "dynamic"} or PruneSchedule
        A name (its class with default parameters), a schedule (checked and
        returned as is) or None.

    Returns
    -------
    schedule : PruneSchedule or None
        The schedule; None stays None.
    """
    if schedule is None:
        return None
    if isinstance(schedule, str):
        schedule = _SCHEDULES[schedule]()
    schedule._check()
    return schedule


# re-exported for the estimators' parameter constraints
SCHEDULE_NAMES = frozenset(_SCHEDULES)
