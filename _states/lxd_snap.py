"""
States for snaps (over the ``lxd_snap`` execution module; ``snap`` is
saltext-snap's name).

.. code-block:: yaml

    lxd:
      lxd_snap.installed:
        - channel: 5.21/stable
        - cohort: true
        - hold: true

    lxd-snap-config:
      lxd_snap.configured:
        - name: lxd
        - config:
            daemon.syslog: true
            lxcfs.loadavg: true
        - reboot_keys: [lxcfs.]
"""

from salt.exceptions import CommandExecutionError

__virtualname__ = "lxd_snap"


def __virtual__():
    if "lxd_snap.info" in __salt__:
        return __virtualname__
    return (False, "the lxd_snap execution module is not available (no snap command)")


def installed(name, channel="latest/stable", cohort=False, hold=False, refresh=True,
              timeout=None):
    """
    Ensure snap ``name`` is installed and tracks ``channel``. A channel
    change refreshes the snap, unless it would downgrade it: that fails and
    changes nothing.

    channel
        ``[track/]risk[/branch]``.

    cohort
        Install and refresh with ``--cohort=+``, so that every machine gets
        the same revision (cluster members must run the same LXD); an
        installed snap outside the cohort is switched into it (``snap
        switch --cohort=+``, no refresh: its next refresh lands there).

    hold
        Hold snapd's automatic refreshes: upgrades happen through Salt only.
        Needs snapd 2.58.1; with an older snapd the state fails before
        changing anything.

    refresh
        Refresh an installed snap to a changed ``channel`` here. ``False``
        for LXD cluster members: they must not all refresh at once, so the
        change is left to the ``lxd.cluster.upgrade`` orchestrate, which
        refreshes them one at a time (a fresh install still happens here).

    timeout
        Seconds each ``snap`` command may take (default
        ``lxd:timeouts:command``).
    """
    ret = {"name": name, "result": True, "changes": {}, "comment": ""}
    channel = __salt__["lxd_snap.normalise_channel"](channel)
    deferred = ""  # a cluster member's channel change, left to the rolling upgrade
    try:
        current = __salt__["lxd_snap.info"](name, timeout=timeout)
        if current is None:
            ret["changes"]["installed"] = {"old": None, "new": channel}
            action = "install"
        elif __salt__["lxd_snap.normalise_channel"](current["channel"]) != channel:
            if __salt__["lxd_snap.is_downgrade"](name, channel, timeout=timeout):
                ret["result"] = False
                ret["comment"] = (
                    f"lxd:install:channel: moving {name} from {current['channel']} "
                    f"({current['version']}) to {channel} would downgrade it, and "
                    "LXD cannot be downgraded; nothing was changed."
                )
                return ret
            if refresh:
                ret["changes"]["channel"] = {"old": current["channel"], "new": channel}
                action = "refresh"
            else:
                action = None
                deferred = _rolled_out_elsewhere(name, current["channel"], channel)
        else:
            action = None
        held = bool(current and current["held"])
        if held != hold:
            if hold and not __salt__["lxd_snap.holds_supported"](timeout=timeout):
                ret["result"] = False
                ret["changes"] = {}
                ret["comment"] = _no_hold(name, timeout)
                return ret
            ret["changes"]["held"] = {"old": held, "new": hold}
        # a local revision (a sideload) has no cohort: snapd drops it
        if cohort and current and not current["cohort"] and not (
                current["revision"].startswith("x")):
            ret["changes"]["cohort"] = {"old": None, "new": "+"}
        if not ret["changes"]:
            ret["comment"] = deferred or f"Snap {name} is installed from {channel}."
            return ret
        aside = " and ".join({"held": "refresh hold", "cohort": "cohort"}[key]
                             for key in ret["changes"] if key in ("held", "cohort"))
        if __opts__["test"]:
            ret["result"] = None
            ret["comment"] = (f"{deferred} Its {aside} would change." if deferred
                              else f"Snap {name} would be brought to {channel}.")
            return ret
        if action == "install":
            __salt__["lxd_snap.wait_seeded"](timeout=timeout)
            __salt__["lxd_snap.install"](name, channel, cohort=cohort, timeout=timeout)
        elif action == "refresh":
            __salt__["lxd_snap.refresh"](name, channel, cohort=cohort, timeout=timeout)
        if "cohort" in ret["changes"] and action != "refresh":
            __salt__["lxd_snap.switch_cohort"](name, timeout=timeout)
        if "held" in ret["changes"]:
            __salt__["lxd_snap.hold" if hold else "lxd_snap.unhold"](name, timeout=timeout)
    except CommandExecutionError as exc:
        ret["result"] = False
        ret["changes"] = {}
        ret["comment"] = f"Snap {name}: {exc}"
        return ret
    ret["comment"] = (f"{deferred} Its {aside} was changed." if deferred
                      else f"Snap {name} was brought to {channel}.")
    return ret


