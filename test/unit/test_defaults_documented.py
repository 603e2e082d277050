"""The formula's defaults have one source, lxd/parameters/defaults.yaml.
pillar.example shows every key with its default (or, for the keys listed
here, an example), and the docs' pillar reference (docs/pillar.rst) lists
every key with the same default: these tests fail when either drifts from the source."""

import fnmatch
import re
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
DEFAULTS = yaml.safe_load((REPO / "lxd/parameters/defaults.yaml").read_text())["lxd"]
EXAMPLE = yaml.safe_load((REPO / "pillar.example").read_text())["lxd"]

# Mappings whose entries the operator names: documented as one key.
OPEN_MAPPINGS = {"snap_config", "sysctl", "hardening", "trust:clients", "trust:client_minions",
                 "storage_pools", "networks", "profiles", "projects"}
# Keys for which pillar.example shows an example, not the default (which is
# empty: nothing to show).
EXAMPLE_VALUES = {
    "snap_config", "trust:clients", "trust:client_minions",
    "storage_pools", "networks", "profiles", "projects",
    "addresses:cluster", "addresses:https", "addresses:bgp", "addresses:dns",
    "addresses:metrics", "proxy:http", "proxy:https", "proxy:no_proxy",
}


def leaves(settings, prefix=""):
    """``{"install:method": "snap", ...}``: every documented key's value."""
    found = {}
    for key, value in settings.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict) and path not in OPEN_MAPPINGS:
            found.update(leaves(value, f"{path}:"))
        else:
            found[path] = value
    return found


def literal(value):
    """A default as the pillar reference writes it between double backquotes."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, list):
        return "[" + ", ".join(literal(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{key}: {literal(item)}" for key, item in value.items()) + "}"
    return str(value)


def reference_rows():
    """``{key: default cell}`` of the pillar reference's table; a row for
    ``a:b``/``c`` documents a:b and a:c."""
    table = (REPO / "docs/pillar.rst").read_text()
    border = re.search(r"^(=+ )+=+$", table, re.MULTILINE)
    columns = [match.span() for match in re.finditer(r"=+", border.group(0))]
    body = table[border.end():].split(border.group(0))[1]
    rows = {}
    for line in body.strip("\n").splitlines():
        key_cell, _, default_cell = (line[start:end].strip() for start, end in columns[:3])
        first, *others = re.findall(r"``([^`]+)``", key_cell)
        parent = first.rpartition(":")[0]
        for key in [first] + [f"{parent}:{other}" for other in others]:
            rows[key] = default_cell
    return rows


def test_the_example_has_every_key_and_no_other():
    assert sorted(leaves(EXAMPLE)) == sorted(leaves(DEFAULTS))


def test_the_example_shows_the_defaults_but_where_it_gives_an_example():
    example, defaults = leaves(EXAMPLE), leaves(DEFAULTS)
    shown = {key: value for key, value in example.items() if key not in EXAMPLE_VALUES}
    assert shown == {key: defaults[key] for key in shown}
    # an example that became the default belongs with the defaults shown
    assert [key for key in EXAMPLE_VALUES if example[key] == defaults[key]] == []


def test_the_pillar_reference_lists_every_key_with_its_default():
    rows, defaults = reference_rows(), leaves(DEFAULTS)
    assert sorted(rows) == sorted(defaults)
    for key, cell in rows.items():
        quoted = re.fullmatch(r"``([^`]+)``", cell)
        if quoted:
            # one literal: the default itself (or a pattern, for a row of two keys)
            value, documented = literal(defaults[key]), quoted.group(1)
            assert value == documented or (
                "*" in documented and fnmatch.fnmatchcase(value, documented)), key
        else:
            # described in words (the minion's address, LXD's guide): only
            # where the default is empty or a mapping listed below the table
            assert defaults[key] is None or key in OPEN_MAPPINGS, (key, cell)
