"""
States for LXD cluster membership (over the ``lxd_cluster``,
``lxd_membership`` and ``lxd_maintenance`` execution modules):
``bootstrapped`` forms a cluster on its first member (the ``lxd.cluster``
orchestrate; the join chain's states are ``lxd_join``'s).
``token_expiry_kept`` keeps every member's join tokens short-lived
(``state.apply lxd``). ``member_absent`` removes a member, from another one.
The ``lxd.cluster.upgrade`` orchestrate rolls a snap channel change through
the members with ``healthy`` and ``member_refreshed``; ``member_evacuated``
and ``member_restored`` take a member out for maintenance and back.

.. code-block:: yaml

    lxd-cluster-bootstrapped:
      lxd_cluster.bootstrapped:
        - name: prod
        - member: lxd1
        - address: 10.0.0.0/24
"""

from salt.exceptions import CommandExecutionError

try:  # installed as the saltext-lxd package
    from saltext.lxd.utils import lxd_cluster_rules as rules
except ImportError:  # synced from _utils: Salt puts the utils directories on sys.path
    import lxd_cluster_rules as rules

__virtualname__ = "lxd_cluster"


def __virtual__():
    if "lxd_cluster.identity" in __salt__:
        return __virtualname__
    return (False, "the lxd_cluster execution module is not available")


def _ret(name):
    return {"name": name, "result": True, "changes": {}, "comment": ""}


def _failed(ret, comment):
    ret.update(result=False, changes={}, comment=comment)
    return ret


def bootstrapped(name, member, address=None, init=None, token_expiry="15M"):
    """
    Ensure this daemon is a member of cluster ``name``: when it is not
    clustered yet, give it its first configuration (``init``, as
    the ``lxd.initialised`` state; a daemon configured by hand keeps its
    configuration) and enable clustering as ``member`` on ``address``. Keeps
    ``cluster.join_token_expiry`` at ``token_expiry``.

    name
        The cluster name (``lxd:cluster:name``), for the record.

    member
        This member's name.

    address
        ``lxd:addresses:cluster``: IP, IP:port, CIDR or interface; default the
        minion's main address.
    """
    ret = _ret(name)
    try:
        wanted = __salt__["lxd_cluster.address"](address)
        state = __salt__["lxd.cluster"]()
        if state["enabled"] and state["server_name"] != member:
            return _failed(
                ret,
                f"This daemon is member {state['server_name']} of a cluster, not "
                f"{member}; nothing was changed.",
            )
        if not state["enabled"]:
            initialised = __states__["lxd.initialised"](
                name="lxd-initialised", mode="cluster", init=init
            )
            if initialised["result"] is False:
                return _failed(ret, initialised["comment"])
            ret["changes"].update(initialised["changes"])
            ret["changes"]["cluster"] = {
                "old": None,
                "new": f"{name}: bootstrapped by {member} at {wanted}",
            }
        ret["changes"].update(_token_expiry_changes(token_expiry))
        if not ret["changes"]:
            ret["comment"] = f"{member} is a member of cluster {name} at {wanted}."
            return ret
        if __opts__["test"]:
            ret["result"] = None
            ret["comment"] = f"Cluster {name} would be bootstrapped or updated by {member}."
            return ret
        if "cluster" in ret["changes"]:
            __salt__["lxd_membership.enable_clustering"](member, wanted)
        if "cluster.join_token_expiry" in ret["changes"]:
            __salt__["lxd.config_set"]("cluster.join_token_expiry", token_expiry)
    except CommandExecutionError as exc:
        return _failed(ret, f"Bootstrapping cluster {name} failed: {exc}")
    ret["comment"] = f"Cluster {name} is bootstrapped by {member} at {wanted}."
    return ret


def _token_expiry_changes(token_expiry):
    """The change that keeps this member's ``cluster.join_token_expiry`` at
    ``token_expiry`` (see ``lxd_cluster_rules.token_expiry_change``)."""
    return rules.token_expiry_change(
        __salt__["lxd.config_get"]("cluster.join_token_expiry"), token_expiry)


