"""Process-wide torch settings of one fit: threads and private random streams."""

import threading
from contextlib import contextmanager

import torch

_LOCK = threading.Lock()
_STATE = {"active": 0, "saved": None}


@contextmanager
def torch_threads(n):
    """Use ``n`` torch threads while fitting, restore the user's setting afterwards.
    The setting is process-wide: while fits overlap (threads of one process), the
    first one's choice holds and the last one to finish restores the original."""
    with _LOCK:
        if _STATE["active"] == 0:
            _STATE["saved"] = torch.get_num_threads()
            if n != _STATE["saved"]:
                torch.set_num_threads(n)
        _STATE["active"] += 1
    try:
        yield
    finally:
        with _LOCK:
            _STATE["active"] -= 1
            if _STATE["active"] == 0 and torch.get_num_threads() != _STATE["saved"]:
                torch.set_num_threads(_STATE["saved"])


def fit_generators(seed, device):
    """Private random streams of one fit: weight init (CPU), batch order (CPU) and
    dropout (on the training device). The global torch RNG is never read or
    written, so fits are reproducible in threads too and the user's RNG state is
    left as it was."""
    dropout = torch.Generator(device=device)
    dropout.manual_seed(seed + 2)
    return (torch.Generator().manual_seed(seed), torch.Generator().manual_seed(seed + 1),
            dropout)
