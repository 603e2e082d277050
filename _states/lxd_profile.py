"""
One LXD profile, for SLS files that manage profiles one by one (as Salt
3007's ``lxd_profile`` states did, which Salt 3008 removed). The profile is
kept as a ``lxd:profiles`` entry would be (``lxd_resources``): created and
marked by the formula, updated when it differs, deleted only when the
formula made it; a profile made by hand is never touched.

.. code-block:: yaml

    web-profile:
      lxd_profile.present:
        - name: web
        - description: Web servers
        - config: {limits.cpu: "2"}
        - devices:
            eth0: {type: nic, name: eth0, network: lxdbr0}

The daemon is reached as the formula reaches it (``lxd:connection``):
Salt 3007's ``remote_addr``, ``cert``, ``key`` and ``verify_cert`` are
refused. Its list form of ``config`` (``[{key: k, value: v}]``) is taken.
"""

from salt.exceptions import CommandExecutionError

__virtualname__ = "lxd_profile"

REMOTE_ARGUMENTS = ("remote_addr", "cert", "key", "verify_cert")


def __virtual__():
    if "lxd_resources.ensure" not in __salt__:
        return (False, "the lxd_resources execution module is not available (pylxd?)")
    return __virtualname__


def present(name, description=None, config=None, devices=None, project=None, **remote):
    """
    Ensure profile ``name`` exists (in ``project``, default the default
    project) with this ``description``, ``config`` (a mapping, or Salt
    3007's list of ``{key, value}``) and ``devices`` (by name, each with a
    ``type``).
    """
    if isinstance(config, list):
        config = {item["key"]: item["value"] for item in config}
    entry = {"description": description, "config": config or {}, "devices": devices or {},
             "project": project}
    return _ensure(name, entry, remote)


def absent(name, project=None, **remote):
    """
    Ensure profile ``name`` (in ``project``) is gone, if this formula
    created it (a profile made by hand is left alone).
    """
    return _ensure(name, {"present": False, "project": project}, remote)


def _ensure(name, entry, remote):
    ret = {"name": name, "result": True, "changes": {}, "comment": ""}
    given = [key for key in REMOTE_ARGUMENTS if remote.get(key) is not None]
    if given:
        ret["result"] = False
        ret["comment"] = (f"{', '.join(given)}: this formula reaches LXD through "
                          "lxd:connection in pillar; nothing was changed")
        return ret
    errors = __salt__["lxd_pillar.validate"]({"profiles": {name: entry}}, check_daemon=False)
    if errors:
        ret["result"] = False
        ret["comment"] = "\n".join(errors).replace("lxd:profiles:", "profile ")
        return ret
    try:
        outcome = __salt__["lxd_resources.ensure"]({"profiles": {name: entry}},
                                                   test=__opts__["test"])
    except CommandExecutionError as exc:
        ret["result"] = False
        ret["comment"] = f"Profile {name} could not be read: {exc}"
        return ret
    if outcome["errors"]:
        ret["result"] = False
        ret["comment"] = "\n".join(outcome["errors"])
        return ret
    ret["changes"] = outcome["changes"].get("profiles", {}).get(name, {})
    if isinstance(ret["changes"], str):
        ret["changes"] = {"profile": ret["changes"]}
    notes = "".join(f" ({note})" for note in outcome["notes"])
    if not ret["changes"]:
        ret["comment"] = f"Profile {name} is as wanted.{notes}"
    elif __opts__["test"]:
        ret["result"] = None
        ret["comment"] = f"Profile {name} would be changed.{notes}"
    else:
        ret["comment"] = f"Profile {name} was changed.{notes}"
    return ret
