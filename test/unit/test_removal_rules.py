"""Removal rules that need no daemon: what ``force`` may remove, by the
member status LXD and Incus report (Incus >= 6.22 adds ``Evacuating`` and
``Restoring``, internal/server/db/node.go), and the instances a forced
removal would drop, named in every refusal that mentions force. The
removals themselves run on real clusters in test/integration."""

import importlib.util
from pathlib import Path

import pytest
from salt.exceptions import CommandExecutionError

REPO = Path(__file__).resolve().parents[2]
VOTER = ["database"]


def module(path, members, instances):
    spec = importlib.util.spec_from_file_location(path.stem, REPO / path)
    loaded = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(loaded)
    requests = []
    loaded.__salt__ = {
        "lxd.cluster_members": lambda refresh=False: members,
        "lxd.instances": lambda location=None: {
            name: {"status": "Running", "location": where}
            for name, where in instances.items() if where == location},
        "lxd.request": lambda *args, **kwargs: requests.append(args),
    }
    return loaded, requests


def cluster(status):
    return {"a": {"status": "Online", "roles": VOTER}, "b": {"status": "Online", "roles": VOTER},
            "c": {"status": status, "roles": VOTER}}


INSTANCES = {"default/web": "c", "prod/db": "c", "default/other": "a"}


@pytest.mark.parametrize("status", ["Online", "Evacuated", "Blocked"])
def test_force_removes_no_member_that_is_not_offline_and_names_what_it_would_drop(status):
    rules, _ = module(Path("_modules/lxd_membership.py"), cluster(status), INSTANCES)
    refused = rules.removal_plan("c", force=True)["refused"]
    assert refused.startswith(f"c is {status}: force removes only a member LXD reports offline")
    assert "would drop 2 instance(s): default/web, prod/db" in refused


def test_force_removes_an_offline_member_and_its_refusal_without_force_names_its_instances():
    rules, _ = module(Path("_modules/lxd_membership.py"), cluster("Offline"), INSTANCES)
    plan = rules.removal_plan("c", force=True)
    assert plan["refused"] is None and plan["instances"] == ["default/web", "prod/db"]
    refused = rules.removal_plan("c")["refused"]
    assert "force=True (that drops 2 instance(s): default/web, prod/db from the cluster)" in refused


@pytest.mark.parametrize("status", ["Online", "Evacuated", "Blocked", "Evacuating", "Restoring"])
def test_the_module_function_forces_out_only_an_offline_member(status):
    membership, requests = module(Path("_modules/lxd_membership.py"), cluster(status), {})
    with pytest.raises(CommandExecutionError, match=f"c is {status}: force removes a member"):
        membership.remove_member("c", force=True)
    assert requests == []
    membership.remove_member("c", force=True, accept_data_loss=True)
    assert requests == [("DELETE", "cluster/members/c")]


@pytest.mark.parametrize("force", [False, True])
@pytest.mark.parametrize(("status", "what", "ends"), [
    ("Evacuating", "its evacuation", "Evacuated"), ("Restoring", "its restore", "Online")])
def test_a_member_being_evacuated_or_restored_is_removed_once_that_ends(status, what, ends,
                                                                        force):
    """Incus v6.22.0 .. v7.0.0, internal/server/db/node.go: a member whose
    evacuation or restore operation runs is Evacuating or Restoring (state
    3, 4), neither dead nor done (cmd/incusd/api_cluster_evacuation.go sets
    Evacuated, or Online / Evacuated back when it fails)."""
    rules, _ = module(Path("_modules/lxd_membership.py"), cluster(status), INSTANCES)
    refused = rules.removal_plan("c", evacuate=True, force=force)["refused"]
    assert refused.startswith(f"c is {status}: {what} is under way until it is {ends}: "
                              "remove it then (force removes only a member LXD reports "
                              "offline, and would drop 2 instance(s): default/web, prod/db)")
