"""Training: where skorch, torch and sparsity meet.

* :mod:`._net` - the skorch ``NeuralNet`` subclass and its tensor batches;
* :mod:`._callbacks` - the callbacks (proximal L1, pruning schedule, bookkeeping);
* :mod:`._proximal` - soft-threshold operators under Adam;
* :mod:`._pruning` - magnitude ranking, masks, regrowth;
* :mod:`._selective` - trial-and-error neuron pruning.
"""

from ._callbacks import (
    LR_CEILING,
    DelayedEarlyStopping,
    LastGoodWeights,
    MagnitudePruning,
    ProximalL1,
    SparsityLog,
    TrainSmaller,
    ValidationScore,
    optimizer_state_follows,
)
from ._net import (
    NonFiniteLossError,
    TensorBatches,
    TensorData,
    TorchNet,
    as_tensor_data,
    sparse_rows,
)
from ._selective import selective_prune

__all__ = [
    "LR_CEILING", "DelayedEarlyStopping", "LastGoodWeights", "MagnitudePruning",
    "NonFiniteLossError", "ProximalL1", "SparsityLog", "TensorBatches", "TensorData",
    "TorchNet", "TrainSmaller", "ValidationScore", "as_tensor_data",
    "optimizer_state_follows", "selective_prune", "sparse_rows",
]
