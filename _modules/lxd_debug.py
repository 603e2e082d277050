"""
Execution module for LXD bug reports: one archive holding what an LXD bug
report needs, the counterpart of the LXD charm's ``debug`` action.

The archive holds the output of the snap's ``lxd.buginfo`` when the host has
it, and in any case the same facts gathered here: the daemon's API (server
info, cluster, instances, networks, storage, profiles, projects,
certificates, warnings, operations), its log and the host (kernel, OS,
memory, disk, snap, dmesg, the formula's sysctl keys). The daemon is the one
the ``lxd`` module connects to (``lxd:connection``, ``$LXD_DIR``, the snap or
package socket). Secret values are masked, by the formula's one
definition of what is secret (``lxd_secrets.masked``: passwords, secrets, tokens,
private and client keys, proxy and Loki credentials, cloud-init data and
environment variables of instances and profiles), in everything taken from
the API and in the ``lxd.buginfo`` text (``lxd_secrets.masked_text``).

With ``lxd:backend: incus`` the daemon's own tools are Incus's: ``incusd``
and ``incus`` for the versions, its log names; Incus ships no buginfo tool
and no snap, so those parts are skipped with the reason.
"""

import datetime
import importlib.util
import io
import json
import logging
import os
import tarfile
import time

import salt.utils.files
import salt.utils.path
from salt.exceptions import CommandExecutionError, SaltException

try:  # installed as the saltext-lxd package
    from saltext.lxd.utils import lxd_secrets
except ImportError:  # synced from _utils: Salt puts the utils directories on sys.path
    import lxd_secrets

log = logging.getLogger(__name__)

__virtualname__ = "lxd_debug"

SNAP_BUGINFO = "/snap/bin/lxd.buginfo"
# Per backend: the bug report tool, the commands that print the daemon's and
# the client's versions, the snap (None: not a snap), the daemon log's name
# in its directory, and the logs of the snap and the distribution package,
# looked for when the daemon is not reached over a local socket (so its
# directory is unknown).
TOOLS = {
    "lxd": {
        "buginfo": ("lxd.buginfo", SNAP_BUGINFO),
        "versions": {"host/lxd-version.txt": ("lxd", "--version"),
                     "host/lxc-version.txt": ("lxc", "--version")},
        "snap": "lxd",
        "log_name": "lxd.log",
        "default_logs": ("/var/snap/lxd/common/lxd/logs/lxd.log",
                         "/var/log/lxd/lxd.log", "/var/lib/lxd/logs/lxd.log"),
    },
    "incus": {
        "buginfo": (),
        "versions": {"host/incusd-version.txt": ("/usr/libexec/incus/incusd", "--version"),
                     "host/incus-version.txt": ("incus", "--version")},
        "snap": None,
        "log_name": "incus.log",
        "default_logs": ("/var/log/incus/incus.log", "/var/lib/incus/logs/incus.log"),
    },
}
# A bug report needs the recent history, not a log that grew for months.
LOG_TAIL_BYTES = 4 * 1024 * 1024
DMESG_LINES = 300
COMMAND_TIMEOUT = 120
# Under the master's cachedir/minions/<id>/files/
UPLOAD_DIR = "lxd-debug"


def __virtual__():
    if importlib.util.find_spec("pylxd") is None:
        return (
            False,
            "The lxd_debug module reads the daemon through the lxd module, "
            "which needs the pylxd Python library: install it into Salt's "
            "Python (salt-pip install pylxd).",
        )
    return __virtualname__


