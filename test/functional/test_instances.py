"""Images and instances (lxd_image, lxd_instance states) on a standalone
daemon (LXD and Incus): a busybox image imported from a tarball, a container
launched from it, changed, stopped and deleted, each run idempotent."""

import pytest

from test.support.images import busybox_image


@pytest.fixture
def host(lxd_daemon):
    """A daemon with a pool behind its default profile, as init makes it."""
    lxd_daemon.lxc("storage", "create", "default", "dir")
    lxd_daemon.lxc("profile", "device", "add", "default", "root", "disk", "path=/",
                   "pool=default")
    return lxd_daemon


def test_an_image_from_a_tarball_then_a_container_from_it(loaders, host, tmp_path):
    image_state, instance = loaders.states.lxd_image, loaders.states.lxd_instance
    tarball = str(busybox_image(tmp_path))

    dry = image_state.present("busybox", source=tarball, test=True)
    assert dry.result is None and dry.changes["image"]["old"] is None
    imported = image_state.present("busybox", source={"type": "file", "filename": tarball})
    assert imported.result is True, imported.comment
    fingerprint = imported.changes["image"]["new"]
    assert host.query("/1.0/images/aliases/busybox")["target"] == fingerprint
    assert image_state.present("busybox", source=tarball).changes == {}

    dry = instance.present("c1", source="busybox", running=True, test=True)
    assert dry.result is None and host.query("/1.0/instances") == []
    launched = instance.present("c1", source={"type": "image", "alias": "busybox"},
                                config={"limits.processes": 100}, running=True)
    assert launched.result is True, launched.comment
    assert launched.changes == {"instance": {"old": None, "new": "container from busybox"},
                                "status": {"old": None, "new": "Running"}}
    assert host.query("/1.0/instances/c1")["status"] == "Running"
    again = instance.present("c1", source="busybox", config={"limits.processes": 100},
                             running=True)
    assert again.result is True and again.changes == {}, again.comment

    changed = instance.present("c1", config={"limits.processes": 200},
                               restart_on_change=True)
    assert changed.changes == {"config": {"limits.processes": {"old": "100", "new": "200"}},
                               "restarted": True}, changed.comment
    assert host.query("/1.0/instances/c1")["config"]["limits.processes"] == "200"

    assert instance.stopped("c1").changes == {"status": {"old": "Running", "new": "Stopped"}}
    assert instance.stopped("c1").changes == {}
    assert instance.running("c1").changes == {"status": {"old": "Stopped", "new": "Running"}}

    refused = instance.absent("c1")
    assert refused.result is False and "is running" in refused.comment
    gone = instance.absent("c1", stop=True)
    assert gone.result is True and gone.changes == {"instance": {"old": "Running", "new": None}}
    assert host.query("/1.0/instances") == []
    assert instance.absent("c1").changes == {}


def test_instance_states_refuse_a_remote_and_a_missing_source(loaders, host):
    instance = loaders.states.lxd_instance
    remote = instance.present("c1", source="busybox", remote_addr="https://lxd1:8443")
    assert remote.result is False and remote.comment.startswith("remote_addr: this formula")
    missing = instance.present("c1")
    assert missing.result is False
    assert missing.comment == "Instance c1 does not exist and no source image was given."
    unknown = instance.present("c1", source="no-such-image")
    assert unknown.result is False and unknown.comment.startswith("Instance c1: ")
    assert host.query("/1.0/instances") == []


def test_a_virtual_machine_where_the_daemon_runs_none_is_refused(loaders, host, tmp_path):
    """A host without QEMU/KVM (this one) has no qemu among its instance
    drivers: the state fails naming what it runs, in a dry run too, and
    nothing is created."""
    if "qemu" in host.query("/1.0")["environment"]["driver"]:
        pytest.skip("this daemon runs virtual machines")
    assert loaders.states.lxd_image.present(
        "busybox", source=str(busybox_image(tmp_path))).result is True
    for test in (True, False):
        refused = loaders.states.lxd_instance.present("vm1", source="busybox",
                                                      type="virtual-machine", test=test)
        assert refused.result is False and refused.changes == {}
        assert refused.comment == ("Instance vm1: type: this daemon runs no virtual-machine "
                                   "instances (its drivers run: container)")
    assert host.query("/1.0/instances") == []


def test_salt_3007s_lxd_container_states_map_onto_lxd_instance(loaders, host, tmp_path):
    """lxd_container takes 3007's names and arguments (this formula's lxd
    module replaces core's, whose lxd_container would fail); lxd.version
    stays for what tests for it."""
    assert loaders.modules.lxd.version() == host.query("/1.0")["environment"]["server_version"]
    container = loaders.states.lxd_container
    assert loaders.states.lxd_image.present(
        "busybox", source=str(busybox_image(tmp_path))).result is True
    made = container.present("c2", source={"type": "image", "alias": "busybox"},
                             running=True, architecture="x86_64")
    assert made.result is True, made.comment
    assert host.query("/1.0/instances/c2")["type"] == "container"
    assert container.running("c2").changes == {}
    restarted = container.running("c2", restart=True)
    assert restarted.changes == {"status": {"old": "Running", "new": "Running (restarted)"}}
    killed = container.stopped("c2", kill=True)
    assert killed.changes == {"status": {"old": "Running", "new": "Stopped"}}, killed.comment
    frozen = container.frozen("c2")
    assert frozen.result is False and "not provided by this formula" in frozen.comment
    assert container.absent("c2").changes == {"instance": {"old": "Stopped", "new": None}}
