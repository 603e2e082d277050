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
    from saltext.lxd.utils import lxd_cluster_plans, lxd_salt_compat, lxd_settings
    from saltext.lxd.utils.lxd_names import MINE_JOIN_OFFER, MINE_JOIN_OFFER_PREFIX, MINE_JOIN_REPORT
except ImportError:  # synced from _utils: Salt puts the utils directories on sys.path
    import lxd_cluster_plans
    import lxd_salt_compat
    import lxd_settings
    from lxd_names import MINE_JOIN_OFFER, MINE_JOIN_OFFER_PREFIX, MINE_JOIN_REPORT

log = logging.getLogger(__name__)

__virtualname__ = "lxd_cluster"

# The lxd.cluster orchestrate's lock per cluster, in the master's cache: it
# outlives a killed run until it expires.
LOCK_BANK = "lxd_cluster/locks"
LOCK_SECONDS = 1800  # a lock taken by hand
# Serialises taking and releasing locks between the master's runner processes
LOCK_FILE = "lxd_cluster.lock"
CLUSTER_TARGET = "I@lxd:mode:cluster"
# Where a runner call keeps the minions' identities it compiled
IDENTITIES = "lxd_cluster.identities"
# How often a key deletion's grace period reads the key store
KEY_POLL_SECONDS = 1
# The longest a reactor thread waits for a re-key (lxd_pillar validates it too)
MAX_KEY_DELETE_GRACE = 3600
def __virtual__():
    return __virtualname__


def _wait():
    """How long to wait for a minion to start answering. LocalClient keeps
    waiting past it for minions still running the job, so it only bounds
    minions that are down; not ``timeout``, which ``salt-run --timeout`` may
    have raised to many minutes."""
    return __opts__.get("gather_job_timeout", 10)


def _ask_cluster_minions(function, only=None):
    """Run ``function`` on every cluster minion (by the master's pillar):
    the answers of those that ran it, and ``{minion: reason}`` for every
    targeted minion (of cluster ``only``, when given) that did not answer
    or failed, which the run leaves out."""
    def compile_while_they_answer(expected):
        for minion in expected:
            compiled_identity(minion)

    # with the formula's parameters, which the minions need not fetch
    expected, returns = lxd_salt_compat.publish_and_collect(
        __opts__, CLUSTER_TARGET, "compound", function, {"parameters": _parameters()}, _wait(),
        while_waiting=compile_while_they_answer)
    answers, unusable = {}, {}
    for minion in sorted(set(expected) | set(returns)):
        answer = returns.get(minion)
        if only and compiled_identity(minion)["cluster"] != only:
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


def _ask(target, function, **kwargs):
    """Run ``function`` on ``target``; only the minions that answered, with
    what they returned."""
    returns = lxd_salt_compat.run(__opts__, target, function, _wait(), full_return=True,
                                  **kwargs)
    return {
        minion: answer["ret"]
        for minion, answer in returns.items()
        if isinstance(answer, dict) and answer.get("retcode", 0) == 0
    }


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
    for _ in range(rounds):
        answered = sorted(_ask(list(minions), "test.ping", tgt_type="list"))
        if answered:
            return answered
    return []


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
    _fresh()
    statuses, unusable = _ask_cluster_minions("lxd_cluster.status", only=cluster)
    unanswered = {minion: compiled_identity(minion)["cluster"] for minion in unusable}
    planned = lxd_cluster_plans.plan_clusters(_as_master_sees(statuses), only=cluster, unanswered=unanswered)
    planned["errors"] = _unusable_errors(unusable) + planned["errors"]
    planned["run"] = uuid.uuid4().hex
    if locking:
        locked = []
        for each in planned["clusters"]:
            timeouts = compiled_identity(each["bootstrap"])["timeouts"]
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


