"""Cluster logic that needs no daemon: the orchestrate's plan, member_config
answers, token expiry, address forms, cluster pillar validation."""

import importlib.util
from pathlib import Path

import lxd_cluster_plans
import lxd_cluster_rules
import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]

DEFAULTS = yaml.safe_load((REPO / "lxd/parameters/defaults.yaml").read_text())["lxd"]


# the formula's parameters, as the master serves them
DEFAULTS_TEXT = (REPO / "lxd/parameters/defaults.yaml").read_text()


def load_runner():
    spec = importlib.util.spec_from_file_location("lxd_cluster_runner",
                                                  REPO / "_runners" / "lxd_cluster.py")
    runner = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(runner)
    return runner


def status(minion, clustered=False, members=None, bootstrap=None, cluster="prod",
           installed=True, shared_init=None):
    return {"mode": "cluster", "cluster": cluster, "member": minion, "bootstrap": bootstrap,
            "clustered": clustered, "server_name": minion if clustered else "",
            "members": members or {}, "installed": installed,
            "shared_init": shared_init or {}}


def test_a_new_cluster_is_bootstrapped_by_the_first_minion_or_the_named_one():
    plan = lxd_cluster_plans.plan_clusters
    statuses = {name: status(name) for name in ("b", "a", "c")}
    formed = plan(statuses)
    assert formed["errors"] == []
    assert formed["clusters"][0]["bootstrap"] == "a"
    assert [j["minion"] for j in formed["clusters"][0]["joiners"]] == ["b", "c"]

    statuses = {name: status(name, bootstrap="c") for name in ("a", "b", "c")}
    assert plan(statuses)["clusters"][0]["bootstrap"] == "c"
    statuses = {name: status(name, bootstrap="z") for name in ("a", "b")}
    assert "lxd:cluster:bootstrap is z, which did not answer" in plan(statuses)["errors"][0]


def test_an_existing_cluster_grows_through_an_online_member():
    members = {"a": {"status": "Offline"}, "b": {"status": "Online"}}
    statuses = {
        "a": status("a", clustered=True, members=members),
        "b": status("b", clustered=True, members=members),
        "d": status("d", bootstrap="a"),
    }
    formed = lxd_cluster_plans.plan_clusters(statuses)["clusters"][0]
    assert formed["bootstrap"] == "b"
    assert formed["joiners"] == [{"minion": "d", "member": "d"}]
    assert formed["members"] == ["a", "b"]


def test_no_second_cluster_when_no_member_is_online():
    members = {"a": {"status": "Offline"}}
    statuses = {"a": status("a", clustered=True, members=members), "d": status("d")}
    errors = lxd_cluster_plans.plan_clusters(statuses)["errors"]
    assert "not bootstrapping a second cluster" in errors[0]


def test_hosts_without_lxd_yet_are_joiners_and_named_in_notes():
    statuses = {"a": status("a", installed=False), "b": status("b", installed=False)}
    formed = lxd_cluster_plans.plan_clusters(statuses)
    assert formed["errors"] == []
    assert formed["clusters"][0]["bootstrap"] == "a"
    assert formed["clusters"][0]["joiners"] == [{"minion": "b", "member": "b"}]
    assert formed["notes"] == [
        "a: LXD is not installed yet; it is installed and prepared in this run, "
        "then bootstraps the cluster",
        "b: LXD is not installed yet; it is installed and prepared in this run, then joins",
    ]


def test_no_bootstrap_while_a_minion_of_the_cluster_did_not_answer():
    plan = lxd_cluster_plans.plan_clusters
    statuses = {"d": status("d", installed=False)}
    planned = plan(statuses, unanswered={"a": "prod", "b": "prod", "x": "other"})
    assert planned["clusters"] == []
    assert "a, b did not answer" in planned["errors"][0]
    assert "a second cluster named prod must never appear" in planned["errors"][0]
    # an existing cluster with an online member grows without the silent one
    members = {"a": {"status": "Online"}, "b": {"status": "Online"}}
    statuses = {"a": status("a", clustered=True, members=members), "d": status("d")}
    grown = plan(statuses, unanswered={"b": "prod"})
    assert grown["errors"] == [] and grown["clusters"][0]["joiners"][0]["minion"] == "d"


