"""Features kept by one fit against input_l1, on a fine grid and several seeds.

Friedman #1 (750 rows, 50 features, noise 0.5, standardised), a (64,) network,
200 epochs, batch 200, learning rate 3e-3. A cell reads ``n`` (features kept),
``n*`` (exactly the five true ones) or ``n-j`` (true feature ``j`` missing).
``--ramp-end 0.3 --reweight-at 0.5`` gives the penalty schedule before issue 15.

    python benchmarks/bench_input_l1_window.py [--seeds 3] [--ramp-end R] [--reweight-at Q]
"""

import argparse
import sys
import warnings
from pathlib import Path

import numpy as np
from sklearn.datasets import make_friedman1
from sklearn.preprocessing import StandardScaler

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from sksparse_nn import SparseMLPRegressor  # noqa: E402
from sksparse_nn.schedules import L1Schedule  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--ramp-end", type=float, default=None)
    parser.add_argument("--reweight-at", type=float, default=None)
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore")
    given = {name: value for name, value in (("ramp_end", args.ramp_end),
                                             ("reweight_at", args.reweight_at))
             if value is not None}
    schedule = L1Schedule(**given) if given else None
    grid = np.geomspace(0.003, 0.05, 13)
    print("| seed | " + " | ".join(f"{g:.4f}" for g in grid) + " |")
    print("|---|" + "---:|" * len(grid))
    for seed in range(args.seeds):
        X, y = make_friedman1(n_samples=750, n_features=50, noise=0.5, random_state=seed)
        X = StandardScaler().fit_transform(X)
        cells = []
        for lam in grid:
            m = SparseMLPRegressor((64,), input_l1=lam, max_iter=200, learning_rate_init=3e-3,
                                   tol=0.0, l1_schedule=schedule, random_state=seed).fit(X, y)
            kept = np.flatnonzero(m.feature_importances_)
            missing = "".join(str(j) for j in range(5) if j not in kept)
            cells.append(f"{len(kept)}{'*' if kept.tolist() == list(range(5)) else ''}"
                         f"{'-' + missing if missing else ''}")
        print(f"| {seed} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
