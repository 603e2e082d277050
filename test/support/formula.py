"""How the tests reach the formula's modules, as its users do: synced from
file_roots (the master serves _modules, _states and _runners;
saltutil.sync_all), unless this Python has the saltext-lxd package installed
(``pip install .``, the Salt 3007 tier): then Salt loads them from the
package and the master serves only the SLS files. The package must be built
from this checkout (test/setup.sh reinstalls it when the sources change).
Shared by every test directory's conftest and the tests."""

import filecmp
import importlib.util
from pathlib import Path

import salt.version

REPO = Path(__file__).resolve().parents[2]


def installed_extension():
    """Where this Python's saltext-lxd package is, if it has one."""
    try:
        spec = importlib.util.find_spec("saltext.lxd")
    except ModuleNotFoundError:  # no saltext package at all
        return None
    return Path(next(iter(spec.submodule_search_locations))) if spec else None


EXTENSION = installed_extension()
# The package's directories and the checkout's they are built from
PACKAGED = {".": "src/saltext/lxd", "modules": "_modules", "states": "_states",
            "runners": "_runners", "utils": "_utils", "parameters": "lxd/parameters"}
FORMULA_PARTS = ("lxd", "reactor") if EXTENSION else (
    "lxd", "_modules", "_states", "_runners", "_utils", "reactor")


def stale_extension_files():
    """The files in which the installed package differs from the checkout."""
    stale = []
    for packaged, source in PACKAGED.items():
        pattern = "*.yaml" if packaged == "parameters" else "*.py"
        ours = {path.name for path in (REPO / source).glob(pattern)}
        theirs = {path.name for path in (EXTENSION / packaged).glob(pattern)}
        stale += [f"{source}/{name}" for name in sorted(ours ^ theirs)]
        stale += [f"{source}/{name}" for name in sorted(ours & theirs) if not filecmp.cmp(
            REPO / source / name, EXTENSION / packaged / name, shallow=False)]
    return stale


# Salt 3007's loaders keep a copy of the opts they were made with (its
# state module renders with it): they are made again for new settings.
LOADERS_COPY_OPTS = salt.version.__saltstack_version__.major < 3008


def use_settings(loaders, settings):
    """Make ``settings`` the minion's ``lxd`` config (read by config.get)."""
    if LOADERS_COPY_OPTS:
        loaders.reload_all()
    loaders.opts["lxd"] = settings


