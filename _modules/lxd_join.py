"""
Execution module for the join chain that carries a join token from the
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
import re

from salt.exceptions import CommandExecutionError, SaltReqTimeoutError
from salt.utils.versions import LooseVersion

try:  # installed as the saltext-lxd package
    from saltext.lxd.utils import lxd_cluster_rules as rules
    from saltext.lxd.utils import lxd_mine_requests, lxd_settings
    from saltext.lxd.utils.lxd_names import MINE_JOIN_OFFER, MINE_JOIN_REPORT
    from saltext.lxd.utils.lxd_settings import expiry_seconds
except ImportError:  # synced from _utils: Salt puts the utils directories on sys.path
    import lxd_cluster_rules as rules
    import lxd_mine_requests
    import lxd_settings
    from lxd_names import MINE_JOIN_OFFER, MINE_JOIN_REPORT
    from lxd_settings import expiry_seconds

__virtualname__ = "lxd_join"

# Clock skew allowed between this minion and the member that issued a token.
EXPIRY_SLACK = 60


def __virtual__():
    if "lxd_cluster.identity" not in __salt__:
        return (False, "the lxd_cluster execution module is not available")
    return __virtualname__


def _settings():
    """This module's one resolution of the settings (``lxd_pillar.merge``'s)."""
    return lxd_settings.minion_settings(__context__, __salt__)


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

        salt lxd1 lxd_join.running
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

        salt lxd4 lxd_join.same_as_cluster '{server: lxd, version: "5.21.1"}'
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
        seconds=expiry_seconds(expiry) + EXPIRY_SLACK)
    for attempt in range(2):
        token = __salt__["lxd_membership.issue_join_token"](member, unmasked=True)["token"]
        expires_at = __salt__["lxd_membership.decode_join_token"](token)["expires_at"]
        latest = datetime.datetime.now(datetime.UTC) + lasts
        # LXD writes year 1 for a token that never expires
        if rules.parse_time(expires_at).year > 1 and rules.parse_time(expires_at) <= latest:
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

        salt lxd1 lxd_join.publish_join_offer lxd4 lxd4
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

        salt lxd1 lxd_join.refuse_join lxd4 r1 'the bootstrap failed'
    """
    return __salt__["lxd_mine.store"](MINE_JOIN_OFFER.format(minion=minion),
                                      {"run": run, "refused": reason},
                                      allow_tgt=f"{minion},{__grains__['id']}",
                                      allow_tgt_type="list")


def _chain_bounds():
    return rules.chain_bounds(_settings()["timeouts"])


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

        salt lxd1 lxd_join.offer_joins '[{minion: lxd4, member: lxd4}]' r1
    """
    outcomes = {}
    with lxd_mine_requests.session(__opts__, __context__):
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
    return lxd_mine_requests.wait_for(
        __opts__, __context__, minion, MINE_JOIN_REPORT,
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

        salt lxd4 lxd_join.report_join lxd1 r1 failed reason='preparation failed'
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

        salt lxd4 lxd_join.reported r1
    """
    report = __salt__["lxd_mine.entry"](MINE_JOIN_REPORT) or {}
    return report.get("run") == run and report.get("state") in ("joined", "failed")


def offer_published(minion):
    """
    Return True when this minion has a join offer for ``minion`` in the mine.

    CLI Example:

    .. code-block:: bash

        salt lxd1 lxd_join.offer_published lxd4
    """
    return _own_mine_entry(MINE_JOIN_OFFER.format(minion=minion)) is not None


def _own_mine_entry(name):
    found = __salt__["mine.get"](__grains__["id"], name, tgt_type="list")
    return found.get(__grains__["id"])


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

        salt lxd4 lxd_join.join lxd1 r1 lxd4 10.0.0.4:8443 '{}' 2
    """
    timeout = (position + 1) * sum(_chain_bounds())
    with lxd_mine_requests.session(__opts__, __context__):
        report_join(coordinator, run, "ready")
        try:
            offer = lxd_mine_requests.wait_for(
                __opts__, __context__, coordinator,
                MINE_JOIN_OFFER.format(minion=__grains__["id"]),
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
    if rules.offer_expired(token["expires_at"]):
        raise CommandExecutionError(
            f"the join token from {holder} expired at {token['expires_at']}; "
            "re-run the lxd.cluster orchestrate: it replaces it"
        )
    if offer.get("running") and same_as_cluster(offer["running"]) and rules.offer_expired(
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
        rules.member_config_answers(offer["member_config"], preseed, _settings()),
    )

