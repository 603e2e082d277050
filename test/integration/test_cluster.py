"""Clusters through `salt-run state.orchestrate lxd.cluster`: a real master
(with the formula's reactor), one real minion and one real daemon (LXD, then
Incus) per host (127.0.0.N:8443). The tests are one story and run in order: form,
grow, re-run, remove, refuse, evacuate, lose the bootstrap minion."""

import base64
import json
import re
import subprocess
import time
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]

TOKEN_PREFIX = "eyJzZXJ2ZXJfbmFtZSI6"  # base64 of '{"server_name":', how every join token starts


class Cluster:
    """The operator's view: hosts (a minion and its LXD daemon each), pillar
    per host, and the salt, salt-run and salt-key commands."""

    def __init__(self, master, pillar_dir, tmp_path, start_daemon):
        self.master = master
        self.start_daemon = start_daemon
        self.pillar_dir = pillar_dir
        self.tmp_path = tmp_path
        self.salt = master.salt_cli(timeout=300)
        self.run = master.salt_run_cli(timeout=600)
        self.minions = {}
        self.daemons = {}
        self.pillars = {}

    def add_hosts(self, *names):
        for name in names:
            self.daemons[name] = self.start_daemon()
            self.set_pillar(name)
            minion = self.master.salt_minion_daemon(
                name, overrides={"log_level_logfile": "debug"}
            )
            minion.start()
            self.minions[name] = minion
        for name in names:
            synced = self.salt.run("saltutil.sync_all", minion_tgt=name)
            assert synced.returncode == 0, synced

    def set_pillar(self, name, **lxd):
        daemon = self.daemons[name]
        files = self.tmp_path / name
        files.mkdir(exist_ok=True)
        pillar = {
            "backend": daemon.backend,
            "mode": "cluster",
            "install": {"method": "none"},
            "connection": {"socket": daemon.socket},
            "files": {"sysctl_conf": str(files / "sysctl.conf"),
                      "tmpfiles_conf": str(files / "tmpfiles.conf")},
            "sysctl_tuning": False,
            "kernel_hardening": False,
            # one network namespace for every simulated host: no bridges
            "init": {"network": False},
            "addresses": {"cluster": daemon.address},
            # removals on key deletion at once, but where a test re-keys
            "cluster": {"name": "ci", "key_delete_grace": 0},
        }
        for key, value in lxd.items():
            pillar[key] = dict(pillar.get(key, {}), **value) if isinstance(value, dict) else value
        self.pillars[name] = pillar
        (self.pillar_dir / f"{name}.sls").write_text(yaml.safe_dump({"lxd": pillar}))
        self.write_top()
        if name in self.minions:
            self.refresh(name)

    def write_top(self, by_grain=()):
        """The pillar top file: each host's pillar targeted by minion id, or
        for the hosts in ``by_grain`` by a grain ``lxd_host: <host>``."""
        top = {host: [host] for host in self.pillars if host not in by_grain}
        top.update({f"lxd_host:{host}": [{"match": "grain"}, host] for host in by_grain})
        (self.pillar_dir / "top.sls").write_text(yaml.safe_dump({"base": top}))

    def wait_logged(self, text, timeout=120):
        """The last master log line holding ``text``, once one is there (the
        reactor works asynchronously); None after ``timeout`` seconds."""
        master_log = Path(self.master.config["log_file"])
        deadline = time.monotonic() + timeout
        while True:
            lines = [line for line in master_log.read_text().splitlines() if text in line]
            if lines or time.monotonic() > deadline:
                return lines[-1] if lines else None
            time.sleep(0.5)

    def mine(self, minion, entry):
        read = self.run.run("mine.get", minion, entry)
        assert read.returncode == 0, read
        return (read.data or {}).get(minion)

    def refresh(self, *names):
        for name in names or self.minions:
            done = self.salt.run("saltutil.refresh_pillar", "wait=True", minion_tgt=name)
            assert done.returncode == 0, done

    def orchestrate(self, *args):
        result = self.run.run("state.orchestrate", "lxd.cluster", *args)
        data = result.data
        assert isinstance(data, dict), result
        return list(data["data"].values())[0]

    def forge(self, minion, entry, **published):
        """``minion`` rewrites its own mine entry ``entry`` as it likes: a
        grain it sets itself, sent with Salt's own mine.send."""
        grain = f"forged_{entry}"
        set_grain = self.salt.run("grains.setval", grain, json.dumps(published),
                                  minion_tgt=minion)
        assert set_grain.returncode == 0, set_grain
        sent = self.salt.run("mine.send", entry, "mine_function=grains.get", grain,
                             minion_tgt=minion)
        assert sent.data is True, sent

    def members(self, via):
        return {
            member["server_name"]: member["status"]
            for member in self.daemons[via].query("/1.0/cluster/members?recursion=1")
        }

    def teardown(self):
        for minion in self.minions.values():
            minion.terminate()


