"""Helpers the sphinx-gallery configuration names by their import path (so the
configuration stays picklable)."""

from pathlib import Path

# shown first in the gallery; the rest follow in file-name order
FIRST = ("quickstart.py",)


def fast_argv(gallery_conf, script_vars):
    """Command-line arguments of every example in the gallery: its fast mode."""
    return ["--fast"]


class ExampleOrder:
    """Sort key of the examples: the quick start first, then by file name."""

    def __init__(self, src_dir):
        self.src_dir = src_dir

    def __call__(self, filename):
        name = Path(filename).name
        return (FIRST.index(name) if name in FIRST else len(FIRST), name)

    def __repr__(self):
        return f"<{type(self).__name__}>"
