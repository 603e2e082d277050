"""
Execution module for snapd: install, refresh, hold and configure snaps
through the ``snap`` command. Named ``lxd_snap``, not ``snap``: that name
is saltext-snap's (and core Salt 3006's), whose functions differ; both
can be installed beside this formula.

Configuration keys that only take effect after a reboot (for LXD, the
``lxcfs.*`` keys: LXCFS cannot be restarted under running instances) are
recorded as pending until the next boot; :py:func:`pending` lists them.

Every function that runs a command takes ``timeout``, the seconds each
command may take: the states pass the one they are given; from the
command line it defaults to ``lxd:timeouts:command``.
"""

import json
import logging
import os

import salt.utils.files
import salt.utils.path
from salt.exceptions import CommandExecutionError

try:  # installed as the saltext-lxd package
    from saltext.lxd.utils import lxd_settings, lxd_snap_rules
except ImportError:  # synced from _utils: Salt puts the utils directories on sys.path
    import lxd_settings
    import lxd_snap_rules

log = logging.getLogger(__name__)

__virtualname__ = "lxd_snap"

BOOT_ID = "/proc/sys/kernel/random/boot_id"


def __virtual__():
    if salt.utils.path.which("snap"):
        return __virtualname__
    return (
        False,
        "The lxd_snap execution module needs the snap command (snapd) on PATH; "
        "install snapd or set lxd:install:method to package or none.",
    )


def _command(program, timeout, *args, check=True):
    """``program args``, bounded by ``timeout`` seconds; an error with its
    message unless ``check`` is off."""
    result = __salt__["cmd.run_all"](
        [program, *args], python_shell=False, ignore_retcode=not check,
        timeout=timeout,
    )
    if check and result["retcode"] != 0:
        message = (result["stderr"] or result["stdout"]).strip()
        raise CommandExecutionError(f"{program} {' '.join(args)}: {message}")
    return result


def _timeout(given):
    """``given``, else the CLI default ``lxd:timeouts:command``, from the
    shared layer: the lxd_pillar module reaches this one through the daemon
    modules it asks, and modules must not call each other in circles."""
    if given is not None:
        return given
    return lxd_settings.minion_settings(__context__, __salt__)["timeouts"]["command"]


def _run(timeout, *args, check=True):
    return _command("snap", timeout, *args, check=check)


def _systemctl(timeout, *args, check=True):
    return _command("systemctl", timeout, *args, check=check)


def info(name, timeout=None):
    """
    Return what is installed of snap ``name``: version, revision, tracked
    channel, whether refreshes are held (shown by snapd 2.58.1 and later)
    and whether it is in a cohort; None when not installed.

    CLI Example:

    .. code-block:: bash

        salt '*' lxd_snap.info lxd
    """
    timeout = _timeout(timeout)
    result = _run(timeout, "list", name, "--unicode=never", check=False)
    if result["retcode"] != 0:
        return None
    return lxd_snap_rules.listed(result["stdout"], name)


def version(timeout=None):
    """
    Return the version of snapd (``snap version``; the client's when the
    daemon does not answer).

    CLI Example:

    .. code-block:: bash

        salt '*' lxd_snap.version
    """
    timeout = _timeout(timeout)
    return lxd_snap_rules.snapd_version(_run(timeout, "version")["stdout"])


def holds_supported(timeout=None):
    """
    Return whether snapd can hold one snap's refreshes and show it: ``snap
    refresh --hold`` came with snapd 2.58, the ``held`` note of ``snap
    list`` with 2.58.1 (Debian 12 ships 2.57.6).

    CLI Example:

    .. code-block:: bash

        salt '*' lxd_snap.holds_supported
    """
    timeout = _timeout(timeout)
    return lxd_snap_rules.holds_supported(version(timeout))


def wait_seeded(timeout=None):
    """
    Wait until snapd has seeded the system (``snap wait system
    seed.loaded``, bounded by ``lxd:timeouts:command``): before that, snapd
    refuses installs ("too early for operation").

    CLI Example:

    .. code-block:: bash

        salt '*' lxd_snap.wait_seeded
    """
    timeout = _timeout(timeout)
    _run(timeout, "wait", "system", "seed.loaded")
    return True


def channel_version(name, channel, timeout=None):
    """
    Return the version the store publishes for snap ``name`` in
    ``channel`` (None when the channel is closed or unknown).

    CLI Example:

    .. code-block:: bash

        salt '*' lxd_snap.channel_version lxd 5.21/stable
    """
    timeout = _timeout(timeout)
    stdout = _run(timeout, "info", name, "--unicode=never")["stdout"]
    return lxd_snap_rules.channel_version(stdout, channel)


def normalise_channel(channel):
    """
    Return ``channel`` as ``track/risk[/branch]``: ``stable`` becomes
    ``latest/stable``, ``5.21`` becomes ``5.21/stable``.

    CLI Example:

    .. code-block:: bash

        salt '*' lxd_snap.normalise_channel stable
    """
    return lxd_snap_rules.normalise_channel(channel)


