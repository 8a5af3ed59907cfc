"""Sphinx configuration of the netmem_ffi documentation site.

Build (warnings are errors, as tests/test_docs.py builds it):
``pip install -e ".[docs]" && sphinx-build -W --keep-going -b html docs docs/_build/html``.
"""

from __future__ import annotations

import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent / "_ext"))

from netmem_ffi.abi.version import __version__

project = "netmem_ffi"
author = "the netmem_ffi authors"
copyright = "the netmem_ffi authors, MIT licence"
version = release = __version__

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.viewcode",
    "netmem_docs",
]
source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
root_doc = "index"
# Option names stay as typed: no "--json" turned into an en dash.
smartquotes = False
# The notes are kept where their authors edit them and included by notes-*.md.
exclude_patterns = ["_build", "reliability.md", "architecture.md", "Thumbs.db", ".DS_Store"]

myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3

autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_default_options = {"members": True, "show-inheritance": True}
nitpicky = False

html_theme = "alabaster"
html_theme_options = {"page_width": "1180px", "sidebar_width": "230px"}
html_title = f"netmem_ffi {__version__}"
html_static_path: list[str] = []