def test_cluster_wide_keys_that_members_ask_differently_are_refused():
    bridge = "network/lxdbr0"
    statuses = {
        "a": status("a", shared_init={bridge: {"ipv4.address": "10.1.0.1/24"}}),
        "b": status("b", shared_init={bridge: {"ipv4.address": "10.2.0.1/24"}}),
        "c": status("c", shared_init={bridge: {"ipv4.address": "10.1.0.1/24"}}),
    }
    planned = lxd_cluster_plans.plan_clusters(statuses)
    assert planned["clusters"] == []
    error = planned["errors"][0]
    assert "ipv4.address of network lxdbr0 is cluster-wide in LXD" in error
    assert "a: 10.1.0.1/24; b: 10.2.0.1/24" in error


def test_shared_init_keeps_cluster_wide_keys_only():
    shared = lxd_cluster_plans.shared_init({
        "backend": "incus",
        "init": {"network": {"ipv4.address": "10.9.0.1/24", "bridge.external_interfaces": "eth1"}},
    })
    assert shared == {"network/incusbr0": {"ipv4.address": "10.9.0.1/24"}}
    preseed = ("storage_pools: [{name: local, driver: zfs,"
               " config: {source: /dev/sdb, zfs.clone_copy: 'false'}}]")
    shared = lxd_cluster_plans.shared_init({"init": {"preseed": preseed, "network": True}})
    assert shared == {"storage-pool/local": {"zfs.clone_copy": "false"}}


def test_one_cluster_by_name_and_an_unknown_name_is_an_error():
    statuses = {"a": status("a"), "x": status("x", cluster="other")}
    plan = lxd_cluster_plans.plan_clusters
    assert [c["name"] for c in plan(statuses, only="other")["clusters"]] == ["other"]
    assert "no minion that answered belongs to it" in plan(statuses, only="nope")["errors"][0]


def test_member_config_answers_come_from_the_joiners_own_preseed():
    keys = [
        {"entity": "storage-pool", "name": "local", "key": "source", "description": ""},
        {"entity": "network", "name": "br0", "key": "bridge.external_interfaces",
         "description": ""},
    ]
    preseed = {"storage_pools": [{"name": "local", "driver": "zfs",
                                  "config": {"source": "/dev/sdb"}}]}
    answers = lxd_cluster_rules.member_config_answers(keys, preseed)
    assert [(a["name"], a["value"]) for a in answers] == [("local", "/dev/sdb"), ("br0", "")]


def test_token_expiry_reads_lxd_timestamps():
    assert lxd_cluster_rules.offer_expired("2001-01-01T00:00:00.123456789Z") is True
    assert lxd_cluster_rules.offer_expired("2999-01-01T00:00:00.123456789Z") is False


@pytest.mark.parametrize("spec, expected", [
    ("10.0.0.1", "10.0.0.1:8443"),
    ("10.0.0.1:9443", "10.0.0.1:9443"),
    ("FD00:0::1", "[fd00::1]:8443"),
    ("[fd00::1]:7443", "[fd00::1]:7443"),
    ("127.0.0.0/8", "127.0.0.1:8443"),
    ("lo", "127.0.0.1:8443"),
])
def test_addresses_resolve_to_canonical_host_port(loaders, spec, expected):
    assert loaders.modules.lxd_host.address(spec) == expected


