"""
Execution module for tuning a host for LXD in production: the sysctl set
from LXD's server settings guide and the kernel hardening that keeps
container names from leaking to other containers.

Sysctl values are read and applied through Salt's sysctl module and
persisted in one sysctl.d file; hardened modes are persisted as a
systemd-tmpfiles ``z`` rule file, which re-applies them at every boot.
"""

import ipaddress
import logging
import os
import stat

import salt.utils.atomicfile
import salt.utils.files
from salt.exceptions import CommandExecutionError

try:  # installed as the saltext-lxd package
    from saltext.lxd.utils import lxd_addresses
except ImportError:  # synced from _utils: Salt puts the utils directories on sys.path
    import lxd_addresses

log = logging.getLogger(__name__)

__virtualname__ = "lxd_host"

HEADER = "# Managed by Salt (lxd formula): tuning for LXD hosts. Do not edit.\n"


def __virtual__():
    if __grains__.get("kernel") != "Linux":
        return (False, "The lxd_host module tunes Linux hosts only.")
    return __virtualname__


# ---------------------------------------------------------------- sysctl


def _sysctl_text(values):
    return HEADER + "".join(f"{key} = {values[key]}\n" for key in sorted(values))


def _normalise(value):
    return " ".join(str(value).split())


# Why a key or path is left alone, as the states' comments say it.
NOT_ON_KERNEL = "not on this kernel"
NOT_IN_NAMESPACE = (
    "not visible from this network namespace (the kernel shows it to the initial "
    "one only: set it on the machine that runs this host)"
)
READ_ONLY = "not changeable from here (as in a container: set it on the machine that runs it)"


def _sysctl_path(key):
    return os.path.join("/proc/sys", *key.split("."))


def _absent_reason(key):
    """Why the kernel does not list ``key``: outside the initial network
    namespace (a container's), the kernel hides its global network keys,
    the neighbour-table defaults among them."""
    if key.startswith("net.") and not _initial_network_namespace():
        return NOT_IN_NAMESPACE
    return NOT_ON_KERNEL


def _initial_network_namespace():
    """The kernel registers the neighbour tables' defaults
    (net.ipv4.neigh.default) in the initial network namespace only."""
    neigh = "/proc/sys/net/ipv4/neigh"
    return not os.path.isdir(neigh) or os.path.isdir(os.path.join(neigh, "default"))


def _sysctl_writable(key):
    """Whether this host may write ``key``: opening it for writing (which
    writes nothing) fails where the kernel or a read-only /proc/sys refuses."""
    try:
        os.close(os.open(_sysctl_path(key), os.O_WRONLY))
    except OSError:
        return False
    return True


def sysctl_diff(values, conf):
    """
    Return what tuning ``values`` (``{key: value}``) would change: ``live``,
    the kernel values that differ (``{key: {old, new}}``), ``file``, whether
    ``conf`` needs rewriting (it persists the keys this host can set), and
    ``skipped``, the keys left alone by reason (``{reason: [key]}``): not on
    this kernel, hidden from this network namespace, or not changeable from
    here (a container's read-only view); skipping is not an error.

    CLI Example:

    .. code-block:: bash

        salt '*' lxd_host.sysctl_diff '{vm.max_map_count: 262144}' /etc/sysctl.d/60-lxd.conf
    """
    current = __salt__["sysctl.show"]()
    skipped = {}
    settable = {}
    live = {}
    for key, value in sorted(values.items()):
        if key not in current:
            skipped.setdefault(_absent_reason(key), []).append(key)
        elif not _sysctl_writable(key):
            if _normalise(current[key]) != _normalise(value):
                skipped.setdefault(READ_ONLY, []).append(key)
        else:
            settable[key] = value
            if _normalise(current[key]) != _normalise(value):
                live[key] = {"old": current[key], "new": _normalise(value)}
    return {
        "live": live,
        "file": _read(conf) != _sysctl_text(settable),
        "skipped": skipped,
        "settable": sorted(settable),
    }


def sysctl_apply(values, conf):
    """
    Apply tuning ``values`` to the running kernel and persist them in
    ``conf``; keys this host cannot set are skipped (see
    :py:func:`sysctl_diff`, which this returns as it was before applying).

    CLI Example:

    .. code-block:: bash

        salt '*' lxd_host.sysctl_apply '{vm.max_map_count: 262144}' /etc/sysctl.d/60-lxd.conf
    """
    diff = sysctl_diff(values, conf)
    for key, change in diff["live"].items():
        __salt__["sysctl.assign"](key, change["new"])
    if diff["file"]:
        _write(conf, _sysctl_text({key: values[key] for key in diff["settable"]}))
    return diff


# ---------------------------------------------------------------- hardening


def _mode(path):
    return f"{stat.S_IMODE(os.stat(path).st_mode):04o}"


def _tmpfiles_text(paths):
    rules = "".join(
        f"z {path} {_octal(modes['mode'])} - - -\n" for path, modes in sorted(paths.items())
    )
    return HEADER + rules


