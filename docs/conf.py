"""Sphinx configuration for the scgroove documentation."""

from importlib.metadata import version as _version

project = "scgroove"
author = "scgroove developers"
release = _version("scgroove")
version = release

extensions = [
    "myst_nb",
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
]
autosummary_generate = True
autodoc_typehints = "none"  # types live in the signatures (numpydoc without types in docstrings)
autodoc_member_order = "bysource"
autodoc_default_options = {"members": True, "show-inheritance": False}
autodoc_mock_imports: list[str] = []
napoleon_numpy_docstring = True
napoleon_google_docstring = False
napoleon_custom_sections = [("Writes", "returns_style")]
myst_enable_extensions = ["dollarmath", "amsmath"]
nb_execution_mode = "off"  # notebooks are committed with outputs; CI executes them in tests/test_tutorials.py
source_suffix = {".md": "myst-nb", ".ipynb": "myst-nb"}
exclude_patterns = ["_build", "**.ipynb_checkpoints", "generated/*.rst.bak"]
html_theme = "furo"
html_title = "scgroove"
suppress_warnings = ["mystnb.unknown_mime_type"]
nitpicky = False
