"""The quorum guard of a removal (lxd_membership.removal_plan) reads which
members are database voters from their ``roles``, which the daemons spell
differently. Each role set below is what NodeInfo.ToAPI gives a cluster of
a leader, two other voters, a stand-by and a spare, custom roles first;
the removals themselves run on real LXD 5.0 and Incus 6.0 clusters in
test/integration."""

import importlib.util
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def lxd_5_0():
    """lxd-5.0.2 lxd/db/node.go (the same in lxd-5.21.0 .. lxd-6.6): the
    leader gets "database-leader" and, being a raft voter, "database";
    other voters "database"; stand-bys "database-standby"."""
    return {"leader": ["database-leader", "database"], "voter": ["database"],
            "other-voter": ["ovn-chassis", "database"], "standby": ["database-standby"],
            "spare": []}


def lxd_6_9():
    """lxd-6.9 lxd/db/node.go (since lxd-6.7, commit fc84a2b "Rename
    ClusterRoleDatabase to ClusterRoleDatabaseVoter"): the leader gets
    "database-leader" only, other voters "database-voter"."""
    return {"leader": ["database-leader"], "voter": ["database-voter"],
            "other-voter": ["ovn-chassis", "database-voter"],
            "standby": ["database-standby"], "spare": ["control-plane"]}


def incus_6_0():
    """lxc/incus v6.0.4 internal/server/db/node.go: as LXD 5.0."""
    return {"leader": ["database-leader", "database"], "voter": ["database"],
            "other-voter": ["event-hub", "database"], "standby": ["database-standby"],
            "spare": []}


def incus_7_0():
    """lxc/incus v7.0.0 internal/server/db/node.go: as LXD 5.0, and a
    member kept out of the database has the custom role "database-client"."""
    return {"leader": ["database-leader", "database"], "voter": ["database"],
            "other-voter": ["database"], "standby": ["database-standby"],
            "spare": ["database-client"]}


DAEMONS = [lxd_5_0, lxd_6_9, incus_6_0, incus_7_0]


def rules(roles, offline=()):
    spec = importlib.util.spec_from_file_location("roles_module",
                                                  REPO / "_modules/lxd_membership.py")
    loaded = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(loaded)
    members = {name: {"status": "Offline" if name in offline else "Online", "roles": held}
               for name, held in roles.items()}
    loaded.__salt__ = {"lxd.cluster_members": lambda refresh=False: members,
                       "lxd.instances": lambda location=None: {}}
    return loaded


@pytest.mark.parametrize("daemon", DAEMONS)
def test_a_removal_that_leaves_a_minority_of_voters_online_is_refused(daemon):
    plan = rules(daemon(), offline=["other-voter"]).removal_plan("voter")
    assert plan["refused"] == (
        "removing voter would leave 1 of 2 database voters online: the cluster would "
        "lose its database quorum; bring the other members back first (or force=True)")


@pytest.mark.parametrize("daemon", DAEMONS)
def test_the_leader_counts_as_a_voter(daemon):
    plan = rules(daemon(), offline=["voter"]).removal_plan("other-voter")
    assert "would leave 1 of 2 database voters online" in plan["refused"]


@pytest.mark.parametrize("daemon", DAEMONS)
def test_stand_bys_and_spares_do_not_vote(daemon):
    cluster = rules(daemon(), offline=["standby"])
    assert cluster.removal_plan("spare")["refused"] is None
    assert cluster.removal_plan("spare")["notes"] == ["the cluster keeps 4 member(s)"]
    assert cluster.removal_plan("voter")["notes"][1] == (
        "voter is a database voter: LXD promotes another member")