def is_downgrade(name, channel, timeout=None):
    """
    Return True when moving installed snap ``name`` to ``channel`` would
    install an older version than the one running (LXD cannot be
    downgraded: its database schema only moves forward).

    CLI Example:

    .. code-block:: bash

        salt '*' lxd_snap.is_downgrade lxd 5.0/stable
    """
    timeout = _timeout(timeout)
    installed = info(name, timeout)
    target = channel_version(name, channel, timeout)
    if installed is None or target is None:
        return False
    return lxd_snap_rules.older(target, installed["version"])


def install(name, channel="latest/stable", cohort=False, timeout=None):
    """
    Install snap ``name`` from ``channel``; ``cohort=True`` joins the
    ``+`` cohort so that every machine gets the same revision.

    CLI Example:

    .. code-block:: bash

        salt '*' lxd_snap.install lxd channel=5.21/stable cohort=True
    """
    timeout = _timeout(timeout)
    _run(timeout, "install", name, *lxd_snap_rules.channel_args(channel, cohort))
    return info(name, timeout)


def refresh(name, channel, cohort=False, timeout=None):
    """
    Refresh snap ``name`` to ``channel``. Refuses a downgrade.

    CLI Example:

    .. code-block:: bash

        salt '*' lxd_snap.refresh lxd 5.21/stable
    """
    timeout = _timeout(timeout)
    if is_downgrade(name, channel, timeout):
        raise CommandExecutionError(
            f"refusing to move {name} to {channel}: it would downgrade it"
        )
    _run(timeout, "refresh", name, *lxd_snap_rules.channel_args(channel, cohort))
    return info(name, timeout)


def install_file(name, path, timeout=None):
    """
    Install the snap file at ``path`` as snap ``name``, unsigned (``snap
    install --dangerous``), over any store revision: snapd gives it a local
    revision, ``x1``, ``x2``... Returns :py:func:`info`.

    CLI Example:

    .. code-block:: bash

        salt '*' lxd_snap.install_file lxd /tmp/lxd_amd64.snap
    """
    timeout = _timeout(timeout)
    _run(timeout, "install", "--dangerous", path)
    return info(name, timeout)


def amend(name, channel, cohort=False, timeout=None):
    """
    Bring snap ``name`` from a local revision back to the store's
    ``channel`` (``snap refresh --amend``). No downgrade check: a local
    snap's version cannot be ordered against the store's.

    CLI Example:

    .. code-block:: bash

        salt '*' lxd_snap.amend lxd latest/stable
    """
    timeout = _timeout(timeout)
    _run(timeout, "refresh", name, "--amend", *lxd_snap_rules.channel_args(channel, cohort))
    return info(name, timeout)


def switch_cohort(name, cohort="+", timeout=None):
    """
    Put installed snap ``name`` in ``cohort`` (``snap switch --cohort``)
    without refreshing it: its next refresh gets the cohort's revision, as
    every other member of the cohort does.

    CLI Example:

    .. code-block:: bash

        salt '*' lxd_snap.switch_cohort lxd
    """
    timeout = _timeout(timeout)
    _run(timeout, "switch", name, f"--cohort={cohort}")
    return info(name, timeout)


def refresh_to_revision(name, channel, revision, timeout=None):
    """
    Refresh snap ``name`` to store ``revision``, tracking ``channel``
    (a joiner brought to the revision its cluster runs).

    CLI Example:

    .. code-block:: bash

        salt '*' lxd_snap.refresh_to_revision lxd 5.21/stable 28460
    """
    timeout = _timeout(timeout)
    _run(timeout, "refresh", name, f"--channel={channel}", f"--revision={revision}")
    return info(name, timeout)


def service_active(name, app, timeout=None):
    """
    Return whether the service ``app`` of snap ``name`` runs
    (``systemctl is-active snap.<name>.<app>.service``).

    CLI Example:

    .. code-block:: bash

        salt '*' lxd_snap.service_active lxd daemon
    """
    timeout = _timeout(timeout)
    return _systemctl(timeout, "is-active", "--quiet", f"snap.{name}.{app}.service",
                      check=False)["retcode"] == 0


def reload_service(name, app, timeout=None):
    """
    Reload the service ``app`` of snap ``name`` (``systemctl reload
    snap.<name>.<app>.service``: its reload-command). For LXD this restarts
    the daemon and keeps the instances running, where ``snap restart lxd``
    would shut every instance down (the snap treats any stop that is not a
    refresh as a host shutdown).

    CLI Example:

    .. code-block:: bash

        salt '*' lxd_snap.reload_service lxd daemon
    """
    timeout = _timeout(timeout)
    _systemctl(timeout, "reload", f"snap.{name}.{app}.service")
    return True


