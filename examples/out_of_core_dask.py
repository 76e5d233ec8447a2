"""Out-of-core training with dask-ml's Incremental
================================================

Data larger than memory has scikit-learn's usual route: ``dask_ml.wrappers.Incremental``
feeds a dask array to the estimator's ``partial_fit`` one block at a time, so only
one block is ever in memory. Each ``partial_fit`` call is one epoch of the
``max_iter`` planned ones: the prune schedule advances call by call, and after
``max_iter`` calls (here: blocks x passes) the network is at ``target_sparsity``.

The example runs on a local in-process cluster; on a real cluster only the
``Client`` line changes. It prints the held-out accuracy and the sparsity after
each pass over the blocks. With ``--out-dir`` it saves ``passes.png``.

Run: ``python examples/out_of_core_dask.py [--fast] [--out-dir DIR]``
"""

# %%
# A dask array in blocks
# ----------------------
# ``make_classification`` stands in for data on disk (``dask.array.from_zarr``,
# ``dask.dataframe.read_parquet(...).to_dask_array(lengths=True)``, ...).
import argparse
import os
import warnings

import numpy as np
from sklearn.datasets import make_classification

from sksparse_nn import SparseMLPClassifier


def main(fast=False, out_dir=None):
    import dask.array as da
    from dask_ml.wrappers import Incremental
    from distributed import Client, LocalCluster

    n_rows, block, passes = (4_000, 500, 2) if fast else (40_000, 2_000, 3)
    X, y = make_classification(n_rows + 2_000, 40, n_informative=8, random_state=0)
    X_test, y_test = X[n_rows:], y[n_rows:]
    Xd = da.from_array(X[:n_rows], chunks=(block, X.shape[1]))
    yd = da.from_array(y[:n_rows], chunks=block)
    n_blocks = Xd.numblocks[0]

    # %%
    # The estimator plans ``max_iter`` partial_fit calls
    # ---------------------------------------------------
    # One call per block and pass: the gradual schedule reaches 90% zeros
    # within the planned calls, and later calls keep the masks.
    est = SparseMLPClassifier((64,), max_iter=n_blocks * passes, batch_size=100,
                              learning_rate_init=3e-3, prune_schedule="gradual",
                              target_sparsity=0.9, random_state=0)

    # %%
    # Train block by block on a cluster
    # ---------------------------------
    # ``fit`` makes one pass (a fresh clone); ``partial_fit`` continues it.
    history = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # dask's "port in use" chatter
        with LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                          dashboard_address=None) as cluster, Client(cluster):
            inc = Incremental(est, shuffle_blocks=True, random_state=0)
            for p in range(passes):
                if p == 0:
                    inc.fit(Xd, yd, classes=[0, 1])
                else:
                    inc.partial_fit(Xd, yd)
                fitted = inc.estimator_
                history.append({"pass": p + 1, "calls": fitted.n_iter_,
                                "accuracy": float(fitted.score(X_test, y_test)),
                                "sparsity": float(fitted.sparsity_as_built_)})
                print(f"pass {p + 1}: {fitted.n_iter_:3d} partial_fit calls, held-out "
                      f"accuracy {history[-1]['accuracy']:.3f}, sparsity "
                      f"{fitted.sparsity_as_built_:.1%}")
            # predictions are computed block by block too
            pred = inc.predict(da.from_array(X_test, chunks=block)).compute()
    print(f"hidden units left: {fitted.hidden_layer_sizes_}")

    # %%
    # Plot
    # ----
    if out_dir is not None:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        os.makedirs(out_dir, exist_ok=True)
        fig, ax = plt.subplots(figsize=(5, 3))
        ax.plot([h["pass"] for h in history], [h["accuracy"] for h in history], "o-",
                label="held-out accuracy")
        ax.plot([h["pass"] for h in history], [h["sparsity"] for h in history], "s--",
                label="sparsity")
        ax.set_xlabel("pass over the blocks")
        ax.legend()
        fig.tight_layout()
        fig.savefig(os.path.join(out_dir, "passes.png"))
        plt.close(fig)
    return {"history": history, "estimator": fitted,
            "predict_agrees": bool(np.array_equal(pred, fitted.predict(X_test)))}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Out-of-core training with dask-ml's Incremental.")
    parser.add_argument("--fast", action="store_true")
    parser.add_argument("--out-dir", default=None)
    args = parser.parse_args()
    main(fast=args.fast, out_dir=args.out_dir)
