"""Torch's CPU kernels for inference, and the thresholds of the kernel choice.

The float32 path runs on oneDNN's fused linear (the op torch's compiler emits
for linear layers on CPU) and on ``embedding_bag`` for a sparse first layer.
Neither fused op is public API, so :func:`torch_kernels_ok` checks them once per
process before any use.
"""

import torch
from torch.nn import functional as F

from .._activations import ACTIVATIONS

# Below this density a layer is stored as CSR (small pickles).
SPARSE_DENSITY = 0.1
# Layers smaller than this are always dense: the CSR bookkeeping is not worth it.
SPARSE_MIN_SIZE = 4096
# numpy path (float64 input, or torch without the kernels below): the first layer
# is multiplied sparsely when its density, counted over the full input width, is
# at most this. Measured on the 2-core machine (MNIST rows, caches cold as in a
# real call): a CSR product over transposed row chunks costs about as much per
# stored entry as 10 dense multiply-adds, plus the transposition of the input; a
# 98%-sparse first layer of 163 units (2.8% dense) then runs 1.2-1.6x faster than
# the dense product over its surviving units, a 30-42 unit layer at 10-15% runs
# faster dense. scipy's CSR product holds the GIL and runs on one core.
SPARSE_FIRST_DENSITY = 0.07
# torch path (float32 input): dense layers go through oneDNN's fused linear, a
# sparse first layer through F.embedding_bag (see CompactMLP._decision_bags),
# which pays for transposing the input whatever the sparsity. Costs in ns per
# input row, fitted on the 2-core machine over 43 first layers (30-1000 units,
# 0.5-30% dense, 784 inputs, one output layer of 10, 10,000 rows, repeated calls;
# within 20%): the sparse path 0.73 per input column, 0.14 per unit and 0.031 per
# stored weight, the dense product 0.0115 per multiply-add. The sparse path is
# taken when cheaper and the layer is at most BAGS_MAX_DENSITY dense: for 784
# inputs from about 70 units on at 1-2% (1,000 units at 1%: 9.6 against 86 ms;
# 163 units at 2%: 6.6 against 14.3 ms; 300 units at 20%: 25 against 27 ms;
# 30 units at 2%: 5.8 against 3.1 ms, dense). Checked on 40 layers timed after
# an idle 0.25 s (as in benchmarks/run.py; both paths slower there): it picked
# the faster path for all but one tie (100 units at 7%: 11.4 against 11.4 ms).
# Below this many rows float32 input stays on numpy: each oneDNN call costs about
# 20 us more than a small BLAS product (batch 1: 110 against 26 us for the dense
# MNIST network), and the two break even at 500-2,500 rows depending on the net.
# Networks on the torch sparse path (embedding_bag, see CompactMLP.sparse_first)
# take it from TORCH_MIN_ROWS_BAGS rows on: the gradual-98% MNIST network, each
# path timed in a process of its own, ran 1,000 rows in 1.3 against 2.4 ms on
# numpy when called back to back (2.3 against 2.4 ms after 0.25 s idle), 2,000 in
# 3.3-3.5 against 4.5-4.8 ms, 512 in 0.9 against 0.9 ms (a tie, idle or not),
# 64 in 0.5 against 0.2 ms.
TORCH_MIN_ROWS = 2048
TORCH_MIN_ROWS_BAGS = 512
COST_TRANSPOSE = 0.73
COST_UNIT = 0.14
COST_NNZ = 0.031
COST_FMA = 0.0115
# Rows per chunk of the sparse first layer: the transposed chunk (n_features x 256)
# and its product stay in cache.
_CHUNK = 256
# Size of the transposed-input table of the torch sparse first layer (whole
# chunks, at least one): 5 chunks of MNIST rows. On 16,384 MNIST rows, blocks of
# 4-8 chunks measured 15-17 ms, 16-32 chunks 17-19 ms, one table 34-38 ms.
_BAGS_TABLE_BYTES = 4 << 20
# The torch sparse path takes layers at most this dense as bags: the first when
# the cost model says so, each following one while the layers before it are bags
# (else batched dense products). Measured on 40 chunks of 256 rows, bags against
# dense: 91 x 163 at 10%: 0.5 against 1.9 ms, at 30%: 1.2 against 1.9, at 50%:
# 2.0 against 1.9; 300 x 300 at 30%: 7.1 against 10.5 ms.
BAGS_MAX_DENSITY = 0.3

_TORCH_PROBE = {}


def _linear(x, weight, bias, attr="none"):
    """``attr(x @ weight.T + bias)`` by oneDNN (float32, CPU). This is the op that
    torch's compiler (inductor, with freezing) emits for linear layers on CPU; it
    is not public API, so :func:`torch_kernels_ok` checks it before any use."""
    return torch.ops.mkldnn._linear_pointwise(x, weight, bias, attr, [None], "")


def _packed(weight):
    """``weight`` reordered into oneDNN's blocked layout (for :func:`_linear`)."""
    return torch.ops.mkldnn._reorder_linear_weight(weight, None)


def torch_kernels_ok():
    """Whether the float32 inference path can run on torch's kernels: oneDNN's fused
    linear and weight packing exist and agree with plain torch, and
    ``embedding_bag`` turns a zero weight on a NaN or inf into NaN (the sparse first
    layer finds non-finite input that way). Checked once per process; if anything
    differs or raises, float32 input takes the numpy path."""
    if "ok" not in _TORCH_PROBE:
        ok = False
        try:
            if torch.backends.mkldnn.is_available():
                g = torch.Generator().manual_seed(0)
                x = torch.randn(37, 19, generator=g)
                w = torch.randn(11, 19, generator=g)
                b = torch.randn(11, generator=g)
                ref = x @ w.T + b
                ok = all(torch.allclose(_linear(x, w, b, act.onednn), act.torch_(ref.clone()),
                                        atol=1e-5)
                         for act in ACTIVATIONS.values())
                ok = ok and all(torch.allclose(_linear(x[:k], _packed(w), b), ref[:k], atol=1e-5)
                                for k in (1, 37))
                table = torch.ones(3, 4)
                table[1, 2] = float("nan")
                table[2, 0] = float("inf")
                out = F.embedding_bag(torch.tensor([0, 1, 2, 0]), table, torch.tensor([0, 1]),
                                      mode="sum",
                                      per_sample_weights=torch.tensor([2.0, 0.0, 0.0, 1.0]))
                ok = (ok and torch.equal(out[0], torch.full((4,), 2.0))
                      and torch.equal(torch.isnan(out[1]), torch.tensor([True, False, True, False]))
                      and torch.equal(out[1, [1, 3]], torch.ones(2)))
        except Exception:  # an older or newer torch without the op: numpy path
            ok = False
        _TORCH_PROBE["ok"] = bool(ok)
    return _TORCH_PROBE["ok"]