def _no_hold(name, timeout):
    version = __salt__["lxd_snap.version"](timeout=timeout)
    return (
        f"lxd:install:hold: snapd {version} cannot hold the refreshes of snap {name} "
        "(snap refresh --hold needs snapd 2.58, and 2.58.1 to show it); install a "
        "newer snapd (e.g. the snapd snap: snap install snapd) or set "
        "lxd:install:hold false (snap set system refresh.hold=<time> defers every "
        "snap's automatic refreshes, for at most 95 days); nothing was changed."
    )


def _reloaded(name, app, timeout):
    unit = f"snap.{name}.{app}.service"
    if not __salt__["lxd_snap.service_active"](name, app, timeout=timeout):
        return f" {unit} is not running: it reads the configuration when it starts."
    if __opts__["test"]:
        return f" {unit} would be reloaded."
    __salt__["lxd_snap.reload_service"](name, app, timeout=timeout)
    return f" {unit} was reloaded."


def _rolled_out_elsewhere(name, current, wanted):
    return (
        f"Snap {name} tracks {current}; lxd:install:channel asks for {wanted}. "
        "Cluster members are not refreshed here: the channel change is rolled out "
        "member by member by `salt-run state.orchestrate lxd.cluster.upgrade`."
    )


def configured(name, config, reboot_keys=None, reload=None, timeout=None):
    """
    Ensure snap ``name`` has every key of ``config`` set, all in one
    ``snap set``. Keys starting with one of ``reboot_keys`` take effect only
    after a reboot: they are recorded as pending (see ``lxd_snap.pending``) and
    named in the comment until the machine reboots.

    config
        ``{key: value}``; booleans are set as ``true`` / ``false``.

    reboot_keys
        Key prefixes that need a reboot, e.g. ``[lxcfs.]`` for LXD.

    reload
        The snap's service to reload when a key that does not wait for a
        reboot changed, if it runs (``daemon`` for LXD: its configure hook
        only writes the config, which the daemon reads when it starts).

    timeout
        Seconds each ``snap`` or ``systemctl`` command may take (default
        ``lxd:timeouts:command``).
    """
    ret = {"name": name, "result": True, "changes": {}, "comment": ""}
    changes = {}
    try:
        if __opts__["test"]:
            changes = __salt__["lxd_snap.config_diff"](name, config, timeout=timeout)
            ret["result"] = None if changes else True
            verb = "would be set" if changes else "is set"
        else:
            changes = __salt__["lxd_snap.set_config"](name, config, reboot_keys, timeout=timeout)
            verb = "was set" if changes else "is set"
        live = [key for key in changes if not key.startswith(tuple(reboot_keys or ()))]
        reloaded = _reloaded(name, reload, timeout) if reload and live else ""
        pending = __salt__["lxd_snap.pending"](name)
    except CommandExecutionError as exc:
        ret["result"] = False
        ret["changes"] = {} if __opts__["test"] else changes
        ret["comment"] = f"Snap {name} configuration: {exc}"
        return ret
    ret["changes"] = changes
    ret["comment"] = f"Snap {name} configuration {verb}.{reloaded}"
    waiting = sorted(
        set(pending)
        | {k for k in changes if k.startswith(tuple(reboot_keys or ()))}
    )
    if waiting:
        ret["comment"] += f" Pending a reboot to take effect: {', '.join(waiting)}."
    return ret
