"""Inputs at scale: sparse CSR memory and time, one-pass partial_fit accuracy.

(a) A CSR matrix of 20,000 x 40,000 at 0.15% nonzero (about TF-IDF's shape):
    peak resident memory above the process's memory before ``fit`` (data already
    built) for ``fit`` + ``predict_proba``, and the fit time, for SparseMLPClassifier
    and scikit-learn's MLPClassifier on the same data and epochs. Every model runs
    in a fresh subprocess; a sampling thread reads the RSS every 2 ms (and
    ``ru_maxrss`` is taken too); a run is aborted above ``--abort-gb``.
(b) The first layer on sparse mini-batches: densify each batch then a dense
    product, against a torch sparse CSR @ dense product (ms per training step,
    interleaved repetitions in one process).
(c) One pass (and three) of partial_fit over a 5,000-row stream in blocks of 500
    (make_classification, 30 features, (64,), Adam 1e-3): held-out accuracy
    against MLPClassifier.partial_fit, seeds 0-4.

Run: python benchmarks/bench_inputs.py [--update-readme] [--quick]
"""

import argparse
import datetime
import json
import os
import platform
import re
import resource
import subprocess
import sys
import threading
import time
import warnings
from pathlib import Path

import numpy as np
import scipy.sparse as sp

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
START, END = "<!-- INPUTS:START -->", "<!-- INPUTS:END -->"
MODELS = {"ours": "SparseMLPClassifier", "ours_input_l1": "SparseMLPClassifier(input_l1=1e-3)",
          "sklearn": "MLPClassifier"}


def _rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def make_csr(n_rows, n_cols, density, seed=0):
    """CSR with exactly ``density * n_cols`` nonzeros per row (duplicates merged),
    TF-IDF-like positive values, and a label planted on a tenth of the columns
    (weights +-1: a row's label is the sign of its planted words). Built row
    by row from integer draws: never a dense array, never a permutation of
    n_rows * n_cols."""
    rng = np.random.default_rng(seed)
    per_row = max(1, int(round(density * n_cols)))
    cols = rng.integers(0, n_cols, size=(n_rows, per_row))
    cols.sort(axis=1)
    indptr = np.arange(0, n_rows * per_row + 1, per_row)
    data = rng.random(n_rows * per_row, dtype=np.float32)
    X = sp.csr_array((data, cols.ravel(), indptr), shape=(n_rows, n_cols))
    X.sum_duplicates()
    w = np.zeros(n_cols, dtype=np.float32)
    planted = rng.choice(n_cols, n_cols // 10, replace=False)
    w[planted] = rng.choice([-1.0, 1.0], size=len(planted))
    score = X @ w + 1e-3 * rng.normal(size=n_rows)  # ties (no planted word) at random
    y = (score > 0).astype(int)
    return X, y


# ---------------------------------------------------------------- (a) worker
def worker(model, n_rows, n_cols, density, epochs, abort_gb):
    warnings.simplefilter("ignore")
    X, y = make_csr(n_rows, n_cols, density)
    if model.startswith("ours"):
        from sksparse_nn import SparseMLPClassifier

        est = SparseMLPClassifier((100,), input_l1=1e-3 if model == "ours_input_l1" else 0.0,
                                  max_iter=epochs, batch_size=200, learning_rate_init=1e-3,
                                  random_state=0)
    else:
        from sklearn.neural_network import MLPClassifier

        est = MLPClassifier((100,), max_iter=epochs, batch_size=200, learning_rate_init=1e-3,
                            random_state=0)
    import gc

    gc.collect()
    start = _rss()
    start_max = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    peak = [start]
    stop = threading.Event()

    def sample():
        while not stop.is_set():
            r = _rss()
            peak[0] = max(peak[0], r)
            if r - start > abort_gb * 2**30:
                print(json.dumps({"model": model, "aborted": True,
                                  "peak_above_start_gb": (r - start) / 2**30}), flush=True)
                os._exit(3)
            time.sleep(0.002)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    t0 = time.perf_counter()
    est.fit(X, y)
    fit_s = time.perf_counter() - t0
    proba = est.predict_proba(X)
    stop.set()
    thread.join()
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    peak_bytes = max(peak[0], maxrss if maxrss > start_max else peak[0]) - start
    print(json.dumps({"model": model, "fit_s": fit_s, "peak_above_start_gb": peak_bytes / 2**30,
                      "start_gb": start / 2**30, "train_accuracy": float(est.score(X, y)),
                      "proba_shape": list(proba.shape),
                      "n_features_selected": int(getattr(est, "n_features_selected_", n_cols))}),
          flush=True)


def bench_memory(n_rows, n_cols, density, epochs, reps, abort_gb):
    rows = {}
    for rep in range(reps):
        for model in MODELS:  # interleaved
            cmd = [sys.executable, __file__, "--worker", model, "--rows", str(n_rows),
                   "--cols", str(n_cols), "--density", str(density), "--epochs", str(epochs),
                   "--abort-gb", str(abort_gb)]
            env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep
                       + os.environ.get("PYTHONPATH", ""))
            out = subprocess.run(cmd, capture_output=True, text=True, env=env)
            line = [l for l in out.stdout.splitlines() if l.startswith("{")]
            if not line:
                raise RuntimeError(f"worker {model} failed:\n{out.stderr[-2000:]}")
            res = json.loads(line[-1])
            print(f"  rep {rep} {model}: {res}", flush=True)
            rows.setdefault(model, []).append(res)
    return rows


