"""Packing a training network's state for pickling, and rebuilding it.

A fitted estimator pickles its network once, compactly: each tensor densely or,
when mostly zeros, as flat indices and values; a mask equal to "the nonzero
pattern of its weight" as that phrase; other boolean masks as bits. No optimizer
state travels (see ``_BaseSparseMLP.__getstate__``).
"""

import numpy as np
import torch

from ._network import SparseMLP


def pack_state(module):
    """A compact, torch-free picture of ``module``: its init kwargs and its state,
    each tensor stored densely or (when mostly zeros) as flat indices + values."""
    state = {}
    sd = module.state_dict()
    for key, t in sd.items():
        a = t.detach().cpu().numpy()
        wkey = key[: -len("mask")] + "weight"
        if key.endswith(".mask") and wkey in sd and torch.equal(t, sd[wkey] != 0):
            state[key] = ("nonzero_of", wkey)
        elif a.size >= 64 and a.dtype != np.bool_ and np.count_nonzero(a) < a.size / 3:
            flat = np.flatnonzero(a)
            state[key] = ("sparse", a.shape, a.dtype.str, flat.astype(np.int32), a.ravel()[flat])
        elif a.dtype == np.bool_ and a.size >= 64:
            state[key] = ("bits", a.shape, np.packbits(a.ravel()))
        else:
            state[key] = ("dense", a.copy())
    # the nonzero weights of units cut while training (sparsity counts them): a
    # partial_fit stream pickled between blocks (dask) keeps counting them
    return {"kwargs": module.init_kwargs(), "state": state,
            "unit_index": [np.asarray(ix) for ix in module.unit_index],
            "retired": list(module.retired_nonzero)}


def unpack_state(packed):
    module = SparseMLP(**packed["kwargs"])
    state = {}
    for key, entry in packed["state"].items():
        if entry[0] == "nonzero_of":
            continue
        if entry[0] == "sparse":
            _, shape, dtype, flat, values = entry
            a = np.zeros(int(np.prod(shape)), dtype=np.dtype(dtype))
            a[flat] = values
            state[key] = torch.from_numpy(a.reshape(shape))
        elif entry[0] == "bits":
            _, shape, bits = entry
            n = int(np.prod(shape))
            state[key] = torch.from_numpy(np.unpackbits(bits)[:n].astype(bool).reshape(shape))
        else:
            state[key] = torch.from_numpy(entry[1])
    for key, entry in packed["state"].items():
        if entry[0] == "nonzero_of":
            state[key] = state[entry[1]] != 0
    module.load_state_dict(state)
    module.mask_changed()
    if "unit_index" in packed:
        module.unit_index = [np.asarray(ix) for ix in packed["unit_index"]]
    module.retired_nonzero = list(packed.get("retired", module.retired_nonzero))
    return module