def _as_master_sees(statuses):
    """The minions' answers with who each is (mode, cluster, member,
    bootstrap, removal policy) replaced by the master's view; only what
    their LXD says is taken from them."""
    return {minion: dict(facts, **compiled_identity(minion))
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
    cache, now = _cache(), time.time()
    with _locks_serialised():
        held = cache.fetch(LOCK_BANK, cluster) or {}
        if held and held.get("owner") != owner and held.get("expires", 0) > now:
            return _result(
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
    result = _result(cluster, True, f"cluster {cluster} locked for run {owner} until "
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
    cache = _cache()
    with _locks_serialised():
        held = cache.fetch(LOCK_BANK, cluster) or {}
        if not held:
            return _result(cluster, True, f"cluster {cluster} is not locked")
        if held.get("owner") != owner and not force:
            return _result(cluster, False, f"the lock of cluster {cluster} is held by run "
                                           f"{held.get('owner')}, not {owner}; kept")
        cache.flush(LOCK_BANK, cluster)
    return dict(_result(cluster, True, f"cluster {cluster} unlocked"),
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


# ---------------------------------------------------------------- removal


def _cache():
    return lxd_salt_compat.master_cache(__opts__)


def _parameters():
    """The formula's parameters/defaults.yaml: the saltext-lxd package's
    own copy when this runner comes from it, else as the master serves it."""
    if "lxd_cluster.parameters" not in __context__:
        parameters = lxd_settings.packaged_parameters()
        if parameters is None:
            parameters = lxd_settings.parse(
                lxd_salt_compat.fileserver_text(__opts__, lxd_settings.PARAMETERS_URL))
        __context__["lxd_cluster.parameters"] = parameters
    return __context__["lxd_cluster.parameters"]


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
    cache = __context__.setdefault(IDENTITIES, {})
    if minion not in cache:
        compiled = lxd_salt_compat.compiled_pillar(__opts__, minion)
        cache[minion] = lxd_cluster_plans.compiled_identity(minion, compiled, _parameters())
    return cache[minion]


def _cluster_host(minion):
    """``minion``'s identity, compiled anew, and the refusal to act on it
    (None when its pillar makes it a cluster host)."""
    _fresh()
    facts = compiled_identity(minion)
    if facts["mode"] == "cluster" and not facts["pillar_errors"]:
        return facts, None
    note = ""
    if facts["pillar_errors"]:
        note = " (it does not compile: " + "; ".join(facts["pillar_errors"]) + ")"
    return facts, _result(minion, False, f"{minion} is not an LXD cluster host: its pillar "
                                         "(as the master compiles it) has no lxd:mode "
                                         f"cluster{note}; nothing was changed")


def _fresh():
    """Forget what an earlier call of this runner module compiled (the
    reactor keeps one runner client, and its context, across reactions)."""
    __context__.pop(IDENTITIES, None)
    __context__["retcode"] = 0


def _cluster_minions(name, but=None):
    """The accepted minions whose pillar (as the master compiles it) puts
    them in cluster ``name``, by id; compiled only for the minions the
    master's pillar cache names cluster minions."""
    cached = lxd_salt_compat.pillar_matches(__opts__, CLUSTER_TARGET)
    return sorted(
        minion for minion in cached
        if minion != but and compiled_identity(minion)["mode"] == "cluster"
        and compiled_identity(minion)["cluster"] == name
    )


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
    facts, refused = _cluster_host(minion)
    if refused:
        return refused
    if evacuate is None:
        evacuate = facts["evacuate_on_remove"]
    return _member_state(
        minion, facts, _cluster_minions(facts["cluster"], but=minion),
        "lxd_cluster.member_absent", evacuate=evacuate, force=force, test=test,
    )


def _member_state(minion, identity, candidates, state, **kwargs):
    """Apply ``state`` to ``minion``'s member (``state.single``) through the
    first of ``candidates`` that answers; the runner's result."""
    answered = answering(candidates)
    via = next((other for other in candidates if other in answered), None)
    if via is None:
        return _result(
            minion, False,
            f"no minion of cluster {identity['cluster']} that could do it answers "
            f"(tried: {', '.join(candidates) or 'none'}); nothing was changed",
        )
    returns = lxd_salt_compat.run(__opts__, via, "state.single", _wait(), arg=[state],
                                  kwarg=dict(kwargs, name=identity["member"]))
    outcome = returns.get(via)
    if not isinstance(outcome, dict):
        return _result(minion, False, f"{via} did not apply {state}: {outcome}")
    done = next(iter(outcome.values()))
    if not isinstance(done, dict):
        return _result(minion, False, f"{via} did not apply {state}: {done}")
    return dict(_result(minion, done["result"], done["comment"], via=via),
                changes=done["changes"])


def _result(minion, result, comment, via=None):
    """A runner's answer; ``retcode`` is what salt-run exits with (1 when it
    did not do what was asked)."""
    failed = result is False
    if failed:
        __context__["retcode"] = 1
        log.warning("lxd_cluster: %s: %s", minion, comment)
    return {"minion": minion, "result": result, "comment": comment, "via": via,
            "changes": {}, "retcode": int(failed)}


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
    _fresh()
    if _key_accepted(minion):
        return _result(minion, False, f"a key deletion event names {minion}, but the "
                                      "master's key store still has its accepted key (an "
                                      "event a minion fired, or a duplicate key deleted); "
                                      "nothing was changed")
    facts = compiled_identity(minion)
    removing = facts["mode"] == "cluster" and not facts["pillar_errors"] \
        and facts["remove_on_key_delete"]
    grace = _key_delete_grace(facts)
    if removing and grace and _accepted_within(minion, grace):
        return _result(minion, False, f"the key of {minion} was accepted again within "
                                      f"lxd:cluster:key_delete_grace ({grace} s): a re-key, "
                                      "not a departure; nothing was changed")
    try:
        result = remove(minion) if removing else _member_kept(minion, facts)
    finally:
        _cache().flush(*lxd_salt_compat.mine_key(minion))
        # whatever happened to its member, it is no client any more
        client_trust = _revoke_client(minion)
    if result["result"] is not False:
        log.info("lxd_cluster: key of %s deleted: %s", minion, result["comment"])
    result["client_trust"] = client_trust
    result["retcode"] = __context__["retcode"]
    return result


def _key_accepted(minion):
    """Whether the master's key store holds an accepted key for ``minion``."""
    return lxd_salt_compat.key_accepted(__opts__, minion)


def _key_delete_grace(facts):
    """``lxd:cluster:key_delete_grace`` of a minion's pillar as the master
    compiles it (the default when it compiles none)."""
    grace = facts.get("key_delete_grace")
    if isinstance(grace, int) and not isinstance(grace, bool) and 0 <= grace <= MAX_KEY_DELETE_GRACE:
        return grace
    return lxd_settings.defaults(_parameters())["cluster"]["key_delete_grace"]


def _accepted_within(minion, seconds):
    """Whether ``minion``'s key is accepted again within ``seconds``: the
    key store is read every second (key events are no proof: a minion can
    fire them)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        time.sleep(min(KEY_POLL_SECONDS, max(0.0, deadline - time.monotonic())))
        if _key_accepted(minion):
            return True
    return False


def _member_kept(minion, facts):
    """Why ``minion``'s member, if any, is kept after its key was deleted:
    the runner's result."""
    if facts["pillar_errors"]:
        return _result(minion, False, "its pillar does not compile on the master ("
                       + "; ".join(facts["pillar_errors"]) + "); its member, if any, "
                       "was left alone")
    if facts["mode"] != "cluster":
        return _listed_without_pillar(minion) or _result(
            minion, True, f"{minion} was not an LXD cluster host "
                          "(by its pillar as the master compiles it).")
    return _result(minion, True,
                   f"{minion} keeps its member: lxd:cluster:remove_on_key_delete is off")


def _listed_without_pillar(minion):
    """The failure when the master compiles no cluster pillar for
    ``minion`` but a cluster the master knows lists a member of that name
    (its pillar was targeted by grains, which ``salt-key -d`` drops); None
    when no cluster lists it."""
    listings = _ask(CLUSTER_TARGET, "lxd.cluster_members", tgt_type="compound")
    holders = sorted(holder for holder, members in listings.items()
                     if isinstance(members, dict) and minion in members)
    if not holders:
        return None
    clusters = sorted({str(compiled_identity(holder)["cluster"]) for holder in holders})
    return _result(
        minion, False,
        f"cluster {', '.join(clusters)} (asked through {holders[0]}) still lists a member "
        f"named {minion}, but the master compiles no lxd:mode cluster pillar for it: its "
        "pillar is targeted by something the key deletion took away (grains are dropped "
        "with the key); target LXD hosts' pillar by minion id. Its member was left alone: "
        f"salt-run lxd_cluster.remove {minion} once its pillar compiles again",
    )


def _revoke_client(minion):
    """``lxd_trust.revoke``, its failure kept in this call's retcode."""
    failed = __context__.get("retcode", 0)
    try:
        revoked = __salt__["lxd_trust.revoke"](minion)
    except Exception as exc:  # pylint: disable=broad-except
        log.warning("lxd_cluster: client %s not revoked: %s", minion, exc)
        revoked = {"error": str(exc)}
        __context__["retcode"] = 1
    __context__["retcode"] = max(failed, __context__.get("retcode", 0))
    return revoked


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
    _fresh()
    statuses, unusable = _ask_cluster_minions("lxd_cluster.upgrade_status", only=cluster)
    planned = lxd_cluster_plans.plan_upgrades(_as_master_sees(statuses), only=cluster)
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
    facts, refused = _cluster_host(minion)
    if refused:
        return refused
    candidates = [minion] + _cluster_minions(facts["cluster"], but=minion)
    return _member_state(minion, facts, candidates, state, test=test)
