"""GridSearchCV on a dask.distributed cluster gives the same results as n_jobs=1,
and fits inside workers (dask or joblib's loky) do not oversubscribe the cores."""

import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV, StratifiedKFold

from sksparse_nn import SparseMLPClassifier

distributed = pytest.importorskip("distributed")
joblib = pytest.importorskip("joblib")


def _threads_a_big_net_would_use():
    return SparseMLPClassifier()._n_threads(10**7)


def test_joblib_workers_do_not_oversubscribe():
    from joblib import Parallel, delayed

    n_workers = 2
    used = Parallel(n_jobs=n_workers)(delayed(_threads_a_big_net_would_use)()
                                      for _ in range(n_workers))
    assert all(n <= max(1, joblib.cpu_count() // n_workers) for n in used)


def _search(n_jobs):
    est = SparseMLPClassifier((8,), max_iter=4, random_state=0, n_threads=1)
    grid = {"l1": [0.0, 0.01], "target_sparsity": [0.0, 0.5]}
    cv = StratifiedKFold(3, shuffle=True, random_state=0)
    return GridSearchCV(est, grid, cv=cv, n_jobs=n_jobs)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_grid_search_on_dask_matches_local(cancer):
    Xtr, _, ytr, _ = cancer
    X, y = Xtr[:200], ytr[:200]
    local = _search(n_jobs=1).fit(X, y)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.simplefilter("ignore", UserWarning)  # "port already in use" chatter
        with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                      dashboard_address=None) as cluster, \
                distributed.Client(cluster) as client:
            with distributed.get_task_stream(client) as stream, \
                    joblib.parallel_backend("dask"):
                remote = _search(n_jobs=-1).fit(X, y)
            # one thread per worker: the estimator's choice stays within it, even for
            # a network big enough to want several threads
            threads = client.run(_threads_a_big_net_would_use)
    assert set(threads.values()) == {1}
    # the cross-validation fits really ran on the cluster's workers
    assert len(stream.data) > 0

    # the same fits, but in other processes with other thread settings: the last bits
    # of a prediction may differ, and in a full-suite run (never alone) a fold's
    # score once differed by what one flipped sample explains: allow one per fold
    one_sample = 1.0 / (len(X) // 3)
    np.testing.assert_allclose(remote.cv_results_["mean_test_score"],
                               local.cv_results_["mean_test_score"], atol=one_sample)
    np.testing.assert_allclose(remote.cv_results_["std_test_score"],
                               local.cv_results_["std_test_score"], atol=one_sample)
    if remote.best_params_ == local.best_params_:
        np.testing.assert_allclose(remote.predict_proba(X), local.predict_proba(X),
                                   atol=1e-6)
