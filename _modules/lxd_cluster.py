"""
Execution module for this minion's place in its LXD cluster: who it is
(from the ``lxd:cluster`` pillar), what the ``lxd.cluster`` orchestrate needs
to know about it, and the join chain that carries a join token from the
bootstrap member to each joiner in turn through the Salt mine.

The join chain is one job on every minion of the cluster at once. The
bootstrap member (:py:func:`offer_joins`) issues a token for one joiner at
a time, right before its join, and publishes it as a join offer; the
joiner (:py:func:`join`), once prepared, waits for its offer, joins, and
publishes a join report the bootstrap member waits for before it issues
the next token (LXD takes one join at a time).

The join offer is the only secret here. It is published in the mine
(``lxd_mine.store``), in an entry of its own per joiner whose ``allow_tgt``
names that joiner (and its issuer) alone, and withdrawn (mine entry
deleted, token revoked if unused) as soon as the joiner reported. It
never appears in a job return, state output or log.
"""

import datetime
import json
import re
import time

from salt.exceptions import CommandExecutionError, SaltReqTimeoutError
from salt.utils.versions import LooseVersion

try:  # installed as the saltext-lxd package
    from saltext.lxd.utils.lxd_names import MINE_JOIN_OFFER, MINE_JOIN_REPORT
except ImportError:  # synced from _utils: Salt puts the utils directories on sys.path
    from lxd_names import MINE_JOIN_OFFER, MINE_JOIN_REPORT

__virtualname__ = "lxd_cluster"

CLUSTER_PORT = 8443

# Clock skew allowed between this minion and the member that issued a token.
EXPIRY_SLACK = 60


def __virtual__():
    if "lxd.reachable" not in __salt__:
        return (False, "the lxd execution module is not available (is pylxd installed?)")
    return __virtualname__


def _settings():
    return __salt__["lxd_pillar.merge"]()


def _use_parameters(parameters):
    if parameters is not None:
        __salt__["lxd_pillar.use_parameters"](parameters)


def identity():
    """
    Return who this minion is in its cluster, from pillar: ``cluster``
    (``lxd:cluster:name``), ``member`` (the LXD member name: the minion id),
    ``address`` (``lxd:addresses:cluster`` resolved, ``host:port``),
    ``bootstrap``, ``remove_on_key_delete`` and ``evacuate_on_remove``.
    ``mode`` tells whether the minion is a cluster host at all.

    CLI Example:

    .. code-block:: bash

        salt '*' lxd_cluster.identity
    """
    settings = _settings()
    cluster = settings["cluster"]
    return {
        "mode": settings["mode"],
        "cluster": cluster["name"],
        "member": __grains__["id"],
        "address": address(settings["addresses"]["cluster"]),
        "bootstrap": cluster["bootstrap"],
        "remove_on_key_delete": cluster["remove_on_key_delete"],
        "evacuate_on_remove": cluster["evacuate_on_remove"],
    }


def address(spec=None):
    """
    Return the cluster address (``host:port``, port 8443 unless given) an
    ``lxd:addresses:cluster`` value resolves to on this minion.

    CLI Example:

    .. code-block:: bash

        salt '*' lxd_cluster.address 10.0.0.0/24
    """
    return __salt__["lxd_host.address"](spec, port=CLUSTER_PORT)


def status(parameters=None):
    """
    Return :py:func:`identity` and what the daemon says now: ``installed``,
    ``clustered``, ``server_name`` and, when clustered, ``members`` (name:
    status and roles). A host where the daemon is not installed yet
    (``lxd.installed``) answers ``installed: False`` without asking it; a
    daemon that is installed but does not answer is an error. The
    ``lxd_cluster.plan`` runner reads this from every cluster minion,
    sending the formula's ``parameters`` (see ``lxd_pillar.use_parameters``).

    CLI Example:

    .. code-block:: bash

        salt -I 'lxd:mode:cluster' lxd_cluster.status
    """
    _use_parameters(parameters)
    facts = identity()
    facts["installed"] = __salt__["lxd.installed"]()
    if not facts["installed"]:
        return dict(facts, clustered=False, server_name=None, members={})
    state = __salt__["lxd.cluster"]()
    facts["clustered"] = bool(state["enabled"])
    facts["server_name"] = state["server_name"]
    facts["members"] = {
        name: {"status": member["status"], "roles": member["roles"]}
        for name, member in __salt__["lxd.cluster_members"]().items()
    }
    return facts


