"""
Runner for LXD clusters, on the master: what the ``lxd.cluster``
orchestrate must do (``plan``), and removing a member, on purpose
(``remove``) or when its minion's key is deleted (``on_key_deleted``, called
by ``reactor/key_deleted.sls``); what the ``lxd.cluster.upgrade``
orchestrate must refresh (``upgrade_plan``); taking a member out for
maintenance and back (``evacuate``, ``restore``).

Who a minion is in its cluster (membership, cluster name, removal policy)
comes from the master, never from what the minion says of itself: its
minion id is its member name, and the rest is its pillar as the master
compiles it (which works after its key is deleted too). Whether it is a
member at all is asked of LXD, on another member of its cluster.

.. code-block:: bash

    salt-run lxd_cluster.plan
    salt-run lxd_cluster.withdraw_offers '[lxd1, lxd2, lxd3]' '[lxd2, lxd3]'
    salt-run lxd_cluster.remove lxd3 evacuate=True
    salt-run lxd_cluster.upgrade_plan
    salt-run lxd_cluster.evacuate lxd3
"""

import contextlib
import datetime
import logging
import os
import time
import uuid

import salt.utils.files

try:  # installed as the saltext-lxd package
    from saltext.lxd.utils import lxd_cluster_plans, lxd_cluster_removal, lxd_master, lxd_salt_compat
    from saltext.lxd.utils.lxd_names import MINE_JOIN_OFFER, MINE_JOIN_OFFER_PREFIX, MINE_JOIN_REPORT
except ImportError:  # synced from _utils: Salt puts the utils directories on sys.path
    import lxd_cluster_plans
    import lxd_cluster_removal
    import lxd_master
    import lxd_salt_compat
    from lxd_names import MINE_JOIN_OFFER, MINE_JOIN_OFFER_PREFIX, MINE_JOIN_REPORT

log = logging.getLogger(__name__)

__virtualname__ = "lxd_cluster"

# The lxd.cluster orchestrate's lock per cluster, in the master's cache: it
# outlives a killed run until it expires.
LOCK_BANK = "lxd_cluster/locks"
LOCK_SECONDS = 1800  # a lock taken by hand
# Serialises taking and releasing locks between the master's runner processes
LOCK_FILE = "lxd_cluster.lock"


def __virtual__():
    return __virtualname__


def _master():
    """This call's view from the master (see ``lxd_master.Master``)."""
    return lxd_master.Master(__opts__, __context__)


def _ask_cluster_minions(master, function, only=None):
    """Run ``function`` on every cluster minion (by the master's pillar):
    the answers of those that ran it, and ``{minion: reason}`` for every
    targeted minion (of cluster ``only``, when given) that did not answer
    or failed, which the run leaves out."""
    def compile_while_they_answer(expected):
        for minion in expected:
            master.compiled_identity(minion)

    # with the formula's parameters, which the minions need not fetch
    expected, returns = lxd_salt_compat.publish_and_collect(
        __opts__, lxd_master.CLUSTER_TARGET, "compound", function,
        {"parameters": master.parameters()}, master.wait(),
        while_waiting=compile_while_they_answer)
    answers, unusable = {}, {}
    for minion in sorted(set(expected) | set(returns)):
        answer = returns.get(minion)
        if only and master.compiled_identity(minion)["cluster"] != only:
            continue
        # LocalClient stands in for a minion that did not return
        if not isinstance(answer, dict) or answer.get("failed") or str(
                answer.get("ret", "")).startswith("Minion did not return"):
            unusable[minion] = "did not answer"
        elif answer.get("retcode", 0) != 0:
            reason = " ".join(str(answer.get("ret")).split())[:400]
            unusable[minion] = f"{function} failed ({reason})"
        else:
            answers[minion] = answer["ret"]
    return answers, unusable


def _unusable_errors(unusable):
    return [f"{minion}: {reason}; left out of this run" for minion, reason in unusable.items()]


