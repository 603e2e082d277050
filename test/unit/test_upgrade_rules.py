"""Rolling upgrade logic that needs no daemon: which members the
lxd.cluster.upgrade orchestrate refreshes, and what counts as healthy while
members are still due (LXD's Blocked members, a refreshed member held in
setup)."""

import lxd_cluster_plans
import lxd_cluster_rules


def status(minion, installed="5.0/stable", channel="5.0/candidate", method="snap",
           members=("a", "b", "c")):
    return {"mode": "cluster", "cluster": "prod", "member": minion, "method": method,
            "channel": channel, "members": list(members),
            "installed": installed and {"channel": installed, "version": "5.0.2"}}


def plan(statuses, only=None):
    return lxd_cluster_plans.plan_upgrades(statuses, only)


def test_members_off_the_channel_are_due_in_minion_order():
    planned = plan({"c": status("c"), "a": status("a"),
                    "b": status("b", installed="5.0/candidate")})
    assert planned["errors"] == []
    cluster = planned["clusters"][0]
    assert cluster["due"] == [{"minion": "a", "member": "a"}, {"minion": "c", "member": "c"}]
    assert cluster["channel"] == "5.0/candidate"
    assert cluster["installed"]["b"] == "5.0/candidate (5.0.2)"


def test_nothing_is_due_when_every_member_is_on_the_channel():
    statuses = {name: status(name, installed="5.0/candidate") for name in "abc"}
    assert plan(statuses)["clusters"][0]["due"] == []


def test_a_cluster_that_cannot_be_rolled_safely_is_an_error():
    mixed = {"a": status("a"), "b": status("b", channel="5.21/stable"), "c": status("c")}
    assert "ask for different channels" in plan(mixed)["errors"][0]

    silent = {"a": status("a"), "b": status("b")}  # c's minion did not answer
    errors = plan(silent)["errors"]
    assert "members c have no minion that answered" in errors[0]

    package = {name: status(name, method="package") for name in "abc"}
    assert "do not install LXD as a snap" in plan(package)["errors"][0]

    assert plan(package, only="other")["errors"] == [
        "cluster other: no minion that answered belongs to it"
    ]


def problems(*args, **kwargs):
    return lxd_cluster_rules.health_problems(*args, **kwargs)


def test_a_healthy_cluster_has_every_member_online_or_evacuated():
    members = {"a": {"status": "Online"}, "b": {"status": "Evacuated"}}
    assert problems("a", "ready", members) == []


def test_blocked_is_expected_only_for_members_still_due():
    members = {"a": {"status": "Online"},
               "b": {"status": "Blocked", "message": "Needs updating to newer version"}}
    assert problems("a", "ready", members, due=["b"]) == []
    assert problems("a", "ready", members, due=[]) == [
        "b is Blocked (Needs updating to newer version)"
    ]


def test_a_held_daemon_is_expected_only_after_its_refresh_while_others_are_due():
    assert problems("a", "held", {}, due=["b"]) == []
    assert "held in setup" in problems("a", "held", {}, due=[])[0]
    assert "held in setup" in problems("b", "held", {}, due=["b"])[0]


def test_a_daemon_down_or_a_member_offline_is_never_healthy():
    assert problems("a", "down", {}, due=["b"]) == ["a: its LXD daemon does not answer"]
    members = {"c": {"status": "Offline", "message": "No heartbeat for 30s"}}
    assert problems("a", "ready", members, due=["c"]) == ["c is Offline (No heartbeat for 30s)"]