def address_drift(settings=None):
    """
    Return the ``lxd:addresses:cluster`` error when this member's cluster
    address in pillar differs from the one it was clustered with (LXD
    cannot change it); empty otherwise, or when not clustered.

    CLI Example:

    .. code-block:: bash

        salt '*' lxd_cluster.address_drift
    """
    settings = settings or _settings()
    current = __salt__["lxd.config_get"]("cluster.https_address")
    if not current or not __salt__["lxd.cluster"]()["enabled"]:
        return []
    wanted = address(settings["addresses"]["cluster"])
    if wanted == current:
        return []
    return [
        f"lxd:addresses:cluster: this member was clustered at {current}; LXD "
        f"cannot change a member's cluster address, so {wanted} is refused "
        "(restore the pillar, or remove the member and join it again)"
    ]


# ---------------------------------------------------------------- join offers


def _join_offer(member, run=None):
    """Issue a join token for ``member`` and return the join offer: the
    token, the cluster certificate, the ``member_config`` keys the joiner
    must answer (GET /1.0/cluster), what the cluster runs (see
    :py:func:`running`), which the joiner must run too, and the ``run`` of
    the lxd.cluster orchestrate it belongs to. Private (the loader does not
    offer it to the command line): it returns a secret, which only
    :py:func:`publish_join_offer` hands on, to the joiner's mine entry."""
    token = _bounded_join_token(member)
    return {
        "run": run,
        "token": token,
        "certificate": __salt__["lxd.info"]()["environment"]["certificate"],
        "member_config": [
            {key: entry[key] for key in ("entity", "name", "key", "description")}
            for entry in __salt__["lxd.cluster"]()["member_config"]
        ],
        "running": running(),
    }


def running():
    """
    Return what this member runs: the daemon (``server``, ``version``, from
    GET /1.0) and, for a snap install, the snap's ``channel`` and
    ``revision``. LXD refuses a join across versions; a joiner compares
    this with its own before it uses its token.

    CLI Example:

    .. code-block:: bash

        salt lxd1 lxd_cluster.running
    """
    environment = __salt__["lxd.info"](refresh=True)["environment"]
    facts = {"server": environment.get("server", "lxd"),
             "version": environment.get("server_version")}
    install = _settings()["install"]
    snap = __salt__["lxd_snap.info"](install["snap"]) if install["method"] == "snap" and (
        "lxd_snap.info" in __salt__) else None
    if snap:
        facts["snap"] = {"channel": snap["channel"], "revision": snap["revision"]}
    return facts


def same_as_cluster(cluster):
    """
    Bring this joiner to what its cluster runs (``cluster``, from the join
    offer; see :py:func:`running`) or refuse: a snap joiner running an
    older LXD is refreshed to the cluster's revision and channel; anything
    else that differs (a newer joiner, which LXD cannot downgrade, a
    package, Incus, a local revision) is an error that names both sides.
    Returns what was done, or None when nothing was.

    CLI Example:

    .. code-block:: bash

        salt lxd4 lxd_cluster.same_as_cluster '{server: lxd, version: "5.21.1"}'
    """
    mine = running()
    if (mine["server"], mine["version"]) == (cluster["server"], cluster["version"]):
        return None
    done = None
    wanted = cluster.get("snap")
    ours = mine.get("snap")
    # only up: LXD cannot be downgraded (its database schema moves forward)
    if ours and wanted and not wanted["revision"].startswith("x") and not (
            ours["revision"].startswith("x")) and mine["server"] == cluster["server"] and (
            LooseVersion(_numeric_version(mine["version"]))
            < LooseVersion(_numeric_version(cluster["version"]))):
        __salt__["lxd_snap.refresh_to_revision"](_settings()["install"]["snap"],
                                             wanted["channel"], wanted["revision"])
        __salt__["lxd.wait_ready"]()
        done = f"refreshed to the cluster's revision {wanted['revision']} ({wanted['channel']})"
        mine = running()
    if (mine["server"], mine["version"]) != (cluster["server"], cluster["version"]):
        raise CommandExecutionError(
            f"the cluster runs {_described(cluster)}, this joiner {_described(mine)}"
            + (f" (even {done})" if done else "")
            + "; LXD refuses joins across versions: install the cluster's version "
            "here (or upgrade the cluster); the join token was not used"
        )
    return done


def _numeric_version(version):
    """``5.21.1-d46c406`` -> ``5.21.1``."""
    match = re.match(r"^[0-9]+(\.[0-9]+)*", str(version))
    return match.group(0) if match else "0"


def _described(facts):
    snap = facts.get("snap")
    how = f"snap revision {snap['revision']} from {snap['channel']}" if snap else "not a snap"
    return f"{facts['server']} {facts['version']} ({how})"


