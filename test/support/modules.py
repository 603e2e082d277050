"""The formula's Salt modules as plain Python modules, for the unit tier:
loaded from the checkout with the loader's dunders (``__salt__``,
``__opts__``, ...) set by the test, no Salt loader involved."""

import importlib.util

from test.support.formula import REPO


class Salt(dict):
    """A ``__salt__`` holding only the functions a test declares, by name: a
    call to any other fails the test naming it (so a dry run that reached
    for a write, or a function renamed, shows)."""

    def __missing__(self, name):
        raise AssertionError(f"__salt__[{name!r}] called but not declared by the test")


def load_plain(path, **dunders):
    """The module at ``path`` (relative to the checkout) under a name of its
    own (``_states/lxd.py`` is not ``lxd``), with ``dunders`` set on it,
    e.g. ``__salt__=Salt(...)``, ``__opts__={"test": True}``."""
    name = "plain_" + path.removesuffix(".py").replace("/", "_").lstrip("_")
    spec = importlib.util.spec_from_file_location(name, REPO / path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    for key, value in dunders.items():
        setattr(module, f"__{key}__", value)
    return module
