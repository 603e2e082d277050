"""Clusters through `salt-run state.orchestrate lxd.cluster`: a real master
(with the formula's reactor), one real minion and one real daemon (LXD, then
Incus) per host (127.0.0.N:8443). The tests are one story and run in order: form,
grow, re-run, remove, refuse, evacuate, lose the bootstrap minion. The
``cluster`` fixture owns the story's state; each later test names the earlier
ones it needs (docstring and ``cluster.needs``) and, run alone, skips saying
so."""

import base64
import datetime
import json
import re
import subprocess
from pathlib import Path

import pytest

from test.support.clusters import Cluster, by_id, changed, failures
from test.support.waiting import wait_until

REPO = Path(__file__).resolve().parents[2]

TOKEN_PREFIX = "eyJzZXJ2ZXJfbmFtZSI6"  # base64 of '{"server_name":', how every join token starts


def join_token_expiry(daemon, member):
    """When the join token pending on ``daemon`` for ``member`` expires, as
    the token operation's ``expiresAt`` says (what lxd_membership.join_tokens
    reads), rounded up to the second."""
    operations = daemon.query("/1.0/operations?recursion=1").get("running", [])
    expires_at = next(op["metadata"]["expiresAt"] for op in operations
                      if op["class"] == "token" and op["metadata"].get("serverName") == member)
    return (datetime.datetime.fromisoformat(expires_at[:19]).replace(tzinfo=datetime.UTC)
            + datetime.timedelta(seconds=1))


@pytest.fixture(scope="module")
def cluster(cluster_environment):
    reactor = [{"salt/key": [str(REPO / "reactor" / "key_deleted.sls")]}]
    with cluster_environment(Cluster, "lxd-cluster-master", reactor=reactor,
                             log_level_logfile="debug") as env:
        yield env


def test_dry_run_then_three_members_form_and_are_online(cluster):
    cluster.add_hosts("lxd-c1", "lxd-c2", "lxd-c3")

    dry = cluster.orchestrate("test=True")
    assert not [s for s in dry.values() if s["result"] is False], failures(dry)
    for daemon in cluster.daemons.values():
        assert daemon.query("/1.0/cluster")["enabled"] is False

    steps = cluster.orchestrate()
    assert failures(steps) == {}
    assert cluster.members("lxd-c2") == {
        "lxd-c1": "Online", "lxd-c2": "Online", "lxd-c3": "Online"
    }
    assert cluster.daemons["lxd-c1"].query("/1.0")["config"]["cluster.https_address"] == (
        f"{cluster.daemons['lxd-c1'].address}:8443"
    )
    # every token was used or revoked, and the mine offer withdrawn
    assert cluster.daemons["lxd-c1"].lxc("cluster", "list-tokens", "-f", "csv") == ""


def test_a_rerun_on_a_formed_cluster_reports_no_changes(cluster):
    """Needs the cluster formed (lxd-c1..3) by the first test."""
    cluster.needs("test_dry_run_then_three_members_form_and_are_online")
    result = cluster.run.run("state.orchestrate", "lxd.cluster")
    assert result.returncode == 0, result
    steps = list(result.data["data"].values())[0]
    assert failures(steps) == {}
    assert changed(steps) == {}
    # nothing to join: no job on the minions
    assert [step["__id__"] for step in steps.values()] == ["lxd-cluster-ci-formed"]