def _bounded_join_token(member):
    """A join token for ``member`` that expires within
    ``lxd:cluster:token_expiry``, whichever member issues it: a member that
    has not taken the cluster's ``cluster.join_token_expiry`` yet (LXD 5.0
    reads it on the member that set it) is given it, and the token issued
    again; a token that still lasts longer is revoked and refused."""
    expiry = _settings()["cluster"]["token_expiry"]
    lasts = datetime.timedelta(
        seconds=__salt__["lxd_pillar.expiry_seconds"](expiry) + EXPIRY_SLACK)
    for attempt in range(2):
        token = __salt__["lxd_membership.issue_join_token"](member, unmasked=True)["token"]
        expires_at = __salt__["lxd_membership.decode_join_token"](token)["expires_at"]
        latest = datetime.datetime.now(datetime.UTC) + lasts
        # LXD writes year 1 for a token that never expires
        if _parse_time(expires_at).year > 1 and _parse_time(expires_at) <= latest:
            return token
        __salt__["lxd_membership.revoke_join_token"](member)
        if attempt == 0:
            __salt__["lxd.config_set"]("cluster.join_token_expiry", expiry)
    raise CommandExecutionError(
        f"{__grains__['id']} issues join tokens expiring at {expires_at}, later than "
        f"lxd:cluster:token_expiry ({expiry}) allows; the token was revoked"
    )


def publish_join_offer(member, minion, run=None):
    """
    Issue a join offer for ``member`` (of lxd.cluster run ``run``) and
    publish it in this minion's mine, readable by ``minion`` (the joiner)
    and this minion only. Returns the token's expiry.

    CLI Example:

    .. code-block:: bash

        salt lxd1 lxd_cluster.publish_join_offer lxd4 lxd4
    """
    sent = False
    try:
        sent = __salt__["lxd_mine.store"](
            MINE_JOIN_OFFER.format(minion=minion),
            _join_offer(member, run),
            # the joiner, and this minion (which issued it) to withdraw it
            allow_tgt=f"{minion},{__grains__['id']}",
            allow_tgt_type="list",
        )
    except SaltReqTimeoutError as exc:
        raise CommandExecutionError(f"the master did not take the join offer: {exc}") from exc
    finally:
        # whatever became of the offer, a token _join_offer issued is revoked
        if not sent:
            __salt__["lxd_membership.revoke_join_token"](member)
    if not sent:
        raise CommandExecutionError(
            "the join offer could not be published to the mine (see the minion log)"
        )
    return __salt__["lxd_membership.join_tokens"]()[member]["expires_at"]


def refuse_join(minion, run, reason):
    """
    Publish, in place of a join offer, that ``minion`` gets none in
    lxd.cluster run ``run``, and why: the joiner stops waiting and fails
    with ``reason``.

    CLI Example:

    .. code-block:: bash

        salt lxd1 lxd_cluster.refuse_join lxd4 r1 'the bootstrap failed'
    """
    return __salt__["lxd_mine.store"](MINE_JOIN_OFFER.format(minion=minion),
                                      {"run": run, "refused": reason},
                                      allow_tgt=f"{minion},{__grains__['id']}",
                                      allow_tgt_type="list")


def _chain_bounds():
    """How long the join chain waits, from ``lxd:timeouts``: for a joiner
    to be ready (its preparation: commands and the daemon's start), and for
    its join once offered (a snap refresh to the cluster's revision, the
    daemon's restart, the join operation)."""
    timeouts = _settings()["timeouts"]
    ready = timeouts["command"] + timeouts["operation"] + timeouts["request"]
    join = timeouts["command"] + 2 * timeouts["operation"] + 2 * timeouts["request"]
    return ready, join


def offer_joins(joiners, run):
    """
    The bootstrap member's side of the join chain of lxd.cluster run
    ``run``: for each of ``joiners`` (``{minion, member}``, in order), once
    it reported ready (prepared), a join offer, then its join report
    awaited, its offer withdrawn (an unused token revoked) and its join
    checked with LXD, before the next token is issued. A joiner that fails,
    or does not report in time, holds up only itself; one whose token was
    used is waited for a while longer, so that two joins never overlap.
    Returns ``{minion: outcome}``: ``joined``, or why it did not join.

    CLI Example:

    .. code-block:: bash

        salt lxd1 lxd_cluster.offer_joins '[{minion: lxd4, member: lxd4}]' r1
    """
    outcomes = {}
    with __salt__["lxd_mine.session"]():
        for joiner in joiners:
            outcomes[joiner["minion"]] = _offer_join(joiner["minion"], joiner["member"], run)
    return outcomes


