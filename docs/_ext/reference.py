"""The reference pages, one per module, written when a build starts: every
``*.py`` in ``_modules``, ``_states``, ``_runners`` and ``_utils`` gets a
page under ``ref/<kind>/`` that documents it with autodoc, so a new module
is in the docs without anyone writing its page (and a removed one leaves
none behind). These pages are generated, not kept in git."""

from pathlib import Path

DOCS = Path(__file__).resolve().parents[1]
REPO = DOCS.parent

# kind (the saltext.lxd subpackage) -> (checkout directory, index title,
# what one module is: page titles must differ, lxd_cluster is three kinds)
KINDS = {
    "modules": ("_modules", "Execution modules", "execution module"),
    "states": ("_states", "State modules", "state module"),
    "runners": ("_runners", "Runners", "runner"),
    "utils": ("_utils", "Shared code (utils)", "utils module"),
}


def heading(text, char="="):
    return f"{text}\n{char * len(text)}\n"


def pages(kind, directory, title, one):
    """``{file name: text}`` of one kind's index and module pages."""
    names = sorted(path.stem for path in (REPO / directory).glob("*.py")
                   if path.stem != "__init__")
    found = {
        f"saltext.lxd.{kind}.{name}.rst":
            heading(f"``{name}`` {one}") + f"\n.. automodule:: saltext.lxd.{kind}.{name}\n"
        for name in names
    }
    toctree = "".join(f"   saltext.lxd.{kind}.{name}\n" for name in names)
    found["index.rst"] = (heading(title) + f"\nFrom ``{directory}/``, the package's"
                          f" ``saltext.lxd.{kind}``.\n\n.. toctree::\n   :maxdepth: 1\n\n"
                          + toctree)
    return found


def write_if_changed(path, text):
    """Rewrite only what changed, so that Sphinx rebuilds only that."""
    if not path.exists() or path.read_text() != text:
        path.write_text(text)


def generate(app=None):
    for kind, (directory, *titles) in KINDS.items():
        target = DOCS / "ref" / kind
        wanted = pages(kind, directory, *titles) if (REPO / directory).is_dir() else {}
        target.mkdir(parents=True, exist_ok=True)
        for stale in set(path.name for path in target.glob("*.rst")) - set(wanted):
            (target / stale).unlink()
        for name, text in wanted.items():
            write_if_changed(target / name, text)
        if not wanted:
            target.rmdir()


def setup(app):
    app.connect("builder-inited", generate)
    return {"parallel_read_safe": True}
