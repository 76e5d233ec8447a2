"""Inference: the compact form of a trained network and the kernels that run it."""

from ._compact import CompactMLP
__all__ = ["CompactMLP"]
