"""
Execution module: instances (containers, and virtual machines where the
daemon runs them) in the default project: created from an image, their
profiles, config and devices kept, started, stopped and deleted, each
within ``lxd:timeouts``. The ``lxd_instance`` states keep them.
"""

from salt.exceptions import CommandExecutionError

try:  # installed as the saltext-lxd package
    from saltext.lxd.utils import lxd_secrets, lxd_values
except ImportError:  # synced from _utils: Salt puts the utils directories on sys.path
    import lxd_secrets
    import lxd_values

__virtualname__ = "lxd_instances"

# What the formula compares and sets on an existing instance.
KEPT = ("profiles", "config", "devices")
TYPES = ("container", "virtual-machine")
# The instance type each of LXD's instance drivers runs (the daemon lists
# its working drivers in environment.driver, "lxc | qemu").
DRIVER_TYPES = {"lxc": "container", "qemu": "virtual-machine"}


def __virtual__():
    if "lxd.request" not in __salt__:
        return (False, "the lxd execution module is not available (is pylxd installed?)")
    return __virtualname__


def get(name, unmasked=False):
    """
    Return instance ``name`` as LXD holds it (type, status, profiles, its
    own config and devices, location), or None when there is none. Secrets
    in its config (cloud-init data, environment variables) are masked (see
    ``lxd_secrets.masked``) unless ``unmasked`` (for states that compare them).

    CLI Example:

    .. code-block:: bash

        salt '*' lxd_instances.get web1
    """
    for instance in __salt__["lxd.query"]("instances", recursion=1, unmasked=unmasked) or []:
        if instance["name"] == name:
            return instance
    return None


def check_type(type, target=None):
    """
    Raise an error saying why unless this daemon (or cluster member
    ``target``) runs instances of ``type`` (``container`` or
    ``virtual-machine``): its working drivers say so
    (``environment.driver``, ``lxc | qemu``; a host without QEMU or KVM
    runs no virtual machines). Return True otherwise.

    CLI Example:

    .. code-block:: bash

        salt lxd1 lxd_instances.check_type virtual-machine
    """
    if type not in TYPES:
        raise CommandExecutionError(f"type: {type!r} is not an instance type "
                                    f"({', '.join(TYPES)})")
    if type == "virtual-machine":
        __salt__["lxd.require_extension"]("virtual-machines", "run virtual machines")
    server = __salt__["lxd.query"]("", target=target) if target else __salt__["lxd.info"]()
    drivers = server["environment"].get("driver") or ""
    runs = [DRIVER_TYPES.get(driver.strip(), driver.strip())
            for driver in drivers.split("|") if driver.strip()]
    if runs and type not in runs:
        raise CommandExecutionError(f"type: this daemon runs no {type} instances (its drivers "
                                    f"run: {', '.join(runs) or 'none'})")
    return True


def create(name, image, type="container", profiles=None, config=None, devices=None,
           ephemeral=False, target=None):
    """
    Create instance ``name`` (stopped) from the image with alias or
    fingerprint ``image``; ``type`` ``container`` or ``virtual-machine``;
    ``target`` a cluster member.

    CLI Example:

    .. code-block:: bash

        salt lxd1 lxd_instances.create web1 busybox profiles='[default]'
    """
    check_type(type, target)
    source = {"type": "image"}
    source["fingerprint" if _is_fingerprint(image) else "alias"] = image
    body = {"name": name, "type": type, "source": source, "ephemeral": ephemeral,
            "profiles": ["default"] if profiles is None else list(profiles),
            "config": _strings(config or {}),
            "devices": {device: _strings(settings)
                        for device, settings in (devices or {}).items()}}
    params = {"target": target} if target else {}
    __salt__["lxd.request"]("POST", "instances", body, **params)
    return True


def update(name, profiles=None, config=None, devices=None):
    """
    Set instance ``name``'s ``profiles`` (the list, in order), the given
    ``config`` keys and the given ``devices`` (each whole); other keys and
    devices are kept.

    CLI Example:

    .. code-block:: bash

        salt lxd1 lxd_instances.update web1 config='{limits.cpu: "2"}'
    """
    current = _existing(name)
    body = {field: current[field] for field in ("architecture", "ephemeral", "stateful",
                                                "description", *KEPT)}
    if profiles is not None:
        body["profiles"] = list(profiles)
    body["config"] = dict(current["config"], **_strings(config or {}))
    body["devices"] = dict(current["devices"], **{
        device: _strings(settings) for device, settings in (devices or {}).items()})
    __salt__["lxd.request"]("PUT", f"instances/{name}", body)
    return True


def set_state(name, action, force=False, timeout=None):
    """
    ``start``, ``stop`` or ``restart`` instance ``name`` (``force``: stop
    without waiting for a clean shutdown), waiting at most ``timeout``
    seconds (default ``lxd:timeouts:operation``).

    CLI Example:

    .. code-block:: bash

        salt lxd1 lxd_instances.set_state web1 stop
    """
    if timeout is None:
        timeout = __salt__["lxd_pillar.merge"]()["timeouts"]["operation"]
    __salt__["lxd.request"]("PUT", f"instances/{name}/state",
                            {"action": action, "timeout": timeout, "force": force})
    return True


def delete(name):
    """
    Delete instance ``name`` (it must be stopped).

    CLI Example:

    .. code-block:: bash

        salt lxd1 lxd_instances.delete web1
    """
    __salt__["lxd.request"]("DELETE", f"instances/{name}")
    return True


def differences(name, profiles=None, config=None, devices=None, current=None):
    """
    Return what :py:func:`update` would change on instance ``name``: per
    field, old and new. ``current``: the instance as :py:func:`get` just
    returned it (not read again).

    CLI Example:

    .. code-block:: bash

        salt lxd1 lxd_instances.differences web1 config='{limits.cpu: "2"}'
    """
    current = current or _existing(name)
    changes = {}
    if profiles is not None and list(profiles) != current["profiles"]:
        changes["profiles"] = {"old": current["profiles"], "new": list(profiles)}
    for field, wanted in (("config", _strings(config or {})),
                          ("devices", {device: _strings(settings)
                                       for device, settings in (devices or {}).items()})):
        held = current[field]
        changed = {key: {"old": held.get(key), "new": value}
                   for key, value in wanted.items() if held.get(key) != value}
        if changed:
            changes[field] = changed
    return lxd_secrets.masked(changes)


def _existing(name):
    # as LXD has it: compared, and written back by update
    current = get(name, unmasked=True)
    if current is None:
        raise CommandExecutionError(f"there is no instance {name}")
    return current


def _strings(mapping):
    return lxd_values.stringified(mapping)


def _is_fingerprint(image):
    return len(image) >= 12 and all(char in "0123456789abcdef" for char in image)
