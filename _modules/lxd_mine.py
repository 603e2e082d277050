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
"""

import salt.channel.client
import salt.utils.mine

__virtualname__ = "lxd_mine"


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
    data = __salt__[function](*args)
    if allow_tgt:
        data = salt.utils.mine.wrap_acl_structure(data, allow_tgt=allow_tgt,
                                                  allow_tgt_type=allow_tgt_type)
    return _request({"cmd": "_mine", "data": {name: data}, "clear": False}) is True


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
    return _request({"cmd": "_mine_delete", "fun": name}) is True


def _masterless():
    return __opts__.get("file_client") == "local"


def _request(load):
    with salt.channel.client.ReqChannel.factory(__opts__) as channel:
        return channel.send(dict(load, id=__opts__["id"]))