def _offer_join(minion, member, run):
    """One joiner's turn in :py:func:`offer_joins`; its outcome."""
    ready_bound, join_bound = _chain_bounds()
    if member in __salt__["lxd.cluster_members"](refresh=True):
        reason = (f"the cluster already lists a member named {member}, although "
                  f"{minion} was not clustered when this run began (a member left "
                  f"behind?): remove it first (salt-run lxd_cluster.remove {minion} "
                  "force=True, if it is offline)")
        refuse_join(minion, run, reason)
        return f"not joined: {reason}"
    report = _await_report(minion, run, ("ready", "failed"), ready_bound)
    if report is None or report["state"] == "failed":
        if report is None:
            refuse_join(minion, run, f"{__grains__['id']} stopped waiting for it to be "
                                     f"prepared after {ready_bound} s")
        return _join_outcome(member, report, ready_bound)
    try:
        publish_join_offer(member, minion, run)
    except CommandExecutionError as exc:
        refuse_join(minion, run, f"{__grains__['id']} could not offer a join token: {exc}")
        return f"not offered: {exc}"
    report = _await_report(minion, run, ("joined", "failed"), join_bound)
    # an unused token is revoked; a used one without a report means a join
    # is under way, which the next must not overlap
    if not __salt__["lxd_membership.revoke_join_token"](member) and report is None:
        report = _await_report(minion, run, ("joined", "failed"), join_bound)
    if report is None:
        refuse_join(minion, run, f"{__grains__['id']} stopped waiting for its join")
    else:
        __salt__["lxd_mine.delete"](MINE_JOIN_OFFER.format(minion=minion))
    return _join_outcome(member, report, join_bound)


def _await_report(minion, run, states, bound):
    """``minion``'s join report of ``run`` once it is in one of ``states``,
    or None after ``bound`` seconds."""
    return __salt__["lxd_mine.wait_for"](
        minion, MINE_JOIN_REPORT,
        lambda report: report.get("run") == run and report.get("state") in states, bound)


def _join_outcome(member, report, bound):
    """What became of ``member``'s join, from its report, checked with LXD
    (a report is what a minion says of itself)."""
    if report is None:
        return f"no join report within {bound} s"
    if report["state"] != "joined":
        return f"not joined: {report.get('reason')}"
    if member not in __salt__["lxd.cluster_members"](refresh=True):
        return "reported joined, but the cluster does not list it"
    return "joined"


def report_join(coordinator, run, state, reason=None):
    """
    Publish this joiner's join report for lxd.cluster run ``run``, readable
    by ``coordinator`` (the bootstrap member, which waits for it) only:
    ``state`` is ``ready`` (prepared, waiting for its offer), ``joined`` or
    ``failed`` (with ``reason``).

    CLI Example:

    .. code-block:: bash

        salt lxd4 lxd_cluster.report_join lxd1 r1 failed reason='preparation failed'
    """
    stored = __salt__["lxd_mine.store"](MINE_JOIN_REPORT,
                                        {"run": run, "state": state, "reason": reason},
                                        allow_tgt=coordinator, allow_tgt_type="list")
    if not stored:
        raise CommandExecutionError(
            f"the join report for {coordinator} could not be published to the mine "
            "(see the minion log)"
        )
    return True


def reported(run):
    """
    Return True when this joiner published the end of its join (``joined``
    or ``failed``) for lxd.cluster run ``run`` in this job (see
    :py:func:`report_join`).

    CLI Example:

    .. code-block:: bash

        salt lxd4 lxd_cluster.reported r1
    """
    report = __salt__["lxd_mine.entry"](MINE_JOIN_REPORT) or {}
    return report.get("run") == run and report.get("state") in ("joined", "failed")


def offer_published(minion):
    """
    Return True when this minion has a join offer for ``minion`` in the mine.

    CLI Example:

    .. code-block:: bash

        salt lxd1 lxd_cluster.offer_published lxd4
    """
    return _own_mine_entry(MINE_JOIN_OFFER.format(minion=minion)) is not None


def offer_expired(expires_at, now=None):
    """
    Return True when a token expiring at ``expires_at`` (RFC 3339, as LXD
    writes it) has expired.

    CLI Example:

    .. code-block:: bash

        salt '*' lxd_cluster.offer_expired 2026-01-01T00:00:00Z
    """
    now = now or datetime.datetime.now(datetime.UTC)
    return _parse_time(expires_at) <= now


def _parse_time(stamp):
    # LXD writes nanoseconds; Python parses up to microseconds
    head, _, tail = stamp.rstrip("Z").partition(".")
    fraction = "".join(ch for ch in tail if ch.isdigit())[:6]
    parsed = datetime.datetime.fromisoformat(head + (f".{fraction}" if fraction else ""))
    return parsed.replace(tzinfo=datetime.UTC)


