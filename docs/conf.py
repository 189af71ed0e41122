"""Sphinx configuration of the metriclearn documentation.

Build with ``make html`` (or ``python -m sphinx -b html . _build/html``) in
this directory, against the installed package. The packages needed are those
of the ``docs`` extra: ``pip install ".[docs]"`` (sphinx, pydata-sphinx-theme,
numpydoc, sphinx-gallery, myst-nb, matplotlib).
"""

import os
import sys
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as _version

# the gallery's sort key (gallery_order.py) is imported from this folder
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

# -- Project -----------------------------------------------------------------

project = "metriclearn"
author = "The metriclearn developers"
copyright = "The metriclearn developers"
try:
    release = _version("metriclearn")
except PackageNotFoundError:  # building from a tree that is not installed
    release = "0+unknown"
version = ".".join(release.split(".")[:2])

# -- General -----------------------------------------------------------------

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
    "myst_nb",
    # MathJax served with the pages, not from a CDN: the mathematics renders
    # offline too
    "sphinx-mathjax-offline",
]

templates_path = ["_templates"]
# sphinx-gallery writes a notebook beside each example: not a source page
exclude_patterns = [
    "_build", "Thumbs.db", ".DS_Store", "**.ipynb_checkpoints", "auto_examples/*.ipynb",
]
default_role = "literal"

# autosummary writes one page per documented object (git-ignored stubs)
autosummary_generate = True
autodoc_default_options = {"members": True, "inherited-members": True}
autodoc_typehints = "none"

# numpydoc renders the docstrings; the class template lists the members
numpydoc_show_class_members = False
numpydoc_xref_param_type = False


def _skip_sklearn_plumbing(app, what, name, obj, skip, options):
    """Leave out the metadata-routing and output-container methods inherited
    from scikit-learn: they are documented there, and their docstrings link
    to pages of scikit-learn's documentation."""
    if name in ("get_metadata_routing", "set_output") or (
        name.startswith("set_") and name.endswith("_request")
    ):
        return True
    return skip


def setup(app):
    app.connect("autodoc-skip-member", _skip_sklearn_plumbing)


# -- Sphinx-Gallery ----------------------------------------------------------

sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "gallery_dirs": "auto_examples",
    # execute every example, not only those named plot_*
    "filename_pattern": r"\.py$",
    "ignore_pattern": r"__init__\.py",
    "backreferences_dir": "gen_modules/backreferences",
    "doc_module": ("metriclearn",),
    "download_all_examples": False,
    "remove_config_comments": True,
    # no sg_execution_times.rst pages in the source tree
    "write_computation_times": False,
    # the quickstart first, then the others by file name
    "within_subsection_order": "gallery_order.QuickstartFirst",
}

# -- Notebooks (myst-nb) -----------------------------------------------------
# The notebooks are stored without outputs; the build executes them (the test
# suite does too) and fails on an error in any cell.

nb_execution_mode = "force"
nb_execution_timeout = 600
nb_execution_raise_on_error = True
nb_execution_show_tb = True

# -- HTML --------------------------------------------------------------------

html_theme = "pydata_sphinx_theme"
html_title = f"metriclearn {release}"
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
}
html_show_sourcelink = False
# pages without a table of contents of their own get no empty "Section
# Navigation" sidebar
html_sidebars = {
    page: [] for page in ("getting_started", "clustering", "migrating", "benchmarks", "api")
}