def test_declared_resources_are_made_cluster_wide_each_member_its_own_source(cluster):
    """Needs the cluster formed (lxd-c1..3) by the first test."""
    cluster.needs("test_dry_run_then_three_members_form_and_are_online")
    sources = {}
    for name in cluster.minions:
        sources[name] = cluster.tmp_path / name / "shared-pool"
        sources[name].mkdir()
        cluster.set_pillar(
            name,
            storage_pools={"shared": {"driver": "dir",
                                      "member_config": {"source": str(sources[name])}}},
            profiles={"web": {"config": {"limits.cpu": 2},
                              "devices": {"root": {"type": "disk", "path": "/",
                                                   "pool": "shared"}}}},
            projects={"ci": {"description": "CI"}},
        )
    applied = cluster.salt.run("state.apply", "lxd", minion_tgt="lxd-c*")
    assert applied.returncode == 0, applied
    resources = {minion: by_id(steps)["lxd-resources"] for minion, steps in applied.data.items()}
    assert {minion: state["changes"] for minion, state in resources.items()} == {
        "lxd-c1": {"projects": {"ci": "created"},
                   "storage_pools": {"shared": "created"}, "profiles": {"web": "created"}},
        "lxd-c2": {"storage_pools": {"shared": "defined for member lxd-c2"}},
        "lxd-c3": {"storage_pools": {"shared": "defined for member lxd-c3"}},
    }, resources
    first = cluster.daemons["lxd-c1"]
    assert first.query("/1.0/storage-pools/shared")["status"] == "Created"
    for name, source in sources.items():
        pool = first.query(f"/1.0/storage-pools/shared?target={name}")
        assert pool["config"]["source"] == str(source)
    assert first.query("/1.0/profiles/web")["devices"]["root"]["pool"] == "shared"

    again = cluster.salt.run("state.apply", "lxd", minion_tgt="lxd-c*")
    assert {minion: changed(steps) for minion, steps in again.data.items()} == {
        name: {} for name in cluster.minions}

    # an update and a deletion: the keeper makes them, once, for the cluster
    for name in cluster.minions:
        cluster.set_pillar(name, profiles={"web": {"config": {"limits.cpu": 4},
                                                   "devices": {"root": {"type": "disk",
                                                                        "path": "/",
                                                                        "pool": "shared"}}}},
                           projects={"ci": {"present": False}})
    kept = cluster.salt.run("state.apply", "lxd", minion_tgt="lxd-c*")
    assert {minion: changed(steps) for minion, steps in kept.data.items()} == {
        "lxd-c1": {"lxd-resources": {
            "projects": {"ci": "deleted"},
            "profiles": {"web": {"config": {"limits.cpu": {"old": "2", "new": "4"}}}}}},
        "lxd-c2": {}, "lxd-c3": {}}
    assert first.query("/1.0/profiles/web")["config"]["limits.cpu"] == "4"
    assert "/1.0/projects/ci" not in first.query("/1.0/projects")

    # a member-specific key that one member does not give: nothing cluster-wide
    for name in cluster.minions:
        part = {"source": str(sources[name]) + "-partial"} if name != "lxd-c3" else {}
        cluster.set_pillar(name, storage_pools={"partial": {"driver": "dir",
                                                            "member_config": part}})
        Path(part.get("source", sources[name])).mkdir(exist_ok=True)
    refused = cluster.salt.run("state.apply", "lxd", minion_tgt="lxd-c*")
    comment = by_id(refused.data["lxd-c1"])["lxd-resources"]["comment"]
    assert comment.startswith("lxd:storage_pools:partial: create failed: "
                              "member_config:source: lxd-c3 defined its part without it"), comment
    # undoing its own part, the member that would have created it dropped
    # the pending pool whole
    assert "/1.0/storage-pools/partial" not in first.query("/1.0/storage-pools")
    for name in cluster.minions:
        cluster.set_pillar(name, storage_pools={"partial": {"driver": "dir",
                                                            "present": False}})


