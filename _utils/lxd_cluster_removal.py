"""
Removing a cluster member from the master, on purpose (``remove``) or when
its minion's key is deleted (``on_key_deleted``, which the reactor runs):
the logic behind the runner functions ``lxd_cluster.remove`` and
``lxd_cluster.on_key_deleted``, given the call's :py:class:`lxd_master.Master`.
"""

import logging
import time

try:  # installed as the saltext-lxd package
    from saltext.lxd.utils import lxd_salt_compat, lxd_settings
    from saltext.lxd.utils.lxd_master import CLUSTER_TARGET
    from saltext.lxd.utils.lxd_schema import MAX_KEY_DELETE_GRACE
except ImportError:  # synced from _utils: Salt puts the utils directories on sys.path
    import lxd_salt_compat
    import lxd_settings
    from lxd_master import CLUSTER_TARGET
    from lxd_schema import MAX_KEY_DELETE_GRACE

log = logging.getLogger(__name__)

# How often a key deletion's grace period reads the key store
KEY_POLL_SECONDS = 1


def remove(master, minion, evacuate=None, force=False, test=False):
    """``lxd_cluster.remove``: remove ``minion``'s member through another
    member of its cluster that answers."""
    facts, refused = master.cluster_host(minion)
    if refused:
        return refused
    if evacuate is None:
        evacuate = facts["evacuate_on_remove"]
    return master.member_state(
        minion, facts, master.cluster_minions(facts["cluster"], but=minion),
        "lxd_cluster.member_absent", evacuate=evacuate, force=force, test=test,
    )


def on_key_deleted(master, minion, revoke):
    """``lxd_cluster.on_key_deleted``: ``revoke`` is the runner function
    that stops trusting a client (``lxd_trust.revoke``)."""
    master.fresh()
    if lxd_salt_compat.key_accepted(master.opts, minion):
        return master.result(minion, False, f"a key deletion event names {minion}, but the "
                                            "master's key store still has its accepted key "
                                            "(an event a minion fired, or a duplicate key "
                                            "deleted); nothing was changed")
    facts = master.compiled_identity(minion)
    removing = facts["mode"] == "cluster" and not facts["pillar_errors"] \
        and facts["remove_on_key_delete"]
    grace = _key_delete_grace(master, facts)
    if removing and grace and _accepted_within(master, minion, grace):
        return master.result(minion, False, f"the key of {minion} was accepted again within "
                                            f"lxd:cluster:key_delete_grace ({grace} s): a "
                                            "re-key, not a departure; nothing was changed")
    try:
        result = remove(master, minion) if removing else _member_kept(master, minion, facts)
    finally:
        lxd_salt_compat.master_cache(master.opts).flush(*lxd_salt_compat.mine_key(minion))
        # whatever happened to its member, it is no client any more
        client_trust = _revoke_client(master, minion, revoke)
    if result["result"] is not False:
        log.info("lxd_cluster: key of %s deleted: %s", minion, result["comment"])
    result["client_trust"] = client_trust
    result["retcode"] = master.context["retcode"]
    return result


def _key_delete_grace(master, facts):
    """``lxd:cluster:key_delete_grace`` of a minion's pillar as the master
    compiles it (the default when it compiles none)."""
    grace = facts.get("key_delete_grace")
    if isinstance(grace, int) and not isinstance(grace, bool) and 0 <= grace <= MAX_KEY_DELETE_GRACE:
        return grace
    return lxd_settings.defaults(master.parameters())["cluster"]["key_delete_grace"]


def _accepted_within(master, minion, seconds):
    """Whether ``minion``'s key is accepted again within ``seconds``: the
    key store is read every second (key events are no proof: a minion can
    fire them)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        time.sleep(min(KEY_POLL_SECONDS, max(0.0, deadline - time.monotonic())))
        if lxd_salt_compat.key_accepted(master.opts, minion):
            return True
    return False


def _member_kept(master, minion, facts):
    """Why ``minion``'s member, if any, is kept after its key was deleted:
    the runner's result."""
    if facts["pillar_errors"]:
        return master.result(minion, False, "its pillar does not compile on the master ("
                             + "; ".join(facts["pillar_errors"]) + "); its member, if any, "
                             "was left alone")
    if facts["mode"] != "cluster":
        return _listed_without_pillar(master, minion) or master.result(
            minion, True, f"{minion} was not an LXD cluster host "
                          "(by its pillar as the master compiles it).")
    return master.result(minion, True,
                         f"{minion} keeps its member: lxd:cluster:remove_on_key_delete is off")


def _listed_without_pillar(master, minion):
    """The failure when the master compiles no cluster pillar for
    ``minion`` but a cluster the master knows lists a member of that name
    (its pillar was targeted by grains, which ``salt-key -d`` drops); None
    when no cluster lists it."""
    listings = master.ask(CLUSTER_TARGET, "lxd.cluster_members", tgt_type="compound")
    holders = sorted(holder for holder, members in listings.items()
                     if isinstance(members, dict) and minion in members)
    if not holders:
        return None
    clusters = sorted({str(master.compiled_identity(holder)["cluster"]) for holder in holders})
    return master.result(
        minion, False,
        f"cluster {', '.join(clusters)} (asked through {holders[0]}) still lists a member "
        f"named {minion}, but the master compiles no lxd:mode cluster pillar for it: its "
        "pillar is targeted by something the key deletion took away (grains are dropped "
        "with the key); target LXD hosts' pillar by minion id. Its member was left alone: "
        f"salt-run lxd_cluster.remove {minion} once its pillar compiles again",
    )


def _revoke_client(master, minion, revoke):
    """``revoke(minion)``, its failure kept in this call's retcode."""
    failed = master.context.get("retcode", 0)
    try:
        revoked = revoke(minion)
    except Exception as exc:  # pylint: disable=broad-except
        log.warning("lxd_cluster: client %s not revoked: %s", minion, exc)
        revoked = {"error": str(exc)}
        master.context["retcode"] = 1
    master.context["retcode"] = max(failed, master.context.get("retcode", 0))
    return revoked
