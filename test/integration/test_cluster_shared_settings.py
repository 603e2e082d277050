"""The settings a cluster shares (trusted clients, ``core.proxy_*``) through a
real master, on a three-member cluster of real minions and daemons. One
member keeps them (the first online by name); the others never report
success for a change the cluster did not get: they check their own pillar
against what the cluster holds, wait a bounded time for the keeper, and fail
naming it. One story, in order."""

import pytest

from test.support.clusters import Cluster, by_id, changed, failures, self_signed

HOSTS = ("lxd-s1", "lxd-s2", "lxd-s3")
KEEPER = "lxd-s1"
OTHERS = ("lxd-s2", "lxd-s3")
# salt targets: every member, the members but the keeper
EVERY, NOT_KEEPER = "lxd-s*", "lxd-s[23]"
# the bound a member waits for the keeper (lxd:timeouts:request), kept short
WAIT = 10
PROXY = "http://salt:p%2Fa%40ss%3Aw%23rd%3F@proxy.lan:3128"
PROXY_SHOWN = "http://salt:********@proxy.lan:3128"


@pytest.fixture(scope="module")
def cluster(cluster_environment):
    with cluster_environment(Cluster, "lxd-shared-master") as env:
        yield env


@pytest.fixture(scope="module")
def certificates(tmp_path_factory):
    """Two client certificates, by pillar entry name."""
    return {name: self_signed(tmp_path_factory.mktemp(name)) for name in ("kept", "gone")}


def set_pillars(cluster, clients, proxy=None, hosts=HOSTS):
    for name in hosts:
        cluster.set_pillar(name, timeouts={"request": WAIT},
                           trust={"clients": {client: {"cert": pem}
                                              for client, pem in clients.items()}},
                           proxy={"http": proxy})


def apply(cluster, target, *args):
    """``salt <target> state.apply lxd``: its exit code, and the states of
    each minion by id."""
    result = cluster.salt.run("state.apply", "lxd", *args, minion_tgt=target)
    assert isinstance(result.data, dict), result
    return result.returncode, {minion: by_id(steps) for minion, steps in result.data.items()}


def trusted(cluster):
    return {cert["name"] for cert in
            cluster.daemons[KEEPER].query("/1.0/certificates?recursion=1")}


def test_the_keeper_sets_them_when_the_cluster_forms(cluster, certificates):
    cluster.add_hosts(*HOSTS)
    set_pillars(cluster, certificates)
    assert failures(cluster.orchestrate()) == {}
    assert {"salt:kept", "salt:gone"} <= trusted(cluster)
    code, states = apply(cluster, EVERY)
    assert code == 0, states
    assert {minion: changed(steps) for minion, steps in states.items()} == {
        name: {} for name in HOSTS}
    comment = states["lxd-s2"]["lxd-trusted-clients"]["comment"]
    assert comment == ("The trusted clients are kept by member lxd-s1 for the cluster, "
                       "and hold what this member's pillar asks.")


def test_a_dry_run_on_the_others_shows_the_pending_removal(cluster, certificates):
    """Needs the cluster the first test formed."""
    cluster.needs("test_the_keeper_sets_them_when_the_cluster_forms")
    set_pillars(cluster, {"kept": certificates["kept"]}, proxy=PROXY)
    code, states = apply(cluster, NOT_KEEPER, "test=True")
    for name in OTHERS:
        trust = states[name]["lxd-trusted-clients"]
        assert trust["result"] is None, trust
        assert list(trust["changes"]) == ["salt:gone"]
        assert trust["changes"]["salt:gone"]["new"] is None
        assert trust["comment"].startswith("lxd-s1 keeps the cluster's shared settings; "
                                           "the cluster still has salt:gone: {"), trust
        proxy = states[name]["lxd-proxy"]
        assert proxy["result"] is None, proxy
        assert proxy["changes"] == {"core.proxy_http": {"old": None, "new": PROXY_SHOWN}}
    assert "salt:gone" in trusted(cluster)


def test_without_the_keeper_the_others_fail_naming_it(cluster):
    """Needs the cluster the first test formed, in the state the previous test left."""
    cluster.needs("test_the_keeper_sets_them_when_the_cluster_forms",
                  "test_a_dry_run_on_the_others_shows_the_pending_removal")
    code, states = apply(cluster, NOT_KEEPER)
    assert code != 0
    for name in OTHERS:
        trust = states[name]["lxd-trusted-clients"]
        assert trust["result"] is False and trust["changes"] == {}, trust
        assert trust["comment"].startswith("lxd-s1 keeps the cluster's shared settings; "
                                           "the cluster still has salt:gone: {"), trust
        assert "this member's pillar asks salt:gone: absent: apply lxd on lxd-s1, " \
            "or give both the same pillar" in trust["comment"], trust
        proxy = states[name]["lxd-proxy"]
        assert proxy["result"] is False, proxy
        assert (f'the cluster still has core.proxy_http: absent, this member\'s pillar asks '
                f'core.proxy_http: "{PROXY_SHOWN}": apply lxd on lxd-s1') in proxy["comment"]
    assert "p%2Fa" not in str(states)
    # the removed client keeps its access: nobody removed it
    assert "salt:gone" in trusted(cluster)
    assert "core.proxy_http" not in cluster.daemons[KEEPER].query("/1.0")["config"]


def test_once_the_keeper_applies_every_member_succeeds(cluster):
    """Needs the cluster the first test formed, in the state the previous test left."""
    cluster.needs("test_the_keeper_sets_them_when_the_cluster_forms",
                  "test_without_the_keeper_the_others_fail_naming_it")
    # in one run: the others wait for the keeper's change
    code, states = apply(cluster, EVERY)
    assert code == 0, {name: failures(steps) for name, steps in states.items()}
    assert sorted(changed(states[KEEPER])) == ["lxd-proxy", "lxd-trusted-clients"]
    for name in OTHERS:
        assert changed(states[name]) == {}, name
    assert "salt:gone" not in trusted(cluster)
    for name in HOSTS:
        assert cluster.daemons[name].query("/1.0")["config"]["core.proxy_http"] == PROXY
    code, states = apply(cluster, EVERY)
    assert code == 0 and {name: changed(steps) for name, steps in states.items()} == {
        name: {} for name in HOSTS}


def test_a_member_whose_pillar_differs_from_the_keepers_fails(cluster, certificates):
    """Needs the cluster the first test formed, in the state the previous test left."""
    cluster.needs("test_the_keeper_sets_them_when_the_cluster_forms",
                  "test_once_the_keeper_applies_every_member_succeeds")
    set_pillars(cluster, certificates, proxy=PROXY, hosts=["lxd-s3"])
    code, states = apply(cluster, EVERY)
    assert code != 0
    assert failures(states[KEEPER]) == {} and failures(states["lxd-s2"]) == {}
    assert list(failures(states["lxd-s3"])) == ["lxd-trusted-clients"]
    comment = states["lxd-s3"]["lxd-trusted-clients"]["comment"]
    assert comment.startswith("lxd-s1 keeps the cluster's shared settings; the cluster "
                              "still has salt:gone: absent, this member's pillar asks "
                              "salt:gone: {"), comment
    assert "salt:gone" not in trusted(cluster)
