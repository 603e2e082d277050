"""
Execution module for this minion's place in its LXD cluster: who it is
(from the ``lxd:cluster`` pillar), what the ``lxd.cluster`` orchestrate needs
to know about it, and the join offer that carries a join token from a
member to one joiner through the Salt mine.

The join offer is the only secret here. It is published with ``mine.send``
and an ``allow_tgt`` naming the joiner alone, read by the joiner with
``mine.get``, and withdrawn (mine entry deleted, token revoked) after the
join. It never appears in a job return, state output or log.
"""

import datetime
import logging

from salt.exceptions import CommandExecutionError

log = logging.getLogger(__name__)

__virtualname__ = "lxd_cluster"

# Mine entries: this member's identity (read by the runner, e.g. when its
# key is deleted), and a join offer (readable by one joiner only).
MINE_IDENTITY = "lxd_cluster"
MINE_OFFER = "lxd_join_offer"

CLUSTER_PORT = 8443


def __virtual__():
    if "lxd.reachable" not in __salt__:
        return (False, "the lxd execution module is not available (is pylxd installed?)")
    return __virtualname__


def _settings():
    return __salt__["lxd_pillar.merge"]()


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


def published_identity():
    """
    Return the identity this minion last published in the mine, or None.

    CLI Example:

    .. code-block:: bash

        salt '*' lxd_cluster.published_identity
    """
    return _own_mine_entry(MINE_IDENTITY)


def publish_identity():
    """
    Publish :py:func:`identity` in this minion's mine (readable by the
    master's runners and the other minions: it holds no secret).

    CLI Example:

    .. code-block:: bash

        salt '*' lxd_cluster.publish_identity
    """
    return __salt__["mine.send"](MINE_IDENTITY, mine_function="lxd_cluster.identity")


def status():
    """
    Return :py:func:`identity` and what the daemon says now: ``clustered``,
    ``server_name`` and, when clustered, ``members`` (name: status and
    roles). The ``lxd_cluster.plan`` runner reads this from every cluster
    minion.

    CLI Example:

    .. code-block:: bash

        salt -I 'lxd:mode:cluster' lxd_cluster.status
    """
    facts = identity()
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


def join_offer(member):
    """
    Issue a join token for ``member`` and return the join offer: the token,
    the cluster certificate and the ``member_config`` keys the joiner must
    answer (GET /1.0/cluster).

    A secret: this is the ``mine_function`` of :py:func:`publish_join_offer`
    and is not meant to be called on the command line.

    CLI Example:

    .. code-block:: bash

        salt lxd1 lxd_cluster.join_offer lxd4   # prints a secret
    """
    token = __salt__["lxd.issue_join_token"](member)
    return {
        "token": token,
        "certificate": __salt__["lxd.info"](refresh=False)["environment"]["certificate"],
        "member_config": [
            {key: entry[key] for key in ("entity", "name", "key", "description")}
            for entry in __salt__["lxd.cluster"]()["member_config"]
        ],
    }


def publish_join_offer(member, minion):
    """
    Issue a join offer for ``member`` and publish it in this minion's mine,
    readable by ``minion`` (the joiner) and this minion only. Returns the token's expiry.

    CLI Example:

    .. code-block:: bash

        salt lxd1 lxd_cluster.publish_join_offer lxd4 lxd4
    """
    sent = __salt__["mine.send"](
        MINE_OFFER,
        member,
        mine_function="lxd_cluster.join_offer",
        # the joiner, and this minion (which issued it) to withdraw it
        allow_tgt=f"{minion},{__grains__['id']}",
        allow_tgt_type="list",
    )
    if not sent:
        __salt__["lxd.revoke_join_token"](member)
        raise CommandExecutionError(
            "the join offer could not be published to the mine (see the minion log)"
        )
    return __salt__["lxd.join_tokens"]()[member]["expires_at"]


def withdraw_join_offer(member):
    """
    Withdraw the join offer for ``member``: revoke its token if still
    pending and delete this minion's offer from the mine. Returns what was
    withdrawn (empty when there was nothing).

    CLI Example:

    .. code-block:: bash

        salt lxd1 lxd_cluster.withdraw_join_offer lxd4
    """
    withdrawn = []
    if __salt__["lxd.revoke_join_token"](member):
        withdrawn.append("token revoked")
    if offer_published():
        __salt__["mine.delete"](MINE_OFFER)
        withdrawn.append("mine offer deleted")
    return withdrawn


def offer_published():
    """
    Return True when this minion has a join offer in the mine.

    CLI Example:

    .. code-block:: bash

        salt lxd1 lxd_cluster.offer_published
    """
    return _own_mine_entry(MINE_OFFER) is not None


def pending_offer(member):
    """
    Return the pending join token of ``member`` on this member (id and
    expiry, no secret), or None.

    CLI Example:

    .. code-block:: bash

        salt lxd1 lxd_cluster.pending_offer lxd4
    """
    return __salt__["lxd.join_tokens"]().get(member)