def bundle(dest=None, push=False, sysctl_keys=None):
    """
    Collect what an LXD bug report needs into one ``.tar.gz`` and return
    ``path``, ``size`` (bytes), ``files`` (what the archive holds, under its
    top directory, named like the archive), ``skipped`` (``{part: reason}``
    for every part that could not be collected: a failing part never stops
    the others) and ``pushed``.

    The archive is written to ``dest`` (a directory), by default
    ``<minion cachedir>/lxd-debug/``, as
    ``lxd-debug-<minion id>-<UTC time>.tar.gz``, mode 0600. It
    holds ``buginfo.txt`` (the snap's ``lxd.buginfo``, when installed,
    secrets masked),
    ``lxd/*.json`` (the daemon's API, secrets masked), ``logs/<path>`` (the
    last 4 MiB of each daemon log) and ``host/*`` (uname, os-release, kernel
    command line, uptime, memory, disk, snap, dmesg, sysctl, versions); the
    sysctl keys shown are ``sysctl_keys`` (default: those of ``lxd:sysctl``).

    ``push=True`` sends the archive to the master with ``cp.push``; it lands
    in ``<master cachedir>/minions/<minion id>/files/lxd-debug/``. The
    master accepts it only with ``file_recv: True`` in its configuration
    (and ``file_recv_max_size``, in MiB, above the archive's size). When the
    master refuses, ``pushed`` is False, ``push_error`` says why and the job
    fails; the archive stays on the minion (a master that stopped at
    ``file_recv_max_size`` keeps the incomplete part it received).

    CLI Example:

    .. code-block:: bash

        salt lxd1 lxd_debug.bundle
        salt lxd1 lxd_debug.bundle push=True
        salt-call lxd_debug.bundle dest=/root
    """
    directory = dest or os.path.join(__opts__["cachedir"], "lxd-debug")
    os.makedirs(directory, mode=0o700, exist_ok=True)
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%SZ")
    top = f"lxd-debug-{__opts__['id']}-{stamp}"
    path = os.path.join(directory, f"{top}.tar.gz")
    files, skipped = [], {}
    # logs and configuration: not for other local users
    with salt.utils.files.set_umask(0o077), tarfile.open(path, "w:gz") as archive:
        for name, collect in _collectors(sysctl_keys):
            try:
                content = _encoded(collect())
            # A bug report is wanted most when things are broken: whatever
            # one part raises, the others are still collected.
            except Exception as exc:  # pylint: disable=broad-except
                log.debug("lxd_debug: %s not collected: %s", name, exc)
                skipped[name] = str(exc) or type(exc).__name__
                continue
            _add(archive, f"{top}/{name}", content)
            files.append(name)
    result = {
        "path": path,
        "size": os.path.getsize(path),
        "files": files,
        "skipped": skipped,
        "pushed": False,
    }
    if push:
        error = _push(path, result["size"])
        result["pushed"] = error is None
        if error:
            result["push_error"] = error
            __context__["retcode"] = 1
    return result


def _push(path, size):
    """Send the archive to the master; return None, or why it was not."""
    if __opts__.get("file_client") == "local":
        return "this minion runs masterless: there is no master to push to"
    try:
        pushed = __salt__["cp.push"](
            path, upload_path=f"{UPLOAD_DIR}/{os.path.basename(path)}"
        )
    except SaltException as exc:
        return f"the master could not be reached: {exc}"
    if not pushed:
        return (
            "the master refused the archive: it needs file_recv: True in its "
            f"configuration and file_recv_max_size (MiB) above {size} bytes "
            "(what it received up to that size is kept, incomplete); the "
            f"archive stays at {path}"
        )
    return None


def _add(archive, name, content):
    member = tarfile.TarInfo(name)
    member.size = len(content)
    member.mtime = int(time.time())
    member.mode = 0o600
    archive.addfile(member, io.BytesIO(content))


def _encoded(content):
    """Archive bytes for what a collector returned: bytes and text as they
    are, anything else as JSON with secrets masked."""
    if isinstance(content, bytes):
        return content
    if isinstance(content, str):
        return content.encode()
    masked = lxd_secrets.masked(content)
    return (json.dumps(masked, indent=2, sort_keys=True) + "\n").encode()


# ---------------------------------------------------------------- what to collect


def _collectors(sysctl_keys):
    """(archive name, callable) for every part of the bundle. A callable
    returns bytes, text or data for JSON; what it raises is the reason the
    part is skipped."""

    def sysctl():
        # resolved within the part: settings that cannot be read skip it only
        keys = sysctl_keys
        if keys is None:
            keys = __salt__["lxd_pillar.merge"]()["sysctl"]
        return _sysctl(keys)

    daemon_dir = _daemon_dir()
    tools = TOOLS.get(__salt__["lxd.backend"](), TOOLS["lxd"])
    table = [
        ("buginfo.txt", lambda: _buginfo(tools["buginfo"])),
        ("lxd/server.json", __salt__["lxd.info"]),
        ("lxd/api-extensions.json", __salt__["lxd.api_extensions"]),
        ("lxd/resources.json", lambda: __salt__["lxd.query"]("resources")),
        ("lxd/cluster.json", __salt__["lxd.cluster"]),
        ("lxd/cluster-members.json", _cluster_members),
        ("lxd/instances.json", __salt__["lxd.instances"]),
        ("lxd/networks.json", __salt__["lxd.networks"]),
        ("lxd/storage-pools.json", _storage_pools),
        ("lxd/profiles.json", __salt__["lxd.profiles"]),
        ("lxd/projects.json", __salt__["lxd.projects"]),
        ("lxd/certificates.json", _certificates),
        ("lxd/warnings.json", _warnings),
        ("lxd/operations.json", lambda: __salt__["lxd.query"]("operations", recursion=1)),
        ("host/uname.txt", lambda: _command("uname", "-a")),
        ("host/os-release", lambda: _read("/etc/os-release")),
        ("host/kernel-cmdline", lambda: _read("/proc/cmdline")),
        ("host/uptime.txt", lambda: _command("uptime")),
        ("host/memory.txt", lambda: _command("free", "-m")),
        ("host/df.txt", lambda: _disk_usage(daemon_dir)),
        ("host/dmesg.txt", _dmesg),
        ("host/sysctl.json", sysctl),
    ]
    if tools["snap"]:
        table += [
            ("host/snap-list-lxd.txt", lambda: _command("snap", "list", tools["snap"])),
            ("host/snap-info-lxd.txt", lambda: _command("snap", "info", tools["snap"])),
        ]
    for name, command in tools["versions"].items():
        table.append((name, lambda command=command: _command(*command)))
    for path in _log_paths(daemon_dir, tools):
        table.append((f"logs{path}", lambda path=path: _tail(path)))
    return table


