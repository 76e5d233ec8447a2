"""Show the README's benchmark blocks on the performance page.

The benchmark scripts write their tables into README.md between
``<!-- NAME:START -->`` and ``<!-- NAME:END -->`` markers. A page whose source holds
the line ``<!-- readme-blocks -->`` (invisible where the markdown is
read raw, e.g. on GitHub) gets every such block in its place, in README order,
each under a level-2 heading, its own headings shifted to start at level 3, so a
new benchmark block appears on the site without editing the docs.
"""

import re
from pathlib import Path

PLACEHOLDER = "<!-- readme-blocks -->"
BLOCK = re.compile(r"<!-- ([A-Z0-9_]+):START -->\n(.*?)<!-- \1:END -->", re.DOTALL)
HEADING = re.compile(r"^(#{1,6}) ", re.MULTILINE)
TITLES = {
    "BENCHMARKS": "Training, pruned networks and inference (``benchmarks/run.py``)",
    "INPUTS": "Inputs at scale",
    "FEATURE_SELECTION": "Feature selection",
}


def readme_blocks(text):
    """Return the marked blocks of ``text`` as ``(name, markdown)`` pairs."""
    return [(m.group(1), m.group(2).strip()) for m in BLOCK.finditer(text)]


def render(text):
    """Markdown for every block of ``text``: a heading, then the block."""
    parts = []
    for name, body in readme_blocks(text):
        title = TITLES.get(name, name.replace("_", " ").capitalize())
        levels = [len(h) for h in HEADING.findall(body)]
        shift = 3 - min(levels) if levels else 0
        if shift:
            body = HEADING.sub(lambda m: "#" * min(6, len(m.group(1)) + shift) + " ", body)
        parts.append(f"## {title}\n\n{body}\n")
    return "\n".join(parts) if parts else "(The README holds no benchmark block.)\n"


def _source_read(app, docname, source):
    if PLACEHOLDER not in source[0]:
        return
    readme = Path(app.confdir).parent / "README.md"
    app.env.note_dependency(str(readme))
    source[0] = source[0].replace(PLACEHOLDER, render(readme.read_text(encoding="utf-8")))


def setup(app):
    app.connect("source-read", _source_read)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