def offer_expired(expires_at, now=None):
    """
    Return True when a token expiring at ``expires_at`` (RFC 3339, as LXD
    writes it) has expired.

    CLI Example:

    .. code-block:: bash

        salt '*' lxd_cluster.offer_expired 2026-01-01T00:00:00Z
    """
    now = now or datetime.datetime.now(datetime.timezone.utc)
    return _parse_time(expires_at) <= now


def _parse_time(stamp):
    # LXD writes nanoseconds; Python parses up to microseconds
    head, _, tail = stamp.rstrip("Z").partition(".")
    fraction = "".join(ch for ch in tail if ch.isdigit())[:6]
    parsed = datetime.datetime.fromisoformat(head + (f".{fraction}" if fraction else ""))
    return parsed.replace(tzinfo=datetime.timezone.utc)


def _own_mine_entry(name):
    found = __salt__["mine.get"](__grains__["id"], name, tgt_type="list")
    return found.get(__grains__["id"])


def member_config_answers(keys, preseed):
    """
    Return ``member_config`` for a join: each key the cluster asks for
    (``entity``, ``name``, ``key``), valued from this minion's own preseed
    (the ``config`` of its storage pool or network of that name), else empty,
    which lets LXD use its default (a new dir or loop-backed pool, no
    external interfaces).

    CLI Example:

    .. code-block:: bash

        salt '*' lxd_cluster.member_config_answers '[{entity: storage-pool, name: local, key: source}]' '{}'
    """
    sections = {"storage-pool": "storage_pools", "network": "networks"}
    answers = []
    for key in keys:
        entries = preseed.get(sections.get(key["entity"], ""), None) or []
        config = next(
            (entry.get("config") or {} for entry in entries if entry["name"] == key["name"]),
            {},
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


def join(bootstrap, member, address, preseed):
    """
    Join this fresh daemon to the cluster as ``member`` at ``address``, with
    the join offer that minion ``bootstrap`` published for it in the mine.
    ``preseed`` gives this member's values for the cluster's member-specific
    keys. Returns the expiry of the token used.

    CLI Example:

    .. code-block:: bash

        salt lxd4 lxd_cluster.join lxd1 lxd4 10.0.0.4:8443 '{}'
    """
    offer = __salt__["mine.get"](bootstrap, MINE_OFFER, tgt_type="list").get(bootstrap)
    if not offer:
        raise CommandExecutionError(
            f"{bootstrap} has published no join offer for {member} (run the "
            "lxd.cluster orchestrate: it issues one right before the join)"
        )
    token = __salt__["lxd.decode_join_token"](offer["token"])
    if token["server_name"] != member:
        raise CommandExecutionError(
            f"the join offer from {bootstrap} is for {token['server_name']}, not "
            f"{member}; re-run the lxd.cluster orchestrate to get a fresh one"
        )
    if offer_expired(token["expires_at"]):
        raise CommandExecutionError(
            f"the join token from {bootstrap} expired at {token['expires_at']}; "
            "re-run the lxd.cluster orchestrate: it replaces it"
        )
    __salt__["lxd.join_cluster"](
        member,
        address,
        offer["token"],
        offer["certificate"],
        member_config_answers(offer["member_config"], preseed),
    )
    return token["expires_at"]


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
    online = target["status"] in ("Online", "Evacuated")
    if online:
        plan["instances"] = sorted(__salt__["lxd.instances"](location=member))
    plan["evacuate"] = bool(plan["instances"]) and evacuate
    remaining = {name: info for name, info in members.items() if name != member}
    plan["refused"] = _refusal(member, target, remaining, plan, evacuate, force)
    plan["notes"] = _quorum_notes(member, target, remaining)
    return plan


def _refusal(member, target, remaining, plan, evacuate, force):
    if not remaining:
        return f"{member} is the last member of its cluster: there is nothing to remove it from"
    if target["status"] not in ("Online", "Evacuated") and not force:
        return (
            f"{member} is {target['status']}: its instances cannot be evacuated and LXD "
            "cannot tell it to leave; if the host is gone for good, remove it with "
            "force=True (whatever it held is dropped from the cluster)"
        )
    if plan["instances"] and not evacuate and not force:
        return (
            f"{member} still holds {len(plan['instances'])} instance(s) "
            f"({', '.join(plan['instances'])}): evacuate them first "
            "(evacuate=True, or lxd:cluster:evacuate_on_remove: true); nothing was changed"
        )
    voters = [name for name, info in remaining.items() if _is_voter(info)]
    online_voters = [name for name in voters if remaining[name]["status"] == "Online"]
    if voters and len(online_voters) <= len(voters) // 2 and not force:
        return (
            f"removing {member} would leave {len(online_voters)} of {len(voters)} "
            "database voters online: the cluster would lose its database quorum; "
            "bring the other members back first (or force=True)"
        )
    return None


def _is_voter(info):
    return "database" in info["roles"] or "database-leader" in info["roles"]


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
