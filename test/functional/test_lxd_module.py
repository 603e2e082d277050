"""The lxd execution and state modules against a real daemon (LXD and
Incus)."""

import os
import signal
import time

import pytest
from salt.exceptions import CommandExecutionError

from test.support.formula import use_settings

NO_ADDRESSES = {"ipv4.address": "none", "ipv6.address": "none"}


@pytest.fixture
def lxd(loaders):
    return loaders.modules.lxd


@pytest.fixture
def lxd_init(loaders):
    return loaders.modules.lxd_init


def test_connection_resolves_the_configured_socket(lxd, lxd_daemon):
    assert lxd.endpoint() == lxd_daemon.socket
    assert lxd.reachable()
    assert lxd.server_kind() == lxd_daemon.backend
    assert lxd.has_api_extension("storage")
    assert not lxd.has_api_extension("no_such_extension")
    assert lxd.backend_drift() == []


def test_a_daemon_of_the_other_backend_is_named_in_the_error(lxd, lxd_daemon, loaders):
    other = "incus" if lxd_daemon.backend == "lxd" else "lxd"
    (error,) = lxd.backend_drift(other)
    assert error.startswith(f"lxd:backend: the daemon at {lxd_daemon.socket} is "
                            f"{lxd_daemon.backend}, not {other}")


def test_connection_falls_back_to_the_daemon_dir(lxd, lxd_daemon, loaders, monkeypatch):
    use_settings(loaders, {"backend": lxd_daemon.backend})
    monkeypatch.setenv(lxd_daemon.kind["dir_variable"], str(lxd_daemon.root))
    assert lxd.endpoint() == lxd_daemon.socket
    assert lxd.reachable()


def test_unreachable_daemon_is_a_clear_error(lxd, loaders, tmp_path):
    use_settings(loaders, {"connection": {"socket": str(tmp_path / "none.socket")}})
    assert not lxd.reachable()
    with pytest.raises(CommandExecutionError, match="not reachable"):
        lxd.info()


def test_https_remote_with_client_certificate(lxd, lxd_daemon, loaders, tmp_path):
    cert, key = tmp_path / "client.crt", tmp_path / "client.key"
    loaders.modules.cmd.run_all(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
         "ec_paramgen_curve:secp384r1", "-nodes", "-days", "1", "-subj", "/CN=salt",
         "-keyout", str(key), "-out", str(cert)],
        python_shell=False,
    )
    lxd.config_set("core.https_address", f"{lxd_daemon.address}:8443")
    lxd_daemon.trust_certificate(cert)
    use_settings(loaders, {"connection": {
        "url": f"https://{lxd_daemon.address}:8443",
        "cert": str(cert), "key": str(key), "verify": str(lxd_daemon.root / "server.crt"),
    }})
    assert lxd.info()["auth"] == "trusted"
    assert lxd.config_get("core.https_address") == f"{lxd_daemon.address}:8443"


def test_server_config_set_get_unset(lxd, lxd_daemon):
    assert lxd.config_get("images.auto_update_interval") is None
    lxd.config_set("images.auto_update_interval", 12)
    assert lxd.config_get("images.auto_update_interval") == "12"
    assert lxd_daemon.query("/1.0")["config"]["images.auto_update_interval"] == "12"
    lxd.config_unset("images.auto_update_interval")
    assert "images.auto_update_interval" not in lxd.config_get()


def test_bad_server_config_is_refused(lxd, lxd_daemon):
    with pytest.raises(CommandExecutionError, match="LXD refused"):
        lxd.config_set("no.such.key", "1")


def test_listings_and_cluster(lxd, lxd_daemon, loaders):
    lxd_daemon.lxc("storage", "create", "pool1", "dir")
    assert lxd.storage_pools()["pool1"]["driver"] == "dir"
    assert "default" in lxd.profiles()
    assert "default" in lxd.projects()
    assert lxd.networks(managed=True) == {}
    assert loaders.modules.lxd_trust.certificates() == {}
    assert lxd.cluster()["enabled"] is False


def test_listings_mask_what_profiles_hand_their_guests(lxd, lxd_daemon):
    lxd_daemon.lxc("profile", "create", "password")  # a name is not a secret
    for profile in ("default", "password"):
        lxd_daemon.lxc("profile", "set", profile, "environment.DB_PASSWORD", "env-s3cret")
        lxd_daemon.lxc("profile", "set", profile, "limits.cpu", "2")
    for name, profile in lxd.profiles().items():
        assert profile["config"] == {"environment.DB_PASSWORD": "********",
                                     "limits.cpu": "2"}, name
    assert set(lxd.profiles()) == {"default", "password"}


def test_default_preseed_uses_zfs_on_given_devices(lxd_init, lxd):
    preseed = lxd_init.default_preseed(storage_devices=["/dev/vdb"], network=False)
    assert preseed["storage_pools"][0]["driver"] == "zfs"
    assert preseed["storage_pools"][0]["config"] == {"source": "/dev/vdb"}
    assert "networks" not in preseed
    assert set(preseed["profiles"][0]["devices"]) == {"root"}


def test_fresh_daemon_is_not_initialised_until_preseed(lxd_init, lxd, lxd_daemon):
    preseed = lxd_init.default_preseed(network=NO_ADDRESSES)
    assert not lxd_init.initialised()
    plan = lxd_init.preseed_plan(preseed)
    assert plan == {
        "networks": {lxd_daemon.bridge: "created"},
        "storage_pools": {"local": "created"},
        "profiles": {"default": "updated"},
    }
    assert lxd_init.apply_preseed(preseed) == plan
    assert lxd_init.initialised()
    devices = lxd_daemon.query("/1.0/profiles/default")["devices"]
    assert devices["root"] == {"type": "disk", "path": "/", "pool": "local"}
    assert devices["eth0"]["network"] == lxd_daemon.bridge
    assert lxd_init.preseed_plan(preseed) == {}


