"""Joining a cluster through the lxd module, against real daemons (LXD and
Incus): the join request each daemon expects, every address of the token
tried in turn as `lxd init` does, and a member with the wrong certificate
refused."""

import base64
import datetime
import json

import pytest
from salt.exceptions import CommandExecutionError

from test.support.formula import use_settings
from test.support.modules import load_plain


def connect(loaders, daemon):
    """Point the loaded modules at ``daemon`` (a new connection)."""
    loaders.reset_state()
    use_settings(loaders, {"backend": daemon.backend, "connection": {"socket": daemon.socket}})
    return loaders.modules.lxd


def with_addresses(token, addresses):
    """The same token (same secret) listing other member addresses."""
    fields = json.loads(base64.b64decode(token))
    fields["addresses"] = addresses
    return base64.b64encode(json.dumps(fields).encode()).decode()


@pytest.fixture
def cluster_of_one(loaders, lxd_daemons):
    """A daemon that bootstrapped a cluster, and a fresh one to join it."""
    first, joiner = lxd_daemons(), lxd_daemons()
    connect(loaders, first)
    loaders.modules.lxd_membership.enable_clustering("first", f"{first.address}:8443")
    return first, joiner


def offer(loaders, first, member):
    lxd = connect(loaders, first)
    issued = loaders.modules.lxd_membership.issue_join_token(member, unmasked=True)
    return issued["token"], lxd.info()["environment"]["certificate"]


def test_a_join_skips_a_token_address_that_does_not_answer(loaders, cluster_of_one):
    first, joiner = cluster_of_one
    token, certificate = offer(loaders, first, "joiner")
    # nothing listens on port 1 of any loopback address
    token = with_addresses(token, [f"{first.address}:1", f"{first.address}:8443"])

    connect(loaders, joiner)
    assert loaders.modules.lxd_membership.join_cluster(
            "joiner", f"{joiner.address}:8443", token, certificate, [])

    members = first.query("/1.0/cluster/members?recursion=1")
    assert {member["server_name"]: member["status"] for member in members} == {
        "first": "Online", "joiner": "Online"}


def test_a_joiner_with_a_stale_cluster_address_joins_at_the_address_it_is_given(
        loaders, cluster_of_one):
    """A removed member keeps its cluster.https_address; Incus >= 6.20
    refuses a join whose server_address it does not cover (lxc/incus v7.0.1
    cmd/incusd/api_cluster.go, clusterPutJoin), so the join replaces a
    stale one first. LXD 5.0 and Incus 6.0 join at server_address either
    way: this pins that the replacement keeps them doing so. The refusal
    itself is Incus 7.0's, met in the hosts tier
    (test_incus7_hosts.py, a removed member joining again)."""
    first, joiner = cluster_of_one
    token, certificate = offer(loaders, first, "joiner")
    joiner.lxc("config", "set", "cluster.https_address", f"{joiner.address}:9443")

    connect(loaders, joiner)
    assert loaders.modules.lxd_membership.join_cluster(
            "joiner", f"{joiner.address}:8443", token, certificate, [])

    members = first.query("/1.0/cluster/members?recursion=1")
    assert {member["server_name"]: (member["status"], member["url"]) for member in members}[
        "joiner"] == ("Online", f"https://{joiner.address}:8443")


def test_a_member_presenting_another_certificate_is_refused(loaders, cluster_of_one,
                                                             lxd_daemons):
    first, joiner = cluster_of_one
    stranger = lxd_daemons()
    stranger.lxc("config", "set", "core.https_address", f"{stranger.address}:8443")
    token, certificate = offer(loaders, first, "joiner")
    token = with_addresses(token, [f"{stranger.address}:8443", f"{first.address}:8443"])

    connect(loaders, joiner)
    with pytest.raises(CommandExecutionError, match=f"{stranger.address}:8443 does not "
                       "present the certificate named in the join token"):
        loaders.modules.lxd_membership.join_cluster(
            "joiner", f"{joiner.address}:8443", token, certificate, [])
    assert joiner.query("/1.0/cluster")["enabled"] is False
    # the token was not spent: it is still pending on the cluster
    assert "joiner" in first.lxc("cluster", "list-tokens", "-f", "csv")


