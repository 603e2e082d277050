"""The Incus 7.0 tier: Debian 13 (trixie) hosts with nothing installed, on
which the formula itself installs Incus 7.0 from trixie-backports
(``install: {method: package, backports: true}``), and the whole cluster
story on them, in order, on one cluster: form three members in one
orchestrate run, grow to four from a bare host, declared resources with
each member's own config, an instance placed on a member, evacuation and
restore, removal of a member, a host rebooted coming back Online.

Marked ``incus7`` besides ``hosts``: ``-m incus7`` runs it alone."""

import time

import pytest
from hostlab import TEST_NET, TRIXIE, busybox_image, by_id, changed, failed, members, orchestrate

pytestmark = [pytest.mark.hosts, pytest.mark.incus7]

HOSTS = {"trixie-1": 31, "trixie-2": 32, "trixie-3": 33}
GROWN = ("trixie-4", 34)
BRIDGE_NET = "10.65.0"
# Debian 13's archive name of trixie-backports is stable-backports: the
# source is by codename, signed by Debian's archive keyring (no apt-key)
BACKPORTS_SOURCE = ("deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] "
                    "http://deb.debian.org/debian trixie-backports main")


def pillar(number, **resources):
    return {
        "backend": "incus",
        "mode": "cluster",
        "install": {"method": "package", "backports": True},
        "cluster": {"name": "incus7"},
        "addresses": {"cluster": f"{TEST_NET}.{number}"},
        "init": {"network": {"ipv4.address": f"{BRIDGE_NET}.1/24", "ipv4.nat": "true",
                             "ipv6.address": "none"}},
        **resources,
    }


def via(hosts):
    """The first member still in the story, to ask the cluster through."""
    return next(name for name in HOSTS if name in hosts.hosts)


@pytest.fixture(scope="module")
def host_suite():
    return TRIXIE


@pytest.fixture(scope="module")
def cluster(hosts):
    for name, number in HOSTS.items():
        hosts.add(name, number, **pillar(number))
    return hosts


def test_a_dry_run_on_a_bare_debian_13_host_names_the_backports_and_incus(cluster):
    host = cluster.hosts["trixie-1"]
    assert host.run("sh", "-c", "command -v incus", check=False).returncode != 0
    assert host.run("sh", "-c", "command -v apt-key", check=False).returncode != 0
    dry = cluster.salt.run("state.apply", "lxd.install", "test=True", minion_tgt="trixie-1")
    steps = by_id(dry.data)
    assert steps["lxd-backports"]["result"] is None, steps["lxd-backports"]
    assert steps["lxd-backports"]["changes"] == {"repo": BACKPORTS_SOURCE}
    assert steps["lxd-package"]["result"] is None, steps["lxd-package"]
    assert "incus" in steps["lxd-package"]["comment"]
    assert not host.run("ls", "/etc/apt/sources.list.d").stdout.strip()


def test_three_bare_hosts_install_incus_7_and_form_a_cluster(cluster):
    result, steps = orchestrate(cluster)
    assert failed(steps) == {}, steps
    assert result.returncode == 0, result
    assert members(cluster, "trixie-1") == {
        name: ("Online", f"https://{TEST_NET}.{number}:8443") for name, number in HOSTS.items()
    }
    for name in HOSTS:
        server = cluster.query(name, "/1.0")["environment"]
        assert server["server"] == "incus" and server["server_version"].startswith("7.0."), server
        policy = cluster.hosts[name].run("apt-cache", "policy", "incus").stdout
        assert "trixie-backports" in policy, policy
        bridge = cluster.query(name, f"/1.0/networks/incusbr0?target={name}")
        assert bridge["status"] == "Created", (name, bridge)


def test_a_second_run_changes_nothing(cluster):
    for name in HOSTS:
        dry = cluster.salt.run("state.apply", "lxd", "test=True", minion_tgt=name).data
        assert {key: step["changes"] for key, step in dry.items() if step["changes"]} == {}
    applied = cluster.salt.run("state.apply", "lxd", minion_tgt="trixie-[123]")
    assert applied.returncode == 0, applied
    assert changed(applied) == {name: {} for name in HOSTS}


def test_a_bare_host_grows_the_cluster(cluster):
    """Incus >= 6.20 checks the joiner's server_address against its own
    cluster.https_address (lxc/incus v7.0.1 cmd/incusd/api_cluster.go,
    clusterPutJoin): the joiner ends up listening there."""
    name, number = GROWN
    cluster.add(name, number, **pillar(number))
    result, steps = orchestrate(cluster)
    assert failed(steps) == {}, steps
    assert result.returncode == 0, result
    assert members(cluster, "trixie-1")[name] == ("Online", f"https://{TEST_NET}.{number}:8443")
    config = cluster.query(name, "/1.0")["config"]
    assert config["cluster.https_address"] == f"{TEST_NET}.{number}:8443", config
