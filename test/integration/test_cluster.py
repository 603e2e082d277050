"""Clusters through `salt-run state.orchestrate lxd.cluster`: a real master
(with the formula's reactor), one real minion and one real daemon (LXD, then
Incus) per host (127.0.0.N:8443). The tests are one story and run in order: form,
grow, re-run, remove, refuse, evacuate, lose the bootstrap minion."""

import json
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
            "cluster": {"name": "ci"},
        }
        for key, value in lxd.items():
            pillar[key] = dict(pillar.get(key, {}), **value) if isinstance(value, dict) else value
        self.pillars[name] = pillar
        (self.pillar_dir / f"{name}.sls").write_text(yaml.safe_dump({"lxd": pillar}))
        top = {"base": {host: [host] for host in self.pillars}}
        (self.pillar_dir / "top.sls").write_text(yaml.safe_dump(top))
        if name in self.minions:
            self.refresh(name)

    def refresh(self, *names):
        for name in names or self.minions:
            done = self.salt.run("saltutil.refresh_pillar", "wait=True", minion_tgt=name)
            assert done.returncode == 0, done

    def orchestrate(self, *args):
        result = self.run.run("state.orchestrate", "lxd.cluster", *args)
        data = result.data
        assert isinstance(data, dict), result
        return list(data["data"].values())[0]

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
    steps = cluster.orchestrate()
    assert failures(steps) == {}
    assert changed(steps) == {}


def test_an_expired_token_fails_the_join_clearly_and_is_replaced(cluster):
    cluster.add_hosts("lxd-c4")
    for name in cluster.minions:
        cluster.set_pillar(name, cluster={"name": "ci", "token_expiry": "2S"})
    bootstrapped = cluster.salt.run("state.sls", "lxd.cluster.bootstrap", minion_tgt="lxd-c1")
    assert bootstrapped.returncode == 0, bootstrapped
    offer = json.dumps({"lxd_offer": {"member": "lxd-c4", "minion": "lxd-c4"}})
    offered = cluster.salt.run("state.sls", "lxd.cluster.offer", f"pillar={offer}",
                               minion_tgt="lxd-c1")
    assert offered.returncode == 0, offered

    # the offer is in lxd-c1's mine, and no other minion can read it
    published = cluster.salt.run("lxd_cluster.offer_published", "lxd-c4", minion_tgt="lxd-c1")
    assert published.data is True
    seen = cluster.salt.run("mine.get", "lxd-c1", "lxd_join_offer_lxd-c4", minion_tgt="lxd-c3")
    assert seen.data == {}
    join = json.dumps({"lxd_join": {"offered_by": "lxd-c1"}})

    time.sleep(3)  # let the 2-second token expire
    joined = cluster.salt.run("state.sls", "lxd.cluster.join", f"pillar={join}",
                              minion_tgt="lxd-c4")
    assert "expired at" in by_id(joined.data)["lxd-cluster-joined"]["comment"], joined
    assert cluster.daemons["lxd-c4"].query("/1.0/cluster")["enabled"] is False

    for name in cluster.minions:
        cluster.set_pillar(name, cluster={"name": "ci", "token_expiry": "15M"})
    steps = cluster.orchestrate()
    assert failures(steps) == {}
    assert cluster.members("lxd-c1")["lxd-c4"] == "Online"
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


def test_deleting_a_minion_key_removes_its_member_and_mine(cluster):
    deleted = cluster.master.salt_key_cli().run("-d", "lxd-c4", "-y")
    assert deleted.returncode == 0, deleted
    deadline = time.monotonic() + 120
    while "lxd-c4" in cluster.members("lxd-c1") and time.monotonic() < deadline:
        time.sleep(1)  # the reactor works asynchronously
    assert "lxd-c4" not in cluster.members("lxd-c1")
    mine = cluster.run.run("lxd_cluster.remove", "lxd-c4")
    assert isinstance(mine.data, dict), mine
    assert "not a known LXD cluster member" in mine.data["comment"]
    cluster.minions.pop("lxd-c4").terminate()
    cluster.pillars.pop("lxd-c4")


def test_a_member_holding_an_instance_is_refused_then_evacuated_and_removed(cluster):
    cluster.daemons["lxd-c1"].lxc("init", "--empty", "held", "--target", "lxd-c3")

    refused = cluster.run.run("lxd_cluster.remove", "lxd-c3")
    assert refused.data["result"] is False
    assert "still holds 1 instance(s) (default/held)" in refused.data["comment"]
    assert cluster.members("lxd-c1")["lxd-c3"] == "Online"

    removed = cluster.run.run("lxd_cluster.remove", "lxd-c3", "evacuate=True")
    assert removed.data["result"] is True, removed.data
    assert removed.data["changes"] == {"lxd-c3": {"old": "member", "new": "evacuated and removed"}}
    assert "lxd-c3" not in cluster.members("lxd-c1")
    location = cluster.daemons["lxd-c1"].query("/1.0/instances/held")["location"]
    assert location in ("lxd-c1", "lxd-c2")
    # taken out of the cluster's pillar, so the next orchestrate leaves it out
    (cluster.pillar_dir / "lxd-c3.sls").write_text("{}\n")
    cluster.refresh("lxd-c3")


def test_with_the_bootstrap_minion_stopped_a_new_minion_joins_through_another(cluster):
    cluster.minions["lxd-c1"].terminate()
    cluster.add_hosts("lxd-c5")
    steps = cluster.orchestrate()
    assert failures(steps) == {}
    assert any("lxd-c5-joined" in key for key in steps)
    assert cluster.members("lxd-c2") == {
        "lxd-c1": "Online", "lxd-c2": "Online", "lxd-c5": "Online"
    }