def _own_mine_entry(name):
    found = __salt__["mine.get"](__grains__["id"], name, tgt_type="list")
    return found.get(__grains__["id"])


def member_config_answers(keys, preseed, settings=None):
    """
    Return ``member_config`` for a join: each key the cluster asks for
    (``entity``, ``name``, ``key``), valued from this minion's own preseed
    (the ``config`` of its storage pool or network of that name), else from
    the ``member_config`` of its ``lxd:storage_pools`` / ``lxd:networks``
    entry of that name in ``settings`` (the merged pillar), else empty,
    which lets LXD use its default (a new dir or loop-backed pool, no
    external interfaces).

    CLI Example:

    .. code-block:: bash

        salt '*' lxd_cluster.member_config_answers '[{entity: storage-pool, name: local, key: source}]' '{}'
    """
    sections = {"storage-pool": "storage_pools", "network": "networks"}
    answers = []
    for key in keys:
        section = sections.get(key["entity"], "")
        entries = preseed.get(section, None) or []
        declared = ((settings or {}).get(section) or {}).get(key["name"]) or {}
        config = next(
            (entry.get("config") or {} for entry in entries if entry["name"] == key["name"]),
            declared.get("member_config") or {},
        )
        answers.append(
            {
                "entity": key["entity"],
                "name": key["name"],
                "key": key["key"],
                "value": str(config.get(key["key"], "")),
            }
        )
    return answers


def join(coordinator, run, member, address, preseed, position=0):
    """
    Join this fresh, prepared daemon to the cluster as ``member`` at
    ``address``: report ready to ``coordinator`` (the bootstrap member),
    wait for the join offer it publishes for this joiner in lxd.cluster run
    ``run`` (at most the turns of the ``position`` joiners before it and
    its own), join, and report the outcome, joined or not. ``preseed``
    gives this member's values for the cluster's member-specific keys.

    CLI Example:

    .. code-block:: bash

        salt lxd4 lxd_cluster.join lxd1 r1 lxd4 10.0.0.4:8443 '{}' 2
    """
    timeout = (position + 1) * sum(_chain_bounds())
    with __salt__["lxd_mine.session"]():
        report_join(coordinator, run, "ready")
        try:
            offer = __salt__["lxd_mine.wait_for"](
                coordinator, MINE_JOIN_OFFER.format(minion=__grains__["id"]),
                lambda offer: offer.get("run") == run, timeout)
            if offer is None:
                raise CommandExecutionError(
                    f"{coordinator} published no join offer for {member} within {timeout} s"
                )
            if offer.get("refused"):
                raise CommandExecutionError(offer["refused"])
            _join_with(offer, coordinator, member, address, preseed)
        except CommandExecutionError as exc:
            report_join(coordinator, run, "failed", str(exc))
            raise
        report_join(coordinator, run, "joined")


def _join_with(offer, holder, member, address, preseed):
    token = __salt__["lxd_membership.decode_join_token"](offer["token"])
    if token["server_name"] != member:
        raise CommandExecutionError(
            f"the join offer from {holder} is for {token['server_name']}, not "
            f"{member}; re-run the lxd.cluster orchestrate to get a fresh one"
        )
    if offer_expired(token["expires_at"]):
        raise CommandExecutionError(
            f"the join token from {holder} expired at {token['expires_at']}; "
            "re-run the lxd.cluster orchestrate: it replaces it"
        )
    if offer.get("running") and same_as_cluster(offer["running"]) and offer_expired(
            token["expires_at"]):
        raise CommandExecutionError(
            f"the join token from {holder} expired at {token['expires_at']} while this "
            "joiner was brought to the cluster's version; re-run the lxd.cluster "
            "orchestrate: it replaces it"
        )
    __salt__["lxd_membership.join_cluster"](
        member,
        address,
        offer["token"],
        offer["certificate"],
        member_config_answers(offer["member_config"], preseed, _settings()),
    )


# ---------------------------------------------------------------- members

# What GET /1.0/cluster/members says of a member, as NodeInfo.ToAPI writes
# it (LXD's lxd/db/node.go, Incus' internal/server/db/node.go): the one
# vocabulary this module reads a member's roles and status by.

# A database voter's roles: the raft leader has "database-leader"; the
# other voters "database" (LXD before 6.7, where the leader has it too, and
# Incus), or "database-voter" (LXD from 6.7, commit fc84a2b).
# "database-standby" (and Incus' "database-client") do not vote.
VOTER_ROLES = frozenset(("database-leader", "database", "database-voter"))

