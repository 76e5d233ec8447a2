"""Proximal operators for L1 and group-lasso penalties (torch only, in place).

A proximal step after each optimizer step sets weights *exactly* to zero, where a
penalty added to the loss only makes them small. Under Adam the step on coordinate
``i`` is ``lr * m_i / (sqrt(v_i) + eps)``, not ``lr * gradient``, so the threshold
must be scaled by the same preconditioner (ProxGen, Yun et al., NeurIPS 2021):
``lr * lambda / (sqrt(v_hat_i) + eps)``.
"""

import torch
from torch.nn import functional as F


@torch.no_grad()
def soft_threshold_(w, threshold):
    """``w <- sign(w) * max(|w| - threshold, 0)``; ``threshold`` scalar or like ``w``."""
    shrunk = w.abs().sub_(threshold).clamp_(min=0.0)
    w.copy_(shrunk.mul_(torch.sign(w)))
    return w


@torch.no_grad()
def group_soft_threshold_(W, threshold, dim=0):
    """Group soft-threshold of the slices of ``W`` along ``dim`` (``dim=0``: each
    column is a group, i.e. the outgoing weights of one input feature).

    ``W[:, j] <- W[:, j] * max(0, 1 - threshold_j / ||W[:, j]||_2)``.
    Returns the boolean vector of groups that are now entirely zero.
    """
    norms = torch.linalg.vector_norm(W, dim=dim)
    scale = torch.clamp(1.0 - threshold / torch.clamp(norms, min=1e-30), min=0.0)
    W.mul_(scale.unsqueeze(dim))
    return scale == 0.0


@torch.no_grad()
def adam_denominator(optimizer, param):
    """``sqrt(v_hat) + eps`` of ``param`` under an Adam-type optimizer, or None
    before the first step (or for optimizers that keep no second moment)."""
    state = optimizer.state.get(param)
    if not state or "exp_avg_sq" not in state:
        return None
    group = next(g for g in optimizer.param_groups if any(p is param for p in g["params"]))
    beta2 = group["betas"][1]
    step = state["step"]
    step = float(step.item() if torch.is_tensor(step) else step)
    bias_correction2 = 1.0 - beta2 ** step
    return state["exp_avg_sq"].div(bias_correction2).sqrt_().add_(group["eps"])


def prox_denominator(exp_avg_sq, c, eps, index=None):
    """``sqrt(v_hat) + eps`` with ``v_hat = v / c**2`` (``c = sqrt(1 - beta2^t)``,
    Adam's bias correction): the per-weight denominator of the scaled L1 threshold
    ``lr * lambda / d``, at flat ``index`` only when given. Bias-corrected, so
    that it stays comparable across steps when a caller reuses it for a few."""
    if index is None:
        return exp_avg_sq.sqrt().div_(c).add_(eps)
    return exp_avg_sq.view(-1).index_select(0, index).sqrt_().div_(c).add_(eps)


def prox_l1_(w, d, s, index=None):
    """In-place ``soft_threshold_(w, s / d)`` (at flat ``index`` only, when given;
    ``d`` then holds those entries). Soft-thresholding commutes with a positive
    scale, ``soft(w, s / d) = soft(w * d, s) / d``: one fused ``softshrink``
    with the scalar ``s``. Weights under the threshold become exactly 0, the
    others equal the direct formula to rounding.

    ``w`` must carry no autograd history (pass ``param.data``): no no_grad context
    is entered here, it would cost more than the arithmetic on small layers.
    """
    if index is None:
        torch.div(F.softshrink(w.mul(d), s), d, out=w)
        return w
    flat = w.view(-1)
    flat.index_copy_(0, index, F.softshrink(flat.index_select(0, index).mul_(d), s).div_(d))
    return w


def adam_soft_threshold_(w, exp_avg_sq, step, beta2, eps, lr_lambda, index=None):
    """In-place ``soft_threshold_(w, lr * lambda / (sqrt(v_hat) + eps))``
    (:func:`prox_denominator`, :func:`prox_l1_`). ``step`` is Adam's step count
    (number or tensor). ``index`` (flat indices into contiguous ``w``): threshold
    only those entries, e.g. the few a pruning mask leaves free (the others are
    held at zero anyway).
    """
    c = (1.0 - beta2 ** float(step)) ** 0.5
    return prox_l1_(w, prox_denominator(exp_avg_sq, c, eps, index), float(lr_lambda), index)
