"""Execution modules call each other only through ``__salt__``; these calls
must not go in circles (issue 24): a circle means no module of it can be
read, tested or loaded without all the others. The graph is read from the
source, so a new call that closes a circle fails here."""

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CALL = re.compile(r"""__salt__\[\s*["']([a-z_]+)\.[a-z_]+["']\s*\]""")
def call_graph():
    """``{module: set of our modules it calls}`` for _modules/*.py."""
    sources = {path.stem: path.read_text() for path in (REPO / "_modules").glob("*.py")}
    return {module: {called for called in CALL.findall(text)
                     if called in sources and called != module}
            for module, text in sources.items()}


def cycles(graph):
    """Every elementary circle of ``graph``, each once, starting at its
    smallest module name (a depth-first walk per start; the graph is small)."""
    found = []

    def walk(start, path):
        for called in sorted(graph[path[-1]]):
            if called == start:
                found.append(tuple(path))
            elif called > start and called not in path:
                walk(start, [*path, called])

    for start in sorted(graph):
        walk(start, [start])
    return found


def test_cycles_finds_a_circle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [("a", "b", "c")]


def test_lxd_no_longer_reaches_back_through_snap():
    """The circle named in issue 24: lxd -> lxd_snap -> lxd_pillar -> lxd."""
    graph = call_graph()
    assert "lxd_pillar" not in graph["lxd"]
    assert "lxd_pillar" not in graph["lxd_snap"]


def test_no_circles():
    assert cycles(call_graph()) == []