# ---------------------------------------------------------------- the daemon


def _daemon_dir():
    """The daemon's directory (its LXD_DIR) when it is reached over a local
    unix socket; None for a daemon reached over https."""
    target = __salt__["lxd.endpoint"]()
    return None if "://" in target else os.path.dirname(target)


def _buginfo(programs):
    if not programs:
        raise CommandExecutionError(
            "Incus ships no bug report tool: the API and host facts here stand for it"
        )
    for program in programs:
        if salt.utils.path.which(program):
            # it prints the daemon's and the default profile's config as YAML
            return lxd_secrets.masked_text(_command(program))
    raise CommandExecutionError(
        f"no lxd.buginfo on PATH or at {SNAP_BUGINFO} (the LXD snap ships it)"
    )


def _cluster_members():
    members = __salt__["lxd.cluster_members"]()
    if not members:
        raise CommandExecutionError("clustering is not enabled")
    return members


def _storage_pools():
    pools = __salt__["lxd.storage_pools"]()
    for name, pool in pools.items():
        try:
            pool["resources"] = __salt__["lxd.query"](f"storage-pools/{name}/resources")
        except CommandExecutionError as exc:
            pool["resources"] = f"not available: {exc}"
    return pools


def _certificates():
    """Who is trusted; the certificates themselves are left out."""
    return {
        fingerprint: {
            key: cert.get(key) for key in ("name", "type", "restricted", "projects")
        }
        for fingerprint, cert in __salt__["lxd_trust.certificates"]().items()
    }


def _warnings():
    if not __salt__["lxd.has_api_extension"]("warnings"):
        raise CommandExecutionError("this LXD has no warnings API")
    return __salt__["lxd.query"]("warnings", recursion=1)


def _log_paths(daemon_dir, tools):
    """The daemon's log files: its --logfile and its directory's
    logs/lxd.log (incus.log) when it is local, else the snap and package
    defaults."""
    if daemon_dir is None:
        return list(tools["default_logs"])
    paths = [_logfile_option(), os.path.join(daemon_dir, "logs", tools["log_name"])]
    return list(dict.fromkeys(path for path in paths if path))


def _logfile_option():
    """The --logfile the local daemon was started with, read from its
    command line (the server reports its pid); None when not found."""
    try:
        pid = __salt__["lxd.info"]()["environment"]["server_pid"]
        with salt.utils.files.fopen(f"/proc/{pid}/cmdline", "rb") as handle:
            args = handle.read().decode(errors="replace").split("\0")
    except (CommandExecutionError, KeyError, OSError) as exc:
        log.debug("lxd_debug: the daemon's command line is not readable: %s", exc)
        return None
    for index, arg in enumerate(args):
        if arg == "--logfile" and index + 1 < len(args):
            return args[index + 1]
        if arg.startswith("--logfile="):
            return arg.split("=", 1)[1]
    return None


# ---------------------------------------------------------------- the host


def _command(*args):
    if not salt.utils.path.which(args[0]):
        raise CommandExecutionError(f"{args[0]} is not installed")
    result = __salt__["cmd.run_all"](
        list(args),
        python_shell=False,
        ignore_retcode=True,
        timeout=COMMAND_TIMEOUT,
        output_loglevel="quiet",
    )
    if result["retcode"] != 0:
        message = (result["stderr"] or result["stdout"]).strip()
        raise CommandExecutionError(f"{' '.join(args)} failed: {message}")
    return result["stdout"] + "\n"


def _read(path):
    with salt.utils.files.fopen(path, "rb") as handle:
        return handle.read()


def _tail(path):
    with salt.utils.files.fopen(path, "rb") as handle:
        size = handle.seek(0, os.SEEK_END)
        handle.seek(max(0, size - LOG_TAIL_BYTES))
        return handle.read()


def _disk_usage(daemon_dir):
    if daemon_dir is None:
        raise CommandExecutionError("the daemon is reached over https, not local")
    return _command("df", "-h", daemon_dir)


def _dmesg():
    lines = _command("dmesg").splitlines()
    return "\n".join(lines[-DMESG_LINES:]) + "\n"


def _sysctl(keys):
    """Sysctl ``keys`` as the kernel has them now (None: this kernel lacks
    the key)."""
    return {key: _kernel_value(key) for key in sorted(keys)}


def _kernel_value(key):
    path = os.path.join("/proc/sys", *key.split("."))
    if not os.path.exists(path):
        return None
    return " ".join(_read(path).decode().split())