def test_no_answering_address_names_each_one(loaders, cluster_of_one):
    first, joiner = cluster_of_one
    token, certificate = offer(loaders, first, "joiner")
    token = with_addresses(token, [f"{first.address}:1", f"{first.address}:2"])

    connect(loaders, joiner)
    with pytest.raises(CommandExecutionError, match="no cluster member listed in the join "
                       f"token answers: {first.address}:1: .*; {first.address}:2: "):
        loaders.modules.lxd_membership.join_cluster(
            "joiner", f"{joiner.address}:8443", token, certificate, [])


def test_a_token_outlasting_the_pillar_expiry_is_reissued_within_it(loaders, cluster_of_one):
    first, _ = cluster_of_one
    lxd = connect(loaders, first)
    # what a member that never took the cluster's expiry issues: LXD's 3 hours
    assert lxd.config_get("cluster.join_token_expiry") is None
    loaders.opts["lxd"]["cluster"] = {"token_expiry": "10M"}
    # private (it returns the token): the module imported as a plain
    # module, over the loader's execution modules
    module = load_plain("_modules/lxd_join.py", salt=loaders.modules, opts=loaders.opts,
                        grains={"id": "lxd-test"}, context={})
    offer = module._join_offer("joiner")

    expires_at = loaders.modules.lxd_membership.decode_join_token(offer["token"])["expires_at"]
    left = (datetime.datetime.fromisoformat(expires_at[:19]).replace(tzinfo=datetime.UTC)
            - datetime.datetime.now(datetime.UTC))
    assert datetime.timedelta(minutes=9) < left <= datetime.timedelta(minutes=10)
    assert first.query("/1.0")["config"]["cluster.join_token_expiry"] == "10M"
    # one token pending: the 3-hour one was revoked
    assert len(first.lxc("cluster", "list-tokens", "-f", "csv").splitlines()) == 1


def hand_token_lasts(daemon, member):
    """How long a token ``lxc cluster add`` issues on ``daemon`` lasts."""
    daemon.lxc("cluster", "add", member)
    tokens = daemon.query("/1.0/operations?recursion=1").get("running", [])
    expires_at = next(token["metadata"]["expiresAt"] for token in tokens
                      if token["class"] == "token" and token["metadata"]["serverName"] == member)
    return (datetime.datetime.fromisoformat(expires_at[:19]).replace(tzinfo=datetime.UTC)
            - datetime.datetime.now(datetime.UTC))


def test_a_joined_member_issues_tokens_by_hand_within_the_pillar_expiry(loaders, cluster_of_one):
    """LXD 5.0 reads cluster.join_token_expiry on the member that set it: a
    member that joined issues 3-hour tokens until it sets the key itself."""
    first, joiner = cluster_of_one
    connect(loaders, first).config_set("cluster.join_token_expiry", "10M")
    token, certificate = offer(loaders, first, "joiner")
    connect(loaders, joiner)
    loaders.modules.lxd_membership.join_cluster("joiner", f"{joiner.address}:8443", token,
                                                certificate, [])
    loaders.opts["lxd"]["install"] = {"method": "none"}  # the daemon runs already
    kept = loaders.states.lxd_cluster.token_expiry_kept
    dry = kept("ci", token_expiry="10M", test=True)
    if joiner.backend == "lxd":
        assert hand_token_lasts(joiner, "by-hand-1") > datetime.timedelta(hours=2)
        assert dry["result"] is None, dry
        assert dry["changes"] == {"cluster.join_token_expiry": {"old": "", "new": "10M"}}
    applied = kept("ci", token_expiry="10M")
    assert applied["result"] is True and applied["changes"] == dry["changes"], applied
    assert hand_token_lasts(joiner, "by-hand-2") <= datetime.timedelta(minutes=10)
    again = kept("ci", token_expiry="10M")
    assert again["result"] is True and again["changes"] == {}, again


