"""
State for sideloading LXD on a snap install, the LXD charm's ``lxd-binary``
and ``lxd-snap`` resources (over the ``lxd_sideload`` execution module).

.. code-block:: yaml

    lxd-sideload:
      lxd_sideload.applied:
        - name: lxd
        - binary: salt://lxd-debug/lxd.tar.gz       # holds lxd_<arch>
        - snap: salt://lxd-debug/lxd_amd64.snap
        - binary_path: /var/snap/lxd/common/lxd.debug
        - channel: latest/stable
        - command_timeout: 600
"""

from salt.exceptions import CommandExecutionError

__virtualname__ = "lxd_sideload"


def __virtual__():
    if "lxd_sideload.plan" in __salt__:
        return __virtualname__
    return (False, "the lxd_sideload execution module is not available (no snap command)")


def applied(name, binary=None, snap=None, binary_path=None, channel=None, cohort=None,
            command_timeout=None):
    """
    Ensure the sideloads given are in place on snap ``name``: the
    ``binary`` at ``binary_path`` (LXD restarted when it changes), the
    ``snap`` installed as a local revision. Each source is a ``salt://``
    file or a tarball holding ``lxd_<arch>`` / ``lxd_<arch>.snap``; an empty
    file removes that sideload (the snap goes back to ``channel``, with
    ``cohort``); None leaves that kind alone. Changes are reported by
    sha256. A missing file or a tarball without this architecture's member
    fails, naming ``lxd:sideload:<kind>``, and changes nothing. Commands
    are bounded by ``command_timeout`` seconds (``lxd:timeouts:command``).
    """
    ret = {"name": name, "result": True, "changes": {}, "comment": ""}
    if not (binary or snap):
        ret["comment"] = "Nothing to sideload (lxd:sideload is empty)."
        return ret
    target = {"name": name, "channel": channel, "binary_path": binary_path,
              "command_timeout": command_timeout}
    try:
        if __opts__["test"]:
            changes = __salt__["lxd_sideload.plan"](binary, snap, **target)
        else:
            changes = __salt__["lxd_sideload.apply"](binary, snap, cohort=cohort, **target)
    except CommandExecutionError as exc:
        ret["result"] = False
        ret["comment"] = f"Sideloading LXD failed: {exc}"
        return ret
    ret["changes"] = changes
    if not changes:
        ret["comment"] = "The LXD sideload is in place."
    elif __opts__["test"]:
        ret["result"] = None
        ret["comment"] = f"The LXD sideload would change: {', '.join(sorted(changes))}."
    else:
        ret["comment"] = f"The LXD sideload changed: {', '.join(sorted(changes))}."
    return ret