# ------------------------------------------------------- (b) first-layer modes
def bench_first_layer(n_rows, n_cols, density, steps=30, reps=3):
    import torch
    from torch.nn import functional as F

    from sksparse_nn._training import sparse_rows

    torch.set_num_threads(1)
    X, y = make_csr(n_rows, n_cols, density)
    y = torch.as_tensor(y, dtype=torch.float32)[:, None]
    bs, h = 200, 100

    def run(mode):
        gen = torch.Generator().manual_seed(0)
        W = torch.nn.Parameter(torch.randn(h, n_cols, generator=gen) * 0.01)
        b = torch.nn.Parameter(torch.zeros(h))
        W2 = torch.nn.Parameter(torch.randn(1, h, generator=gen) * 0.1)
        b2 = torch.nn.Parameter(torch.zeros(1))
        opt = torch.optim.Adam([W, b, W2, b2], lr=1e-3)
        perm = np.random.default_rng(0).permutation(n_rows)
        t0 = time.perf_counter()
        for s in range(steps):
            rows = perm[s * bs:(s + 1) * bs]
            xb = X[rows]
            if mode == "dense":
                H = F.linear(torch.from_numpy(xb.toarray()), W, b)
            else:
                H = torch.addmm(b, sparse_rows(xb), W.t())
            loss = F.binary_cross_entropy_with_logits(F.linear(torch.relu(H), W2, b2),
                                                      y[rows])
            opt.zero_grad()
            loss.backward()
            opt.step()
        return (time.perf_counter() - t0) / steps * 1000

    run("sparse")  # warm-up (optimizer import)
    times = {"dense": [], "sparse": []}
    for _ in range(reps):
        for mode in times:
            times[mode].append(run(mode))
    return {k: float(np.median(v)) for k, v in times.items()}


# ---------------------------------------------------------- (c) partial_fit
def bench_partial_fit(seeds):
    from sklearn.datasets import make_classification
    from sklearn.neural_network import MLPClassifier

    from sksparse_nn import SparseMLPClassifier

    warnings.simplefilter("ignore")
    X, y = make_classification(6000, 30, random_state=0)
    Xtr, ytr, Xte, yte = X[:5000], y[:5000], X[5000:], y[5000:]
    out = {}
    for passes in (1, 3):
        for name, make in (("ours", lambda s: SparseMLPClassifier((64,), random_state=s)),
                           ("sklearn", lambda s: MLPClassifier((64,), random_state=s))):
            scores = []
            for seed in seeds:
                est = make(seed)
                for _ in range(passes):
                    for start in range(0, 5000, 500):
                        est.partial_fit(Xtr[start:start + 500], ytr[start:start + 500],
                                        classes=[0, 1])
                scores.append(est.score(Xte, yte))
            out[(name, passes)] = scores
    return out


