"""Small torch networks the module and inference tests share (not a test file)."""

import torch

from sksparse_nn._network import SparseMLP


def tiny_network(batch_norm=False, seed=0):
    """A (6 -> 8 -> 5 -> 3) relu network in eval mode; with batch norm, its
    running statistics have seen one batch, so folding them is not trivial."""
    torch.manual_seed(seed)
    m = SparseMLP(6, (8, 5), 3, activation="relu", batch_norm=batch_norm)
    if batch_norm:
        m.train()
        m(torch.randn(64, 6))
    return m.eval()