def answering(minions, rounds=3):
    """
    Return those of ``minions`` that answer a ping, asking again (up to
    ``rounds`` times, each bounded by ``gather_job_timeout``) while none
    does: after a key is deleted the master rotates its AES key, and a
    minion that is re-authenticating misses the first publish.

    CLI Example:

    .. code-block:: bash

        salt-run lxd_cluster.answering '[lxd1, lxd2]'
    """
    return _master().answering(minions, rounds)


# ---------------------------------------------------------------- forming


def plan(cluster=None, locking=False):
    """
    Return what forming or growing the clusters in pillar needs, asking
    every cluster minion for its status (``lxd_cluster.status``; minions
    that do not answer, or whose LXD does not, are left out and named in
    ``errors``, so that the run fails saying so): per
    cluster its ``minions``, current ``members``, the ``bootstrap`` minion
    (an online member when the cluster exists, else ``lxd:cluster:bootstrap``,
    else the first minion id), the ``joiners`` in order and ``notes`` (hosts
    without LXD yet: installed, prepared and joined in the run); and
    ``errors`` that stop a cluster from being formed safely (a cluster none
    of whose members answered is never bootstrapped again). ``cluster`` limits it to
    one cluster name. With ``locking`` (the orchestrate, but for a dry run),
    each cluster with joiners is locked for this run (``run`` in the
    answer; see :py:func:`lock`): a cluster another run holds becomes an
    error instead.

    CLI Example:

    .. code-block:: bash

        salt-run lxd_cluster.plan
        salt-run lxd_cluster.plan cluster=prod
    """
    master = _master()
    master.fresh()
    statuses, unusable = _ask_cluster_minions(master, "lxd_cluster.status", only=cluster)
    unanswered = {minion: master.compiled_identity(minion)["cluster"] for minion in unusable}
    planned = lxd_cluster_plans.plan_clusters(_as_master_sees(master, statuses), only=cluster,
                                              unanswered=unanswered)
    planned["errors"] = _unusable_errors(unusable) + planned["errors"]
    planned["run"] = uuid.uuid4().hex
    if locking:
        locked = []
        for each in planned["clusters"]:
            timeouts = master.compiled_identity(each["bootstrap"])["timeouts"]
            seconds = lxd_cluster_plans.run_bound(timeouts, len(each["joiners"]))
            taken = lock(each["name"], planned["run"], each["minions"], seconds) \
                if each["joiners"] else {"result": True}
            if taken["result"]:
                locked.append(each)
            else:
                planned["errors"].append(f"cluster {each['name']}: {taken['comment']}")
        planned["clusters"] = locked
        planned["notes"] = [note for each in locked for note in each["notes"]]
    return _with_retcode(planned)


def _with_retcode(planned):
    """A plan with what salt-run exits with: 1 when it lists errors."""
    if planned["errors"]:
        __context__["retcode"] = 1
        for error in planned["errors"]:
            log.warning("lxd_cluster: %s", error)
    planned["retcode"] = int(bool(planned["errors"]))
    return planned


def _as_master_sees(master, statuses):
    """The minions' answers with who each is (mode, cluster, member,
    bootstrap, removal policy) replaced by the master's view; only what
    their LXD says is taken from them."""
    return {minion: dict(facts, **master.compiled_identity(minion))
            for minion, facts in statuses.items() if isinstance(facts, dict)}


def withdraw_offers(holders, joiners, cluster=None, owner=None):
    """
    Delete the join offers for ``joiners`` from the mine of ``holders`` (the
    cluster's minions, which issued them) and the joiners' join reports,
    in the master's cache: the last step of the ``lxd.cluster``
    orchestrate, after the joins (a join uses up its token; the bootstrap
    member revokes the tokens of failed joins). With ``cluster`` and
    ``owner``, the run's lock of the cluster is released too. Returns the
    mine entries withdrawn.

    CLI Example:

    .. code-block:: bash

        salt-run lxd_cluster.withdraw_offers '[lxd1, lxd2, lxd3]' '[lxd2, lxd3]'
    """
    entries = [MINE_JOIN_OFFER.format(minion=minion) for minion in joiners]
    for entry in entries:
        __salt__["cache.clear_mine_func"](tgt=holders, tgt_type="list",
                                          clear_mine_func_flag=entry)
    if joiners:
        __salt__["cache.clear_mine_func"](tgt=list(joiners), tgt_type="list",
                                          clear_mine_func_flag=MINE_JOIN_REPORT)
    if cluster:
        unlock(cluster, owner)
    return {"withdrawn": entries}