def test_an_expired_token_fails_the_join_clearly_and_is_replaced(cluster):
    """Needs the cluster formed (lxd-c1..3) by the first test; adds lxd-c4."""
    cluster.needs("test_dry_run_then_three_members_form_and_are_online")
    cluster.add_hosts("lxd-c4")
    for name in cluster.minions:
        cluster.set_pillar(name, cluster={"name": "ci", "token_expiry": "2S"})
    form = json.dumps({"lxd_form": {"bootstrap": "lxd-c1", "run": "expiring",
                                    "joiners": [{"minion": "lxd-c4", "member": "lxd-c4"}]}})
    # the bootstrap member's side of the chain, in a job of its own: it offers,
    # then waits for the report
    started = cluster.salt.run("--async", "state.sls", "lxd.cluster.offer", f"pillar={form}",
                               minion_tgt="lxd-c1")
    jid = re.search(r"[0-9]{20}", started.stdout).group(0)
    # lxd-c4 says it is prepared, as its own join state would: the token is issued
    ready = cluster.salt.run("lxd_join.report_join", "lxd-c1", "expiring", "ready",
                             minion_tgt="lxd-c4")
    assert ready.data is True, ready
    wait_until(lambda: cluster.salt.run("lxd_join.offer_published", "lxd-c4",
                                        minion_tgt="lxd-c1").data is True,
               60, "lxd-c1 to publish its offer to lxd-c4")

    # the offer is in lxd-c1's mine, and no other minion can read it
    seen = cluster.salt.run("mine.get", "lxd-c1", "lxd_join_offer_lxd-c4", minion_tgt="lxd-c3")
    assert seen.data == {}

    expires_at = join_token_expiry(cluster.daemons["lxd-c1"], "lxd-c4")
    wait_until(lambda: datetime.datetime.now(datetime.UTC) > expires_at, 30,
               f"the 2-second join token to expire at {expires_at}")
    joined = cluster.salt.run("state.sls", "lxd.cluster.join", f"pillar={form}",
                              minion_tgt="lxd-c4")
    assert "expired at" in by_id(joined.data)["lxd-cluster-joined"]["comment"], joined
    assert cluster.daemons["lxd-c4"].query("/1.0/cluster")["enabled"] is False
    # told so, the bootstrap member revoked the token and withdrew the offer at once

    def bootstrap_returned():
        looked = cluster.run.run("jobs.lookup_jid", jid)
        return isinstance(looked.data, dict) and looked.data.get("lxd-c1") and looked

    looked = wait_until(bootstrap_returned, 120, f"lxd-c1's return of job {jid}", interval=1)
    offered = by_id(looked.data["lxd-c1"])["lxd-cluster-joins-offered"]
    assert offered["result"] is False and "expired at" in offered["comment"], offered
    assert cluster.daemons["lxd-c1"].lxc("cluster", "list-tokens", "-f", "csv") == ""
    published = cluster.salt.run("lxd_join.offer_published", "lxd-c4", minion_tgt="lxd-c1")
    assert published.data is False, published

    for name in cluster.minions:
        cluster.set_pillar(name, cluster={"name": "ci", "token_expiry": "15M"})
    # another member offers lxd-c4 a token of its own making, readable by all
    bogus = {"addresses": ["127.0.0.1:1"], "server_name": "lxd-c4", "fingerprint": "00",
             "secret": "forged", "expires_at": "2099-01-01T00:00:00Z"}
    cluster.forge("lxd-c3", "lxd_join_offer_lxd-c4", certificate="forged", member_config=[],
                  token=base64.b64encode(json.dumps(bogus).encode()).decode())
    steps = cluster.orchestrate()
    assert failures(steps) == {}
    assert cluster.members("lxd-c1")["lxd-c4"] == "Online"
    forged = cluster.salt.run("lxd_join.offer_published", "lxd-c4", minion_tgt="lxd-c3")
    assert forged.data is False, forged  # withdrawn with the run's lock
    assert cluster.daemons["lxd-c1"].lxc("cluster", "list-tokens", "-f", "csv") == ""


def test_no_token_in_job_returns_or_logs(cluster):
    """Master job cache and logs, minion logs (saltfactories' event
    forwarder included), all at debug level.

    Needs the joins of the first test and of the expired-token test, whose
    tokens it looks for."""
    cluster.needs("test_dry_run_then_three_members_form_and_are_online",
                  "test_an_expired_token_fails_the_join_clearly_and_is_replaced")
    master_dirs = [cluster.master.config["cachedir"], cluster.master.config["log_file"]]
    minion_logs = [minion.config["log_file"] for minion in cluster.minions.values()]
    found = subprocess.run(
        ["grep", "-r", TOKEN_PREFIX, *master_dirs, *minion_logs],
        capture_output=True, text=True,
    )
    assert [line[:300] for line in found.stdout.splitlines()] == []


def test_a_key_deletion_event_a_minion_fires_changes_nothing(cluster):
    """The drill of issue 22: lxd-c2 has the master fire a salt/key delete
    event naming lxd-c4, whose key is accepted.

    Needs lxd-c4 a member (the expired-token test)."""
    cluster.needs("test_an_expired_token_fails_the_join_clearly_and_is_replaced")
    assert cluster.mine("lxd-c4", "lxd_server")
    preload = {"pretag": "salt", "events": [{"tag": "key",
                                             "data": {"act": "delete", "id": "lxd-c4"}}]}
    fired = cluster.salt.run("event.fire_master", "{}", "x", f"preload={json.dumps(preload)}",
                             minion_tgt="lxd-c2")
    assert fired.returncode == 0 and fired.data is True, fired
    refused = cluster.wait_logged("lxd_cluster: lxd-c4: a key deletion event names lxd-c4, "
                                  "but the master's key store still has its accepted key")
    assert refused and "[WARNING ]" in refused, refused
    assert cluster.members("lxd-c1")["lxd-c4"] == "Online"
    assert cluster.mine("lxd-c4", "lxd_server"), "its mine was flushed"
    by_hand = cluster.run.run("lxd_cluster.on_key_deleted", "lxd-c4")
    assert by_hand.returncode == 1 and by_hand.data["result"] is False, by_hand