def test_failed_preseed_is_reverted(lxd_init, lxd, lxd_daemon):
    before = lxd_daemon.snapshot()
    secret_key = lxd_daemon.secret_key
    preseed = {
        "config": {"images.auto_update_interval": "6", secret_key: "s3cret"},
        "storage_pools": [
            {"name": "good", "driver": "dir"},
            {"name": "bad", "driver": "no-such-driver"},
        ],
    }
    plan = lxd_init.preseed_plan(preseed)
    assert plan["config"][secret_key] == {"old": "", "new": "********"}
    with pytest.raises(CommandExecutionError, match="reverted"):
        lxd_init.apply_preseed(preseed)
    assert lxd_daemon.snapshot() == before


def test_a_preseed_network_is_created_in_its_project(lxd_init, lxd_daemon):
    # only OVN networks live in other projects (test/unit/test_preseed_order.py):
    # a bridge asked for in project ci reaches LXD there, which refuses it,
    # and the whole preseed is reverted (it used to land in the default project)
    before = lxd_daemon.snapshot()
    preseed = {
        "projects": [{"name": "ci", "config": {"features.networks": "true"}}],
        "networks": [{"name": "cibr0", "type": "bridge", "project": "ci",
                      "config": NO_ADDRESSES}],
    }
    assert lxd_init.preseed_plan(preseed) == {
        "projects": {"ci": "created"}, "networks": {"cibr0 in project ci": "created"}}
    with pytest.raises(CommandExecutionError,
                       match="reverted: .*does not support non-default projects"):
        lxd_init.apply_preseed(preseed)
    assert lxd_daemon.snapshot() == before
    assert [project["name"] for project in lxd_daemon.query("/1.0/projects?recursion=1")] == [
        "default"]


def test_a_preseed_network_lxd_would_put_in_the_default_project_is_refused(
        loaders, lxd_daemon):
    before = lxd_daemon.snapshot()
    init = {"preseed": {"projects": [{"name": "ci"}], "networks": [
        {"name": "cibr0", "type": "bridge", "project": "ci", "config": NO_ADDRESSES}]}}
    for test in (True, False):
        result = loaders.states.lxd.initialised("lxd", init=init, test=test)
        assert result.result is False and result.changes == {}
        assert result.comment == (
            "LXD initialisation failed: lxd:init:preseed:networks:0:project: project ci "
            "does not have features.networks: its networks are the default project's "
            "(set features.networks: true in lxd:init:preseed:projects:ci:config)")
    assert lxd_daemon.snapshot() == before


def test_init_record_and_drift(lxd_init, lxd, lxd_daemon):
    preseed = {"storage_pools": [{"name": "local", "driver": "dir"}]}
    assert lxd_init.init_record() is None
    assert lxd_init.init_drift("standalone", preseed) == []
    lxd_init.write_init_record("standalone", preseed)
    assert lxd_init.init_drift("standalone", preseed) == []
    changed = {"storage_pools": [{"name": "local", "driver": "zfs"}]}
    (drift,) = lxd_init.init_drift("standalone", changed)
    assert drift.startswith("lxd:init:") and "storage_pools" in drift
    (drift,) = lxd_init.init_drift("cluster", preseed)
    assert drift.startswith("lxd:mode:")


def test_initialised_state_once_then_refuses_changes(loaders, lxd_daemon):
    init = {"network": NO_ADDRESSES, "storage": True}
    state = loaders.states.lxd
    dry = state.initialised("lxd", init=init, test=True)
    assert dry.result is None and "storage_pools" in dry.changes
    assert lxd_daemon.snapshot()["pools"] == []

    first = state.initialised("lxd", init=init)
    assert first.result is True
    assert first.changes == dry.changes
    assert state.initialised("lxd", init=init).changes == {}

    before = lxd_daemon.snapshot()
    refused = state.initialised("lxd", init=dict(init, storage=False))
    assert refused.result is False
    assert "lxd:init" in refused.comment and "storage_pools" in refused.comment
    assert lxd_daemon.snapshot() == before


def test_initialised_state_adopts_a_hand_configured_daemon(loaders, lxd_daemon):
    lxd_daemon.lxc("storage", "create", "mine", "dir")
    before = lxd_daemon.snapshot()
    adopted = loaders.states.lxd.initialised("lxd", init={"network": NO_ADDRESSES})
    assert adopted.result is True
    assert adopted.changes == {"init record": {"old": None, "new": "adopted"}}
    assert lxd_daemon.snapshot() == before
    assert loaders.states.lxd.initialised("lxd", init={"network": NO_ADDRESSES}).changes == {}


def test_a_daemon_that_stops_answering_fails_within_the_bound(loaders, lxd_daemon):
    use_settings(loaders, {"backend": lxd_daemon.backend, "timeouts": {"request": 2},
                           "connection": {"socket": lxd_daemon.socket}})
    os.kill(lxd_daemon.process.pid, signal.SIGSTOP)
    try:
        started = time.monotonic()
        reached = loaders.states.lxd.reachable("lxd")
        took = time.monotonic() - started
    finally:
        os.kill(lxd_daemon.process.pid, signal.SIGCONT)
    assert reached.result is False
    assert f"LXD at {lxd_daemon.socket} did not answer within 2 s" in reached.comment
    assert took < 10