ONLINE = "Online"
EVACUATED = "Evacuated"  # up, kept free of instances for maintenance
# no heartbeat (a member in maintenance keeps its maintenance status): the
# only status that tells a member is gone
OFFLINE = "Offline"
# Statuses of a healthy cluster
HEALTHY_STATUSES = (ONLINE, EVACUATED)
# Incus >= 6.22: a member whose evacuation or restore operation runs, what
# runs and the status it ends in (a failed one goes back: Online, Evacuated)
UNDER_WAY = {"Evacuating": ("its evacuation", EVACUATED),
             "Restoring": ("its restore", ONLINE)}


def _is_voter(info):
    return not VOTER_ROLES.isdisjoint(info["roles"])


def _under_way(member, status):
    """What to wait for when ``member`` is being evacuated or restored
    (Incus' Evacuating, Restoring), or None."""
    if status not in UNDER_WAY:
        return None
    what, ends = UNDER_WAY[status]
    return f"{member} is {status}: {what} is under way until it is {ends}"


# ---------------------------------------------------------------- removal


def removal_plan(member, evacuate=False, force=False):
    """
    Return what removing ``member`` from this member's cluster would do:
    ``member`` (whether it is one), ``refused`` (the reason, or None), ``instances`` still on it,
    ``evacuate`` (whether they would be moved first) and ``notes`` on what
    the cluster becomes (members left, database fault tolerance).

    CLI Example:

    .. code-block:: bash

        salt lxd1 lxd_cluster.removal_plan lxd3 evacuate=True
    """
    members = __salt__["lxd.cluster_members"]()
    plan = {"member": member in members, "refused": None, "instances": [],
            "evacuate": False, "notes": []}
    if not plan["member"]:
        return plan
    target = members[member]
    # from the cluster's database: an offline member's too (what force drops)
    plan["instances"] = sorted(__salt__["lxd.instances"](location=member))
    plan["evacuate"] = bool(plan["instances"]) and evacuate
    remaining = {name: info for name, info in members.items() if name != member}
    plan["refused"] = _refusal(member, target, remaining, plan, evacuate, force)
    plan["notes"] = _quorum_notes(member, target, remaining)
    return plan


def _refusal(member, target, remaining, plan, evacuate, force):
    if not remaining:
        return f"{member} is the last member of its cluster: there is nothing to remove it from"
    dropped = _instances_phrase(plan["instances"])
    under_way = _under_way(member, target["status"])
    if under_way:
        return (f"{under_way}: remove it then (force removes only a member LXD reports "
                f"offline, and would drop {dropped})")
    if force and target["status"] != OFFLINE:
        return (
            f"{member} is {target['status']}: force removes only a member LXD reports "
            "offline (a member that still answers would keep running its instances "
            "outside the cluster, and would drop "
            f"{dropped}); remove it without force, with evacuate=True if it holds instances, "
            "once it is Online or Evacuated"
        )
    if target["status"] not in HEALTHY_STATUSES and not force:
        return (
            f"{member} is {target['status']}: its instances cannot be evacuated and LXD "
            "cannot tell it to leave; if the host is gone for good, remove it with "
            f"force=True (that drops {dropped} from the cluster)"
        )
    if plan["instances"] and not evacuate and not force:
        return (
            f"{member} still holds {len(plan['instances'])} instance(s) "
            f"({', '.join(plan['instances'])}): evacuate them first "
            "(evacuate=True, or lxd:cluster:evacuate_on_remove: true); nothing was changed"
        )
    voters = [name for name, info in remaining.items() if _is_voter(info)]
    online_voters = [name for name in voters if remaining[name]["status"] == ONLINE]
    if voters and len(online_voters) <= len(voters) // 2 and not force:
        return (
            f"removing {member} would leave {len(online_voters)} of {len(voters)} "
            "database voters online: the cluster would lose its database quorum; "
            "bring the other members back first (or force=True)"
        )
    return None


def _instances_phrase(instances):
    if not instances:
        return "no instance"
    return f"{len(instances)} instance(s): {', '.join(instances)}"


def _quorum_notes(member, target, remaining):
    notes = [f"the cluster keeps {len(remaining)} member(s)"]
    if len(remaining) < 3:
        notes.append(
            "below 3 members the cluster database is no longer fault tolerant: "
            "losing one more member stops the cluster"
        )
    if _is_voter(target) and len(remaining) >= 3:
        notes.append(f"{member} is a database voter: LXD promotes another member")
    return notes


# What a member awaits of the other members (its part of a pool defined,
# the keeper's change of the shared settings) has no LXD event: it asks
# LXD again at this pace.
MEMBERS_POLL_SECONDS = 0.5