def alias(name, app, alias_name, timeout=None):
    """
    Alias ``<name>.<app>`` as ``alias_name`` (``snap alias``): a snap
    installed ``--dangerous`` has no store assertion, so the aliases the
    store grants (LXD's ``lxc``) must be made by hand.

    CLI Example:

    .. code-block:: bash

        salt '*' lxd_snap.alias lxd lxc lxc
    """
    timeout = _timeout(timeout)
    _run(timeout, "alias", f"{name}.{app}", alias_name)
    return True


def enable_socket(name, app, socket, timeout=None):
    """
    Enable and start the socket ``socket`` of service ``app`` of snap
    ``name`` (``systemctl enable --now snap.<name>.<app>.<socket>.socket``),
    which a ``--dangerous`` install leaves disabled.

    CLI Example:

    .. code-block:: bash

        salt '*' lxd_snap.enable_socket lxd daemon unix
    """
    timeout = _timeout(timeout)
    _systemctl(timeout, "enable", "--now", f"snap.{name}.{app}.{socket}.socket")
    return True


def hold(name, timeout=None):
    """
    Hold automatic refreshes of snap ``name`` indefinitely (upgrades then
    happen only through Salt). Needs snapd 2.58 (see
    :py:func:`holds_supported`); a named ``snap refresh`` still proceeds.

    CLI Example:

    .. code-block:: bash

        salt '*' lxd_snap.hold lxd
    """
    timeout = _timeout(timeout)
    _run(timeout, "refresh", "--hold", name)
    return True


def unhold(name, timeout=None):
    """
    Let snapd refresh snap ``name`` automatically again.

    CLI Example:

    .. code-block:: bash

        salt '*' lxd_snap.unhold lxd
    """
    timeout = _timeout(timeout)
    _run(timeout, "refresh", "--unhold", name)
    return True


def get(name, timeout=None):
    """
    Return the configuration of snap ``name`` as flat ``key: value`` pairs
    (``daemon.debug: 'true'``), values as strings.

    CLI Example:

    .. code-block:: bash

        salt '*' lxd_snap.get lxd
    """
    timeout = _timeout(timeout)
    result = _run(timeout, "get", "-d", name, check=False)
    if result["retcode"] != 0:
        return {}
    return lxd_snap_rules.flattened(json.loads(result["stdout"] or "{}"))


def config_value(value):
    """
    Return ``value`` as snapd stores it: booleans as ``true`` / ``false``,
    everything else as its string.

    CLI Example:

    .. code-block:: bash

        salt '*' lxd_snap.config_value True
    """
    return lxd_snap_rules.config_value(value)


def config_diff(name, config, timeout=None):
    """
    Return what setting ``config`` on snap ``name`` would change, as
    ``{key: {old, new}}``.

    CLI Example:

    .. code-block:: bash

        salt '*' lxd_snap.config_diff lxd '{daemon.syslog: true}'
    """
    timeout = _timeout(timeout)
    return lxd_snap_rules.config_changes(get(name, timeout), config)


def set_config(name, config, reboot_keys=None, timeout=None):
    """
    Set every key of ``config`` on snap ``name`` in one ``snap set``.
    Keys starting with one of the ``reboot_keys`` prefixes are recorded as
    pending until the next boot. Returns the changes as
    ``{key: {old, new}}``.

    CLI Example:

    .. code-block:: bash

        salt '*' lxd_snap.set_config lxd '{daemon.syslog: true, lxcfs.loadavg: true}' reboot_keys='[lxcfs.]'
    """
    timeout = _timeout(timeout)
    changes = config_diff(name, config, timeout)
    if not changes:
        return {}
    _run(timeout, "set", name, *(f"{key}={change['new']}" for key, change in changes.items()))
    waiting = lxd_snap_rules.waiting_for_reboot(changes, reboot_keys)
    if waiting:
        earlier = _read_pending(name)
        waiting = lxd_snap_rules.since_boot(earlier, waiting)
        changes.update(waiting)
        _write_pending(name, dict(earlier, **waiting))
    return changes


def pending(name):
    """
    Return the configuration keys of snap ``name`` set since the last boot
    that only take effect after a reboot (``{key: {old, new}}``), the
    counterpart of the LXD charm's show-pending-config action.

    CLI Example:

    .. code-block:: bash

        salt '*' lxd_snap.pending lxd
    """
    return _read_pending(name)


def _pending_path(name):
    return os.path.join(__opts__["cachedir"], "snap", f"{name}-pending.json")


def _boot_id():
    with salt.utils.files.fopen(BOOT_ID) as handle:
        return handle.read().strip()


def _read_pending(name):
    path = _pending_path(name)
    if not os.path.exists(path):
        return {}
    with salt.utils.files.fopen(path) as handle:
        record = json.load(handle)
    # A reboot since the keys were set applied them.
    return record["keys"] if record.get("boot_id") == _boot_id() else {}


def _write_pending(name, keys):
    path = _pending_path(name)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with salt.utils.files.fopen(path, "w") as handle:
        json.dump({"boot_id": _boot_id(), "keys": keys}, handle, sort_keys=True)
