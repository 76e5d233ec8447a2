"""One table of the hidden-layer activations.

Each entry names what every part of the package needs for one activation: the
torch function the training network calls, the in-place torch and numpy ops of
the inference kernels, the ``torch.nn`` module of exported networks, and the name
oneDNN's fused linear takes for it. A new activation is one new row here (plus
its name in the estimators' parameter constraints).
"""

from collections import namedtuple

import numpy as np
import torch
from scipy.special import expit
from torch import nn


def _identity(x):
    return x


Activation = namedtuple("Activation", "torch torch_ numpy_ module onednn")
Activation.__doc__ = """One activation as each part of the package needs it.

Fields: ``torch`` (out of place, used in training), ``torch_`` and ``numpy_``
(in place, used at inference), ``module`` (a ``torch.nn`` class, for export) and
``onednn`` (the attribute name of oneDNN's fused linear)."""

ACTIVATIONS = {
    "relu": Activation(torch.relu, torch.relu_, lambda h: np.maximum(h, 0.0, out=h),
                       nn.ReLU, "relu"),
    "tanh": Activation(torch.tanh, torch.tanh_, lambda h: np.tanh(h, out=h), nn.Tanh, "tanh"),
    "logistic": Activation(torch.sigmoid, torch.sigmoid_, lambda h: expit(h, out=h),
                           nn.Sigmoid, "sigmoid"),
    "identity": Activation(_identity, _identity, _identity, nn.Identity, "none"),
}
