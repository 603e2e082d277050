"""Declared storage pools, networks, profiles and projects (lxd_resources)
on a standalone daemon (LXD and Incus): created, updated, deleted only when
the formula made them, hand-made ones left alone, LXD's refusals undone."""

import os

import pytest

MARKER = "user.salt.managed"


@pytest.fixture
def bridge():
    """A bridge name of this test's own (host interfaces outlive daemons)."""
    return f"saltbr{os.getpid() % 10000}"


@pytest.fixture
def managed(loaders):
    def apply(resources, test=False):
        return loaders.states.lxd_resources.managed(
            "lxd-resources", resources=resources, mode="standalone", test=test)
    return apply


def declared(bridge, pool_dir):
    return {
        "projects": {"ci": {"description": "CI", "config": {"features.images": False}}},
        "storage_pools": {"fast": {"driver": "dir", "member_config": {"source": str(pool_dir)}}},
        "networks": {bridge: {"config": {"ipv4.address": "10.231.0.1/24", "ipv4.nat": True,
                                         "ipv6.address": "none"}}},
        "profiles": {"web": {
            "description": "Web servers",
            "config": {"limits.cpu": 2, "limits.memory": "1GiB"},
            "devices": {"root": {"type": "disk", "path": "/", "pool": "fast"},
                        "eth0": {"type": "nic", "name": "eth0", "network": bridge}},
        }},
    }


def test_create_then_rerun_then_update_then_delete(managed, lxd_daemon, bridge, tmp_path):
    (tmp_path / "fast").mkdir()
    wanted = declared(bridge, tmp_path / "fast")
    before = lxd_daemon.snapshot()

    dry = managed(wanted, test=True)
    assert dry.result is None
    assert dry.changes == {"projects": {"ci": "created"}, "storage_pools": {"fast": "created"},
                           "networks": {bridge: "created"}, "profiles": {"web": "created"}}
    assert lxd_daemon.snapshot() == before

    created = managed(wanted)
    assert created.result is True, created.comment
    assert created.changes == dry.changes
    profile = lxd_daemon.query("/1.0/profiles/web")
    assert profile["config"] == {"limits.cpu": "2", "limits.memory": "1GiB",
                                 MARKER: "limits.cpu,limits.memory"}
    assert profile["devices"]["eth0"]["network"] == bridge
    assert lxd_daemon.query("/1.0/storage-pools/fast")["config"]["source"] == str(
        tmp_path / "fast")
    assert lxd_daemon.query(f"/1.0/networks/{bridge}")["config"]["ipv4.nat"] == "true"
    assert lxd_daemon.query("/1.0/projects/ci")["config"]["features.images"] == "false"

    again = managed(wanted)
    assert again.result is True and again.changes == {}, again.comment

    # a key changed, one dropped, the description changed
    wanted["profiles"]["web"]["config"] = {"limits.cpu": 4}
    wanted["profiles"]["web"]["description"] = "Bigger"
    dry = managed(wanted, test=True)
    assert dry.changes == {"profiles": {"web": {
        "config": {"limits.cpu": {"old": "2", "new": "4"},
                   "limits.memory": {"old": "1GiB", "new": None},
                   MARKER: {"old": "limits.cpu,limits.memory", "new": "limits.cpu"}},
        "description": {"old": "Web servers", "new": "Bigger"},
    }}}
    updated = managed(wanted)
    assert updated.changes == dry.changes, updated.comment
    assert lxd_daemon.query("/1.0/profiles/web")["config"] == {"limits.cpu": "4",
                                                               MARKER: "limits.cpu"}
    assert managed(wanted).changes == {}

    for kind in wanted.values():
        for entry in kind.values():
            entry["present"] = False
    deleted = managed(wanted)
    assert deleted.result is True, deleted.comment
    assert deleted.changes == {"profiles": {"web": "deleted"}, "networks": {bridge: "deleted"},
                               "storage_pools": {"fast": "deleted"},
                               "projects": {"ci": "deleted"}}
    assert lxd_daemon.snapshot() == before
    assert managed(wanted).changes == {}


def test_hand_made_objects_are_never_touched(managed, lxd_daemon):
    lxd_daemon.lxc("profile", "create", "web")
    lxd_daemon.lxc("profile", "set", "web", "limits.cpu", "1")
    lxd_daemon.lxc("project", "create", "ci")
    refused = managed({"profiles": {"web": {"config": {"limits.cpu": 2}}},
                       "projects": {"ci": {"present": False}}})
    assert refused.result is False
    assert refused.comment.startswith(
        "lxd:profiles:web: LXD has a profile web that this formula did not create")
    assert lxd_daemon.query("/1.0/profiles/web")["config"] == {"limits.cpu": "1"}
    # present: false never deletes what an operator made
    left = managed({"projects": {"ci": {"present": False}}})
    assert left.result is True and left.changes == {}
    assert "ci" in [p.rsplit("/", 1)[-1] for p in lxd_daemon.query("/1.0/projects")]


def test_a_value_lxd_refuses_undoes_the_run(managed, lxd_daemon):
    before = lxd_daemon.snapshot()
    projects = lxd_daemon.query("/1.0/projects")
    failed = managed({"projects": {"ci": {}},
                      "profiles": {"web": {"config": {"limits.cpu": "lots"}}}})
    assert failed.result is False
    assert failed.comment.startswith("lxd:profiles:web: create failed: ")
    assert failed.comment.endswith("what this run changed was undone")
    assert failed.changes == {}
    assert lxd_daemon.query("/1.0/projects") == projects
    assert lxd_daemon.snapshot() == before


