"""A cluster of hosts with nothing installed, over their own network: one
orchestrate run installs LXD on three hosts, bootstraps one and joins the
others on their bridge addresses, with a managed bridge on every member; a
container gets an address on its member's bridge. Then growth: of two new
hosts, the first one's package install fails: it is named and nothing of
it half-joins, while the second joins; with its pillar fixed, one run
installs the first and joins it. Between the two, a declared bridge takes
each member's own external interface. One story, in order."""

import json

import pytest

from test.support.hostlab import TEST_NET, by_id, changed, failed, members, orchestrate
from test.support.images import busybox_image

pytestmark = pytest.mark.hosts

HOSTS = {"node-1": 21, "node-2": 22, "node-3": 23}
GROWN = ("node-4", 24)
AFTER = ("node-5", 25)
BRIDGE_NET = "10.62.0"


def pillar(number, **install):
    return {
        "mode": "cluster",
        "install": {"method": "package", **install},
        "cluster": {"name": "hosts"},
        "addresses": {"cluster": f"{TEST_NET}.{number}"},
        # a managed bridge's address is cluster-wide: the same on every member
        "init": {"network": {"ipv4.address": f"{BRIDGE_NET}.1/24", "ipv4.nat": "true",
                             "ipv6.address": "none"}},
    }


@pytest.fixture(scope="module")
def cluster(hosts):
    for name, number in HOSTS.items():
        hosts.add(name, number, **pillar(number))
    return hosts


def test_three_hosts_with_nothing_installed_form_a_cluster_over_their_network(cluster):
    for host in cluster.hosts.values():
        assert host.run("sh", "-c", "command -v lxd", check=False).returncode != 0
    result, steps = orchestrate(cluster)
    assert failed(steps) == {}, steps
    assert result.returncode == 0, result
    notes = [step["comment"] for key, step in steps.items() if "plan-note" in key]
    assert len(notes) == 3 and all("LXD is not installed yet" in note for note in notes)
    assert members(cluster) == {
        name: ("Online", f"https://{TEST_NET}.{number}:8443") for name, number in HOSTS.items()
    }
    for name in HOSTS:
        bridge = cluster.query(name, f"/1.0/networks/lxdbr0?target={name}")
        assert bridge["status"] == "Created" and bridge["config"]["ipv4.address"] == (
            f"{BRIDGE_NET}.1/24"), (name, bridge)


def test_a_container_gets_an_address_on_its_members_bridge(cluster, tmp_path):
    image = busybox_image(tmp_path)
    cluster.outer.lxc("file", "push", str(image), "node-1/root/busybox.tar.gz")
    cluster.lxc("node-1", "image", "import", "/root/busybox.tar.gz", "--alias", "busybox")
    launched = cluster.lxc("node-1", "launch", "busybox", "c1", "--target", "node-2",
                           check=False)
    assert launched.returncode == 0, cluster.lxc("node-1", "info", "--show-log", "c1",
                                                 check=False).stdout
    cluster.lxc("node-1", "exec", "c1", "--", "udhcpc", "-i", "eth0", "-n", "-q", "-t", "10",
                "-s", "/bin/dhcp-lease")
    state = cluster.query("node-1", "/1.0/instances/c1/state")
    address = next(entry["address"] for entry in state["network"]["eth0"]["addresses"]
                   if entry["family"] == "inet")
    assert address.startswith(f"{BRIDGE_NET}."), state["network"]["eth0"]
    assert cluster.query("node-1", "/1.0/instances/c1")["location"] == "node-2"
    cluster.hosts["node-2"].run("ping", "-c", "1", "-W", "5", address)


def test_a_member_asking_for_its_own_bridge_subnet_is_refused(cluster):
    own = pillar(HOSTS["node-2"])
    own["init"]["network"]["ipv4.address"] = "10.63.0.1/24"
    cluster.set_pillar("node-2", **own)
    try:
        result, steps = orchestrate(cluster, "test=True")
        assert result.returncode != 0
        errors = [step["comment"] for key, step in steps.items() if "plan-error" in key]
        assert any("ipv4.address of network lxdbr0 is cluster-wide in LXD" in error
                   and "node-2: 10.63.0.1/24" in error for error in errors), errors
    finally:
        cluster.set_pillar("node-2", **pillar(HOSTS["node-2"]))


