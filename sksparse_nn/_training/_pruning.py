"""Magnitude ranking, masks and dynamic regrowth.

Pure torch functions on weight and mask tensors (and, for activation ranking,
the input statistics of a network); no training loop here.
"""

import math

import numpy as np
import torch

from .._network import count_true, float_mask


@torch.no_grad()
def top_k_mask(scores, k, n_valid=None):
    """Boolean mask of exactly ``k`` largest entries of a 1-D tensor; negative entries
    (already pruned) rank below all others, ties go by position. On the CPU the
    threshold comes from numpy's introselect over the non-negative entries only
    (the many equal negative ones slow introselect down), faster than
    ``torch.topk`` for the large ``k`` of pruning (benchmarks/PERFORMANCE.md,
    Training). ``n_valid``: the number of non-negative entries, when the caller
    knows it (saves a pass over ``scores``)."""
    n = scores.numel()
    k = max(0, min(int(k), n))
    if k == 0:
        return torch.zeros(n, dtype=torch.bool, device=scores.device)
    if n_valid is None:
        n_valid = count_true(scores >= 0)
    if k >= n_valid:
        mask = scores >= 0
        if k > n_valid:
            rest = torch.where(mask, torch.full_like(scores, -math.inf), scores)
            mask[torch.topk(rest, k - n_valid).indices] = True
        return mask
    thr = None
    if scores.device.type == "cpu":
        if n >= _BRACKET_MIN:
            thr = _bracketed_kth_largest(scores.numpy(), k)
        if thr is None:
            sub = scores[scores >= 0]
            thr = float(np.partition(sub.numpy(), n_valid - k)[n_valid - k])
    else:
        thr = float(torch.kthvalue(scores[scores >= 0], n_valid - k + 1).values)
    # thr is the k-th largest entry: ">=" selects exactly k unless it is tied
    # (rare), and then the last of the tied entries go
    mask = scores >= thr
    extra = count_true(mask) - k
    if extra > 0:
        tied = torch.nonzero(scores == thr).flatten()
        mask[tied[tied.numel() - extra:]] = False
    return mask


# Arrays at least this long get the k-th largest entry by a sampled bracket first.
_BRACKET_MIN = 1 << 16
_SAMPLE = 8192


