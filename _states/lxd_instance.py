"""
LXD instances, for what Salt 3007's ``lxd_container`` states did (Salt
3008 removed them): containers, and virtual machines where the daemon runs
them, in the default project.

.. code-block:: yaml

    web1:
      lxd_instance.present:
        - source: busybox              # an image alias or fingerprint
        - profiles: [default, web]
        - config: {limits.cpu: "2"}
        - running: true

    old-web:
      lxd_instance.absent:
        - stop: true

Salt 3007's ``source`` mapping (``{type: image, alias: ...}`` or
``fingerprint``), ``running``, ``profiles``, ``config``, ``devices``,
``ephemeral`` and ``restart_on_change`` are taken; ``architecture`` comes
from the image, and ``remote_addr``, ``cert``, ``key`` and ``verify_cert``
are refused (the formula reaches LXD through ``lxd:connection``).
"""

from salt.exceptions import CommandExecutionError

__virtualname__ = "lxd_instance"

REMOTE_ARGUMENTS = ("remote_addr", "cert", "key", "verify_cert")


def __virtual__():
    if "lxd_instances.get" not in __salt__:
        return (False, "the lxd_instances execution module is not available (pylxd?)")
    return __virtualname__


def present(name, source=None, type="container", profiles=None, config=None, devices=None,
            running=None, ephemeral=False, restart_on_change=False, target=None, **remote):
    """
    Ensure instance ``name`` exists (created from image ``source`` when
    missing, on cluster member ``target`` if given) with these
    ``profiles``, ``config`` keys and ``devices``; ``running`` True starts
    it, False stops it, None leaves it. ``restart_on_change`` restarts a
    running instance whose config or devices changed.
    """
    ret = _ret(name)
    if _refused(ret, remote):
        return ret
    try:
        current = __salt__["lxd_instances.get"](name, unmasked=True)
        if current is None:
            return _created(ret, name, source, type, profiles, config, devices, running,
                            ephemeral, target)
        changes = __salt__["lxd_instances.differences"](name, profiles, config, devices,
                                                          current=current)
        status = _wanted_status(current, running)
        if status:
            changes["status"] = status
        restart = restart_on_change and current["status"] == "Running" and running is not False \
            and bool({"config", "devices"} & set(changes))
        if restart:
            changes["restarted"] = True
        ret["changes"] = changes
        if not changes:
            ret["comment"] = f"Instance {name} is as wanted."
            return ret
        if __opts__["test"]:
            ret["result"] = None
            ret["comment"] = f"Instance {name} would be changed."
            return ret
        if set(changes) - {"status", "restarted"}:
            __salt__["lxd_instances.update"](name, profiles, config, devices)
        if status:
            __salt__["lxd_instances.set_state"](name, "start" if running else "stop")
        elif restart:
            __salt__["lxd_instances.set_state"](name, "restart")
    except CommandExecutionError as exc:
        ret["changes"] = {}
        return _failed(ret, f"Instance {name}: {exc}")
    ret["comment"] = f"Instance {name} was changed."
    return ret


def running(name, restart=False, **remote):
    """Ensure instance ``name`` runs; ``restart``: restart it if it already
    runs (a change on every run, as in Salt 3007)."""
    return _status(name, True, remote, force=restart)


def stopped(name, kill=False, **remote):
    """Ensure instance ``name`` is stopped; ``kill``: without waiting for a
    clean shutdown."""
    return _status(name, False, remote, force=kill)


def absent(name, stop=False, **remote):
    """
    Ensure instance ``name`` is gone; a running one is stopped first when
    ``stop`` is True, else refused.
    """
    ret = _ret(name)
    if _refused(ret, remote):
        return ret
    try:
        current = __salt__["lxd_instances.get"](name)
        if current is None:
            ret["comment"] = f"Instance {name} is absent."
            return ret
        if current["status"] == "Running" and not stop:
            return _failed(ret, f"Instance {name} is running: stop it first, or give "
                                "stop: true; nothing was changed.")
        ret["changes"] = {"instance": {"old": current["status"], "new": None}}
        if __opts__["test"]:
            ret["result"] = None
            ret["comment"] = f"Instance {name} would be deleted."
            return ret
        if current["status"] == "Running":
            __salt__["lxd_instances.set_state"](name, "stop", force=True)
        # an ephemeral instance is gone once stopped
        if __salt__["lxd_instances.get"](name) is not None:
            __salt__["lxd_instances.delete"](name)
    except CommandExecutionError as exc:
        ret["changes"] = {}
        return _failed(ret, f"Instance {name}: {exc}")
    ret["comment"] = f"Instance {name} was deleted."
    return ret


def _created(ret, name, source, type, profiles, config, devices, running, ephemeral, target):
    image = source.get("alias") or source.get("fingerprint") if isinstance(source, dict) \
        else source
    if not image:
        return _failed(ret, f"Instance {name} does not exist and no source image was given.")
    ret["changes"] = {"instance": {"old": None, "new": f"{type} from {image}"}}
    if running:
        ret["changes"]["status"] = {"old": None, "new": "Running"}
    if __opts__["test"]:
        # what create checks first, asked here so a dry run says it too
        __salt__["lxd_instances.check_type"](type, target)
        ret["result"] = None
        ret["comment"] = f"Instance {name} would be created from {image}."
        return ret
    __salt__["lxd_instances.create"](name, image, type, profiles, config, devices, ephemeral,
                                     target)
    if running:
        __salt__["lxd_instances.set_state"](name, "start")
    ret["comment"] = f"Instance {name} was created from {image}."
    return ret


def _status(name, run, remote, force=False):
    """Start or stop ``name``; ``force``: restart one already running, or
    stop without a clean shutdown."""
    ret = _ret(name)
    if _refused(ret, remote):
        return ret
    try:
        current = __salt__["lxd_instances.get"](name)
        if current is None:
            return _failed(ret, f"There is no instance {name}.")
        status = _wanted_status(current, run)
        action, done = ("start", "started") if run else ("stop", "stopped")
        if not status and run and force:
            status = {"old": "Running", "new": "Running (restarted)"}
            action, done = "restart", "restarted"
        if not status:
            ret["comment"] = f"Instance {name} is {current['status'].lower()}."
            return ret
        ret["changes"] = {"status": status}
        if __opts__["test"]:
            ret["result"] = None
            ret["comment"] = f"Instance {name} would be {done}."
            return ret
        __salt__["lxd_instances.set_state"](name, action, force=force and not run)
    except CommandExecutionError as exc:
        ret["changes"] = {}
        return _failed(ret, f"Instance {name}: {exc}")
    ret["comment"] = f"Instance {name} was {done}."
    return ret


def _wanted_status(current, running):
    """The status change ``running`` asks of ``current``, or None."""
    if running is None or (current["status"] == "Running") == bool(running):
        return None
    return {"old": current["status"], "new": "Running" if running else "Stopped"}


def _refused(ret, remote):
    given = [key for key in REMOTE_ARGUMENTS if remote.get(key) is not None]
    if given:
        _failed(ret, f"{', '.join(given)}: this formula reaches LXD through lxd:connection "
                     "in pillar; nothing was changed")
    return bool(given)


def _ret(name):
    return {"name": name, "result": True, "changes": {}, "comment": ""}


def _failed(ret, comment):
    ret["result"] = False
    ret["comment"] = comment
    return ret
