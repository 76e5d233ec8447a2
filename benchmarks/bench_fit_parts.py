"""Where the extra time of a short sparse fit goes.

MNIST-5k, (300, 100), scikit-learn's learning rate and batch size; the dense fit
against ``l1=1e-4`` with gradual pruning to 90%. Each part of the training engine
is wrapped by a timer; the median over interleaved fits is printed per part, for
both sides. Run on an idle machine:

    python benchmarks/bench_fit_parts.py --epochs 5 --reps 5
"""

import argparse
import collections
import functools
import time
import warnings

import numpy as np
from sksparse_nn import SparseMLPClassifier
from sksparse_nn import _estimator, _network
from sksparse_nn._training import _callbacks, _net

from run import mnist  # the benchmark's MNIST-5k split (run.py, beside this file)

PARTS = [(_callbacks.MagnitudePruning, "_update"), (_callbacks.MagnitudePruning, "on_grad_computed"),
         (_callbacks.ProximalL1, "_after_step"), (_network.SparseMLP, "apply_masks_"),
         (_callbacks.SparsityLog, "on_epoch_end"), (_callbacks.TrainSmaller, "on_epoch_end"),
         (_net.TorchNet, "train_step"), (_net.TorchNet, "run_single_epoch"),
         (_estimator._BaseSparseMLP, "fit")]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--reps", type=int, default=5)
    args = ap.parse_args()
    warnings.simplefilter("ignore")
    Xtr, _, ytr, _ = mnist()
    spent = collections.defaultdict(float)
    for cls, name in PARTS:
        def timed(f, label):
            @functools.wraps(f)
            def g(*a, **k):
                t = time.perf_counter()
                try:
                    return f(*a, **k)
                finally:
                    spent[label] += time.perf_counter() - t
            return g
        setattr(cls, name, timed(getattr(cls, name), f"{cls.__name__}.{name}"))
    SparseMLPClassifier((300, 100), max_iter=2, random_state=0).fit(Xtr[:500], ytr[:500])
    runs = collections.defaultdict(list)
    for rep in range(args.reps):
        for side, kw in (("dense", {}), ("sparse", {"l1": 1e-4, "target_sparsity": 0.9})):
            spent.clear()
            SparseMLPClassifier((300, 100), max_iter=args.epochs, random_state=rep, **kw).fit(Xtr, ytr)
            for label in {f"{c.__name__}.{n}" for c, n in PARTS}:
                runs[side, label].append(spent.get(label, 0.0))
    print(f"{args.epochs} epochs, median of {args.reps} fits per side (ms)")
    print("| part | dense | sparse | sparse - dense |\n|---|---:|---:|---:|")
    for cls, name in PARTS:
        label = f"{cls.__name__}.{name}"
        d, s = (1e3 * np.median(runs[side, label]) for side in ("dense", "sparse"))
        print(f"| {label} | {d:.1f} | {s:.1f} | {s - d:+.1f} |")


if __name__ == "__main__":
    main()
