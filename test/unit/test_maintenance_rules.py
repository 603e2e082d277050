"""Evacuation, restore and health by member status, without a daemon.
Incus >= 6.22 reports a member whose evacuation or restore operation runs
as ``Evacuating`` or ``Restoring`` (lxc/incus v6.22.0 .. v7.0.0,
internal/server/db/node.go: member states 3 and 4, set and cleared by
cmd/incusd/api_cluster_evacuation.go; a failed evacuation goes back to
Online, a failed restore to Evacuated). Neither is done: the formula waits
for them in a health check and refuses to act on them. LXD (lxd-5.0.2 ..
lxd-6.9 lxd/db/node.go) and Incus 6.0 have no such status, so the real
evacuations in test/integration/test_cluster_upgrade.py cannot show them."""

import importlib.util
from pathlib import Path

import lxd_cluster_rules
import pytest

REPO = Path(__file__).resolve().parents[2]
UNDER_WAY = [("Evacuating", "its evacuation", "Evacuated"),
             ("Restoring", "its restore", "Online")]


def load(path, name):
    spec = importlib.util.spec_from_file_location(name, REPO / path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def cluster(status, message="Unavailable due to maintenance"):
    members = {"a": {"status": "Online", "message": "Fully operational", "roles": []},
               "c": {"status": status, "message": message, "roles": []}}
    rules = load("_modules/lxd_maintenance.py", "maintenance_rules")
    rules.__salt__ = {"lxd.cluster_members": lambda refresh=False: members,
                      "lxd.instances": lambda location=None: (
                          {"default/web": {}} if location == "c" else {})}
    return rules


def states(status, test=False):
    """The cluster states over :func:`cluster`, recording the member
    actions they would send to LXD."""
    rules = cluster(status)
    sent = []
    module = load("_states/lxd_cluster.py", "maintenance_states")
    module.__opts__ = {"test": test}
    module.__salt__ = dict(
        rules.__salt__,
        **{f"lxd_maintenance.{name}": getattr(rules, name)
           for name in ("evacuation_plan", "restore_plan")},
        **{f"lxd_membership.{action}_member": lambda member, action=action: sent.append(
            (action, member)) for action in ("evacuate", "restore")})
    return module, sent


@pytest.mark.parametrize(("status", "what", "ends"), UNDER_WAY)
def test_a_member_being_evacuated_or_restored_is_not_healthy_yet(status, what, ends):
    rules = cluster(status)
    members = {name: {"status": info["status"], "message": info["message"]}
               for name, info in rules.__salt__["lxd.cluster_members"]().items()}
    assert lxd_cluster_rules.health_problems("a", "ready", members) == [
        f"c is {status}: {what} is under way until it is {ends} "
        "(Unavailable due to maintenance)"]


@pytest.mark.parametrize(("status", "what", "ends"), UNDER_WAY)
@pytest.mark.parametrize("test", [False, True])
def test_evacuate_and_restore_refuse_a_member_in_the_middle_of_either(status, what, ends,
                                                                      test):
    module, sent = states(status, test=test)
    evacuated = module.member_evacuated("c")
    restored = module.member_restored("c")
    assert sent == []
    assert (evacuated["result"], evacuated["changes"]) == (False, {})
    assert evacuated["comment"] == (
        f"Evacuating c is refused: c is {status}: {what} is under way until it is {ends}: "
        "it is not evacuated yet, re-run then; nothing was changed.")
    assert (restored["result"], restored["changes"]) == (False, {})
    assert restored["comment"] == (
        f"Restoring c is refused: c is {status}: {what} is under way until it is {ends}: "
        "it is not restored yet, re-run then; nothing was changed.")


@pytest.mark.parametrize(("status", "restore", "refused"), [
    ("Evacuated", True, None),
    ("Online", False, None),
    ("Offline", False, "c is Offline: only an evacuated member can be restored"),
    ("Blocked", False, "c is Blocked: only an evacuated member can be restored"),
])
def test_only_an_evacuated_member_is_restored(status, restore, refused):
    assert cluster(status).restore_plan("c") == {"status": status, "restore": restore,
                                                 "refused": refused}


def test_an_evacuated_member_is_restored_and_an_online_one_left_alone():
    module, sent = states("Evacuated")
    assert module.member_restored("c")["changes"]["status"] == {"old": "Evacuated",
                                                                "new": "Online"}
    assert sent == [("restore", "c")]
    module, sent = states("Online")
    assert module.member_restored("c") == {"name": "c", "result": True, "changes": {},
                                           "comment": "c is not evacuated."}
    assert sent == []