def lock(cluster, owner, holders=(), seconds=LOCK_SECONDS):
    """
    Take the ``lxd.cluster`` orchestrate's lock of cluster ``cluster`` for
    run ``owner``, for at most ``seconds``; refused (exit 1) while another
    run holds it. Then withdraw the join offers an interrupted run left in
    the mine of ``holders`` (the cluster's minions).

    CLI Example:

    .. code-block:: bash

        salt-run lxd_cluster.lock prod by-hand '[lxd1, lxd2]'
    """
    master, cache, now = _master(), _cache(), time.time()
    with _locks_serialised():
        held = cache.fetch(LOCK_BANK, cluster) or {}
        if held and held.get("owner") != owner and held.get("expires", 0) > now:
            return master.result(
                cluster, False,
                f"another lxd.cluster run ({held['owner']}) holds the lock of cluster "
                f"{cluster} since {_stamp(held['since'])}, until {_stamp(held['expires'])}; "
                "nothing was changed. Wait for it, or if it was killed: salt-run "
                f"lxd_cluster.unlock {cluster} force=True",
            )
        cache.store(LOCK_BANK, cluster, {"owner": owner, "since": now, "expires": now + seconds})
    leftovers = sorted({entry for holder in holders
                        for entry in (cache.fetch(*lxd_salt_compat.mine_key(holder)) or {})
                        if entry.startswith(MINE_JOIN_OFFER_PREFIX)})
    if leftovers:
        withdraw_offers(list(holders), [entry[len(MINE_JOIN_OFFER_PREFIX):] for entry in leftovers])
    result = master.result(cluster, True, f"cluster {cluster} locked for run {owner} until "
                                          f"{_stamp(now + seconds)}")
    if leftovers:
        result["changes"] = {"offers withdrawn": leftovers}
    return result


def unlock(cluster, owner=None, force=False):
    """
    Release the ``lxd.cluster`` orchestrate's lock of cluster ``cluster``
    held by run ``owner`` (any run's with ``force``: after a killed run).

    CLI Example:

    .. code-block:: bash

        salt-run lxd_cluster.unlock prod force=True
    """
    master, cache = _master(), _cache()
    with _locks_serialised():
        held = cache.fetch(LOCK_BANK, cluster) or {}
        if not held:
            return master.result(cluster, True, f"cluster {cluster} is not locked")
        if held.get("owner") != owner and not force:
            return master.result(cluster, False, f"the lock of cluster {cluster} is held by run "
                                                 f"{held.get('owner')}, not {owner}; kept")
        cache.flush(LOCK_BANK, cluster)
    return dict(master.result(cluster, True, f"cluster {cluster} unlocked"),
                changes={"lock": {"old": held.get("owner"), "new": None}})


@contextlib.contextmanager
def _locks_serialised():
    """A context in which no other runner process of this master takes or
    releases an lxd.cluster lock: the cache has no compare-and-set, so
    reading a lock and storing one happen under an exclusive file lock."""
    with salt.utils.files.flopen(os.path.join(__opts__["cachedir"], LOCK_FILE), "a"):
        yield