def markdown(mem, shape, epochs, first, pf, seeds):
    import sklearn
    import torch

    n_rows, n_cols, density = shape
    lines = [f"Produced by `python benchmarks/bench_inputs.py` on {datetime.date.today()}: "
             f"{platform.system()} {platform.machine()}, {os.cpu_count()} cores (shared "
             f"with other jobs: timings are noisy); torch {torch.__version__}, scikit-learn "
             f"{sklearn.__version__}.", "",
             f"**Sparse CSR input**, {n_rows:,} x {n_cols:,} at {density:.2%} nonzero "
             f"(dense float32 would be {n_rows * n_cols * 4 / 1e9:.1f} GB), (100,) hidden, "
             f"{epochs} epochs, batch 200, Adam 1e-3. Peak RSS above the "
             "process's memory before `fit` (data built), over `fit` + `predict_proba`, "
             "each model in a fresh process; median of the repetitions.", "",
             "| model | peak memory above start | fit time (s) | training accuracy | "
             "inputs read |", "|---|---:|---:|---:|---:|"]
    for model, label in MODELS.items():
        runs = mem[model]
        peak = np.median([r["peak_above_start_gb"] for r in runs])
        fit = np.median([r["fit_s"] for r in runs])
        acc = np.median([r["train_accuracy"] for r in runs])
        kept = int(np.median([r["n_features_selected"] for r in runs]))
        lines.append(f"| {label} | {peak * 1024:,.0f} MB | {fit:.1f} | {acc:.3f} | "
                     f"{kept:,} |")
    lines += ["", "**First layer on sparse mini-batches** (same matrix, 200 rows per step, "
              "forward + backward + Adam, one thread, ms per step):", "",
              "| densify each batch, dense product | torch sparse CSR @ dense (used) |",
              "|---:|---:|", f"| {first['dense']:.1f} | {first['sparse']:.1f} |", "",
              "**One-pass `partial_fit`**: 5,000 rows in blocks of 500, make_classification "
              "(30 features), (64,), Adam 1e-3, held-out accuracy on 1,000 rows; seed 0 and "
              f"the mean over seeds {seeds[0]}-{seeds[-1]}.", "",
              "| passes | SparseMLPClassifier seed 0 | MLPClassifier seed 0 | "
              "SparseMLPClassifier mean | MLPClassifier mean |", "|---:|---:|---:|---:|---:|"]
    for passes in (1, 3):
        a, b = pf[("ours", passes)], pf[("sklearn", passes)]
        lines.append(f"| {passes} | {a[0]:.3f} | {b[0]:.3f} | {np.mean(a):.3f} | "
                     f"{np.mean(b):.3f} |")
    return "\n".join(lines)


def write_readme(block):
    text = README.read_text()
    pattern = re.compile(re.escape(START) + ".*?" + re.escape(END), re.S)
    if not pattern.search(text):
        raise SystemExit(f"README.md has no {START} ... {END} block")
    README.write_text(pattern.sub(lambda m: f"{START}\n{block}\n{END}", text))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--update-readme", action="store_true")
    parser.add_argument("--quick", action="store_true", help="a smaller matrix, one rep")
    parser.add_argument("--worker", choices=sorted(MODELS))
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--cols", type=int, default=40_000)
    parser.add_argument("--density", type=float, default=0.0015)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--reps", type=int, default=2)
    parser.add_argument("--abort-gb", type=float, default=8.0)
    args = parser.parse_args(argv)
    if args.worker:
        worker(args.worker, args.rows, args.cols, args.density, args.epochs, args.abort_gb)
        return
    if args.quick:
        args.rows, args.cols, args.reps = 4_000, 8_000, 1
    shape = (args.rows, args.cols, args.density)
    print("(a) sparse CSR: memory and fit time", flush=True)
    mem = bench_memory(*shape, args.epochs, args.reps, args.abort_gb)
    print("(b) first layer: densify per batch vs sparse product", flush=True)
    first = bench_first_layer(*shape, reps=1 if args.quick else 3)
    print(f"  {first}", flush=True)
    print("(c) partial_fit: one and three passes", flush=True)
    seeds = [0] if args.quick else list(range(5))
    pf = bench_partial_fit(seeds)
    block = markdown(mem, shape, args.epochs, first, pf, seeds)
    print()
    print(block)
    if args.update_readme:
        write_readme(block)
        print(f"\nwritten to {README}")


if __name__ == "__main__":
    main()
