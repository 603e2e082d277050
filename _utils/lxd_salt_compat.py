"""
Every place where the formula reaches into Salt's internals rather than
its loader's functions: the request channel a minion's mine requests go
over, the master's cache and the mine's layout in it, the master's pillar
compilation, its key store, its fileserver and the publishing of jobs to
minions. One module, so that a Salt release that moves one of them is met
here only. Each function says which Salt versions it was checked against
and which file of Salt it mirrors; the formula runs on Salt 3006 to 3008.

The callers pass ``__opts__`` (a minion's, or the master's in a runner).
"""

import contextlib

import salt.cache
import salt.channel.client
import salt.client
import salt.fileclient
import salt.key
import salt.pillar
import salt.runner
import salt.utils.files
import salt.utils.mine
import salt.utils.minions
import salt.version

# ---------------------------------------------------------------- minion side


@contextlib.contextmanager
def request_channel(opts):
    """A request channel to the master, closed on leaving. Salt 3006+
    (``salt/channel/client.py``; ``salt.transport.client`` before 3006)."""
    with salt.channel.client.ReqChannel.factory(opts) as channel:
        yield channel


def mine_store_load(name, value, allow_tgt=None, allow_tgt_type="glob"):
    """The request load that stores mine entry ``name`` on the master, as
    ``mine.send`` builds it (``_mine_send`` in ``salt/modules/mine.py``;
    the ACL wrapping of ``salt/utils/mine.py``, Salt 3000+)."""
    if allow_tgt:
        value = salt.utils.mine.wrap_acl_structure(value, allow_tgt=allow_tgt,
                                                   allow_tgt_type=allow_tgt_type)
    return {"cmd": "_mine", "data": {name: value}, "clear": False}


def mine_delete_load(name):
    """The request load that deletes mine entry ``name`` (``mine.delete``,
    ``salt/modules/mine.py``)."""
    return {"cmd": "_mine_delete", "fun": name}


def mine_get_load(holder, name):
    """The request load that reads ``holder``'s mine entry ``name`` as the
    asking minion may (``mine.get``, ``salt/modules/mine.py``)."""
    return {"cmd": "_mine_get", "tgt": [holder], "fun": name, "tgt_type": "list"}


# ---------------------------------------------------------------- master side


def master_cache(opts):
    """The master's cache (``salt/cache/__init__.py``)."""
    return salt.cache.factory(opts)


def mine_key(minion):
    """Where the master's cache holds ``minion``'s mine (bank, key), as
    ``salt/daemons/masterapi.py`` stores it: a bank of minion ids since
    Salt 3008, the minion's own bank (``minions/<id>``, key ``mine``)
    before."""
    if salt.version.__saltstack_version__.major >= 3008:
        return "mine", minion
    return f"minions/{minion}", "mine"


def compiled_pillar(opts, minion):
    """``minion``'s pillar as the master compiles it, with the grains the
    master cached for it (if any): ``get_minion_data`` of
    ``salt/utils/minions.py`` and ``Pillar.compile_pillar`` of
    ``salt/pillar/__init__.py`` (Salt 3006 to 3008). Compile errors are
    in its ``_errors``."""
    _, grains, _ = salt.utils.minions.get_minion_data(minion, opts)
    grains = dict(grains or {}, id=minion)
    pillar = salt.pillar.Pillar(opts, grains, minion, "base")
    try:
        return pillar.compile_pillar()
    finally:
        pillar.destroy()


def key_accepted(opts, minion):
    """Whether the master's key store holds an accepted key for ``minion``
    (``Key.list_status`` of ``salt/key.py``)."""
    return minion in salt.key.get_key(opts).list_status("accepted").get("minions", [])


def pillar_matches(opts, target):
    """The minions whose pillar, as the master's pillar cache holds it,
    matches compound ``target`` (``CkMinions`` of ``salt/utils/minions.py``)."""
    return salt.utils.minions.CkMinions(opts).check_minions(target, "compound")["minions"]


def fileserver_text(opts, url):
    """The text of ``url`` (``salt://``) as the master's fileserver serves
    it, or None (``FSClient`` of ``salt/fileclient.py``)."""
    with salt.fileclient.FSClient(opts) as files:
        path = files.cache_file(url)
    if not path:
        return None
    with salt.utils.files.fopen(path) as handle:
        return handle.read()


@contextlib.contextmanager
def local_client(opts):
    """A LocalClient to publish jobs to minions, destroyed on leaving (its
    event bus would otherwise outlive the call: ``salt/client/__init__.py``,
    Salt 3006+)."""
    client = salt.client.get_local_client(opts["conf_file"])
    try:
        yield client
    finally:
        client.destroy()


def publish_and_collect(opts, target, tgt_type, function, kwarg, wait, while_waiting=None):
    """Publish ``function`` to ``target`` and collect the returns:
    ``(expected minions, {minion: full return})``. ``while_waiting`` runs
    between publishing and collecting. LocalClient's ``run_job`` with
    ``listen`` and ``get_cli_event_returns`` (``salt/client/__init__.py``,
    Salt 3006 to 3008): the listener is set up before the publish, so that
    no fast return is missed. ``wait`` bounds a minion that is down only:
    LocalClient waits longer for minions still running the job."""
    with local_client(opts) as client:
        published = client.run_job(target, function, tgt_type=tgt_type, kwarg=kwarg,
                                   timeout=wait, listen=True) or {}
        expected = published.get("minions") or []
        if while_waiting:
            while_waiting(expected)
        returns = {}
        if expected:
            for answer in client.get_cli_event_returns(published["jid"], expected, wait,
                                                       target, tgt_type):
                returns.update(answer or {})
    return expected, returns


def run(opts, target, function, wait, **kwargs):
    """``LocalClient.cmd``: what the minions of ``target`` that answered
    within ``wait`` returned."""
    with local_client(opts) as client:
        return client.cmd(target, function, timeout=wait, **kwargs)


def run_runner(opts, name, kwarg):
    """Run runner function ``name`` from the master's own process (an
    orchestrate's render) and return what it returned, its RunnerClient
    destroyed on leaving: ``saltutil.runner`` (``salt/modules/saltutil.py``,
    Salt 3007 and 3008) leaves that to the garbage collector, which warns
    "unclosed RunnerClient" (3008) or "unclosed MasterEvent" (3007).
    ``RunnerClient`` is a context manager since Salt 3006
    (``salt/runner.py``); ``cmd`` is ``SyncClientMixin.cmd``
    (``salt/client/mixins.py``). saltutil.runner's privilege drop is left
    out: in an orchestrate ``opts["user"]`` is the publishing user, never
    another real account to drop to."""
    with salt.runner.RunnerClient(opts) as client:
        return client.cmd(name, kwarg=kwarg, pub_data={"user": "UNKNOWN"},
                          print_event=False)