def _bracketed_kth_largest(a, k):
    """The ``k``-th largest entry of the 1-D array ``a``, exactly, found by ranking
    a strided sample to bracket it, counting the entries above the bracket and
    selecting among the few inside it: less work than a selection over the whole
    array (a pruning update ranks all weights of the network). The caller
    guarantees a non-negative answer (at least ``k`` entries >= 0); the negative
    (already pruned) entries stay out of the bracket. None when the bracket
    misses (the caller then selects over everything)."""
    n = a.size
    step = max(1, n // _SAMPLE)
    sample = np.sort(a[::step])
    m = sample.size
    r = k * m / n  # expected rank of the k-th largest, counted from the top
    margin = 4.0 * np.sqrt(max(r * (1.0 - r / m), 1.0)) + 8.0
    hi = sample[max(0, m - 1 - int(r - margin))] if r - margin > 0 else np.inf
    lo = max(sample[max(0, m - 1 - int(np.ceil(r + margin)))], 0.0)
    above = int(np.count_nonzero(a > hi)) if np.isfinite(hi) else 0
    inside = a[(a >= lo) & (a <= hi)]
    need = k - above  # rank of the answer among the entries inside the bracket
    if need < 1 or need > inside.size:
        return None
    return float(np.partition(inside, inside.size - need)[inside.size - need])


def _scores(w, m, unit_power):
    """|w|, or with ``unit_power`` p > 0: ``|w_ij| * r_i^p`` (r_i: norm of unit i's
    surviving incoming weights), rescaled to the layer's total magnitude. Weights
    of weak units rank lower, so pruning empties whole units first: those are
    removed at compaction, which is what makes a pruned network faster on a CPU."""
    a = (w * m).abs()
    if not unit_power:
        return a
    r = torch.linalg.vector_norm(a, dim=1)
    scores = a * r.pow(unit_power)[:, None]
    # same total as plain magnitudes: the layer keeps its share of a global budget
    return scores * (a.sum() / scores.sum().clamp(min=1e-30))


@torch.no_grad()
def cap_units(weights, masks, caps):
    """Masks with at most ``caps[l]`` live units in hidden layer ``l`` (None: no
    cap). The weakest units by ``||w_in|| * ||w_out||`` (surviving weights, all
    measured before any unit goes; a ReLU unit's output scales with the first,
    its effect with the second) lose all their incoming and outgoing weights.
    Returns new masks (or the given ones)."""
    norms = [torch.linalg.vector_norm(w * m, dim=1) for w, m in zip(weights, masks)]
    norms_out = [torch.linalg.vector_norm(w * m, dim=0) for w, m in zip(weights, masks)]
    masks = list(masks)
    for layer, cap in enumerate(caps):
        if cap is None:
            continue
        importance = norms[layer] * norms_out[layer + 1]
        if int((importance > 0).sum()) <= cap:
            continue
        drop = ~top_k_mask(importance, cap)
        masks[layer] = masks[layer].clone()
        masks[layer][drop, :] = False
        masks[layer + 1] = masks[layer + 1].clone()
        masks[layer + 1][:, drop] = False
    return masks


@torch.no_grad()
def _column_rms(X):
    """Root mean square of each column of a 2-D tensor (dense or sparse)."""
    n = X.shape[0]
    if X.layout == torch.strided:
        return torch.linalg.vector_norm(X, dim=0) / math.sqrt(max(n, 1))
    X = X.to_sparse_coo().coalesce()
    sq = torch.zeros(X.shape[1], dtype=X.dtype, device=X.device)
    sq.index_add_(0, X.indices()[1], X.values() ** 2)
    return torch.sqrt(sq / max(n, 1))


@torch.no_grad()
def input_rms(module, X):
    """Per linear layer of ``module``, the RMS of each of its inputs over the rows of
    ``X``: the scale that turns a weight's magnitude into the size of its
    contribution. Measured in eval mode (no dropout, batch norm's running
    statistics), through the module's own forward, so inputs cut while training
    and sparse rows are handled as in training."""
    scales = []
    hooks = [lin.register_forward_pre_hook(lambda _, inp: scales.append(_column_rms(inp[0])))
             for lin in module.linears]
    was_training = module.training
    try:
        module.eval()
        module(X)
    finally:
        module.train(was_training)
        for h in hooks:
            h.remove()
    return scales


def _masked_scores_into(out, a, m):
    """Write ``a`` with the masked-out entries set to -1 (below every score) into
    ``out``, by arithmetic on the float mask: ``(mf - 1) + a * mf`` is ``a`` exactly
    where ``mf`` is 1 and -1 where it is 0. Boolean selection (``torch.where``,
    ``masked_fill``) takes several times longer on a weight matrix, and this runs
    at every mask update."""
    mf = float_mask(m, a.dtype)
    torch.addcmul(mf - 1.0, a, mf, out=out.view_as(a))


def magnitude_masks(weights, masks, sparsity, scope="global", floor=0.2, unit_power=0.0,
                    unit_caps=None, input_scale=None):
    """Masks keeping the largest-magnitude weights so that a fraction ``sparsity``
    of all entries is masked out. Already-masked entries are pruned first, so masks
    only ever shrink (entries at exactly zero count as the smallest).

    ``scope="global"`` ranks all layers together, except that every layer keeps at
    least ``floor`` times its share of a uniform budget; ``"layer"`` prunes each
    layer to ``sparsity`` on its own. ``unit_power`` > 0 ranks by :func:`_scores`
    (prefer emptying whole units and inputs). ``unit_caps`` (one entry per hidden
    layer, None for no cap) first empties all but that many units per layer
    (:func:`cap_units`); the weights they free go to the other units.
    ``input_scale`` (one 1-D tensor per layer, e.g. from :func:`input_rms`) ranks
    ``|w_ij| * scale_j`` instead of ``|w_ij|``: a weight reading an input that is
    always zero (a blank MNIST border pixel) or tiny ranks last, whatever its size
    (the weight-and-activation score of Sun et al., 2023). Returns new boolean masks.
    """
    if input_scale is not None:
        weights = [w * s.to(w.dtype)[None, :] for w, s in zip(weights, input_scale)]
    if unit_caps is not None and any(c is not None for c in unit_caps):
        masks = cap_units(weights, masks, unit_caps)
    if scope == "layer":
        last = len(weights) - 1
        return [magnitude_masks([w], [m], sparsity, "global", floor,
                                unit_power if i < last else 0.0)[0]
                for i, (w, m) in enumerate(zip(weights, masks))]
    last = len(weights) - 1  # output rows are classes/targets: never biased
    n = sum(w.numel() for w in weights)
    if n == 0:  # every unit was removed: nothing left to rank
        return [m.clone() for m in masks]
    ends = np.cumsum([w.numel() for w in weights])
    bounds = list(zip(ends - np.array([w.numel() for w in weights]), ends))
    scores = torch.empty(n, dtype=weights[0].dtype, device=weights[0].device)
    per_layer = [scores[a:b] for a, b in bounds]
    for i, (seg, w, m) in enumerate(zip(per_layer, weights, masks)):
        _masked_scores_into(seg, w.abs() if not unit_power or i == last
                            else _scores(w, m, unit_power), m)
    n_free = [count_true(m) for m in masks]
    n_keep = n - max(int(round(sparsity * n)), n - sum(n_free))  # never un-prune
    keep = top_k_mask(scores, n_keep, n_valid=sum(n_free))
    # Global ranking alone can empty a layer whose weights are smaller (e.g. a wide
    # first layer against the output layer): every layer keeps at least its
    # strongest `floor` share of a uniform budget, the rest is ranked globally.
    floors = [min(int(math.ceil(floor * n_keep * s.numel() / n)), free)
              for s, free in zip(per_layer, n_free)]
    if any(count_true(keep[a:b]) < f for (a, b), f in zip(bounds, floors)):
        keep = torch.zeros(n, dtype=torch.bool, device=scores.device)
        for (a, b), f, s in zip(bounds, floors, per_layer):
            keep[a:b] = top_k_mask(s, f)
        rest = n_keep - count_true(keep)
        if rest > 0:
            keep |= top_k_mask(torch.where(keep, torch.full_like(scores, -2.0), scores), rest)
    out = [keep[a:b].view_as(w).clone() for (a, b), w in zip(bounds, weights)]
    return out


@torch.no_grad()
def regrow_masks(weights, masks, drop_fraction, grads=None, method="gradient", generator=None):
    """One dynamic-sparse-training update per layer (SET / RigL): drop the
    ``drop_fraction`` smallest active weights, regrow as many inactive ones, at
    random or where ``|grad|`` is largest. The number of active weights per layer
    is unchanged; dropped entries are not regrown in the same update."""
    out = []
    for w, m, g in zip(weights, masks, grads or [None] * len(weights)):
        flat_m = m.flatten()
        n_active = int(flat_m.sum())
        n_drop = int(math.floor(drop_fraction * n_active))
        n_inactive = flat_m.numel() - n_active
        n_drop = min(n_drop, n_inactive)
        if n_drop == 0:
            out.append(m.clone())
            continue
        mag = torch.where(flat_m, w.abs().flatten(), torch.full_like(flat_m, math.inf, dtype=w.dtype))
        drop = top_k_mask(-mag, n_drop)
        new = flat_m.clone()
        candidates = ~flat_m  # inactive before this update
        if method == "gradient" and g is not None:
            score = torch.where(candidates, g.abs().flatten(),
                                torch.full_like(mag, -math.inf))
        else:
            rnd = torch.rand(flat_m.numel(), generator=generator).to(w.device)
            score = torch.where(candidates, rnd.to(w.dtype), torch.full_like(mag, -math.inf))
        grow = top_k_mask(score, n_drop)
        new[drop] = False
        new[grow] = True
        out.append(new.view_as(m))
    return out
