"""The documentation covers the package: every public name is in the API
reference, its docstring passes the numpydoc checks the site enforces, every
example renders in the gallery, every README benchmark block reaches the
performance page, whose text (benchmarks/PERFORMANCE.md) names every benchmark
script and block. Fast: no Sphinx build (CI builds the site with -W)."""

import importlib
import inspect
import os
import pkgutil
import re
import runpy
import sys
from pathlib import Path

import pytest

import sksparse_nn

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
API = DOCS / "api.rst"


def _public_modules():
    """Every public submodule (a new one is picked up automatically)."""
    names = [m.name for m in pkgutil.iter_modules(sksparse_nn.__path__)
             if not m.name.startswith("_")]
    return [importlib.import_module(f"sksparse_nn.{name}") for name in sorted(names)]


def _public_names(module):
    if hasattr(module, "__all__"):
        return list(module.__all__)
    return [name for name, obj in vars(module).items()
            if not name.startswith("_") and (inspect.isclass(obj) or inspect.isfunction(obj))
            and obj.__module__ == module.__name__]


def _public_objects():
    objs = [("sksparse_nn", name) for name in sksparse_nn.__all__]
    for module in _public_modules():
        objs += [(module.__name__, name) for name in _public_names(module)]
    return objs


def _api_entries():
    """``module.name`` of every autosummary entry of the API page."""
    entries, module, in_summary = [], None, False
    for line in API.read_text(encoding="utf-8").splitlines():
        match = re.match(r"\.\. currentmodule:: (\S+)", line)
        if match:
            module = match.group(1)
            continue
        if line.startswith(".. autosummary::"):
            in_summary = True
            continue
        if in_summary:
            stripped = line.strip()
            if line and not line.startswith(" "):
                in_summary = False
            elif stripped and not stripped.startswith(":"):
                entries.append(f"{module}.{stripped}")
    return entries


def _resolve(qualname):
    module, _, name = qualname.rpartition(".")
    return getattr(importlib.import_module(module), name)


@pytest.fixture(scope="module")
def conf():
    # conf.py is plain Python: run it for the settings it shares with the site,
    # then undo what it does to the process (path, environment)
    saved_path, saved_env = list(sys.path), dict(os.environ)
    try:
        return runpy.run_path(str(DOCS / "conf.py"))
    finally:
        sys.path[:] = saved_path
        os.environ.clear()
        os.environ.update(saved_env)


def test_every_public_name_is_in_the_api_reference():
    listed = {id(_resolve(entry)) for entry in _api_entries()}
    missing = [f"{module}.{name}" for module, name in _public_objects()
               if id(getattr(importlib.import_module(module), name)) not in listed]
    assert not missing, f"add these to docs/api.rst: {missing}"


def test_the_api_reference_lists_only_importable_names():
    for entry in _api_entries():
        _resolve(entry)  # raises for a stale entry


def _documented_members(cls, skip):
    """The members the site renders for ``cls`` (conf.py's skip rule decides)."""
    for attr in dir(cls):
        if attr.startswith("_"):
            continue
        owner = next((k for k in cls.__mro__ if attr in vars(k)), None)
        if owner is None:
            continue
        obj = vars(owner)[attr]
        if isinstance(obj, (classmethod, staticmethod)):
            obj = obj.__func__
        if skip(None, "class", attr, obj, False, {}) is not True:
            yield attr


def test_numpydoc_validation_passes(conf):
    validate = pytest.importorskip("numpydoc.validate")
    checks = validate.get_validation_checks(conf["numpydoc_validation_checks"])
    skip = conf["_skip_foreign_member"]
    names = []
    for entry in _api_entries():
        obj = _resolve(entry)
        if not (inspect.isclass(obj) or inspect.isroutine(obj)):
            continue  # data (e.g. a dict of scorers): numpydoc validates code objects
        names.append(entry)
        if inspect.isclass(obj):
            names += [f"{entry}.{attr}" for attr in _documented_members(obj, skip)]
    problems = []
    for name in names:
        errors = [f"{code}: {msg}" for code, msg in validate.validate(name)["errors"]
                  if code in checks]
        if errors:
            problems.append(f"{name}\n    " + "\n    ".join(errors))
    assert not problems, "numpydoc validation:\n" + "\n".join(problems)


def test_every_example_renders_in_the_gallery(conf):
    pattern = conf["sphinx_gallery_conf"]["filename_pattern"]
    for path in sorted((ROOT / "examples").glob("*.py")):
        assert re.search(pattern, str(path)), f"{path.name} would not be executed"
        text = path.read_text(encoding="utf-8")
        match = re.match(r'(?:r?""")\n?(.+)\n(=+)\n', text)
        assert match and len(match.group(2)) >= len(match.group(1).rstrip()), (
            f"{path.name}: the docstring must open with an RST title")
        assert "\n# %%\n" in text, f"{path.name}: no # %% cell"
    assert conf["sphinx_gallery_conf"]["reset_argv"] == "gallery_helpers.fast_argv"


def test_performance_page_shows_every_readme_block():
    sys.path.insert(0, str(DOCS / "sphinxext"))
    try:
        readme_blocks = importlib.import_module("readme_blocks")
    finally:
        sys.path.remove(str(DOCS / "sphinxext"))
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    names = re.findall(r"<!-- ([A-Z0-9_]+):START -->", readme)
    assert "BENCHMARKS" in names
    page = readme_blocks.render(readme)
    for name, body in readme_blocks.readme_blocks(readme):
        table_row = next(line for line in body.splitlines() if line.startswith("|"))
        assert table_row in page, name
    # a block whose headings start deeper is lifted to level 3 under its title
    shifted = readme_blocks.render("<!-- NEW_THING:START -->\n##### A\n| x |\n"
                                   "<!-- NEW_THING:END -->")
    assert shifted.startswith("## New thing\n") and "\n### A\n" in shifted


def test_performance_page_names_every_benchmark_script_and_block():
    page = (ROOT / "benchmarks" / "PERFORMANCE.md").read_text(encoding="utf-8")
    site_page = (DOCS / "performance.md").read_text(encoding="utf-8")
    assert "{include} ../benchmarks/PERFORMANCE.md" in site_page
    assert "<!-- readme-blocks -->" in site_page
    scripts = {p.relative_to(ROOT).as_posix() for p in (ROOT / "benchmarks").glob("*.py")}
    named = set(re.findall(r"`(benchmarks/[\w.]+\.py)`", page))
    assert named == scripts, "PERFORMANCE.md must name exactly the benchmark scripts"
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for name in re.findall(r"<!-- ([A-Z0-9_]+):START -->", readme):
        assert f"`{name}`" in page, f"PERFORMANCE.md does not say which script writes {name}"
