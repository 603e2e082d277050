"""Sphinx configuration: the operator and developer guides, and the
reference generated from the modules' docstrings (``_ext/reference.py``).

The reference imports the modules as the saltext-lxd package names them
(``saltext.lxd.modules.lxd``), from this checkout: the package need not be
installed (it is not in ``.venv``), and where it is (``.venv-3007``) the
checkout still wins, so the docs describe the code beside them."""

import sys
import types
from pathlib import Path

import yaml

DOCS = Path(__file__).resolve().parent
REPO = DOCS.parent
sys.path.insert(0, str(DOCS / "_ext"))

# pyproject.toml's package-dir: saltext.lxd.<kind> is a checkout directory.
PACKAGE_DIRS = {
    "saltext.lxd": REPO / "src/saltext/lxd",
    "saltext.lxd.modules": REPO / "_modules",
    "saltext.lxd.states": REPO / "_states",
    "saltext.lxd.runners": REPO / "_runners",
    "saltext.lxd.utils": REPO / "_utils",
}


def _map_packages():
    """Register each package in sys.modules with its checkout directory as
    ``__path__``, so that ``import saltext.lxd.modules.lxd`` loads
    ``_modules/lxd.py`` (a directory not there yet maps to nothing)."""
    sys.modules.setdefault("saltext", types.ModuleType("saltext")).__path__ = []
    for name, directory in PACKAGE_DIRS.items():
        package = types.ModuleType(name)
        package.__path__ = [str(directory)]
        sys.modules[name] = package
        parent, _, child = name.rpartition(".")
        setattr(sys.modules[parent], child, package)


_map_packages()

project = "lxd-formula"
author = "lxd-formula contributors"
copyright = "lxd-formula contributors"  # noqa: A001 (Sphinx's setting name)
release = version = str(yaml.safe_load((REPO / "FORMULA").read_text())["version"])

extensions = ["sphinx.ext.autodoc", "sphinx.ext.autosectionlabel", "reference"]
# Sections are referred to by title (:ref:`Recover`), as README did: a
# page's title and its sections (the changelog's releases have subsections
# of the same names as the guide's).
autosectionlabel_prefix_document = False
autosectionlabel_maxdepth = 2
autodoc_default_options = {"members": True}
autodoc_member_order = "bysource"
exclude_patterns = ["_build"]
html_theme = "furo"
html_title = f"lxd-formula {release}"
