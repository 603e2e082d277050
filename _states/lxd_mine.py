"""
Keep a function's current answer published in this minion's mine, for the
formula's facts other minions and the master read (cluster identities,
client certificates, connection facts). Never for secrets: entries
published this way are readable by every minion.

.. code-block:: yaml

    lxd-server-published:
      lxd_mine.published:
        - name: lxd_server
        - function: lxd_trust.connection_facts
"""

from salt.exceptions import CommandExecutionError

__virtualname__ = "lxd_mine"


def __virtual__():
    return __virtualname__


def published(name, function):
    """
    Ensure mine entry ``name`` holds what ``function`` returns now.

    name
        The mine entry.

    function
        The execution function whose return is published: the entry's own
        (``lxd_mine.check_published``), anything else is refused.
    """
    ret = {"name": name, "result": True, "changes": {}, "comment": ""}
    try:
        __salt__["lxd_mine.check_published"](name, function)
        current = __salt__[function]()
        published = __salt__["lxd_mine.entry"](name)
    except (CommandExecutionError, OSError) as exc:
        ret["result"] = False
        ret["comment"] = f"Mine entry {name} was not published: {exc}"
        return ret
    if published == current:
        ret["comment"] = f"Mine entry {name} is up to date."
        return ret
    ret["changes"]["mine"] = {"old": published, "new": current}
    if __opts__["test"]:
        ret["result"] = None
        ret["comment"] = f"Mine entry {name} would be published."
        return ret
    if not __salt__["lxd_mine.send"](name, function):
        ret["result"] = False
        ret["comment"] = f"Publishing mine entry {name} failed (see the minion log)."
        return ret
    ret["comment"] = f"Mine entry {name} was published."
    return ret