def token_expiry_kept(name, token_expiry="15M"):
    """
    Ensure this cluster member issues join tokens that expire within
    ``token_expiry`` (``lxd:cluster:token_expiry``), whichever member an
    operator asks: its own ``cluster.join_token_expiry``. A daemon not
    clustered yet is left to the bootstrap or the join, which set it.

    name
        The cluster name (``lxd:cluster:name``), for the record.
    """
    ret = _ret(name)
    try:
        if not __salt__["lxd.installed"]() or not __salt__["lxd.cluster"]()["enabled"]:
            ret["comment"] = "Not a cluster member yet: its bootstrap or join sets the expiry."
            return ret
        ret["changes"] = _token_expiry_changes(token_expiry)
        if ret["changes"] and __opts__["test"]:
            ret["result"] = None
        elif ret["changes"]:
            __salt__["lxd.config_set"]("cluster.join_token_expiry", token_expiry)
    except CommandExecutionError as exc:
        return _failed(ret, f"cluster.join_token_expiry not kept: {exc}")
    would = "would be" if ret["result"] is None else "is"
    ret["comment"] = f"Join tokens issued here {would} valid for {token_expiry}."
    return ret


def member_absent(name, evacuate=False, force=False):
    """
    Ensure ``name`` is not a member of this daemon's cluster. A member still
    holding instances is refused unless ``evacuate`` (they are moved first)
    or ``force``; an offline member is removed only with ``force``; a
    removal that would cost the database its quorum is refused. The comment
    says what the cluster becomes.

    name
        The member to remove.

    evacuate
        Evacuate its instances first.

    force
        Remove a dead member (what it held is dropped from the cluster).
    """
    ret = _ret(name)
    try:
        plan = __salt__["lxd_membership.removal_plan"](name, evacuate=evacuate, force=force)
        if plan["refused"]:
            return _failed(ret, f"Removing {name} is refused: {plan['refused']}.")
        if not plan["member"]:
            ret["comment"] = f"{name} is not a cluster member."
            return ret
        steps = ["evacuated", "removed"] if plan["evacuate"] else ["removed"]
        ret["changes"][name] = {"old": "member", "new": " and ".join(steps)}
        notes = "; ".join(plan["notes"])
        if __opts__["test"]:
            ret["result"] = None
            ret["comment"] = f"{name} would be {' and '.join(steps)}: {notes}."
            return ret
        if plan["evacuate"]:
            __salt__["lxd_membership.evacuate_member"](name)
        __salt__["lxd_membership.remove_member"](name, force=force)
    except CommandExecutionError as exc:
        return _failed(ret, f"Removing {name} failed: {exc}")
    ret["comment"] = f"{name} was {' and '.join(steps)}: {notes}."
    return ret


def healthy(name, due=(), timeout=0):
    """
    Check that cluster ``name`` is healthy as this member sees it: its own
    daemon answers and every member is Online or Evacuated, waiting up to
    ``timeout`` seconds for it (see ``lxd_cluster_rules.health_problems`` for
    what is expected while members in ``due`` await their refresh). Never
    changes anything; fails naming every problem and status.

    name
        The cluster name.

    due
        Members still to be refreshed by the rolling upgrade.

    timeout
        Seconds to wait for the cluster to become healthy (0: check once;
        a dry run checks once).
    """
    ret = _ret(name)
    try:
        report = __salt__["lxd_maintenance.wait_healthy"](
            due, timeout=0 if __opts__["test"] else timeout
        )
    except CommandExecutionError as exc:
        return _failed(ret, f"Checking cluster {name} failed: {exc}")
    statuses = ", ".join(
        f"{member} {info['status']}" for member, info in sorted(report["members"].items())
    ) or "not known"
    if report["problems"]:
        waited = f" after waiting {timeout} s" if timeout and not __opts__["test"] else ""
        return _failed(
            ret,
            f"Cluster {name} is not healthy as {report['member']} sees it{waited}: "
            f"{'; '.join(report['problems'])}. Members: {statuses}.",
        )
    ret["comment"] = (
        f"Cluster {name} is healthy as {report['member']} sees it (daemon "
        f"{report['daemon']}; members: {statuses})."
    )
    return ret


