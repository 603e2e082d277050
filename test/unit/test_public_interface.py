"""The execution modules' and runners' public functions are the operator's
interface: each says how it is called (a ``CLI Example``), and what only
other modules need is private or lives in the shared layer (_utils)."""

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
MODULES = sorted((REPO / "_modules").glob("*.py")) + sorted((REPO / "_runners").glob("*.py"))


def public_functions(path):
    tree = ast.parse(path.read_text())
    return [node for node in tree.body
            if isinstance(node, ast.FunctionDef) and not node.name.startswith("_")]


@pytest.mark.parametrize("path", MODULES, ids=lambda path: f"{path.parent.name}/{path.name}")
def test_every_public_function_has_a_cli_example(path):
    missing = [node.name for node in public_functions(path)
               if "CLI Example" not in (ast.get_docstring(node) or "")]
    assert missing == []
