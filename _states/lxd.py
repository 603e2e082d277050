"""
States for the LXD daemon (over the ``lxd`` execution module).

.. code-block:: yaml

    lxd-initialised:
      lxd.initialised:
        - mode: standalone
        - init:
            storage: true
            network: true
"""

from salt.exceptions import CommandExecutionError

try:  # installed as the saltext-lxd package
    from saltext.lxd.utils import lxd_secrets, lxd_settings, lxd_shared_settings
except ImportError:  # synced from _utils: Salt puts the utils directories on sys.path
    import lxd_secrets
    import lxd_settings
    import lxd_shared_settings

__virtualname__ = "lxd"


def __virtual__():
    if "lxd.reachable" in __salt__:
        return __virtualname__
    return (False, "the lxd execution module is not available (is pylxd installed?)")


def initialised(name, mode="standalone", init=None):
    """
    Ensure LXD has had its first configuration, once: ``init:preseed``
    when given, else the formula's defaults (``init:storage``,
    ``init:storage_devices``, ``init:network``). A daemon that was already
    configured by other means is left as it is and adopted. Once
    initialised, a change of ``mode`` or ``init`` fails and changes nothing:
    further configuration belongs to LXD's own API.

    mode
        ``standalone`` or ``cluster``, recorded with the initialisation.

    init
        The ``lxd:init`` settings.
    """
    ret = {"name": name, "result": True, "changes": {}, "comment": ""}
    init = init or {}
    try:
        preseed = __salt__["lxd_pillar.preseed"](init)
        if not __salt__["lxd.reachable"]():
            raise CommandExecutionError(
                f"LXD is not reachable at {__salt__['lxd.endpoint']()}"
            )
        drift = __salt__["lxd_init.init_drift"](mode, preseed)
        if drift:
            ret["result"] = False
            ret["comment"] = " ".join(drift) + "; nothing was changed."
            return ret
        if __salt__["lxd_init.init_record"]() is not None:
            ret["comment"] = "LXD is initialised."
            return ret
        if __salt__["lxd_init.initialised"]():
            return _adopt(ret, mode, preseed)
        if __opts__["test"]:
            ret["changes"] = __salt__["lxd_init.preseed_plan"](preseed)
            ret["result"] = None
            ret["comment"] = "LXD would be initialised."
            return ret
        ret["changes"] = __salt__["lxd_init.apply_preseed"](preseed)
        __salt__["lxd_init.write_init_record"](mode, preseed)
    except CommandExecutionError as exc:
        ret["result"] = False
        ret["changes"] = {}
        ret["comment"] = f"LXD initialisation failed: {exc}"
        return ret
    ret["comment"] = "LXD was initialised."
    return ret


def _adopt(ret, mode, preseed):
    ret["changes"] = {"init record": {"old": None, "new": "adopted"}}
    ret["comment"] = (
        "LXD was already configured by other means: lxd:init was not applied; "
        "the current pillar is recorded as its initial configuration"
    )
    if __opts__["test"]:
        ret["result"] = None
        ret["comment"] += " (would be)."
        return ret
    __salt__["lxd_init.write_init_record"](mode, preseed)
    ret["comment"] += "."
    return ret


def reachable(name="lxd"):
    """
    Ensure the LXD daemon answers on its endpoint (``lxd.endpoint``). Changes
    nothing; with ``test=True`` an unreachable daemon is reported as pending,
    since the install states before it would have started it.
    """
    ret = {"name": name, "result": True, "changes": {}, "comment": ""}
    target = __salt__["lxd.endpoint"]()
    try:
        version = __salt__["lxd.info"]()["environment"]["server_version"]
    except CommandExecutionError as exc:
        if __opts__["test"]:
            ret["result"] = None
            ret["comment"] = f"LXD does not answer at {target} yet: {exc}"
            return ret
        ret["result"] = False
        ret["comment"] = f"LXD does not answer at {target}: {exc}"
        return ret
    ret["comment"] = f"LXD {version} answers at {target}."
    return ret


def listening(name, listeners=None, addresses=None):
    """
    Ensure LXD's network listeners are as ``listeners`` says (``lxd:listen``:
    https, bgp, dns, metrics: on or off), live: each on listener's
    ``core.<endpoint>_address`` set to its ``lxd:addresses`` value, each off
    one unset. A listener whose API extension this LXD lacks fails the
    state before anything changes.

    listeners
        ``lxd:listen`` (not ``listen``: that name is Salt's requisite).

    addresses
        ``lxd:addresses``.
    """
    ret = {"name": name, "result": True, "changes": {}, "comment": ""}
    try:
        wanted = __salt__["lxd_server.listener_config"](listeners or {}, addresses or {})
    except CommandExecutionError as exc:
        return _failed(ret, f"{exc}; no listener was changed.")
    return _server_config(ret, wanted, "listeners")


def proxied(name, http=None, https=None, no_proxy=None, mode="standalone", timeout=None):
    """
    Ensure LXD's ``core.proxy_http``, ``core.proxy_https`` and
    ``core.proxy_ignore_hosts`` are as ``lxd:proxy`` says, each defaulting
    to the minion's own proxy settings; an empty value unsets its key. The
    keys are shared by a cluster: there one member sets them, and the
    others wait for the member that keeps them, then fail when the cluster
    does not hold what they ask (see ``lxd_shared_settings``).

    mode
        ``lxd:mode``.

    timeout
        ``lxd:timeouts:request`` (its value when not given): how long a
        member that does not keep the shared settings waits for the one
        that does.
    """
    ret = {"name": name, "result": True, "changes": {}, "comment": ""}
    if timeout is None:
        timeout = lxd_settings.minion_settings(__context__, __salt__)["timeouts"]["request"]
    try:
        wanted = __salt__["lxd_server.proxy_config"](http, https, no_proxy)
        shared = lxd_shared_settings.outcome(
            __salt__["lxd_cluster.shared_settings_keeper"](mode),
            lambda: lxd_secrets.masked(_config_changes(wanted, refresh=True)),
            "proxy settings", test=__opts__["test"], timeout=timeout)
    except CommandExecutionError as exc:
        return _failed(ret, f"The proxy settings could not be read: {exc}")
    if shared is not None:
        ret.update(shared)
        return ret
    return _server_config(ret, wanted, "proxy settings")


def _server_config(ret, wanted, what):
    """Bring the server keys in ``wanted`` (None: unset) to their values,
    in one request."""
    try:
        changes = _config_changes(wanted)
        ret["changes"] = lxd_secrets.masked(changes)
        if not changes:
            ret["comment"] = f"The {what} are as wanted."
            return ret
        if __opts__["test"]:
            ret["result"] = None
            ret["comment"] = f"The {what} would be changed."
            return ret
        __salt__["lxd.config_update"](
            {key: change["new"] for key, change in changes.items()})
    except CommandExecutionError as exc:
        ret["changes"] = {}
        return _failed(ret, f"Changing the {what} failed: {exc}; nothing was changed.")
    ret["comment"] = f"The {what} were changed."
    return ret


def _config_changes(wanted, refresh=False):
    """The server keys whose values differ from ``wanted`` (None: unset),
    ``{key: {"old", "new"}}``, secrets included; ``refresh``: as the
    server holds them now, not as this run read them."""
    current = __salt__["lxd.config_get"](unmasked=True, refresh=refresh)
    return {key: {"old": current.get(key), "new": value}
            for key, value in wanted.items() if current.get(key) != value}


def _failed(ret, comment):
    ret["result"] = False
    ret["comment"] = comment
    return ret