def test_a_re_key_within_the_grace_keeps_the_member(cluster):
    """Needs lxd-c4 a member (the expired-token test)."""
    cluster.needs("test_an_expired_token_fails_the_join_clearly_and_is_replaced")
    cluster.set_pillar("lxd-c4", cluster={"key_delete_grace": 90})
    keys = cluster.master.salt_key_cli()
    pki = Path(cluster.master.config["pki_dir"])
    public = (pki / "minions" / "lxd-c4").read_text()
    deleted = keys.run("-d", "lxd-c4", "-y")
    assert deleted.returncode == 0, deleted
    # the reinstalled minion's key arrives pending, as its authentication leaves it
    (pki / "minions_pre" / "lxd-c4").write_text(public)
    accepted = keys.run("-a", "lxd-c4", "-y")
    assert accepted.returncode == 0 and "lxd-c4" in accepted.stdout, accepted
    kept = cluster.wait_logged("lxd_cluster: lxd-c4: the key of lxd-c4 was accepted again "
                               "within lxd:cluster:key_delete_grace (90 s)")
    assert kept and "[WARNING ]" in kept, kept
    assert cluster.members("lxd-c1")["lxd-c4"] == "Online"
    assert cluster.mine("lxd-c4", "lxd_server"), "its mine was flushed"


def test_deleting_a_minion_key_removes_its_member_and_mine(cluster):
    """Needs lxd-c4 a member (the expired-token test); removes it."""
    cluster.needs("test_an_expired_token_fails_the_join_clearly_and_is_replaced")
    cluster.set_pillar("lxd-c4", cluster={"key_delete_grace": 0})
    deleted = cluster.master.salt_key_cli().run("-d", "lxd-c4", "-y")
    assert deleted.returncode == 0, deleted
    # the reactor works asynchronously
    wait_until(lambda: "lxd-c4" not in cluster.members("lxd-c1"), 120,
               "the reactor to remove member lxd-c4", interval=1)
    # asked again: LXD (through another member) says it is gone
    again = cluster.run.run("lxd_cluster.remove", "lxd-c4")
    assert isinstance(again.data, dict), again
    assert again.returncode == 0 and again.data["result"] is True, again.data
    assert again.data["comment"] == "lxd-c4 is not a cluster member."
    cluster.minions.pop("lxd-c4").terminate()
    cluster.pillars.pop("lxd-c4")


def test_what_a_minion_says_about_itself_does_not_pick_the_member(cluster):
    """Needs lxd-c2 and lxd-c3 members (the first test)."""
    cluster.needs("test_dry_run_then_three_members_form_and_are_online")
    # lxd-c2 claims to be lxd-c3, wanting evacuation, in the entry removal once read
    cluster.forge("lxd-c2", "lxd_cluster", mode="cluster", cluster="ci", member="lxd-c3",
                  evacuate_on_remove=True, remove_on_key_delete=True)
    dry = cluster.run.run("lxd_cluster.remove", "lxd-c2", "test=True")
    assert dry.data["result"] is None, dry.data
    assert dry.data["changes"] == {"lxd-c2": {"old": "member", "new": "removed"}}
    assert "lxd-c3" not in dry.data["comment"]


def test_a_member_holding_an_instance_is_never_forced_out_and_outlives_its_key(cluster):
    """Needs lxd-c3 a member (the first test); removes it."""
    cluster.needs("test_dry_run_then_three_members_form_and_are_online")
    cluster.daemons["lxd-c1"].lxc("init", "--empty", "held", "--target", "lxd-c3")

    refused = cluster.run.run("lxd_cluster.remove", "lxd-c3")
    assert refused.returncode == 1 and refused.data["result"] is False
    assert "still holds 1 instance(s) (default/held)" in refused.data["comment"]
    forced = cluster.run.run("lxd_cluster.remove", "lxd-c3", "force=True")
    assert forced.returncode == 1
    assert "force removes only a member LXD reports offline" in forced.data["comment"]
    assert "would drop 1 instance(s): default/held" in forced.data["comment"]
    by_module = cluster.salt.run("lxd_membership.remove_member", "lxd-c3", "force=True",
                                 minion_tgt="lxd-c1")
    assert by_module.returncode != 0 and "accept_data_loss=True" in str(by_module.data)
    assert cluster.members("lxd-c1")["lxd-c3"] == "Online"

    # its key deleted with its minion stopped (a running minion re-authenticates, and the
    # test master accepts the keys of the minions it started): the reactor refuses, logged
    # as a warning, and the mine is flushed
    cluster.minions.pop("lxd-c3").terminate()
    deleted = cluster.master.salt_key_cli().run("-d", "lxd-c3", "-y")
    assert deleted.returncode == 0, deleted
    warned = cluster.wait_logged("lxd_cluster: lxd-c3: Removing lxd-c3 is refused")
    assert "[WARNING ]" in warned, warned
    assert cluster.members("lxd-c1")["lxd-c3"] == "Online"

    # had its pillar been targeted by a grain, deleting the key took it away
    cluster.write_top(by_grain=["lxd-c3"])
    unknown = cluster.run.run("lxd_cluster.on_key_deleted", "lxd-c3")
    assert unknown.returncode == 1 and unknown.data["result"] is False, unknown
    assert ("cluster ci (asked through lxd-c1) still lists a member named lxd-c3, but the "
            "master compiles no lxd:mode cluster pillar for it") in unknown.data["comment"]
    assert "target LXD hosts' pillar by minion id" in unknown.data["comment"]
    assert cluster.members("lxd-c1")["lxd-c3"] == "Online"
    cluster.write_top()

    # still found (through LXD, not the flushed mine), evacuated and removed
    removed = cluster.run.run("lxd_cluster.remove", "lxd-c3", "evacuate=True")
    assert removed.returncode == 0 and removed.data["result"] is True, removed.data
    assert removed.data["changes"] == {"lxd-c3": {"old": "member", "new": "evacuated and removed"}}
    assert "lxd-c3" not in cluster.members("lxd-c1")
    location = cluster.daemons["lxd-c1"].query("/1.0/instances/held")["location"]
    assert location in ("lxd-c1", "lxd-c2")
    cluster.pillars.pop("lxd-c3")