def test_a_second_run_changes_nothing(cluster):
    result, steps = orchestrate(cluster)
    assert result.returncode == 0 and failed(steps) == {}, steps
    for name in HOSTS:
        applied = cluster.apply(name).data
        assert {key: step["changes"] for key, step in applied.items() if step["changes"]} == {}


def test_declared_networks_take_each_members_own_interfaces(cluster):
    """lxd:networks with member-specific keys (a bridge's external interface,
    a macvlan network's parent): each member defines its part (?target=)
    from its own pillar, then one member creates it for all; deleted once,
    by that member."""
    def networks(macvlan_present=True):
        return {"lxdbr1": {"config": {"ipv4.address": "10.64.0.1/24", "ipv4.nat": True,
                                      "ipv6.address": "none"},
                           "member_config": {"bridge.external_interfaces": "ext0"}},
                "macnet": {"type": "macvlan", "member_config": {"parent": "ext0-peer"},
                           "present": macvlan_present}}

    for name, number in HOSTS.items():
        # interfaces of the host's own (veth: this kernel has no dummy)
        cluster.hosts[name].run("ip", "link", "add", "ext0", "type", "veth", "peer", "name",
                                "ext0-peer")
        cluster.set_pillar(name, **pillar(number), networks=networks())
    try:
        applied = cluster.salt.run("state.apply", "lxd", minion_tgt="node-[123]")
        assert applied.returncode == 0, applied
        for name in HOSTS:
            network = cluster.query("node-1", f"/1.0/networks/lxdbr1?target={name}")
            assert network["status"] == "Created", network
            assert network["config"]["bridge.external_interfaces"] == "ext0", network
            link = cluster.hosts[name].run("ip", "-o", "link", "show", "ext0").stdout
            assert "master lxdbr1" in link, (name, link)
            macvlan = cluster.query("node-1", f"/1.0/networks/macnet?target={name}")
            assert macvlan["status"] == "Created", macvlan
            assert macvlan["config"]["parent"] == "ext0-peer", macvlan
        again = cluster.salt.run("state.apply", "lxd", minion_tgt="node-[123]")
        assert changed(again) == {name: {} for name in HOSTS}
        for name, number in HOSTS.items():
            cluster.set_pillar(name, **pillar(number), networks=networks(False))
        removed = cluster.salt.run("state.apply", "lxd", minion_tgt="node-[123]")
        deletions = {minion: [step["changes"] for step in steps.values()]
                     for minion, steps in changed(removed).items() if steps}
        assert list(deletions.values()) == [[{"networks": {"macnet": "deleted"}}]], deletions
        assert "macnet" not in [network["name"] for network in cluster.query(
            "node-1", "/1.0/networks?recursion=1")]
    finally:
        for name, number in HOSTS.items():
            cluster.set_pillar(name, **pillar(number))


def test_a_host_whose_install_fails_is_named_and_nothing_half_joins(cluster):
    name, number = GROWN
    cluster.add(name, number, **pillar(number, package="lxd-no-such-package"))
    cluster.add(*AFTER, **pillar(AFTER[1]))
    result, steps = orchestrate(cluster)
    assert result.returncode != 0
    formed = next(step for key, step in steps.items() if "-formed_|-" in key)
    assert formed["result"] is False, formed["comment"]
    offered = by_id(formed["changes"]["ret"]["node-1"])["lxd-cluster-joins-offered"]
    assert f"{name}: not joined: {name} was not prepared" in offered["comment"], offered
    assert "lxd-no-such-package" in json.dumps(formed["changes"]["ret"][name])
    # the joiner after it still joins: a failed joiner holds up only itself
    assert set(members(cluster)) == {*HOSTS, AFTER[0]}
    tokens = [op for op in cluster.query("node-1", "/1.0/operations?recursion=1").get(
        "running", []) if op["class"] == "token" and "serverName" in op["metadata"]]
    assert tokens == []


def test_with_its_pillar_fixed_one_run_installs_and_joins_it(cluster):
    name, number = GROWN
    cluster.set_pillar(name, **pillar(number))
    result, steps = orchestrate(cluster)
    assert failed(steps) == {}, steps
    assert result.returncode == 0
    assert members(cluster)[name] == ("Online", f"https://{TEST_NET}.{number}:8443")
    bridge = cluster.query(name, f"/1.0/networks/lxdbr0?target={name}")
    assert bridge["status"] == "Created"