@pytest.mark.parametrize("pillar, error", [
    ({"addresses": {"cluster": "10.0.0.300"}}, "lxd:addresses:cluster: '10.0.0.300' is not an IP"),
    ({"addresses": {"cluster": "1.2.3.4:99999"}}, "port 99999 is out of range"),
    ({"mode": "cluster", "addresses": {"cluster": "203.0.113.0/24"}},
     "lxd:addresses:cluster: no local address in 203.0.113.0/24"),
    ({"cluster": {"token_expiry": "15 minutes"}}, "lxd:cluster:token_expiry: '15 minutes'"),
    ({"cluster": {"name": "a b"}}, "lxd:cluster:name: 'a b' is not a cluster name"),
    ({"cluster": {"evacuate_on_remove": "yes"}}, "lxd:cluster:evacuate_on_remove: must be a boolean"),
    ({"cluster": {"members": []}}, "lxd:cluster:members: unknown key"),
    ({"cluster": {"key_delete_grace": 3601}},
     "lxd:cluster:key_delete_grace: must be a whole number of seconds from 0 to 3600, not 3601"),
    ({"cluster": {"key_delete_grace": True}}, "lxd:cluster:key_delete_grace: must be a whole"),
    ({"cluster": {"key_delete_grace": "2m"}}, "lxd:cluster:key_delete_grace: must be a whole"),
])
def test_bad_cluster_pillar_names_the_key(loaders, pillar, error):
    errors = loaders.modules.lxd_pillar.validate(pillar, DEFAULTS, check_daemon=False)
    assert any(error in message for message in errors), errors


@pytest.mark.parametrize("grace", [0, 120, 3600])
def test_a_key_delete_grace_in_bounds_is_valid(loaders, grace):
    pillar = {"cluster": {"key_delete_grace": grace}}
    assert loaders.modules.lxd_pillar.validate(pillar, DEFAULTS, check_daemon=False) == []


def load_module(name):
    spec = importlib.util.spec_from_file_location(f"{name}_module", REPO / "_modules" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_runs_lock_lasts_as_long_as_its_join_chain_may_wait():
    """The bound of every wait the bootstrap member's chain makes per joiner
    (ready, join, and join again), by the minion module's own numbers."""
    timeouts = {"request": 30, "operation": 600, "command": 600}
    module = load_module("lxd_join")
    module.__context__ = {}
    module.__salt__ = {"config.get": lambda key, default: {"timeouts": timeouts},
                       "cp.get_file_str": lambda url: DEFAULTS_TEXT}
    ready, join = module._chain_bounds()
    bound = lxd_cluster_plans.run_bound(timeouts, 3)
    assert bound >= 3 * (ready + 2 * join) + timeouts["command"]
    assert bound > load_runner().LOCK_SECONDS


def test_two_runs_taking_one_lock_at_once_get_it_once(tmp_path, monkeypatch):
    """The master's cache has no compare-and-set: two runner processes that
    both read no lock would both store theirs. Reads here are slow enough
    for the two to overlap."""
    import threading
    import time

    import salt.cache
    import salt.config

    runner = load_runner()
    opts = dict(salt.config.DEFAULT_MASTER_OPTS, cachedir=str(tmp_path), __role="master")
    runner.__opts__, runner.__context__ = opts, {}
    cache = salt.cache.factory(opts)
    fetch = cache.fetch

    def slow_fetch(bank, key):
        found = fetch(bank, key)
        time.sleep(0.3)
        return found

    monkeypatch.setattr(cache, "fetch", slow_fetch)
    runner._cache = lambda: cache
    results = {}
    runs = [threading.Thread(target=lambda run=run: results.update({run: runner.lock("ci", run)}))
            for run in ("r1", "r2")]
    for each in runs:
        each.start()
    for each in runs:
        each.join()
    assert sorted(result["result"] for result in results.values()) == [False, True], results


def test_a_member_keeps_its_own_token_expiry_and_changes_it_only_when_it_differs():
    change = lxd_cluster_rules.token_expiry_change
    assert change(None, "15M") == {"cluster.join_token_expiry": {"old": "", "new": "15M"}}
    assert change("1H", "15M") == {"cluster.join_token_expiry": {"old": "1H", "new": "15M"}}
    assert change("15M", "15M") == {}