def test_with_the_bootstrap_minion_stopped_a_new_minion_joins_through_another(cluster):
    """Needs lxd-c1 and lxd-c2 the only members left: lxd-c4 and lxd-c3
    removed by the two tests named below."""
    cluster.needs("test_deleting_a_minion_key_removes_its_member_and_mine",
                  "test_a_member_holding_an_instance_is_never_forced_out_and_outlives_its_key")
    cluster.minions["lxd-c1"].terminate()
    cluster.add_hosts("lxd-c5")
    # a run killed after its first offer: its lock, offer and token are left
    locked = cluster.run.run("lxd_cluster.lock", "ci", "killed-run", '["lxd-c2", "lxd-c5"]')
    assert locked.returncode == 0, locked
    offered = cluster.salt.run("lxd_join.publish_join_offer", "lxd-c9", "lxd-c9",
                               "killed-run", minion_tgt="lxd-c2")
    assert offered.returncode == 0, offered

    refused = cluster.orchestrate()
    assert "another lxd.cluster run (killed-run) holds the lock of cluster ci" in str(
        failures(refused)), refused
    assert "lxd-c5" not in cluster.members("lxd-c2")
    unlocked = cluster.run.run("lxd_cluster.unlock", "ci", "force=True")
    assert unlocked.returncode == 0, unlocked

    # the stopped minion is named, and the run fails saying so; the rest goes on
    steps = cluster.orchestrate()
    assert list(failures(steps).values()) == ["lxd-c1: did not answer; left out of this run"]
    # what the killed run left is gone: its token and its offer
    assert cluster.daemons["lxd-c2"].lxc("cluster", "list-tokens", "-f", "csv") == ""
    left = cluster.salt.run("lxd_join.offer_published", "lxd-c9", minion_tgt="lxd-c2")
    assert left.data is False, left
    assert any("-formed_|-" in key for key in steps), steps
    assert cluster.members("lxd-c2") == {
        "lxd-c1": "Online", "lxd-c2": "Online", "lxd-c5": "Online"
    }


def test_with_no_member_answering_a_new_minion_bootstraps_nothing(cluster):
    """Needs lxd-c2 and lxd-c5 the members that answer (the previous test)."""
    cluster.needs("test_with_the_bootstrap_minion_stopped_a_new_minion_joins_through_another")
    for name in ("lxd-c2", "lxd-c5"):
        cluster.minions[name].terminate()
    cluster.add_hosts("lxd-c6")
    result = cluster.run.run("state.orchestrate", "lxd.cluster")
    assert result.returncode != 0, result
    steps = list(result.data["data"].values())[0]
    errors = " ".join(failures(steps).values())
    assert "lxd-c2: did not answer" in errors and "lxd-c5: did not answer" in errors
    assert "a second cluster named ci must never appear" in errors
    planned = cluster.run.run("lxd_cluster.plan")
    assert planned.returncode == 1 and "lxd-c2: did not answer" in str(planned.data["errors"])
    assert cluster.daemons["lxd-c6"].query("/1.0/cluster")["enabled"] is False
