"""
States that tune a host for LXD in production (over the ``lxd_host``
execution module).

.. code-block:: yaml

    /etc/sysctl.d/60-lxd.conf:
      lxd_host.sysctl_tuned:
        - values:
            vm.max_map_count: 262144

    /etc/tmpfiles.d/lxd-hardening.conf:
      lxd_host.hardened:
        - paths:
            /sys/kernel/slab: {mode: '0700', default: '0755'}
"""

from salt.exceptions import CommandExecutionError

__virtualname__ = "lxd_host"


def __virtual__():
    if "lxd_host.sysctl_diff" in __salt__:
        return __virtualname__
    return (False, "the lxd_host execution module is not available")


def _skipped(skipped):
    """The comment's account of what was left alone, and why."""
    return "".join(f" Skipped, {reason}: {', '.join(names)}."
                   for reason, names in sorted(skipped.items()))


def sysctl_tuned(name, values):
    """
    Ensure the kernel runs with the sysctl ``values`` and that they persist
    in the sysctl.d file ``name``. Keys this host cannot set (not on its
    kernel, hidden from its network namespace, read-only from a container)
    are skipped and named in the comment, with the reason.

    name
        The sysctl.d file that persists the values.

    values
        ``{key: value}``.
    """
    ret = {"name": name, "result": True, "changes": {}, "comment": ""}
    try:
        if __opts__["test"]:
            diff = __salt__["lxd_host.sysctl_diff"](values, name)
        else:
            diff = __salt__["lxd_host.sysctl_apply"](values, name)
    except (CommandExecutionError, OSError) as exc:
        ret["result"] = False
        ret["comment"] = f"The sysctl tuning failed: {exc}"
        return ret
    changes = dict(diff["live"])
    if diff["file"]:
        changes[name] = "written"
    if not changes:
        ret["comment"] = "The sysctl tuning is in place." + _skipped(diff["skipped"])
        return ret
    if __opts__["test"]:
        ret["result"] = None
        ret["changes"] = changes
        ret["comment"] = "The sysctl tuning would be applied." + _skipped(diff["skipped"])
        return ret
    ret["changes"] = changes
    ret["comment"] = "The sysctl tuning was applied." + _skipped(diff["skipped"])
    return ret


def _hardening(name, paths, harden):
    ret = {"name": name, "result": True, "changes": {}, "comment": ""}
    try:
        if __opts__["test"]:
            diff = __salt__["lxd_host.hardening_diff"](paths, name, harden)
        else:
            diff = __salt__["lxd_host.hardening_apply"](paths, name, harden)
    except (CommandExecutionError, OSError) as exc:
        ret["result"] = False
        ret["comment"] = f"The kernel hardening failed: {exc}"
        return ret
    changes = dict(diff["modes"])
    if diff["file"]:
        changes[name] = "written" if harden else "removed"
    verb = "hardened" if harden else "restored to their default modes"
    if not changes:
        ret["comment"] = f"The kernel paths are {verb}." + _skipped(diff["skipped"])
        return ret
    ret["changes"] = changes
    if __opts__["test"]:
        ret["result"] = None
        ret["comment"] = f"The kernel paths would be {verb}." + _skipped(diff["skipped"])
        return ret
    ret["comment"] = f"The kernel paths were {verb}." + _skipped(diff["skipped"])
    return ret


def hardened(name, paths):
    """
    Ensure the kernel ``paths`` have their hardened modes now and at every
    boot (a systemd-tmpfiles rule file ``name``). Paths this host cannot
    change (missing, or not its own to change) are skipped and named in the
    comment, with the reason.

    name
        The tmpfiles.d file that persists the modes.

    paths
        ``{path: {mode: hardened mode, default: the kernel's own mode}}``.
    """
    return _hardening(name, paths, harden=True)


def unhardened(name, paths):
    """
    Ensure the kernel ``paths`` are back to their default modes and that the
    rule file ``name`` is gone.

    name
        The tmpfiles.d file that persisted the hardened modes.

    paths
        ``{path: {mode: hardened mode, default: the kernel's own mode}}``.
    """
    return _hardening(name, paths, harden=False)
