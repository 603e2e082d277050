"""A standalone host from nothing: a Debian machine without LXD gets the
distribution's package, its systemd service, host tuning and an initialised
daemon with a bridge at the address its pillar gives; a second apply and an
apply after a reboot change nothing."""

import pytest

pytestmark = pytest.mark.hosts

NAME = "host-1"
PILLAR = {
    "mode": "standalone",
    "install": {"method": "package"},
    "init": {"network": {"ipv4.address": "10.61.1.1/24", "ipv4.nat": "true",
                         "ipv6.address": "none"}},
}


def by_id(steps):
    assert isinstance(steps, dict), steps
    return {step["__id__"]: step for step in steps.values()}


def failures(steps):
    return {key: step["comment"] for key, step in by_id(steps).items() if step["result"] is not True}


def changed(steps):
    return {key: step["changes"] for key, step in by_id(steps).items() if step["changes"]}


@pytest.fixture(scope="module")
def host(hosts):
    return hosts.add(NAME, 11, **PILLAR)


def test_a_host_with_nothing_installed_becomes_an_lxd_host(hosts, host):
    assert host.run("sh", "-c", "command -v lxd", check=False).returncode != 0
    applied = hosts.apply(NAME).data
    assert failures(applied) == {}
    steps = by_id(applied)
    assert "lxd-package" in changed(applied)
    assert host.run("systemctl", "is-active", "lxd").stdout.strip() == "active"
    # Debian's lxd.service starts through lxd.socket: "indirect"
    assert host.run("systemctl", "is-enabled", "lxd").stdout.strip() in ("enabled", "indirect")
    bridge = hosts.query(NAME, "/1.0/networks/lxdbr0")
    assert bridge["config"]["ipv4.address"] == "10.61.1.1/24"
    assert bridge["config"]["ipv6.address"] == "none"
    # what a container host may not change is named, never a traceback
    tuning = steps["lxd-sysctl-tuning"]["comment"]
    hardening = steps["lxd-kernel-hardening"]["comment"]
    assert "Skipped, not visible from this network namespace" in tuning
    assert "net.ipv4.neigh.default.gc_thresh3" in tuning
    assert "not changeable from here" in hardening and "/sys/kernel/slab" in hardening


def test_a_second_apply_changes_nothing(hosts, host):
    applied = hosts.apply(NAME).data
    assert failures(applied) == {}
    assert changed(applied) == {}


def test_after_a_reboot_the_daemon_is_back_and_nothing_changes(hosts, host):
    tuned = host.run("cat", "/etc/sysctl.d/60-lxd.conf").stdout
    hosts.restart(NAME)
    host.run("lxd", "waitready", "--timeout", "60")
    assert host.run("cat", "/etc/sysctl.d/60-lxd.conf").stdout == tuned
    applied = hosts.apply(NAME).data
    assert failures(applied) == {}
    assert changed(applied) == {}