def _stamp(seconds):
    return datetime.datetime.fromtimestamp(seconds, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _cache():
    return lxd_salt_compat.master_cache(__opts__)


# ---------------------------------------------------------------- removal


def compiled_identity(minion):
    """
    Return who ``minion`` is in its cluster as the master sees it: its
    pillar compiled by the master (with its cached grains, if any) over the
    formula's defaults (see ``lxd_cluster_plans.compiled_identity``), never
    what the minion says of itself. Compiled once per runner call.

    CLI Example:

    .. code-block:: bash

        salt-run lxd_cluster.compiled_identity lxd3
    """
    return _master().compiled_identity(minion)


def remove(minion, evacuate=None, force=False, test=False):
    """
    Remove the LXD member of ``minion`` from its cluster, through another
    member that answers. ``evacuate`` moves its instances first (default:
    its ``lxd:cluster:evacuate_on_remove``); without it a member holding
    instances is refused and nothing changes. ``force`` removes a dead
    member. ``test=True`` says what would happen.

    CLI Example:

    .. code-block:: bash

        salt-run lxd_cluster.remove lxd3
        salt-run lxd_cluster.remove lxd3 evacuate=True test=True
        salt-run lxd_cluster.remove lxd3 force=True
    """
    return lxd_cluster_removal.remove(_master(), minion, evacuate=evacuate, force=force,
                                      test=test)


def on_key_deleted(minion):
    """
    What the reactor runs when a ``salt/key`` event says ``minion``'s key
    was deleted. A minion can fire such an event itself (``event.fire_master``
    with a ``salt`` pretag), and deleting a denied duplicate key fires it
    too, so nothing is done while the master's key store has an accepted
    key for ``minion``: that is refused with a warning. Otherwise, when it
    was an LXD cluster member with ``lxd:cluster:remove_on_key_delete``, its
    member is removed (see :py:func:`remove`) unless its key is accepted
    again within ``lxd:cluster:key_delete_grace`` seconds (a re-key: then
    nothing is done); then its mine data, which Salt keeps after a key is
    deleted, is flushed; then it stops being trusted as an LXD client
    (``lxd_trust.revoke``; its outcome in ``client_trust``).

    CLI Example:

    .. code-block:: bash

        salt-run lxd_cluster.on_key_deleted lxd3
    """
    return lxd_cluster_removal.on_key_deleted(_master(), minion, __salt__["lxd_trust.revoke"])


# ---------------------------------------------------------------- upgrades


def upgrade_plan(cluster=None):
    """
    Return what rolling the pillar's snap channel through the clusters
    needs, asking every cluster minion (``lxd_cluster.upgrade_status``):
    per cluster its ``minions``, the ``channel`` (``lxd:install:channel``),
    what each minion has ``installed`` and the members ``due`` a refresh,
    in the order the ``lxd.cluster.upgrade`` orchestrate refreshes them
    (by minion id); and ``errors`` that stop a cluster from being upgraded
    safely. ``cluster`` limits it to one cluster name.

    CLI Example:

    .. code-block:: bash

        salt-run lxd_cluster.upgrade_plan
        salt-run lxd_cluster.upgrade_plan cluster=prod
    """
    master = _master()
    master.fresh()
    statuses, unusable = _ask_cluster_minions(master, "lxd_cluster.upgrade_status", only=cluster)
    planned = lxd_cluster_plans.plan_upgrades(_as_master_sees(master, statuses), only=cluster)
    planned["errors"] = _unusable_errors(unusable) + planned["errors"]
    return _with_retcode(planned)


# ---------------------------------------------------------------- maintenance


def evacuate(minion, test=False):
    """
    Evacuate the LXD member of ``minion`` for maintenance: its instances
    move to other members (or stop, per their ``cluster.evacuate``) and it
    takes no new ones until :py:func:`restore`. Applied through the
    minion itself, else another member of its cluster that answers.
    Refused when no other member is online to take its instances.
    ``test=True`` lists the instances that would move.

    CLI Example:

    .. code-block:: bash

        salt-run lxd_cluster.evacuate lxd3 test=True
        salt-run lxd_cluster.evacuate lxd3
    """
    return _maintenance(minion, "lxd_cluster.member_evacuated", test)


def restore(minion, test=False):
    """
    Restore the evacuated LXD member of ``minion``: it takes instances
    again and those evacuated from it come back. Applied as
    :py:func:`evacuate`.

    CLI Example:

    .. code-block:: bash

        salt-run lxd_cluster.restore lxd3
    """
    return _maintenance(minion, "lxd_cluster.member_restored", test)


def _maintenance(minion, state, test):
    master = _master()
    facts, refused = master.cluster_host(minion)
    if refused:
        return refused
    candidates = [minion] + master.cluster_minions(facts["cluster"], but=minion)
    return master.member_state(minion, facts, candidates, state, test=test)
