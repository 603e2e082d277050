"""
States for the join chain of the ``lxd.cluster`` orchestrate (over the
``lxd_join`` execution module), applied in one job on every minion: on the
bootstrap member ``join_tokens_revoked`` and then ``joins_offered``, which
offers each joiner its token in turn, and ``joined`` on each joiner, which
waits for its offer; ``join_offers_refused`` and ``join_declined``
(onfail) keep either side from waiting for a failed other.

.. code-block:: yaml

    lxd-cluster-joined:
      lxd_join.joined:
        - name: prod
        - member: lxd4
        - coordinator: lxd1
        - run: 0f1e2d
"""

from salt.exceptions import CommandExecutionError

try:  # installed as the saltext-lxd package
    from saltext.lxd.utils import lxd_cluster_rules as rules
    from saltext.lxd.utils.lxd_names import MINE_JOIN_REPORT
except ImportError:  # synced from _utils: Salt puts the utils directories on sys.path
    import lxd_cluster_rules as rules
    from lxd_names import MINE_JOIN_REPORT

__virtualname__ = "lxd_join"


def __virtual__():
    if "lxd_join.join" in __salt__:
        return __virtualname__
    return (False, "the lxd_join execution module is not available")


def _ret(name):
    return {"name": name, "result": True, "changes": {}, "comment": ""}


def _failed(ret, comment):
    ret.update(result=False, changes={}, comment=comment)
    return ret


def joins_offered(name, joiners, run):
    """
    Ensure each of ``joiners`` is offered its join token in turn, right
    before its join, and its join is awaited before the next token is
    issued (the bootstrap member's side of the join chain of lxd.cluster
    run ``run``; see ``lxd_join.offer_joins``). Fails naming each
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
        outcomes = __salt__["lxd_join.offer_joins"](pending, run)
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
            __salt__["lxd_join.refuse_join"](minion, run, reason)
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


def joined(name, member, coordinator, run, position=0, address=None, init=None,
           token_expiry="15M"):
    """
    Ensure this daemon is member ``member`` of cluster ``name``, joining it
    with the join offer ``coordinator`` (the bootstrap member) publishes for
    it in lxd.cluster run ``run`` once this joiner reported ready (the
    joiner's side of the join chain; see ``lxd_join.join``). The daemon
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
        ``lxd_cluster.token_expiry_kept``).
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
        __salt__["lxd_join.join"](coordinator, run, member, wanted, preseed, position)
        ret["changes"]["cluster"] = {
            "old": None,
            "new": f"{name}: joined as {member} at {wanted} with the offer of {coordinator}",
        }
        __salt__["lxd_init.write_init_record"]("cluster", preseed)
        # a member that joined sets its own expiry (see lxd_cluster.token_expiry_kept)
        expiry = rules.token_expiry_change(
            __salt__["lxd.config_get"]("cluster.join_token_expiry"), token_expiry)
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
    if __opts__["test"] or __salt__["lxd_join.reported"](run):
        ret["comment"] = f"{coordinator} knows whether this joiner joined."
        return ret
    try:
        __salt__["lxd_join.report_join"](
            coordinator, run, "failed",
            f"{__grains__['id']} was not prepared for its join, or failed before it "
            "(see its lxd states)")
    except CommandExecutionError as exc:
        return _failed(ret, f"Reporting to {coordinator} failed: {exc}")
    ret["changes"]["join report"] = {"old": None, "new": "not joining"}
    ret["comment"] = f"{coordinator} was told this joiner does not join."
    return ret