def _octal(mode):
    return f"{int(str(mode), 8):04o}"


def _changeable(path):
    """Whether this host may change ``path``'s mode: it must own it (in a
    container, the kernel's files belong to an unmapped owner) on a
    writable mount."""
    return (os.stat(path).st_uid == os.geteuid()
            and not os.statvfs(path).f_flag & os.ST_RDONLY)


def hardening_diff(paths, conf, harden=True):
    r"""
    Return what hardening (``harden=True``) or un-hardening ``paths``
    (``{path: {mode, default}}``) would change: ``modes``, the paths whose
    mode differs (``{path: {old, new}}``), ``file``, whether the persisted
    rule file ``conf`` (for the paths this host can change) must be written
    (or removed), and ``skipped``, the paths left alone by reason (``{reason:
    [path]}``): not on this kernel, or not changeable from here.

    CLI Example:

    .. code-block:: bash

        salt '*' lxd_host.hardening_diff \
            '{/sys/kernel/slab: {mode: "0700", default: "0755"}}' /etc/tmpfiles.d/lxd.conf
    """
    field = "mode" if harden else "default"
    modes, skipped, changeable = {}, {}, {}
    for path, wanted in sorted(paths.items()):
        if not os.path.exists(path):
            skipped.setdefault(NOT_ON_KERNEL, []).append(path)
            continue
        differs = _mode(path) != _octal(wanted[field])
        if not _changeable(path):
            if differs:
                skipped.setdefault(READ_ONLY, []).append(path)
            continue
        changeable[path] = wanted
        if differs:
            modes[path] = {"old": _mode(path), "new": _octal(wanted[field])}
    file_change = _read(conf) != _tmpfiles_text(changeable) if harden else os.path.exists(conf)
    return {"modes": modes, "file": file_change, "skipped": skipped,
            "changeable": sorted(changeable)}


def hardening_apply(paths, conf, harden=True):
    r"""
    Harden ``paths`` now and persist the modes in ``conf`` (a
    systemd-tmpfiles rule file), or with ``harden=False`` restore their
    default modes and remove ``conf``; paths this host cannot change are
    skipped. Returns :py:func:`hardening_diff` as it was before.

    CLI Example:

    .. code-block:: bash

        salt '*' lxd_host.hardening_apply \
            '{/sys/kernel/slab: {mode: "0700", default: "0755"}}' /etc/tmpfiles.d/lxd.conf
    """
    diff = hardening_diff(paths, conf, harden)
    for path, change in diff["modes"].items():
        os.chmod(path, int(change["new"], 8))
    if diff["file"]:
        if harden:
            _write(conf, _tmpfiles_text({path: paths[path] for path in diff["changeable"]}))
        else:
            os.remove(conf)
    return diff


# ---------------------------------------------------------------- addresses

def address(spec=None, port=8443):
    """
    Return the ``host:port`` an ``lxd:addresses`` value resolves to on this
    host, IPv6 in its canonical bracketed form: an IP (``port`` unless one is
    given), the first local address in a CIDR, the first address of an
    interface, or, when ``spec`` is empty, the minion's main address.

    CLI Example:

    .. code-block:: bash

        salt '*' lxd_host.address 10.0.0.0/24
    """
    if spec in (None, ""):
        return _join(_main_address(), port)
    kind, value, given_port = lxd_addresses.parse_address(spec)
    if kind == "ip":
        return _join(value, given_port or port)
    if kind == "network":
        lister = "network.ip_addrs" if value.version == 4 else "network.ip_addrs6"
        found = __salt__[lister](include_loopback=True, cidr=str(value))
        if not found:
            raise CommandExecutionError(f"no local address in {value}")
        return _join(ipaddress.ip_address(found[0]), port)
    found = __salt__["network.ip_addrs"](
        interface=value, include_loopback=True
    ) or __salt__["network.ip_addrs6"](interface=value, include_loopback=True)
    if not found:
        raise CommandExecutionError(f"interface {value} has no address")
    return _join(ipaddress.ip_address(found[0]), port)


def _main_address():
    """The address other hosts reach this minion at: its FQDN's address,
    else its first non-loopback address."""
    for candidate in __grains__.get("fqdn_ip4", []) + __salt__["network.ip_addrs"]():
        if not ipaddress.ip_address(candidate).is_loopback:
            return ipaddress.ip_address(candidate)
    found = __salt__["network.ip_addrs6"]()
    if not found:
        raise CommandExecutionError("this minion has no non-loopback address")
    return ipaddress.ip_address(found[0])


def _join(ip, port):
    host = f"[{ip.compressed}]" if ip.version == 6 else ip.compressed
    return f"{host}:{port}"


# ---------------------------------------------------------------- files


def _read(path):
    if not os.path.exists(path):
        return None
    with salt.utils.files.fopen(path) as handle:
        return handle.read()


def _write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with salt.utils.atomicfile.atomic_open(path, "w") as handle:
        handle.write(text)
    os.chmod(path, 0o644)