def test_an_unknown_driver_fails_before_any_change(managed, lxd_daemon):
    projects = lxd_daemon.query("/1.0/projects")
    failed = managed({"projects": {"ci": {}},
                      "storage_pools": {"fast": {"driver": "nosuchfs"}}})
    assert failed.result is False
    assert failed.comment.startswith("lxd:storage_pools:fast:driver: 'nosuchfs' is not a "
                                     "storage driver this daemon has (")
    assert lxd_daemon.query("/1.0/projects") == projects


def test_a_fixed_field_cannot_change(managed, lxd_daemon, tmp_path):
    assert managed({"storage_pools": {"fast": {"driver": "dir"}}}).result is True
    refused = managed({"storage_pools": {"fast": {"driver": "btrfs"}}})
    assert refused.result is False
    assert refused.comment.startswith("lxd:storage_pools:fast: driver: LXD cannot change it "
                                      "once created ('dir', not 'btrfs')")


def test_one_profile_as_salt_3007_states_declared_it(loaders, lxd_daemon):
    profile = loaders.states.lxd_profile
    config = [{"key": "limits.cpu", "value": "2"}]
    devices = {"eth0": {"type": "nic", "name": "eth0", "nictype": "p2p"}}
    dry = profile.present("web", description="Web", config=config, devices=devices, test=True)
    assert dry.result is None and dry.changes == {"profile": "created"}
    assert profile.present("web", description="Web", config=config, devices=devices).result
    assert lxd_daemon.query("/1.0/profiles/web")["config"] == {"limits.cpu": "2",
                                                               MARKER: "limits.cpu"}
    again = profile.present("web", description="Web", config=config, devices=devices)
    assert again.result is True and again.changes == {}
    assert profile.absent("web").changes == {"profile": "deleted"}
    assert "/1.0/profiles/web" not in lxd_daemon.query("/1.0/profiles")

    lxd_daemon.lxc("profile", "create", "mine")
    assert profile.absent("mine").changes == {}
    assert "/1.0/profiles/mine" in lxd_daemon.query("/1.0/profiles")
    remote = profile.present("web", remote_addr="https://lxd1:8443")
    assert remote.result is False and remote.comment.startswith("remote_addr: this formula")
    bad = profile.present("web", devices={"root": {"path": "/"}})
    assert bad.result is False and bad.comment == "profile web:devices:root:type: missing (disk, nic, ...)"


def test_profiles_and_networks_inside_a_project(managed, lxd_daemon):
    """Two entries name the same profile in two projects; the project is
    created first and deleted last; LXD's own default profile of the
    project is left alone."""
    wanted = {
        "projects": {"web": {"config": {"features.profiles": True,
                                        "features.images": False}}},
        "profiles": {
            "base": {"config": {"limits.cpu": 1}},
            "web-base": {"name": "base", "project": "web", "config": {"limits.cpu": 2}},
        },
    }
    dry = managed(wanted, test=True)
    assert dry.changes == {"projects": {"web": "created"},
                           "profiles": {"base": "created", "web-base": "created"}}, dry.comment
    created = managed(wanted)
    assert created.result is True and created.changes == dry.changes, created.comment
    assert lxd_daemon.query("/1.0/profiles/base")["config"]["limits.cpu"] == "1"
    assert lxd_daemon.query("/1.0/profiles/base?project=web")["config"]["limits.cpu"] == "2"
    assert managed(wanted).changes == {}

    wanted["profiles"]["web-base"]["config"] = {"limits.cpu": 3}
    updated = managed(wanted)
    assert updated.changes == {"profiles": {"web-base": {"config": {
        "limits.cpu": {"old": "2", "new": "3"}}}}}, updated.comment
    assert lxd_daemon.query("/1.0/profiles/base")["config"]["limits.cpu"] == "1"

    # LXD made the project's default profile: not the formula's to touch
    refused = managed({"profiles": {"web-default": {"name": "default", "project": "web",
                                                    "config": {"limits.cpu": 1}}}})
    assert refused.result is False
    assert refused.comment.startswith("lxd:profiles:web-default: LXD has a profile default "
                                      "in project web that this formula did not create")

    for kind in wanted.values():
        for entry in kind.values():
            entry["present"] = False
    deleted = managed(wanted)
    assert deleted.result is True, deleted.comment
    assert deleted.changes == {"profiles": {"base": "deleted", "web-base": "deleted"},
                               "projects": {"web": "deleted"}}
    assert "web" not in [p.rsplit("/", 1)[-1] for p in lxd_daemon.query("/1.0/projects")]


def test_an_object_in_a_project_that_cannot_hold_it_fails_before_any_change(managed,
                                                                           lxd_daemon):
    before = lxd_daemon.snapshot()
    projects = lxd_daemon.query("/1.0/projects")
    cases = [
        ({"profiles": {"p": {"project": "nowhere"}}},
         "lxd:profiles:p:project: there is no project nowhere, and lxd:projects does not "
         "declare it"),
        ({"projects": {"shared": {"config": {"features.profiles": False}}},
          "profiles": {"p": {"project": "shared"}}},
         "lxd:profiles:p:project: project shared does not have features.profiles: its "
         "profiles are the default project's (set features.profiles: true in "
         "lxd:projects:shared:config)"),
        ({"projects": {"shared": {}}, "networks": {"n": {"project": "shared"}}},
         "lxd:networks:n:project: project shared does not have features.networks"),
        ({"projects": {"gone": {"present": False}}, "profiles": {"p": {"project": "gone"}}},
         "lxd:profiles:p:project: project gone is to be deleted (lxd:projects:gone)"),
    ]
    for resources, error in cases:
        for test in (True, False):
            failed = managed(resources, test=test)
            assert failed.result is False and failed.comment.startswith(error), failed.comment
    assert lxd_daemon.query("/1.0/projects") == projects
    assert lxd_daemon.snapshot() == before