def member_refreshed(name, snap="lxd", channel="latest/stable", cohort=True):
    """
    Ensure this member's LXD snap tracks ``channel``: refresh it (with
    ``--cohort=+`` when ``cohort``, so every member gets the same revision)
    when it does not. A downgrade is refused. The ``lxd.cluster.upgrade``
    orchestrate applies it to one member at a time and checks the cluster
    before and after.

    name
        This member's name.

    snap
        The snap name (``lxd:install:snap``).

    channel
        ``lxd:install:channel``.
    """
    ret = _ret(name)
    try:
        wanted = __salt__["lxd_snap.normalise_channel"](channel)
        current = __salt__["lxd_snap.info"](snap)
        if current is None:
            return _failed(ret, f"Snap {snap} is not installed on {name} (state.apply lxd "
                                "installs it); nothing was refreshed.")
        if __salt__["lxd_snap.normalise_channel"](current["channel"]) == wanted:
            ret["comment"] = f"{name} runs {snap} {current['version']} from {wanted}."
            return ret
        ret["changes"][snap] = {"old": f"{current['channel']} ({current['version']})",
                                "new": wanted}
        if __opts__["test"]:
            ret["result"] = None
            ret["comment"] = f"{name} would refresh {snap} to {wanted}."
            return ret
        refreshed = __salt__["lxd_snap.refresh"](snap, wanted, cohort=cohort)
    except CommandExecutionError as exc:
        return _failed(ret, f"Refreshing {snap} on {name} failed: {exc}")
    ret["changes"][snap]["new"] = f"{refreshed['channel']} ({refreshed['version']})"
    ret["comment"] = f"{name} refreshed {snap} to {wanted}."
    return ret


def member_evacuated(name):
    """
    Ensure cluster member ``name`` is evacuated for maintenance: its
    instances move to other members (or stop, per their
    ``cluster.evacuate``) and it takes no new ones until restored. Refused
    when the member is not online, or when it holds instances and no other
    member is online to take them, or while it is being evacuated or
    restored (Incus' ``Evacuating``, ``Restoring``: not evacuated yet).

    name
        The member's name.
    """
    ret = _ret(name)
    try:
        plan = __salt__["lxd_maintenance.evacuation_plan"](name)
        if plan["refused"]:
            return _failed(ret, f"Evacuating {name} is refused: {plan['refused']}; "
                                "nothing was changed.")
        if plan["status"] == "Evacuated":
            ret["comment"] = f"{name} is evacuated."
            return ret
        moving = ", ".join(plan["instances"]) or "none"
        ret["changes"]["status"] = {"old": plan["status"], "new": "Evacuated"}
        if __opts__["test"]:
            ret["result"] = None
            ret["comment"] = (f"{name} would be evacuated; instances leaving it: {moving} "
                              f"(members online to take them: {', '.join(plan['targets'])}).")
            return ret
        __salt__["lxd_membership.evacuate_member"](name)
        left = sorted(__salt__["lxd.instances"](location=name))
    except CommandExecutionError as exc:
        return _failed(ret, f"Evacuating {name} failed: {exc}")
    if plan["instances"]:
        ret["changes"]["instances"] = {"old": plan["instances"], "new": left}
    ret["comment"] = f"{name} was evacuated; instances that left it: {moving}."
    if left:
        ret["comment"] += f" Stopped in place (cluster.evacuate: stop): {', '.join(left)}."
    return ret


def member_restored(name):
    """
    Ensure cluster member ``name`` is not evacuated: an evacuated member is
    restored and the instances evacuated from it come back. Refused when
    the member is neither online nor evacuated, or is being evacuated or
    restored (Incus' ``Evacuating``, ``Restoring``: not restored yet).

    name
        The member's name.
    """
    ret = _ret(name)
    try:
        plan = __salt__["lxd_maintenance.restore_plan"](name)
        if plan["refused"]:
            return _failed(ret, f"Restoring {name} is refused: {plan['refused']}; "
                                "nothing was changed.")
        if not plan["restore"]:
            ret["comment"] = f"{name} is not evacuated."
            return ret
        ret["changes"]["status"] = {"old": plan["status"], "new": "Online"}
        if __opts__["test"]:
            ret["result"] = None
            ret["comment"] = f"{name} would be restored; the instances evacuated from it come back."
            return ret
        before = sorted(__salt__["lxd.instances"](location=name))
        __salt__["lxd_membership.restore_member"](name)
        after = sorted(__salt__["lxd.instances"](location=name))
    except CommandExecutionError as exc:
        return _failed(ret, f"Restoring {name} failed: {exc}")
    if before != after:
        ret["changes"]["instances"] = {"old": before, "new": after}
    back = ", ".join(sorted(set(after) - set(before))) or "none"
    ret["comment"] = f"{name} was restored; instances back on it: {back}."
    return ret
