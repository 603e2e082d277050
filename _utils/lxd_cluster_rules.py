"""
The rules a cluster's members are judged by, as pure functions of what LXD
says of them (GET /1.0/cluster/members): their status vocabulary, what
refuses a removal, an evacuation or a restore, what keeps a rolling
upgrade from going on; and the join chain's pure parts (its waits, a
token's expiry, a joiner's member-specific answers). The execution
modules ask LXD and hand its answers in.
"""

import datetime

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


def is_voter(info):
    return not VOTER_ROLES.isdisjoint(info["roles"])


def under_way(member, status):
    """What to wait for when ``member`` is being evacuated or restored
    (Incus' Evacuating, Restoring), or None."""
    if status not in UNDER_WAY:
        return None
    what, ends = UNDER_WAY[status]
    return f"{member} is {status}: {what} is under way until it is {ends}"



def _refusal(member, target, remaining, instances, evacuate, force):
    if not remaining:
        return f"{member} is the last member of its cluster: there is nothing to remove it from"
    dropped = _instances_phrase(instances)
    waiting = under_way(member, target["status"])
    if waiting:
        return (f"{waiting}: remove it then (force removes only a member LXD reports "
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
    if instances and not evacuate and not force:
        return (
            f"{member} still holds {len(instances)} instance(s) "
            f"({', '.join(instances)}): evacuate them first "
            "(evacuate=True, or lxd:cluster:evacuate_on_remove: true); nothing was changed"
        )
    voters = [name for name, info in remaining.items() if is_voter(info)]
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


def quorum_notes(member, target, remaining):
    notes = [f"the cluster keeps {len(remaining)} member(s)"]
    if len(remaining) < 3:
        notes.append(
            "below 3 members the cluster database is no longer fault tolerant: "
            "losing one more member stops the cluster"
        )
    if is_voter(target) and len(remaining) >= 3:
        notes.append(f"{member} is a database voter: LXD promotes another member")
    return notes


# What a member awaits of the other members (its part of a pool defined,
# the keeper's change of the shared settings) has no LXD event: it asks


def removal_refusal(member, members, instances, evacuate, force):
    """Why removing ``member`` from a cluster whose ``members`` (name:
    status and roles) LXD lists is refused, holding ``instances``; None
    when it is not."""
    target = members[member]
    remaining = {name: info for name, info in members.items() if name != member}
    return _refusal(member, target, remaining, instances, evacuate, force)


def removal_notes(member, members):
    """What the cluster becomes without ``member``."""
    remaining = {name: info for name, info in members.items() if name != member}
    return quorum_notes(member, members[member], remaining)


def evacuation_refusal(member, status, instances, targets):
    """Why evacuating ``member`` (``status``, holding ``instances``, with
    ``targets`` online to take them) is refused; None when it is not."""
    if status in UNDER_WAY:
        return f"{under_way(member, status)}: it is not evacuated yet, re-run then"
    if status not in HEALTHY_STATUSES:
        return f"{member} is {status}: LXD evacuates an online member only"
    if status == ONLINE and instances and not targets:
        return f"no other member is online to take its instances ({', '.join(instances)})"
    return None


def restore_refusal(member, status):
    """Why restoring ``member`` (``status``) is refused; None when it is not."""
    if status in UNDER_WAY:
        return f"{under_way(member, status)}: it is not restored yet, re-run then"
    if status not in HEALTHY_STATUSES:
        return f"{member} is {status}: only an evacuated member can be restored"
    return None


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
        problems.append((under_way(name, status) or f"{name} is {status}") + message)
    return problems


# ---------------------------------------------------------------- the join chain


def chain_bounds(timeouts):
    """How long the join chain waits, from ``lxd:timeouts``: for a joiner
    to be ready (its preparation: commands and the daemon's start), and for
    its join once offered (a snap refresh to the cluster's revision, the
    daemon's restart, the join operation)."""
    ready = timeouts["command"] + timeouts["operation"] + timeouts["request"]
    join = timeouts["command"] + 2 * timeouts["operation"] + 2 * timeouts["request"]
    return ready, join


def offer_expired(expires_at, now=None):
    """
    Return True when a token expiring at ``expires_at`` (RFC 3339, as LXD
    writes it) has expired.
    """
    now = now or datetime.datetime.now(datetime.UTC)
    return parse_time(expires_at) <= now


def parse_time(stamp):
    # LXD writes nanoseconds; Python parses up to microseconds
    head, _, tail = stamp.rstrip("Z").partition(".")
    fraction = "".join(ch for ch in tail if ch.isdigit())[:6]
    parsed = datetime.datetime.fromisoformat(head + (f".{fraction}" if fraction else ""))
    return parsed.replace(tzinfo=datetime.UTC)


def member_config_answers(keys, preseed, settings=None):
    """
    Return ``member_config`` for a join: each key the cluster asks for
    (``entity``, ``name``, ``key``), valued from this minion's own preseed
    (the ``config`` of its storage pool or network of that name), else from
    the ``member_config`` of its ``lxd:storage_pools`` / ``lxd:networks``
    entry of that name in ``settings`` (the merged pillar), else empty,
    which lets LXD use its default (a new dir or loop-backed pool, no
    external interfaces).
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


def token_expiry_change(current, wanted):
    """The change that brings a member's ``cluster.join_token_expiry`` from
    ``current`` (None or "" when unset) to ``wanted``: every member sets it
    itself, since LXD 5.0 reads the key on the member that set it (a member
    that joined sees none, and issues tokens lasting 3 hours)."""
    current = current or ""
    if current == wanted:
        return {}
    return {"cluster.join_token_expiry": {"old": current, "new": wanted}}
