"""Sphinx configuration of the sksparse_nn documentation.

Build: ``python -m sphinx -W -b html docs docs/_build/html`` (``pip install -e ".[docs]"``).
No step needs the network: intersphinx is not used, the gallery runs the examples
on bundled or generated data, and the theme's assets ship with the wheel.
"""

import ast
import importlib.util
import inspect
import os
import re
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
# the package from this checkout wins over an installed copy (e.g. a checkout
# elsewhere installed in editable mode)
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(DOCS / "sphinxext"))
# the gallery executes the examples: no window may open and no figure be shown
os.environ.setdefault("MPLBACKEND", "Agg")
# The examples' matrices are small: a second OpenBLAS thread buys nothing there,
# and on a busy build machine its spin-waits made scikit-learn's MLP in
# sparse_vs_dense 10-60x slower. Set before numpy is first imported (below).
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import sksparse_nn  # noqa: E402

project = "sksparse_nn"
author = "sksparse_nn developers"
copyright = "sksparse_nn developers"
release = sksparse_nn.__version__
version = ".".join(release.split(".")[:2])

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
    "myst_parser",
    "readme_blocks",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
templates_path = ["_templates"]
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store", "sphinxext"]
default_role = "literal"
nitpicky = False

# --- API reference --------------------------------------------------------------
autosummary_generate = True
autodoc_default_options = {"members": True, "inherited-members": True}
autodoc_typehints = "none"
# numpydoc lists a class's methods and attributes in tables (linked to their own
# entries); the autoclass members are rendered once, below the class docstring
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_attributes_as_param_list = True
numpydoc_xref_param_type = False

# Every check numpydoc has, minus four: three ask for more text than a reference
# page needs (SA01 a "See Also" section, EX01 an Examples section: the gallery and
# the user guide carry the examples, ES01 an extended summary), and RT02 forbids
# naming a single returned value, which scikit-learn's convention does
# (``self : object``). tests/test_docs.py reads this set and runs the same checks
# without building the site.
numpydoc_validation_checks = {"all", "SA01", "EX01", "ES01", "RT02"}
# Module-level data (two dicts of scorers, one scorer instance) carries its type's
# docstring, which is not ours to validate; autodoc shows their ``#:`` comments.
numpydoc_validation_exclude = {
    r"^sksparse_nn\.model_selection\.(SPARSITY_SCORERS|BY_SCORER|neg_latency_ms_per_1000)$",
}



# --- Gallery ----------------------------------------------------------------------


def _missing_imports(path):
    """Top-level modules an example imports that are not installed here."""
    tree = ast.parse(Path(path).read_text(encoding="utf-8"))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return sorted(n for n in names if importlib.util.find_spec(n) is None)


# Examples that need an optional package this machine lacks are left out of the
# gallery (the docs extra installs all of them); the build says which.
_skipped = {}
for _path in sorted((ROOT / "examples").glob("*.py")):
    _missing = _missing_imports(_path)
    if _missing:
        _skipped[_path.name] = _missing
if _skipped:
    print("gallery: leaving out " + "; ".join(
        f"{name} (needs {', '.join(mods)})" for name, mods in _skipped.items()))

sphinx_gallery_conf = {
    "examples_dirs": str(ROOT / "examples"),
    "gallery_dirs": "auto_examples",
    # run every example (none is named plot_*), each in its fast mode
    "filename_pattern": r".*\.py$",
    "ignore_pattern": r"__init__\.py"
    + "".join("|" + re.escape(name) + "$" for name in _skipped),
    "reset_argv": "gallery_helpers.fast_argv",
    "within_subsection_order": "gallery_helpers.ExampleOrder",
    "doc_module": ("sksparse_nn",),
    "backreferences_dir": "generated/backreferences",
    "reference_url": {"sksparse_nn": None},
    "image_scrapers": ("matplotlib",),
    "matplotlib_animations": False,
    "remove_config_comments": True,
    "show_memory": False,
    "download_all_examples": False,
    "plot_gallery": "True",
    "abort_on_example_error": True,
    "min_reported_time": 1,
    "capture_repr": ("_repr_html_", "__repr__"),
}



def _skip_foreign_member(app, what, name, obj, skip, options):
    """Leave out what our classes inherit from scikit-learn, torch or ``object``
    (``get_params``, ``score``, metadata routing, ...): scikit-learn documents
    those, and their docstrings point into scikit-learn's own site."""
    if what != "class" or skip:
        return skip
    # class-level defaults and flags (not parameters, not methods)
    if not callable(obj) and not isinstance(obj, property):
        return True
    module = getattr(obj, "__module__", None) or ""
    if isinstance(obj, property):
        module = getattr(obj.fget, "__module__", "") or ""
    if not module.startswith("sksparse_nn"):
        return True
    # an override without a docstring of its own (e.g. a schedule's
    # sparsity_at) is documented once, on the base class
    if not isinstance(obj, property) and not getattr(obj, "__doc__", None):
        return True
    # fitted attributes are described in the class's Attributes section
    if isinstance(obj, property) and name.endswith("_"):
        return True
    return None


def setup(app):
    app.connect("autodoc-skip-member", _skip_foreign_member)


# --- HTML ---------------------------------------------------------------------------
html_theme = "pydata_sphinx_theme"
html_title = f"sksparse_nn {release}"
html_static_path = []
html_theme_options = {
    "navbar_align": "left",
    "show_toc_level": 2,
    "navigation_with_keys": False,
    "secondary_sidebar_items": ["page-toc"],
    "footer_start": ["copyright"],
    "footer_end": ["sphinx-version"],
    "header_links_before_dropdown": 6,
}
html_show_sourcelink = False
html_last_updated_fmt = None
html_sidebars = {"index": []}

myst_heading_anchors = 3
