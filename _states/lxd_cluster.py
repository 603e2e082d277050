"""
States for LXD cluster membership (over the ``lxd_cluster`` and ``lxd``
execution modules). The ``lxd.cluster`` orchestrate applies them in one
job on every minion: ``bootstrapped`` and then ``joins_offered`` on one
member, which offers each joiner its token in turn, and ``joined`` on
each joiner, which waits for its offer; ``join_offers_refused`` and
``join_declined`` (onfail) keep either side from waiting for a failed
other. ``token_expiry_kept`` keeps every member's join tokens short-lived
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
    from saltext.lxd.utils.lxd_names import MINE_JOIN_REPORT
except ImportError:  # synced from _utils: Salt puts the utils directories on sys.path
    from lxd_names import MINE_JOIN_REPORT

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


def joins_offered(name, joiners, run):
    """
    Ensure each of ``joiners`` is offered its join token in turn, right
    before its join, and its join is awaited before the next token is
    issued (the bootstrap member's side of the join chain of lxd.cluster
    run ``run``; see ``lxd_cluster.offer_joins``). Fails naming each
    joiner that did not join; the others join.

    name
        The cluster name.

    joiners
        ``{minion, member}`` of each joiner, in the order they join.

    run
        The lxd.cluster orchestrate's run (its plan's ``run``).
    """
    ret = _ret(name)
    try:
        members = __salt__["lxd.cluster_members"]()
        pending = [joiner for joiner in joiners if joiner["member"] not in members]
        if not pending:
            ret["comment"] = "Every joiner is a cluster member: no join offer needed."
            return ret
        if __opts__["test"]:
            ret["result"] = None
            ret["changes"]["join offers"] = {
                joiner["minion"]: "a join token, right before its join" for joiner in pending
            }
            ret["comment"] = (f"{', '.join(j['minion'] for j in pending)} would be offered a "
                              "join token, one at a time.")
            return ret
        outcomes = __salt__["lxd_cluster.offer_joins"](pending, run)
    except CommandExecutionError as exc:
        return _failed(ret, f"Offering joins to cluster {name} failed: {exc}")
    ret["changes"]["join offers"] = outcomes
    failed = {minion: outcome for minion, outcome in outcomes.items()
              if outcome not in ("joined", "a member already")}
    if failed:
        ret["result"] = False
        ret["comment"] = "Not joined: " + "; ".join(
            f"{minion}: {outcome}" for minion, outcome in failed.items())
    else:
        ret["comment"] = f"{', '.join(outcomes)} joined cluster {name}, one at a time."
    return ret


def join_offers_refused(name, joiners, run):
    """
    Ensure every joiner of lxd.cluster run ``run`` that is still waiting
    for its join offer stops waiting: a refusal stands in for the offer of
    each joiner that has not reported (used with ``onfail`` when this
    member could not offer joins: its bootstrap failed).

    name
        The cluster name.

    joiners
        ``{minion, member}`` of each joiner.

    run
        The lxd.cluster orchestrate's run.
    """
    ret = _ret(name)
    if __opts__["test"]:
        ret["comment"] = "No join offer was made in a dry run."
        return ret
    minions = [joiner["minion"] for joiner in joiners]
    try:
        reports = __salt__["mine.get"](minions, MINE_JOIN_REPORT, tgt_type="list")
        # a joiner that has not reported the end of its join still waits
        waiting = [minion for minion in minions
                   if (reports.get(minion) or {}).get("run") != run
                   or (reports.get(minion) or {}).get("state") not in ("joined", "failed")]
        reason = (f"{__grains__['id']}, which offers the joins of cluster {name}, could not "
                  "(see its lxd-cluster-* states)")
        for minion in waiting:
            __salt__["lxd_cluster.refuse_join"](minion, run, reason)
    except CommandExecutionError as exc:
        return _failed(ret, f"Refusing the joins of cluster {name} failed: {exc}")
    if waiting:
        ret["changes"]["join offers"] = {minion: "refused" for minion in waiting}
    ret["comment"] = f"No join offer for {', '.join(waiting) or 'any joiner'} in this run."
    return ret


def join_tokens_revoked(name):
    """
    Ensure no join token is pending on cluster ``name`` (as this member
    sees it): tokens an interrupted run issued and nobody used are revoked.
    Run by the bootstrap member at the start of the ``lxd.cluster``
    orchestrate, whose lock keeps other runs (and their tokens) away.

    name
        The cluster name (``lxd:cluster:name``), for the record.
    """
    ret = _ret(name)
    try:
        pending = sorted(__salt__["lxd_membership.join_tokens"]())
        if not pending:
            ret["comment"] = "No join token is pending."
            return ret
        ret["changes"]["join tokens"] = {"old": pending, "new": []}
        if __opts__["test"]:
            ret["result"] = None
            ret["comment"] = f"Pending join tokens for {', '.join(pending)} would be revoked."
            return ret
        for member in pending:
            __salt__["lxd_membership.revoke_join_token"](member)
    except CommandExecutionError as exc:
        return _failed(ret, f"Revoking pending join tokens failed: {exc}")
    ret["comment"] = f"Pending join tokens for {', '.join(pending)} were revoked."
    return ret


def _token_expiry_changes(token_expiry):
    """The change that keeps this member's ``cluster.join_token_expiry`` at
    ``token_expiry``. Every member sets it itself: LXD 5.0 reads the key on
    the member that set it (a member that joined sees none, and issues
    tokens lasting 3 hours, ``lxc cluster add`` included)."""
    expiry = __salt__["lxd.config_get"]("cluster.join_token_expiry") or ""
    if expiry == token_expiry:
        return {}
    return {"cluster.join_token_expiry": {"old": expiry, "new": token_expiry}}


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


def joined(name, member, coordinator, run, position=0, address=None, init=None,
           token_expiry="15M"):
    """
    Ensure this daemon is member ``member`` of cluster ``name``, joining it
    with the join offer ``coordinator`` (the bootstrap member) publishes for
    it in lxd.cluster run ``run`` once this joiner reported ready (the
    joiner's side of the join chain; see ``lxd_cluster.join``). The daemon
    must be fresh (LXD replaces a joiner's configuration with the
    cluster's); ``init`` gives its values for member-specific keys (pool
    sources, external interfaces).

    name
        The cluster name.

    member
        This member's name.

    coordinator
        The minion that offers the joins (the bootstrap member).

    run
        The lxd.cluster orchestrate's run (its plan's ``run``).

    position
        How many joiners join before this one (its wait is bounded by
        their turns and its own).

    address
        ``lxd:addresses:cluster``.

    token_expiry
        ``lxd:cluster:token_expiry``, set on this member once joined (see
        :py:func:`token_expiry_kept`).
    """
    ret = _ret(name)
    try:
        wanted = __salt__["lxd_cluster.address"](address)
        if __opts__["test"] and not __salt__["lxd.installed"]():
            # installed by the same run, before the join
            ret["changes"]["cluster"] = {"old": None,
                                         "new": f"{name}: joined as {member} at {wanted}"}
            ret["result"] = None
            ret["comment"] = f"LXD is not installed yet on {member}; it would join cluster {name}."
            return ret
        state = __salt__["lxd.cluster"]()
        if state["enabled"]:
            if state["server_name"] != member:
                return _failed(
                    ret,
                    f"This daemon is member {state['server_name']} of a cluster, "
                    f"not {member}; nothing was changed.",
                )
            ret["comment"] = f"{member} is a member of cluster {name}."
            return ret
        if __salt__["lxd_init.initialised"]():
            return _failed(
                ret,
                f"LXD on {member} is already configured as a standalone server: "
                "joining would replace its pools, networks and profiles with the "
                "cluster's. Make it the bootstrap member (lxd:cluster:bootstrap) "
                "or reset it; nothing was changed.",
            )
        if __opts__["test"]:
            ret["changes"]["cluster"] = {"old": None,
                                         "new": f"{name}: joined as {member} at {wanted}"}
            ret["result"] = None
            ret["comment"] = f"{member} would join cluster {name}."
            return ret
        preseed = __salt__["lxd_pillar.preseed"](init or {})
        __salt__["lxd_cluster.join"](coordinator, run, member, wanted, preseed, position)
        ret["changes"]["cluster"] = {
            "old": None,
            "new": f"{name}: joined as {member} at {wanted} with the offer of {coordinator}",
        }
        __salt__["lxd_init.write_init_record"]("cluster", preseed)
        expiry = _token_expiry_changes(token_expiry)
        if expiry:
            __salt__["lxd.config_set"]("cluster.join_token_expiry", token_expiry)
            ret["changes"].update(expiry)
    except CommandExecutionError as exc:
        return _failed(ret, f"Joining cluster {name} failed: {exc}")
    ret["comment"] = f"{member} joined cluster {name}."
    return ret


def join_declined(name, coordinator, run):
    """
    Ensure ``coordinator`` (the bootstrap member) is not left waiting for
    this joiner: a join report saying it does not join in lxd.cluster run
    ``run``, unless one was sent (used with ``onfail`` on ``joined``, which
    does not run when the host's preparation failed).

    name
        The cluster name.

    coordinator
        The minion that offers the joins.

    run
        The lxd.cluster orchestrate's run.
    """
    ret = _ret(name)
    if __opts__["test"] or __salt__["lxd_cluster.reported"](run):
        ret["comment"] = f"{coordinator} knows whether this joiner joined."
        return ret
    try:
        __salt__["lxd_cluster.report_join"](
            coordinator, run, "failed",
            f"{__grains__['id']} was not prepared for its join, or failed before it "
            "(see its lxd states)")
    except CommandExecutionError as exc:
        return _failed(ret, f"Reporting to {coordinator} failed: {exc}")
    ret["changes"]["join report"] = {"old": None, "new": "not joining"}
    ret["comment"] = f"{coordinator} was told this joiner does not join."
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
        plan = __salt__["lxd_cluster.removal_plan"](name, evacuate=evacuate, force=force)
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
    ``timeout`` seconds for it (see ``lxd_cluster.health_problems`` for
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
        report = __salt__["lxd_cluster.wait_healthy"](
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
        plan = __salt__["lxd_cluster.evacuation_plan"](name)
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
        plan = __salt__["lxd_cluster.restore_plan"](name)
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
