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
        drift = __salt__["lxd.init_drift"](mode, preseed)
        if drift:
            ret["result"] = False
            ret["comment"] = " ".join(drift) + "; nothing was changed."
            return ret
        if __salt__["lxd.init_record"]() is not None:
            ret["comment"] = "LXD is initialised."
            return ret
        if __salt__["lxd.initialised"]():
            return _adopt(ret, mode, preseed)
        if __opts__["test"]:
            ret["changes"] = __salt__["lxd.preseed_plan"](preseed)
            ret["result"] = None
            ret["comment"] = "LXD would be initialised."
            return ret
        ret["changes"] = __salt__["lxd.apply_preseed"](preseed)
        __salt__["lxd.write_init_record"](mode, preseed)
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
    __salt__["lxd.write_init_record"](mode, preseed)
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
    if __salt__["lxd.reachable"]():
        version = __salt__["lxd.info"](refresh=False)["environment"]["server_version"]
        ret["comment"] = f"LXD {version} answers at {target}."
        return ret
    if __opts__["test"]:
        ret["result"] = None
        ret["comment"] = f"LXD does not answer at {target} yet."
        return ret
    ret["result"] = False
    ret["comment"] = f"LXD does not answer at {target}."
    return ret
