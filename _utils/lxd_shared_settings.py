"""
The settings a cluster shares (trusted clients, ``core.proxy_*``), kept by
one member per run: what another member does about them. It changes
nothing; when its own pillar asks for something the cluster does not hold
yet, it waits for the keeper (which may be applying it in the same run),
then fails naming the keeper. LXD has no event for another member's
change, so the waits ask LXD again at a fixed pace.
"""

import json
import time

# LXD has no event for another member's change: the waits ask again at this pace.
MEMBERS_POLL_SECONDS = 0.5


def await_members(pending, timeout):
    """Ask ``pending`` (what is still awaited of the other members, as LXD
    holds it now) every ``MEMBERS_POLL_SECONDS`` until it returns nothing or
    ``timeout`` seconds are up; return its last answer (empty: everything
    came)."""
    deadline = time.monotonic() + timeout
    while True:
        left = pending()
        if not left or time.monotonic() >= deadline:
            return left
        time.sleep(MEMBERS_POLL_SECONDS)


def outcome(keeper, pending, what, test, timeout):
    """
    The state outcome about ``what`` on a member, or None when this member
    keeps the shared settings itself (the caller makes the changes).

    keeper
        ``lxd_cluster.shared_settings_keeper``'s answer.

    pending
        A function returning the changes this member's pillar asks of the
        shared settings (``{key: {"old", "new"}}``, secrets masked) against
        LXD's settings now.

    test
        Report pending changes at once, without waiting.

    timeout
        How long to wait for the keeper (``lxd:timeouts:request``).
    """
    if keeper["where"] is None:
        return None
    where = keeper["where"]
    result = {"result": True, "changes": {}, "comment": f"The {what} are {where}."}
    if keeper["member"] is None:
        return result
    left = pending() if test else await_members(pending, timeout)
    if not left:
        result["comment"] = f"The {what} are {where}, and hold what this member's pillar asks."
        return result
    member = keeper["member"]
    asked = (f"{member} keeps the cluster's shared settings; the cluster still has "
             f"{_listed(left, 'old')}, this member's pillar asks {_listed(left, 'new')}")
    if test:
        return {"result": None, "changes": left,
                "comment": f"{asked}: pending until lxd is applied on {member}."}
    return {"result": False, "changes": {},
            "comment": (f"{asked}: apply lxd on {member}, or give both the same pillar "
                        f"(waited {timeout} s, lxd:timeouts:request); nothing was changed.")}


def _listed(changes, side):
    """One side of ``{key: {"old", "new"}}`` changes, for a comment."""
    return "; ".join(
        f"{key}: {'absent' if change[side] is None else json.dumps(change[side])}"
        for key, change in sorted(changes.items())
    )