def failures(steps):
    return {key: step["comment"] for key, step in steps.items() if step["result"] is not True}


def by_id(steps):
    assert isinstance(steps, dict), steps
    return {step["__id__"]: step for step in steps.values()}


def changed(steps):
    return {step["__id__"]: step["changes"] for step in steps.values() if step["changes"]}


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
    result = cluster.run.run("state.orchestrate", "lxd.cluster")
    assert result.returncode == 0, result
    steps = list(result.data["data"].values())[0]
    assert failures(steps) == {}
    assert changed(steps) == {}
    # nothing to join: no job on the minions
    assert [step["__id__"] for step in steps.values()] == ["lxd-cluster-ci-formed"]


def test_declared_resources_are_made_cluster_wide_each_member_its_own_source(cluster):
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
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        published = cluster.salt.run("lxd_join.offer_published", "lxd-c4",
                                     minion_tgt="lxd-c1")
        if published.data is True:
            break
        time.sleep(0.5)
    assert published.data is True, published

    # the offer is in lxd-c1's mine, and no other minion can read it
    seen = cluster.salt.run("mine.get", "lxd-c1", "lxd_join_offer_lxd-c4", minion_tgt="lxd-c3")
    assert seen.data == {}

    time.sleep(3)  # let the 2-second token expire
    joined = cluster.salt.run("state.sls", "lxd.cluster.join", f"pillar={form}",
                              minion_tgt="lxd-c4")
    assert "expired at" in by_id(joined.data)["lxd-cluster-joined"]["comment"], joined
    assert cluster.daemons["lxd-c4"].query("/1.0/cluster")["enabled"] is False
    # told so, the bootstrap member revoked the token and withdrew the offer at once
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        looked = cluster.run.run("jobs.lookup_jid", jid)
        if isinstance(looked.data, dict) and looked.data.get("lxd-c1"):
            break
        time.sleep(1)
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
    forwarder included), all at debug level."""
    master_dirs = [cluster.master.config["cachedir"], cluster.master.config["log_file"]]
    minion_logs = [minion.config["log_file"] for minion in cluster.minions.values()]
    found = subprocess.run(
        ["grep", "-r", TOKEN_PREFIX, *master_dirs, *minion_logs],
        capture_output=True, text=True,
    )
    assert [line[:300] for line in found.stdout.splitlines()] == []


def test_a_key_deletion_event_a_minion_fires_changes_nothing(cluster):
    """The drill of issue 22: lxd-c2 has the master fire a salt/key delete
    event naming lxd-c4, whose key is accepted."""
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
    cluster.set_pillar("lxd-c4", cluster={"key_delete_grace": 0})
    deleted = cluster.master.salt_key_cli().run("-d", "lxd-c4", "-y")
    assert deleted.returncode == 0, deleted
    deadline = time.monotonic() + 120
    while "lxd-c4" in cluster.members("lxd-c1") and time.monotonic() < deadline:
        time.sleep(1)  # the reactor works asynchronously
    assert "lxd-c4" not in cluster.members("lxd-c1")
    # asked again: LXD (through another member) says it is gone
    again = cluster.run.run("lxd_cluster.remove", "lxd-c4")
    assert isinstance(again.data, dict), again
    assert again.returncode == 0 and again.data["result"] is True, again.data
    assert again.data["comment"] == "lxd-c4 is not a cluster member."
    cluster.minions.pop("lxd-c4").terminate()
    cluster.pillars.pop("lxd-c4")


def test_what_a_minion_says_about_itself_does_not_pick_the_member(cluster):
    # lxd-c2 claims to be lxd-c3, wanting evacuation, in the entry removal once read
    cluster.forge("lxd-c2", "lxd_cluster", mode="cluster", cluster="ci", member="lxd-c3",
                  evacuate_on_remove=True, remove_on_key_delete=True)
    dry = cluster.run.run("lxd_cluster.remove", "lxd-c2", "test=True")
    assert dry.data["result"] is None, dry.data
    assert dry.data["changes"] == {"lxd-c2": {"old": "member", "new": "removed"}}
    assert "lxd-c3" not in dry.data["comment"]


def test_a_member_holding_an_instance_is_never_forced_out_and_outlives_its_key(cluster):
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
    master_log = Path(cluster.master.config["log_file"])
    deadline = time.monotonic() + 120
    refusal = "[WARNING ]"
    while time.monotonic() < deadline:
        warned = [line for line in master_log.read_text().splitlines()
                  if "lxd_cluster: lxd-c3: Removing lxd-c3 is refused" in line]
        if warned:
            break
        time.sleep(1)  # the reactor works asynchronously
    assert warned and refusal in warned[-1], warned
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
