"""Cluster upgrades and maintenance: a real master, three real minions and
three real LXD daemons forming a cluster, each minion with its own stand-in
`snap` (test/bin/snap, its own SNAP_STANDIN_DIR: there is no snapd here).
One story, in order: form, change the channel (state.apply leaves the snap
alone), roll the upgrade member by member, re-run, evacuate and restore a
member, then refuse an upgrade with one daemon down."""

import datetime
import itertools
import json
import os

import pytest

from test.support.clusters import Cluster, changed, failures

# Incus is not published as a snap
pytestmark = pytest.mark.backends("lxd")

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
STANDIN_BIN = os.path.join(REPO, "test", "bin")
HOSTS = ("lxd-u1", "lxd-u2", "lxd-u3")
STORE = {"lxd": {
    "5.0/stable": ["5.0.2-1b2c3d4", "24000"],
    "5.0/candidate": ["5.0.3-babaaf8", "24061"],
    "5.0/edge": ["5.0.4-0c1d2e3", "24100"],
}}
REFRESH_SECONDS = 1  # each stand-in refresh takes this long: overlaps would show


class SnapCluster(Cluster):
    """The cluster hosts install LXD as a snap, through their own stand-in."""

    def add_snap_hosts(self, *names, channel):
        for name in names:
            snapd = self.tmp_path / name / "snapd"
            snapd.mkdir(parents=True)
            (snapd / "store.json").write_text(json.dumps(STORE))
            # daemons get the factories manager's environment: this minion its own
            manager = self.master.factories_manager
            environ = dict(manager.environ, PATH=f"{STANDIN_BIN}:{os.environ['PATH']}",
                           SNAP_STANDIN_DIR=str(snapd),
                           SNAP_STANDIN_REFRESH_SECONDS=str(REFRESH_SECONDS))
            with pytest.MonkeyPatch.context() as patch:
                patch.setattr(manager, "environ", environ)
                self.add_hosts(name)
            # never let the formula reach for a real snapd on this machine
            found = self.salt.run("cmd.run", "command -v snap", minion_tgt=name)
            assert found.data == os.path.join(STANDIN_BIN, "snap"), found
            self.set_pillar(name, install={"method": "snap", "channel": channel})

    def set_channel(self, channel):
        for name in self.minions:
            self.set_pillar(name, install={"method": "snap", "channel": channel})

    def snap(self, name):
        return json.loads((self.tmp_path / name / "snapd" / "state.json").read_text())["lxd"]

    def refreshes(self, name):
        """This host's channel refreshes, as (argv, start, end) from the stand-in."""
        log = self.tmp_path / name / "snapd" / "timeline.jsonl"
        entries = [json.loads(line) for line in log.read_text().splitlines()]
        return [(entry["argv"], entry["start"], entry["end"]) for entry in entries
                if entry["argv"][0] == "refresh" and "--channel" in entry["argv"][2]]

    def upgrade(self, *args):
        result = self.run.run("state.orchestrate", "lxd.cluster.upgrade", *args)
        assert isinstance(result.data, dict), result
        return list(result.data["data"].values())[0]

    def located(self, instance):
        return self.daemons["lxd-u1"].query(f"/1.0/instances/{instance}")["location"]


def by_name(steps):
    return {step["__id__"]: step for step in steps.values()}


def minion_comments(step):
    """What each minion's states said in a salt.state step of the orchestrate."""
    returns = step["changes"].get("ret", {})
    return {minion: " | ".join(state["comment"] for state in states.values())
            for minion, states in returns.items() if isinstance(states, dict)}


def ends(step):
    """When an orchestrate step ended, as epoch seconds (steps report local time)."""
    started = datetime.datetime.combine(
        datetime.date.today(), datetime.time.fromisoformat(step["start_time"])
    )
    return started.timestamp() + step["duration"] / 1000


@pytest.fixture(scope="module")
def cluster(cluster_environment):
    with cluster_environment(SnapCluster, "lxd-upgrade-master") as env:
        yield env


def test_a_channel_change_is_not_applied_by_state_apply_on_a_member(cluster):
    cluster.add_snap_hosts(*HOSTS, channel="5.0/stable")
    assert failures(cluster.orchestrate()) == {}
    assert set(cluster.members("lxd-u1").values()) == {"Online"}
    assert {cluster.snap(name)["channel"] for name in HOSTS} == {"5.0/stable"}

    cluster.set_channel("5.0/candidate")
    applied = cluster.salt.run("state.apply", "lxd", minion_tgt="lxd-u2")
    snap_state = next(step for step in applied.data.values() if step["__id__"] == "lxd-snap")
    assert snap_state["result"] is True and snap_state["changes"] == {}
    assert "tracks 5.0/stable" in snap_state["comment"]
    assert "5.0/candidate" in snap_state["comment"]
    assert "state.orchestrate lxd.cluster.upgrade" in snap_state["comment"]
    assert cluster.snap("lxd-u2")["channel"] == "5.0/stable"


def test_a_dry_run_lists_the_members_to_refresh_in_order_and_changes_nothing(cluster):
    """Needs the cluster the first test formed."""
    cluster.needs("test_a_channel_change_is_not_applied_by_state_apply_on_a_member")
    steps = cluster.upgrade("test=True")
    assert not [s for s in steps.values() if s["result"] is False], failures(steps)
    refreshed = sorted((s for s in steps.values() if s["__id__"].endswith("-refreshed")),
                       key=lambda step: step["__run_num__"])
    assert [s["__id__"] for s in refreshed] == [f"lxd-upgrade-ci-{n}-refreshed" for n in HOSTS]
    for name, step in zip(HOSTS, refreshed, strict=True):
        assert step["result"] is None
        assert f"{name} would refresh lxd to 5.0/candidate" in minion_comments(step)[name]
    assert all(cluster.refreshes(name) == [] for name in HOSTS)