def shared_settings_keeper(mode):
    """
    Return None when this daemon keeps the settings a cluster shares
    (trusted clients, ``core.proxy_*``) itself: it is standalone, or the
    first online member by name, so that one member acts per run and every
    member's ``state.apply lxd`` agrees on which. Otherwise return who keeps
    them, as a phrase for state comments.

    CLI Example:

    .. code-block:: bash

        salt '*' lxd_cluster.shared_settings_keeper cluster
    """
    return _keeper(mode)[1]


def _keeper(mode):
    """``(keeper, phrase)``: the member that keeps the shared settings
    when it is another one (None when this daemon keeps them, or is not
    clustered yet), and :py:func:`shared_settings_keeper`'s answer."""
    if mode != "cluster":
        return None, None
    state = __salt__["lxd.cluster"]()
    if not state["enabled"]:
        return None, "set by the bootstrap member once the cluster is formed"
    online = sorted(
        name for name, member in __salt__["lxd.cluster_members"]().items()
        if member["status"] == ONLINE
    )
    if online and online[0] != state["server_name"]:
        return online[0], f"kept by member {online[0]} for the cluster"
    return None, None


def await_shared_settings(mode, pending, what, test=False):
    """
    Check, on a member that does not keep its cluster's shared settings
    (see :py:func:`shared_settings_keeper`), that the cluster holds what
    this member's own pillar asks of them: ``pending`` is a function
    returning those changes (``{key: {"old", "new"}}``, fit to show:
    secrets masked) against the settings as LXD holds them now. Returns None when this daemon keeps
    the settings itself (the caller makes the changes); otherwise the
    outcome for a state about ``what`` (``result``, ``changes``,
    ``comment``). This member changes nothing: when changes are pending it
    waits for the keeper (which may be applying them in the same run) at
    most ``lxd:timeouts:request`` seconds, then fails naming the keeper;
    with ``test`` it reports them pending at once. Not for the command line
    (``pending`` is a Python function).
    """
    keeper, elsewhere = _keeper(mode)
    if elsewhere is None:
        return None
    outcome = {"result": True, "changes": {}, "comment": f"The {what} are {elsewhere}."}
    if keeper is None:
        return outcome
    if test:
        left = pending()
    else:
        bound = _settings()["timeouts"]["request"]
        left = await_members(pending, bound)
    if not left:
        outcome["comment"] = (f"The {what} are {elsewhere}, and hold what this member's "
                              "pillar asks.")
        return outcome
    asked = (f"{keeper} keeps the cluster's shared settings; the cluster still has "
             f"{_listed(left, 'old')}, this member's pillar asks {_listed(left, 'new')}")
    if test:
        return {"result": None, "changes": left,
                "comment": f"{asked}: pending until lxd is applied on {keeper}."}
    return {"result": False, "changes": {},
            "comment": (f"{asked}: apply lxd on {keeper}, or give both the same pillar "
                        f"(waited {bound} s, lxd:timeouts:request); nothing was changed.")}


def _listed(changes, side):
    """One side of ``{key: {"old", "new"}}`` changes, for a comment."""
    return "; ".join(
        f"{key}: {'absent' if change[side] is None else json.dumps(change[side])}"
        for key, change in sorted(changes.items())
    )


def await_members(pending, timeout=None):
    """
    Wait for what this member awaits of the other members of its cluster
    (their part of a pool or network defined, the keeper's change of the
    shared settings), which LXD has no event for: ``pending`` is a function
    saying what is still awaited, as LXD holds it now. Asks it every
    ``MEMBERS_POLL_SECONDS`` until it returns nothing or ``timeout``
    seconds (default ``lxd:timeouts:request``) are up, and returns its last
    answer (empty: everything came). Not for the command line (``pending``
    is a Python function).
    """
    bound = _settings()["timeouts"]["request"] if timeout is None else timeout
    deadline = time.monotonic() + bound
    while True:
        left = pending()
        if not left or time.monotonic() >= deadline:
            return left
        time.sleep(MEMBERS_POLL_SECONDS)


# ---------------------------------------------------------------- upgrades


# Member statuses change with LXD's heartbeats (every 10 s): there is no
# operation or event to wait on, so a health wait asks again at this pace.
HEALTH_POLL_SECONDS = 2


