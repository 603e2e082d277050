"""`salt '*' state.apply lxd` on a standalone host: a real master, a real
minion, a real daemon (LXD, then Incus)."""

import json
from pathlib import Path

NO_ADDRESSES = {"ipv4.address": "none", "ipv6.address": "none"}
PILLAR = {"init": {"network": NO_ADDRESSES}}


def by_id(states):
    return {ret["__id__"]: ret for ret in states.values()}


def changed(states):
    return {ret["__id__"]: ret["changes"] for ret in states.values() if ret["changes"]}


def test_apply_initialises_then_reports_no_changes(host):
    host.set_pillar(PILLAR)
    first = by_id(host.apply())
    assert all(ret["result"] is True for ret in first.values()), first
    assert first["lxd-initialised"]["changes"] == {
        "networks": {host.daemon.bridge: "created"},
        "storage_pools": {"local": "created"},
        "profiles": {"default": "updated"},
    }
    pools = host.daemon.query("/1.0/storage-pools?recursion=1")
    assert [(pool["name"], pool["driver"]) for pool in pools] == [("local", "dir")]
    assert host.daemon.query("/1.0/profiles/default")["devices"]["eth0"]["network"] == host.daemon.bridge
    assert "vm.max_map_count = 262144" in Path(host.files["sysctl_conf"]).read_text()

    second = host.apply()
    assert all(ret["result"] is True for ret in second.values()), second
    assert changed(second) == {}


def test_dry_run_reports_exact_changes_and_changes_nothing(host):
    host.set_pillar(PILLAR)
    before = host.daemon.snapshot()
    dry = by_id(host.apply("test=True"))
    assert dry["lxd-initialised"]["result"] is None
    assert dry["lxd-initialised"]["changes"]["storage_pools"] == {"local": "created"}
    assert host.daemon.snapshot() == before

    real = by_id(host.apply())
    assert real["lxd-initialised"]["changes"] == dry["lxd-initialised"]["changes"]
    assert host.apply("test=True") and changed(host.apply("test=True")) == {}


def test_bad_pillar_fails_cleanly_and_changes_nothing(host):
    host.set_pillar(dict(PILLAR, mode="swarm", install={"method": "none", "channel": "latest/stabel"}))
    before = host.daemon.snapshot()
    states = by_id(host.apply())
    valid = states["lxd-pillar-valid"]
    assert valid["result"] is False
    assert "lxd:mode: unknown mode 'swarm'" in valid["comment"]
    assert "lxd:install:channel: 'latest/stabel' is not a snap channel" in valid["comment"]
    assert all(ret["result"] is False for ret in states.values())
    assert changed(states) == {}
    # a failed state is a failed command, on the master's CLI and the minion's
    plain = host.cli.run("state.apply", "lxd", minion_tgt=host.minion.id)
    assert plain.returncode != 0, plain
    local = host.minion.salt_call_cli().run("state.apply", "lxd")
    assert local.returncode != 0, local
    assert host.daemon.snapshot() == before


def test_unparsable_preseed_fails_cleanly(host):
    host.set_pillar({"init": {"preseed": "storage_pools: [unclosed"}})
    states = by_id(host.apply())
    assert "lxd:init:preseed: not parsable as YAML" in states["lxd-pillar-valid"]["comment"]
    assert host.daemon.snapshot()["pools"] == []


def test_init_and_mode_are_fixed_once_initialised(host):
    host.set_pillar(PILLAR)
    assert by_id(host.apply())["lxd-initialised"]["result"] is True
    before = host.daemon.snapshot()

    host.set_pillar({"init": {"network": NO_ADDRESSES, "storage": False}})
    states = by_id(host.apply())
    assert states["lxd-pillar-valid"]["result"] is False
    assert "lxd:init: LXD is already initialised" in states["lxd-pillar-valid"]["comment"]
    assert changed(states) == {}

    host.set_pillar(dict(PILLAR, mode="cluster"))
    states = by_id(host.apply())
    assert "lxd:mode: LXD was initialised in standalone mode" in states["lxd-pillar-valid"]["comment"]
    assert host.daemon.snapshot() == before


def test_preseed_from_yaml_text_with_a_secret_never_shown(host):
    preseed = (
        f"config:\n  {host.daemon.secret_key}: hunter2-secret\n"
        "storage_pools:\n- name: data\n  driver: dir\n"
        "profiles:\n- name: default\n  devices:\n"
        "    root: {type: disk, path: /, pool: data}\n"
    )
    host.set_pillar({"init": {"preseed": preseed}})
    states = host.apply()
    assert "hunter2-secret" not in json.dumps(states)
    init = by_id(states)["lxd-initialised"]
    assert init["changes"]["config"][host.daemon.secret_key]["new"] == "********"
    assert host.daemon.query("/1.0/storage-pools/data")["driver"] == "dir"
    log_file = Path(host.minion.config["root_dir"]) / host.minion.config["log_file"]
    assert log_file.stat().st_size > 0
    assert "hunter2-secret" not in log_file.read_text()


def test_keys_the_backend_has_no_use_for_fail_before_any_change(host):
    other = "incus" if host.daemon.backend == "lxd" else "lxd"
    host.set_pillar(dict(PILLAR, backend="incus", install={"method": "snap"},
                         snap_config={"daemon.debug": True}))
    before = host.daemon.snapshot()
    states = by_id(host.apply())
    comment = states["lxd-pillar-valid"]["comment"]
    assert "lxd:install:method: Incus is not published as a snap" in comment
    assert "lxd:snap_config: only the LXD snap has this" in comment
    assert changed(states) == {}

    # the pillar names the other daemon than the one at the socket
    host.set_pillar(dict(PILLAR, backend=other))
    states = by_id(host.apply())
    assert states["lxd-pillar-valid"]["result"] is False
    assert (f"lxd:backend: the daemon at {host.daemon.socket} is {host.daemon.backend}, "
            f"not {other}") in states["lxd-pillar-valid"]["comment"]
    assert changed(states) == {}
    assert host.daemon.snapshot() == before
