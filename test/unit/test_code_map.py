"""The development guide's code map (docs/development.rst) says which
module acts on which pillar section and which LXD endpoints it requests:
these tests fail when it drifts from the code, so that moving code moves
the map too."""

import re
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
DEFAULTS = yaml.safe_load((REPO / "lxd/parameters/defaults.yaml").read_text())["lxd"]
MODULE_DIRS = ("_modules", "_states", "_runners", "_utils")


def code_map():
    """``{module path: (sections, endpoints)}`` from the table under
    "Code map"; a row's cells may go on over continuation lines."""
    text = (REPO / "docs/development.rst").read_text()
    table = text[text.index("Code map\n"):]
    border = re.search(r"^(=+ )+=+$", table, re.MULTILINE)
    columns = [match.span() for match in re.finditer(r"=+", border.group(0))]
    body = table[border.end():].split(border.group(0))[1]
    rows, module = {}, None
    for line in body.strip("\n").splitlines():
        cells = [line[start:end if index < len(columns) - 1 else None].strip()
                 for index, (start, end) in enumerate(columns)]
        if cells[0]:
            module = cells[0].strip("`")
            rows[module] = ([], [])
        sections, endpoints = rows[module]
        sections += re.findall(r"``([^`]+)``", cells[1])
        endpoints += re.findall(r"``([^`]+)``", cells[2])
    return rows


def modules_in_checkout():
    return sorted(str(path.relative_to(REPO)) for directory in MODULE_DIRS
                  for path in (REPO / directory).glob("*.py") if path.name != "__init__.py")


def test_every_module_has_a_row_and_every_row_a_module():
    assert sorted(code_map()) == modules_in_checkout()


def test_the_sections_are_the_defaults_and_each_has_a_module():
    named = {section for sections, _ in code_map().values() for section in sections}
    named.discard("*")  # lxd_pillar: every section
    assert sorted(named - set(DEFAULTS)) == []
    assert sorted(set(DEFAULTS) - named) == []


def test_each_endpoint_is_requested_by_its_module():
    missing = [(module, endpoint) for module, (_, endpoints) in code_map().items()
               for endpoint in endpoints
               if f'"{endpoint}' not in (REPO / module).read_text()]
    assert missing == []