def upgrade_status(parameters=None):
    """
    Return :py:func:`identity` and what a rolling upgrade needs to know:
    ``method`` (``lxd:install:method``), ``channel`` (the pillar's, as
    ``track/risk``), ``installed`` (the snap's tracked channel and version,
    None when not installed or not a snap install) and ``members`` (the
    member names this daemon knows; empty when it does not answer). The
    ``lxd_cluster.upgrade_plan`` runner reads this from every member,
    sending the formula's ``parameters`` (see ``lxd_pillar.use_parameters``).

    CLI Example:

    .. code-block:: bash

        salt -I 'lxd:mode:cluster' lxd_cluster.upgrade_status
    """
    _use_parameters(parameters)
    install = _settings()["install"]
    facts = identity()
    facts.update(method=install["method"], channel=install["channel"], installed=None)
    if install["method"] == "snap":
        normalise = __salt__["lxd_snap.normalise_channel"]
        facts["channel"] = normalise(install["channel"])
        snap = __salt__["lxd_snap.info"](install["snap"])
        if snap:
            facts["installed"] = {"channel": normalise(snap["channel"]),
                                  "version": snap["version"]}
    try:
        facts["members"] = sorted(__salt__["lxd.cluster_members"]())
    except CommandExecutionError:
        facts["members"] = []
    return facts


def health(due=()):
    """
    Return this member's view of its cluster during a rolling upgrade:
    ``member``, ``daemon`` (``lxd.daemon_state``), ``members`` (name:
    status and message, as this daemon reports them) and ``problems`` (see
    :py:func:`health_problems`; empty when healthy). ``due`` names the
    members still to be refreshed.

    CLI Example:

    .. code-block:: bash

        salt -I 'lxd:mode:cluster' lxd_cluster.health
        salt lxd1 lxd_cluster.health due='[lxd2, lxd3]'
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
            "problems": health_problems(member, daemon, members, due)}


def health_problems(member, daemon, members, due=()):
    """
    Return what keeps a cluster from being healthy, as seen by ``member``
    (its ``daemon`` state and the ``members`` statuses its daemon reports),
    while the members in ``due`` still await their refresh:

    - the member's own daemon must answer; ``held`` (waiting for the others
      to match its newer LXD) is expected only for a member already
      refreshed while others are still due;
    - every member must be Online or Evacuated; ``Blocked`` (LXD: "Needs
      updating to newer version") is expected only for a member still due:
      it waits for exactly the refresh the roll brings it; a member being
      evacuated or restored (Incus' ``Evacuating``, ``Restoring``) is not
      healthy until that ends.

    CLI Example:

    .. code-block:: bash

        salt lxd1 lxd_cluster.health_problems lxd1 ready '{lxd2: {status: Blocked}}' due='[lxd2]'
    """
    due = set(due)
    problems = []
    if daemon == "down":
        problems.append(f"{member}: its LXD daemon does not answer")
    elif daemon == "held" and (member in due or not due):
        problems.append(
            f"{member}: its LXD daemon is held in setup, yet no member it could wait "
            "for is due a refresh"
        )
    for name, info in sorted(members.items()):
        status = info["status"]
        if status in HEALTHY_STATUSES or (status == "Blocked" and name in due):
            continue
        message = f" ({info['message']})" if info.get("message") else ""
        problems.append((_under_way(name, status) or f"{name} is {status}") + message)
    return problems


def wait_healthy(due=(), timeout=0):
    """
    Return :py:func:`health` once it reports no problem, or as it stands
    after ``timeout`` seconds (0: ask once).

    CLI Example:

    .. code-block:: bash

        salt lxd2 lxd_cluster.wait_healthy due='[lxd3]' timeout=300
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

        salt lxd1 lxd_cluster.evacuation_plan lxd3
    """
    members = __salt__["lxd.cluster_members"]()
    if member not in members:
        return {"status": None, "instances": [], "targets": [],
                "refused": f"{member} is not a member of this cluster"}
    status = members[member]["status"]
    instances = sorted(__salt__["lxd.instances"](location=member))
    targets = sorted(name for name, info in members.items()
                     if name != member and info["status"] == ONLINE)
    refused = None
    if status in UNDER_WAY:
        refused = f"{_under_way(member, status)}: it is not evacuated yet, re-run then"
    elif status not in HEALTHY_STATUSES:
        refused = f"{member} is {status}: LXD evacuates an online member only"
    elif status == ONLINE and instances and not targets:
        refused = (
            f"no other member is online to take its instances ({', '.join(instances)})"
        )
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

        salt lxd1 lxd_cluster.restore_plan lxd3
    """
    members = __salt__["lxd.cluster_members"]()
    if member not in members:
        return {"status": None, "restore": False,
                "refused": f"{member} is not a member of this cluster"}
    status = members[member]["status"]
    refused = None
    if status in UNDER_WAY:
        refused = f"{_under_way(member, status)}: it is not restored yet, re-run then"
    elif status not in HEALTHY_STATUSES:
        refused = f"{member} is {status}: only an evacuated member can be restored"
    return {"status": status, "restore": status == EVACUATED, "refused": refused}
