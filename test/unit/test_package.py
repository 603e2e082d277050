"""The two ways to install (file_roots + sync, or the saltext-lxd package)
and the names the formula shares with core Salt 3007. Where this Python
has the package installed (the Salt 3007 tier), the tests check it as a
pip user would have it."""

import importlib.metadata
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import salt.version

from test.support.formula import EXTENSION

REPO = Path(__file__).resolve().parents[2]
FORMULA_VERSION = re.search(r"^version: *(\S+)$", (REPO / "FORMULA").read_text(), re.M)[1]
needs_package = pytest.mark.skipif(EXTENSION is None, reason="saltext-lxd is not installed "
                                   "in this Python (the Salt 3007 tier has it)")


def test_the_version_has_one_place():
    """FORMULA's version is the newest in CHANGELOG.rst, and the package's."""
    changelog = (REPO / "CHANGELOG.rst").read_text()
    assert re.findall(r"^(\d+\.\d+\.\d+\S*)\n=+$", changelog, re.M)[0] == FORMULA_VERSION
    if EXTENSION:
        assert importlib.metadata.version("saltext-lxd") == FORMULA_VERSION


@needs_package
def test_salt_call_finds_the_modules_without_sync_all(tmp_path):
    """pip install . and salt-call works: no formula served, nothing synced."""
    (tmp_path / "pillar").mkdir()
    (tmp_path / "pillar" / "top.sls").write_text("base: {'*': [lxd]}\n")
    (tmp_path / "pillar" / "lxd.sls").write_text("lxd: {mode: sideways}\n")
    (tmp_path / "minion").write_text(json.dumps({
        "id": "package-test", "root_dir": str(tmp_path), "file_client": "local",
        "file_roots": {"base": [str(tmp_path / "empty")]},
        "pillar_roots": {"base": [str(tmp_path / "pillar")]},
    }))

    def salt_call(*args):
        done = subprocess.run(
            [str(Path(sys.executable).parent / "salt-call"), "--local", "-c", str(tmp_path),
             "--out=json", *args], capture_output=True, text=True, timeout=120, check=True)
        return json.loads(done.stdout)["local"]

    assert salt_call("lxd_pillar.validate") == [
        "lxd:mode: unknown mode 'sideways' (expected one of: standalone, cluster)"]
    assert not (tmp_path / "extmods").exists() or not any((tmp_path / "extmods").iterdir())
    assert salt_call("lxd.pylxd_version") == importlib.metadata.version("pylxd")


def test_names_shared_with_core_salt_are_the_formulas(loaders):
    """lxd (module and states), lxd_image, lxd_profile and lxd_container
    are the formula's, on Salt 3007 too (where core has its own), and
    lxd.version stays; the snap module is lxd_snap, never snap."""
    assert loaders.modules.lxd.version
    shared = [("module", "lxd"), ("states", "lxd"), ("states", "lxd_image"),
              ("states", "lxd_profile"), ("states", "lxd_container")]
    for tag, name in shared:
        assert getattr(getattr(loaders, "modules" if tag == "module" else "states"), name)
    # where the loader took each from: it names them salt.loaded.<int|ext>.<tag>.<name>
    origins = {(name.split(".")[3], name.split(".")[4]): Path(module.__file__)
               for name, module in list(sys.modules.items())
               if name.startswith("salt.loaded.") and tuple(name.split(".")[3:]) in shared}
    assert set(origins) == set(shared), origins
    salt_package = Path(salt.version.__file__).parent
    assert {key: path for key, path in origins.items() if salt_package in path.parents} == {}
    if EXTENSION:
        assert all(EXTENSION in path.parents for path in origins.values()), origins
    assert "lxd_snap.info" in loaders.modules  # the stand-in snap is on PATH
    assert "snap.info" not in loaders.modules