def test_a_joiner_that_runs_another_version_is_refused_before_its_token_is_used(
        loaders, lxd_daemon):
    connect(loaders, lxd_daemon)
    cluster = loaders.modules.lxd_join
    running = cluster.running()
    assert running["server"] == lxd_daemon.backend and running["version"]
    assert cluster.same_as_cluster(running) is None
    other = dict(running, version="99.1")
    with pytest.raises(CommandExecutionError) as refused:
        cluster.same_as_cluster(other)
    message = str(refused.value)
    assert f"the cluster runs {lxd_daemon.backend} 99.1 (not a snap)" in message
    assert f"this joiner {lxd_daemon.backend} {running['version']} (not a snap)" in message
    assert "the join token was not used" in message


@pytest.fixture
def snap_joiner(loaders, lxd_daemon, snap_standin):
    """A joiner whose LXD (the test's daemon) is the snap from latest/stable."""
    connect(loaders, lxd_daemon)
    loaders.opts["lxd"]["install"] = {"method": "snap"}
    snap_standin.install("lxd", "latest/stable")
    return loaders.modules.lxd_join


def cluster_running(version, channel, revision):
    """What an offer says the cluster runs: the snap's LXD ``version``."""
    return {"server": "lxd", "version": version,
            "snap": {"channel": channel, "revision": revision}}


@pytest.mark.backends("lxd")
def test_a_snap_joiner_is_first_refreshed_to_the_clusters_revision(snap_joiner, snap_standin):
    cluster = snap_joiner
    ours = cluster.running()
    assert ours["snap"] == {"channel": "latest/stable", "revision": "28460"}
    with pytest.raises(CommandExecutionError) as refused:
        cluster.same_as_cluster(cluster_running("5.0.3", "5.0/stable", "24061"))
    # refreshed to the cluster's revision first; the stand-in's LXD stays what it is
    assert ["refresh", "lxd", "--channel=5.0/stable", "--revision=24061"] in snap_standin.calls()
    assert snap_standin.state()["lxd"]["revision"] == "24061"
    assert "even refreshed to the cluster's revision 24061 (5.0/stable)" in str(refused.value)


@pytest.mark.backends("lxd")
def test_a_snap_joiner_newer_than_its_cluster_is_refused_not_downgraded(snap_joiner,
                                                                          snap_standin):
    with pytest.raises(CommandExecutionError) as refused:
        snap_joiner.same_as_cluster(cluster_running("4.0.9", "4.0/stable", "20000"))
    assert "the cluster runs lxd 4.0.9" in str(refused.value)
    assert not [call for call in snap_standin.calls() if call[0] == "refresh"]


def pending_secret(daemon, member):
    """The secret of ``member``'s pending join token, as the daemon holds it."""
    running = daemon.query("/1.0/operations?recursion=1")["running"]
    return next(op["metadata"]["secret"] for op in running
                if op["class"] == "token" and op["metadata"].get("serverName") == member)


def test_join_tokens_are_masked_in_returns_unless_asked(loaders, cluster_of_one):
    first, _ = cluster_of_one
    lxd = connect(loaders, first)
    membership = loaders.modules.lxd_membership

    issued = membership.issue_join_token("joiner")
    secret = pending_secret(first, "joiner")
    assert issued["member"] == "joiner" and issued["expires_at"]
    assert issued["token"] == "********" and secret not in json.dumps(issued)
    # what reads LXD's operations and answers its requests masks it too
    operations = lxd.query("operations", recursion=1)
    assert secret not in json.dumps(operations)
    assert secret in json.dumps(lxd.query("operations", recursion=1, unmasked=True))
    created = lxd.request("POST", "cluster/members", {"server_name": "other"}, wait=False)
    assert created["metadata"]["secret"] == "********"
    assert pending_secret(first, "other") not in json.dumps(created)

    unmasked = membership.issue_join_token("joiner", unmasked=True)
    decoded = membership.decode_join_token(unmasked["token"])
    assert decoded["secret"] == pending_secret(first, "joiner") != secret
    assert decoded["expires_at"] == unmasked["expires_at"]
