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

Waiting for another minion's entry (a join offer, a join report), and
sessions whose requests share one channel, are ``lxd_mine_requests``'s.
"""


from salt.exceptions import CommandExecutionError

try:  # installed as the saltext-lxd package
    from saltext.lxd.utils import lxd_mine_requests, lxd_salt_compat
    from saltext.lxd.utils.lxd_names import MINE_CLIENT_REQUEST, MINE_SERVER
except ImportError:  # synced from _utils: Salt puts the utils directories on sys.path
    import lxd_mine_requests
    import lxd_salt_compat
    from lxd_names import MINE_CLIENT_REQUEST, MINE_SERVER

__virtualname__ = "lxd_mine"

# The entries every LXD host keeps published (lxd_mine.published states)
HOST_ENTRIES = (MINE_SERVER,)
# What send publishes: the formula's own entries, each from its function
# (an LXD host's connection facts, a client minion's request for trust).
# send is on the command line and what it publishes may be read by every
# minion: no other entry, and no other function's answer (a token).
PUBLISHED = {MINE_SERVER: "lxd_trust.connection_facts",
             MINE_CLIENT_REQUEST: "lxd_trust.request"}


def __virtual__():
    return __virtualname__


def send(name, function, *args, allow_tgt=None, allow_tgt_type="glob"):
    """
    Store what ``function(*args)`` returns as this minion's mine entry
    ``name``, readable by the minions matching ``allow_tgt`` (and the
    master) when given, by every minion otherwise. Returns True once the
    master stored it. Only the formula's own entries, each from its own
    function (see :py:func:`check_published`).

    CLI Example:

    .. code-block:: bash

        salt lxd1 lxd_mine.send lxd_server lxd_trust.connection_facts
    """
    check_published(name, function)
    if _masterless():
        return __salt__["mine.send"](name, *args, mine_function=function,
                                     allow_tgt=allow_tgt, allow_tgt_type=allow_tgt_type)
    return store(name, __salt__[function](*args), allow_tgt=allow_tgt,
                 allow_tgt_type=allow_tgt_type)


def check_published(name, function):
    """
    Raise an error unless ``name`` is a mine entry the formula publishes
    with :py:func:`send` and ``function`` the one it is published from:
    ``lxd_server`` from ``lxd_trust.connection_facts``, ``lxd_client`` from
    ``lxd_trust.request``. Returns True otherwise.

    CLI Example:

    .. code-block:: bash

        salt lxd1 lxd_mine.check_published lxd_server lxd_trust.connection_facts
    """
    if PUBLISHED.get(name) != function:
        own = ", ".join(f"{entry} from {source}" for entry, source in PUBLISHED.items())
        raise CommandExecutionError(
            f"lxd_mine.send publishes the formula's own mine entries only ({own}), "
            f"not {name!r} from {function!r}"
        )
    return True


def store(name, value, allow_tgt=None, allow_tgt_type="glob"):
    """
    Store ``value`` as this minion's mine entry ``name``, readable by the
    minions matching ``allow_tgt`` (and the master) when given, by every
    minion otherwise. Returns True once the master stored it. Needs a
    master (the lxd.cluster orchestrate's offers and reports).

    CLI Example:

    .. code-block:: bash

        salt lxd2 lxd_mine.store lxd_join_report '{run: r1, joined: true}' allow_tgt=lxd1
    """
    if _masterless():
        raise CommandExecutionError("lxd_mine.store needs a salt-master")
    stored = _request(lxd_salt_compat.mine_store_load(name, value, allow_tgt,
                                                      allow_tgt_type)) is True
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
    return _request(lxd_salt_compat.mine_delete_load(name)) is True


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
    return lxd_mine_requests.request(__opts__, __context__, load)
