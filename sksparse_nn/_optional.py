"""Importing an optional dependency with an error that says how to install it."""

import importlib


def require(module, feature, install):
    """Import ``module`` or raise an ImportError naming ``feature`` and ``install``
    (the pip command that brings it)."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:  # depends on the environment
        raise ImportError(f"{feature} needs {module.split('.')[0]}; install it with "
                          f"{install}.") from exc
