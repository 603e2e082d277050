"""
Execution module for taking a cluster member out and back: what
evacuating or restoring it would do, and the cluster's health as a
rolling upgrade checks it, member by member. The rules are in
``lxd_cluster_rules``; this module asks LXD for what they judge.
"""

import time

try:  # installed as the saltext-lxd package
    from saltext.lxd.utils import lxd_cluster_rules as rules
except ImportError:  # synced from _utils: Salt puts the utils directories on sys.path
    import lxd_cluster_rules as rules

__virtualname__ = "lxd_maintenance"


def __virtual__():
    if "lxd.reachable" not in __salt__:
        return (False, "the lxd execution module is not available (is pylxd installed?)")
    return __virtualname__


# Member statuses change with LXD's heartbeats (every 10 s): there is no
# operation or event to wait on, so a health wait asks again at this pace.
HEALTH_POLL_SECONDS = 2


def health(due=()):
    """
    Return this member's view of its cluster during a rolling upgrade:
    ``member``, ``daemon`` (``lxd.daemon_state``), ``members`` (name:
    status and message, as this daemon reports them) and ``problems`` (see
    ``lxd_cluster_rules.health_problems``; empty when healthy). ``due`` names the
    members still to be refreshed.

    CLI Example:

    .. code-block:: bash

        salt -I 'lxd:mode:cluster' lxd_maintenance.health
        salt lxd1 lxd_maintenance.health due='[lxd2, lxd3]'
    """
    member = __grains__["id"]
    daemon = __salt__["lxd.daemon_state"]()
    members = {}
    if daemon == "ready":
        members = {
            name: {"status": info["status"], "message": info.get("message", "")}
            for name, info in __salt__["lxd.cluster_members"]().items()
        }
    return {"member": member, "daemon": daemon, "members": members,
            "problems": rules.health_problems(member, daemon, members, due)}


def wait_healthy(due=(), timeout=0):
    """
    Return :py:func:`health` once it reports no problem, or as it stands
    after ``timeout`` seconds (0: ask once).

    CLI Example:

    .. code-block:: bash

        salt lxd2 lxd_maintenance.wait_healthy due='[lxd3]' timeout=300
    """
    deadline = time.monotonic() + timeout
    report = health(due)
    while report["problems"] and time.monotonic() < deadline:
        time.sleep(HEALTH_POLL_SECONDS)
        report = health(due)
    return report


# ---------------------------------------------------------------- maintenance


def evacuation_plan(member):
    """
    Return what evacuating ``member`` would do: its ``status``, the
    ``instances`` on it (moved to other members, or stopped, per their
    ``cluster.evacuate``), the online members that could take them
    (``targets``) and ``refused`` (the reason, or None).

    CLI Example:

    .. code-block:: bash

        salt lxd1 lxd_maintenance.evacuation_plan lxd3
    """
    members = __salt__["lxd.cluster_members"]()
    if member not in members:
        return {"status": None, "instances": [], "targets": [],
                "refused": f"{member} is not a member of this cluster"}
    status = members[member]["status"]
    instances = sorted(__salt__["lxd.instances"](location=member))
    targets = sorted(name for name, info in members.items()
                     if name != member and info["status"] == rules.ONLINE)
    refused = rules.evacuation_refusal(member, status, instances, targets)
    return {"status": status, "instances": instances, "targets": targets,
            "refused": refused}


def restore_plan(member):
    """
    Return what restoring ``member`` would do: its ``status``, whether it
    is to be restored (``restore``: it is evacuated) and ``refused`` (the
    reason, or None). An online member needs nothing; one being evacuated
    or restored (Incus' ``Evacuating``, ``Restoring``) is refused until
    that ends.

    CLI Example:

    .. code-block:: bash

        salt lxd1 lxd_maintenance.restore_plan lxd3
    """
    members = __salt__["lxd.cluster_members"]()
    if member not in members:
        return {"status": None, "restore": False,
                "refused": f"{member} is not a member of this cluster"}
    status = members[member]["status"]
    refused = rules.restore_refusal(member, status)
    return {"status": status, "restore": status == rules.EVACUATED, "refused": refused}
