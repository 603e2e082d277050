"""The order and place in which lxd_init applies a preseed, pinned against
what ``lxd init --preseed`` does: canonical/lxd lxd/init.go
initDataNodeApply (lxd-5.0.2, lxd-6.9) and lxc/incus client/incus_server.go
ApplyServerPreseed (v6.0.4, v7.0.1) apply the server config, the storage
pools, the networks of the default project, the projects, the networks of
other projects (``d.UseProject(network.Project)``, after their projects
exist), the storage volumes, then the profiles. Only OVN networks live in
other projects (``info.Projects = true`` in lxd/network/driver_ovn.go,
internal/server/network/driver_ovn.go), and there is no OVN here: the real
daemons' side is in test/functional/test_lxd_module.py."""

import importlib.util
from pathlib import Path

import lxd_preseed
import pytest
from salt.exceptions import CommandExecutionError

REPO = Path(__file__).resolve().parents[2]


def load(path, salt):
    spec = importlib.util.spec_from_file_location(path.stem, REPO / path)
    loaded = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(loaded)
    loaded.__salt__ = salt
    return loaded


@pytest.fixture
def daemon():
    """A daemon holding only the default project and profile; every write
    recorded as (method, path, project)."""
    held = {"projects": [{"name": "default", "config": {"features.networks": "false"}}],
            "profiles": [{"name": "default", "config": {}, "description": "", "devices": {}}]}
    writes = []
    resources = load(Path("_modules/lxd_resources.py"), {
        "lxd.query": lambda path, recursion=1, unmasked=False, project=None:
            [] if project else held.get(path.replace("-", "_"), []),
    })
    init = load(Path("_modules/lxd_init.py"), {
        "lxd.config_get": lambda unmasked=False: {},
        "lxd.config_update": lambda config: writes.append(("PATCH", "", None)),
        "lxd.request": lambda method, path, body=None, project=None:
            writes.append((method, path, project)),
        "lxd_resources.listing_of": resources.listing_of,
        "lxd_resources.project_problem": resources.project_problem,
    })
    return init, writes


PRESEED = {
    "profiles": [{"name": "default", "devices": {"root": {"type": "disk", "path": "/",
                                                          "pool": "local"}}}],
    "networks": [{"name": "ci-net", "type": "ovn", "project": "ci",
                  "config": {"network": "uplink"}},
                 {"name": "uplink", "type": "physical", "config": {"parent": "eth1"}}],
    "projects": [{"name": "ci", "config": {"features.networks": "true"}}],
    "storage_pools": [{"name": "local", "driver": "dir"}],
    "config": {"core.https_address": "[::]:8443"},
}


def test_a_preseed_is_applied_in_lxds_order_and_networks_in_their_project(daemon):
    init, writes = daemon
    changes = init.apply_preseed(PRESEED)
    assert writes == [
        ("PATCH", "", None),
        ("POST", "storage-pools", None),
        ("POST", "networks", None),            # uplink: default project
        ("POST", "projects", None),
        ("POST", "networks", "ci"),            # ci-net: once ci exists
        ("PUT", "profiles/default", None),
    ]
    assert changes["networks"] == {"uplink": "created", "ci-net in project ci": "created"}


def test_the_networks_of_a_project_without_features_networks_are_refused(daemon):
    # LXD would create them in the default project (project.NetworkProject)
    init, writes = daemon
    preseed = dict(PRESEED, projects=[{"name": "ci"}])
    with pytest.raises(CommandExecutionError, match=(
            "lxd:init:preseed:networks:0:project: project ci does not have "
            "features.networks: its networks are the default project's "
            r"\(set features.networks: true in lxd:init:preseed:projects:ci:config\)")):
        init.preseed_plan(preseed)
    preseed = dict(PRESEED, projects=[])
    with pytest.raises(CommandExecutionError, match=(
            "lxd:init:preseed:networks:0:project: there is no project ci, and "
            "lxd:init:preseed:projects does not declare it")):
        init.apply_preseed(preseed)
    assert writes == []


@pytest.mark.parametrize(("daemon_kind", "bridge"), [("lxd", "lxdbr0"), ("incus", "incusbr0"),
                                                 ("unknown", "lxdbr0")])
def test_the_default_preseed_names_the_bridge_as_the_backends_own_init(daemon_kind, bridge):
    preseed = lxd_preseed.default_preseed(daemon_kind, storage=False)
    assert [network["name"] for network in preseed["networks"]] == [bridge]
    assert preseed["profiles"] == [{"name": "default", "devices": {
        "eth0": {"type": "nic", "name": "eth0", "network": bridge}}}]
