"""The Incus 7.0 tier: Debian 13 (trixie) hosts with nothing installed, on
which the formula itself installs Incus 7.0 from trixie-backports
(``install: {method: package, backports: true}``), and the whole cluster
story on them, in order, on one cluster: form three members in one
orchestrate run, grow to four from a bare host, declared resources with
each member's own config, an instance placed on a member, evacuation and
restore, removal of a member, a host rebooted coming back Online.

Marked ``incus7`` besides ``hosts``: ``-m incus7`` runs it alone."""


import pytest

from test.support.hostlab import TEST_NET, TRIXIE, by_id, changed, failed, members, orchestrate
from test.support.images import busybox_image
from test.support.waiting import wait_until

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


def resources(name):
    """A dir pool at a path of each member's own, a profile rooted on it and
    a project: declared in every member's pillar, the pool's source per
    member."""
    return {
        "storage_pools": {"pool7": {"driver": "dir",
                                    "member_config": {"source": f"/srv/pool7-{name}"}}},
        "profiles": {"web7": {"config": {"limits.memory": "256MiB"},
                              "devices": {"root": {"type": "disk", "path": "/",
                                                   "pool": "pool7"}}}},
        "projects": {"ci7": {"config": {"features.images": False}}},
    }


def test_declared_resources_take_each_members_own_config(cluster):
    everyone = {**HOSTS, GROWN[0]: GROWN[1]}
    for name, number in everyone.items():
        # Incus's dir driver takes an existing directory: the host's own disk
        cluster.hosts[name].run("mkdir", "-p", f"/srv/pool7-{name}")
        cluster.set_pillar(name, **pillar(number, **resources(name)))
    applied = cluster.salt.run("state.apply", "lxd", minion_tgt="trixie-[1234]")
    assert {minion: failed(steps) for minion, steps in applied.data.items()} == {
        name: {} for name in everyone}
    assert applied.returncode == 0, applied
    for name in everyone:
        pool = cluster.query("trixie-1", f"/1.0/storage-pools/pool7?target={name}")
        assert pool["status"] == "Created", pool
        assert pool["config"]["source"] == f"/srv/pool7-{name}", pool
    profile = cluster.query("trixie-1", "/1.0/profiles/web7")
    assert profile["devices"]["root"]["pool"] == "pool7", profile
    assert cluster.query("trixie-1", "/1.0/projects/ci7")["config"]["features.images"] == "false"
    again = cluster.salt.run("state.apply", "lxd", minion_tgt="trixie-[1234]")
    assert changed(again) == {name: {} for name in everyone}


def test_an_instance_is_placed_on_a_member(cluster, tmp_path):
    image = busybox_image(tmp_path)
    cluster.outer.lxc("file", "push", str(image), "trixie-1/root/busybox.tar.gz")
    cluster.lxc("trixie-1", "image", "import", "/root/busybox.tar.gz", "--alias", "busybox")
    placed = cluster.salt.run(
        "state.single", "lxd_instance.present", "name=c7", "source=busybox",
        "target=trixie-3", 'profiles=["default", "web7"]', "running=True",
        minion_tgt="trixie-1")
    (step,) = placed.data.values()
    assert step["result"] is True, step
    instance = cluster.query("trixie-1", "/1.0/instances/c7")
    assert instance["location"] == "trixie-3", instance
    assert cluster.query("trixie-1", "/1.0/instances/c7/state")["status"] == "Running"
    # its root is on trixie-3's own source of the pool
    cluster.hosts["trixie-3"].run("test", "-d", "/srv/pool7-trixie-3/containers/c7")


def test_a_member_is_evacuated_and_restored(cluster):
    evacuated = cluster.run.run("lxd_cluster.evacuate", "trixie-3").data
    assert evacuated["result"] is True, evacuated
    assert evacuated["changes"]["status"] == {"old": "Online", "new": "Evacuated"}
    assert members(cluster, "trixie-1")["trixie-3"][0] == "Evacuated"
    assert cluster.query("trixie-1", "/1.0/instances/c7")["location"] != "trixie-3"

    restored = cluster.run.run("lxd_cluster.restore", "trixie-3").data
    assert restored["result"] is True, restored
    assert restored["changes"]["status"] == {"old": "Evacuated", "new": "Online"}
    assert members(cluster, "trixie-1")["trixie-3"][0] == "Online"
    assert cluster.query("trixie-1", "/1.0/instances/c7")["location"] == "trixie-3"
    assert cluster.query("trixie-1", "/1.0/instances/c7/state")["status"] == "Running"


def test_a_member_is_removed(cluster):
    name = GROWN[0]
    removed = cluster.run.run("lxd_cluster.remove", name)
    assert removed.returncode == 0 and removed.data["result"] is True, removed.data
    assert removed.data["changes"] == {name: {"old": "member", "new": "removed"}}
    assert set(members(cluster, "trixie-1")) == set(HOSTS)


def test_a_rebooted_host_comes_back_online_and_nothing_changes(cluster):
    name = "trixie-2"
    cluster.restart(name)
    # the leader sees it again at its next heartbeat
    wait_until(lambda: members(cluster, "trixie-1")[name][0] == "Online", 120,
               f"the leader to see {name} online again", interval=2)
    assert cluster.query("trixie-1", "/1.0/instances/c7/state")["status"] == "Running"
    applied = cluster.apply(name).data
    assert {key: step["changes"] for key, step in applied.items() if step["changes"]} == {}


def test_a_removed_member_joins_again_at_a_new_address(cluster):
    """A removed member keeps its cluster.https_address, and Incus >= 6.20
    refuses a join whose server_address it does not cover (lxc/incus
    v7.0.1 cmd/incusd/api_cluster.go, clusterPutJoin: "Server address ...
    is not covered by ... from cluster.https_address")."""
    name, moved = GROWN[0], 44
    host = cluster.hosts[name]
    host.run("ip", "addr", "add", f"{TEST_NET}.{moved}/24", "dev", "eth0")
    # its pool's old source holds what the cluster left there: a new disk
    host.run("sh", "-c", f"rm -rf /srv/pool7-{name} && mkdir /srv/pool7-{name}")
    cluster.set_pillar(name, **pillar(moved, **resources(name)))
    result, steps = orchestrate(cluster)
    assert failed(steps) == {}, steps
    assert result.returncode == 0, result
    assert members(cluster, "trixie-1")[name] == ("Online", f"https://{TEST_NET}.{moved}:8443")