def test_the_upgrade_refreshes_one_member_at_a_time_checking_health_between(cluster):
    """Needs the cluster the first test formed, in the state the previous test left."""
    cluster.needs("test_a_channel_change_is_not_applied_by_state_apply_on_a_member",
                  "test_a_dry_run_lists_the_members_to_refresh_in_order_and_changes_nothing")
    steps = by_name(cluster.upgrade())
    assert failures(steps) == {}
    assert {cluster.snap(name)["version"] for name in HOSTS} == {"5.0.3-babaaf8"}
    assert set(cluster.members("lxd-u3").values()) == {"Online"}

    refreshes = [cluster.refreshes(name) for name in HOSTS]
    assert all(len(calls) == 1 for calls in refreshes), refreshes
    assert refreshes[0][0][0] == ["refresh", "lxd", "--channel=5.0/candidate", "--cohort=+"]
    timeline = [calls[0] for calls in refreshes]
    for earlier, later in itertools.pairwise(timeline):
        assert earlier[2] <= later[1], "refreshes overlapped"
    # each refresh started only after the health check that followed the previous one
    checks = ["lxd-upgrade-ci-healthy"] + [f"lxd-upgrade-ci-{n}-healthy" for n in HOSTS]
    for name, (_, started, _) in zip(HOSTS, timeline, strict=True):
        check = steps[checks[HOSTS.index(name)]]
        assert check["result"] is True
        assert ends(check) <= started + 0.01, (name, check["start_time"], started)
    # the health checks after a refresh ran on every member
    assert all(name in steps["lxd-upgrade-ci-lxd-u2-healthy"]["comment"] for name in HOSTS)


def test_a_rerun_when_every_member_is_on_the_channel_changes_nothing(cluster):
    """Needs the cluster the first test formed, in the state the previous test left."""
    cluster.needs("test_a_channel_change_is_not_applied_by_state_apply_on_a_member",
                  "test_the_upgrade_refreshes_one_member_at_a_time_checking_health_between")
    steps = cluster.upgrade()
    assert failures(steps) == {}
    assert changed(steps) == {}
    assert [s["__id__"] for s in steps.values()] == ["lxd-upgrade-ci-healthy"]


def test_a_member_is_evacuated_for_maintenance_and_restored(cluster):
    """Needs the cluster the first test formed, in the state the previous test left."""
    cluster.needs("test_a_channel_change_is_not_applied_by_state_apply_on_a_member",
                  "test_a_rerun_when_every_member_is_on_the_channel_changes_nothing")
    cluster.daemons["lxd-u1"].lxc("init", "--empty", "kept", "--target", "lxd-u2")

    dry = cluster.run.run("lxd_cluster.evacuate", "lxd-u2", "test=True").data
    assert dry["result"] is None, dry
    assert "default/kept" in dry["comment"]
    assert cluster.members("lxd-u1")["lxd-u2"] == "Online"

    done = cluster.run.run("lxd_cluster.evacuate", "lxd-u2").data
    assert done["result"] is True, done
    assert done["via"] == "lxd-u2"
    assert done["changes"] == {"status": {"old": "Online", "new": "Evacuated"},
                               "instances": {"old": ["default/kept"], "new": []}}
    assert cluster.members("lxd-u1")["lxd-u2"] == "Evacuated"
    assert cluster.located("kept") in ("lxd-u1", "lxd-u3")

    again = cluster.run.run("lxd_cluster.evacuate", "lxd-u2").data
    assert again["result"] is True and again["changes"] == {}, again

    restored = cluster.run.run("lxd_cluster.restore", "lxd-u2").data
    assert restored["result"] is True, restored
    assert restored["changes"]["status"] == {"old": "Evacuated", "new": "Online"}
    assert cluster.members("lxd-u1")["lxd-u2"] == "Online"
    assert cluster.located("kept") == "lxd-u2"

    again = cluster.run.run("lxd_cluster.restore", "lxd-u2").data
    assert again["result"] is True and again["changes"] == {}, again


def test_with_a_member_daemon_down_the_upgrade_refreshes_nothing(cluster):
    """Needs the cluster the first test formed, in the state the previous test left."""
    cluster.needs("test_a_channel_change_is_not_applied_by_state_apply_on_a_member",
                  "test_a_member_is_evacuated_for_maintenance_and_restored")
    cluster.set_channel("5.0/edge")
    cluster.daemons["lxd-u3"].kill()

    steps = by_name(cluster.upgrade())
    check = steps["lxd-upgrade-ci-healthy"]
    assert check["result"] is False
    assert "lxd-u3: its LXD daemon does not answer" in minion_comments(check)["lxd-u3"]
    assert steps["lxd-upgrade-ci-lxd-u1-refreshed"]["result"] is False
    assert steps["lxd-upgrade-ci-lxd-u1-refreshed"]["changes"] == {}
    assert all(len(cluster.refreshes(name)) == 1 for name in HOSTS)
    assert {cluster.snap(name)["channel"] for name in HOSTS} == {"5.0/candidate"}


def test_an_upgrade_plan_with_errors_exits_non_zero(cluster):
    """Needs the cluster the first test formed, in the state the previous test left."""
    cluster.needs("test_a_channel_change_is_not_applied_by_state_apply_on_a_member",
                  "test_with_a_member_daemon_down_the_upgrade_refreshes_nothing")
    cluster.minions["lxd-u3"].terminate()
    planned = cluster.run.run("lxd_cluster.upgrade_plan")
    assert planned.returncode == 1 and planned.data["retcode"] == 1, planned
    assert "lxd-u3: did not answer; left out of this run" in planned.data["errors"], planned
