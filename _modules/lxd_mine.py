"""
Execution module: this minion's own mine entries, stored and deleted once
the master acknowledges them.

Salt's ``mine.send`` and ``mine.delete`` hand the entry to the minion's main
process as an event, then sleep half a second for it to reach the master
(``_mine_send`` in salt/modules/mine.py). Forming a cluster publishes a
join offer per joiner and each member's connection facts, every one read
by another minion right after: these functions send the same request over
the request channel instead, as ``mine.get`` does, and return once the
master has stored it. A masterless minion uses Salt's own functions.

:py:func:`entry` reads back what the master holds; every host's state run
checks its entries, so they are read together, in one request per run.
"""

import salt.channel.client
import salt.utils.mine

__virtualname__ = "lxd_mine"

# The entries every LXD host keeps published (lxd_mine.published states)
HOST_ENTRIES = ("lxd_server",)


def __virtual__():
    return __virtualname__


def send(name, function, *args, allow_tgt=None, allow_tgt_type="glob"):
    """
    Store what ``function(*args)`` returns as this minion's mine entry
    ``name``, readable by the minions matching ``allow_tgt`` (and the
    master) when given, by every minion otherwise. Returns True once the
    master stored it.

    CLI Example:

    .. code-block:: bash

        salt lxd1 lxd_mine.send lxd_server lxd_trust.connection_facts
    """
    if _masterless():
        return __salt__["mine.send"](name, *args, mine_function=function,
                                     allow_tgt=allow_tgt, allow_tgt_type=allow_tgt_type)
    value = __salt__[function](*args)
    data = value
    if allow_tgt:
        data = salt.utils.mine.wrap_acl_structure(value, allow_tgt=allow_tgt,
                                                  allow_tgt_type=allow_tgt_type)
    stored = _request({"cmd": "_mine", "data": {name: data}, "clear": False}) is True
    if stored:
        _known()[name] = value
    return stored


def delete(name):
    """
    Delete this minion's mine entry ``name``. Returns True once the master
    deleted it (also when there was none).

    CLI Example:

    .. code-block:: bash

        salt lxd1 lxd_mine.delete lxd_join_offer_lxd4
    """
    if _masterless():
        return __salt__["mine.delete"](name)
    _known().pop(name, None)
    return _request({"cmd": "_mine_delete", "fun": name}) is True


def entry(name):
    """
    Return this minion's mine entry ``name`` as the master holds it (None
    when there is none). The host entries are read together, once per run.

    CLI Example:

    .. code-block:: bash

        salt lxd1 lxd_mine.entry lxd_server
    """
    known = _known()
    if name not in known:
        minion = __grains__["id"]
        names = sorted({name, *HOST_ENTRIES})
        found = __salt__["mine.get"](minion, names, tgt_type="list")
        known.update({each: found.get(each, {}).get(minion) for each in names})
    return known[name]


def _known():
    return __context__.setdefault("lxd_mine.entries", {})


def _masterless():
    return __opts__.get("file_client") == "local"


def _request(load):
    with salt.channel.client.ReqChannel.factory(__opts__) as channel:
        return channel.send(dict(load, id=__opts__["id"]))
