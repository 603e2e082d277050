"""
Execution module for sideloading LXD on a snap install, the LXD charm's
``lxd-binary`` and ``lxd-snap`` resources (a debugging aid):

- a **binary** is installed where the snap's LXD looks for one
  (``lxd:files:sideload_binary``, ``/var/snap/lxd/common/lxd.debug``): the
  snap then runs it instead of its own daemon, which is reloaded
  (``systemctl reload snap.lxd.daemon.service``: LXD restarts, its
  instances keep running; ``snap restart lxd`` would shut them all down);
- a **snap** is installed unsigned (``snap install --dangerous``) over the
  store revision; snapd gives it a local revision (``x1``). Without a store
  assertion it gets no ``lxc`` alias and a disabled unix socket, which are
  restored as the charm does (``snap alias lxd.lxc lxc``, ``systemctl
  enable --now snap.lxd.daemon.unix.socket``).

A source is a ``salt://`` file, or a tarball (for mixed architectures)
holding ``lxd_<arch>`` (binary) or ``lxd_<arch>.snap`` (snap) at its root,
``<arch>`` as Debian names it (the ``osarch`` grain: amd64, arm64...). An
empty file removes the sideload: the binary is deleted (LXD reloaded), the
snap goes back to the store's channel (``snap refresh --amend``).

An asset built for another architecture (an ELF binary for another
machine, a snap whose snap.yaml lists other architectures) is refused
before anything changes.

Changes are ``{kind: {old, new}}`` by content: sha256 digests, ``none``
when nothing is sideloaded, ``removed`` for a removal.
"""

import json
import logging
import os
import shutil
import tarfile
import tempfile

import salt.utils.files
import salt.utils.hashutils
import salt.utils.path
import salt.utils.yaml
from salt.exceptions import CommandExecutionError

log = logging.getLogger(__name__)

__virtualname__ = "lxd_sideload"

KINDS = ("snap", "binary")
# ELF e_machine by Debian architecture (the osarch grain)
ELF_MACHINES = {"amd64": 62, "arm64": 183, "armhf": 40, "i386": 3, "ppc64el": 21,
                "s390x": 22, "riscv64": 243}
NOTHING = "none"
REMOVED = "removed"


def __virtual__():
    if salt.utils.path.which("snap"):
        return __virtualname__
    return (
        False,
        "Sideloading replaces the LXD of a snap install: the lxd_sideload module "
        "needs the snap command (snapd) on PATH.",
    )


def _cache_dir():
    path = os.path.join(__opts__["cachedir"], "lxd_sideload")
    os.makedirs(path, exist_ok=True)
    return path


# ---------------------------------------------------------------- assets


def member_name(kind):
    """
    Return the name a tarball for sideload ``kind`` (``binary`` or ``snap``)
    must hold at its root for this minion's architecture: ``lxd_amd64``,
    ``lxd_arm64.snap``...

    CLI Example:

    .. code-block:: bash

        salt '*' lxd_sideload.member_name snap
    """
    suffix = ".snap" if kind == "snap" else ""
    return f"lxd_{__grains__['osarch']}{suffix}"


def _extract(tarball, source, kind):
    member = member_name(kind)
    try:
        with tarfile.open(tarball) as archive:
            entries = {os.path.normpath(entry.name): entry for entry in archive.getmembers()}
            entry = entries.get(member)
            if entry is None or not entry.isfile():
                held = ", ".join(sorted(set(entries) - {"."})) or "nothing"
                raise CommandExecutionError(
                    f"lxd:sideload:{kind}: the tarball {source} has no {member} at "
                    f"its root (it holds: {held})"
                )
            extracted = os.path.join(_cache_dir(), member)
            with archive.extractfile(entry) as stream, salt.utils.files.fopen(
                extracted, "wb"
            ) as handle:
                shutil.copyfileobj(stream, handle)
    except tarfile.TarError as exc:
        raise CommandExecutionError(
            f"lxd:sideload:{kind}: the tarball {source} cannot be read: {exc}"
        ) from exc
    return extracted


def asset(source, kind, command_timeout=None):
    """
    Fetch sideload ``source`` (a ``salt://`` URL) for ``kind`` (``binary``
    or ``snap``) and return the file to install and its sha256, as
    ``{path, sha256}``; both None for an empty file (remove the sideload).
    A tarball yields its member for this architecture (see
    :py:func:`member_name`). Raises an error naming ``lxd:sideload:<kind>``
    when the file is not on the fileserver or the tarball lacks the member.
    Reading a snap's architectures is bounded by ``command_timeout``
    seconds (default ``lxd:timeouts:command``).

    CLI Example:

    .. code-block:: bash

        salt '*' lxd_sideload.asset salt://lxd-debug/lxd.tar.gz binary
    """
    cached = __salt__["cp.cache_file"](source)
    if not cached:
        raise CommandExecutionError(
            f"lxd:sideload:{kind}: {source} is not on the Salt fileserver"
        )
    if os.path.getsize(cached) == 0:
        return {"path": None, "sha256": None}
    # by content: a tarball's name need not say so
    if tarfile.is_tarfile(cached):
        cached = _extract(cached, source, kind)
    if kind == "binary":
        built_for = _binary_architecture(cached)
    else:
        if command_timeout is None:
            command_timeout = __salt__["lxd_pillar.merge"]()["timeouts"]["command"]
        built_for = _snap_architectures(cached, command_timeout)
    arch = __grains__["osarch"]
    if built_for is not None and arch not in built_for and "all" not in built_for:
        raise CommandExecutionError(
            f"lxd:sideload:{kind}: {source} is built for {', '.join(built_for)}, "
            f"not for this minion's {arch}"
        )
    return {"path": cached, "sha256": salt.utils.hashutils.get_hash(cached)}


def _binary_architecture(path):
    """The architectures an ELF binary runs on (by its e_machine), or
    None when it is not ELF (a script: the snap's LXD decides)."""
    with salt.utils.files.fopen(path, "rb") as handle:
        header = handle.read(20)
    if header[:4] != b"\x7fELF":
        return None
    machine = int.from_bytes(header[18:20], "little" if header[5] == 1 else "big")
    return [arch for arch, number in ELF_MACHINES.items() if number == machine] or [
        f"ELF machine {machine}"]


def _snap_architectures(path, command_timeout):
    """``architectures`` of a snap file's meta/snap.yaml (snapd's default,
    ``all``, when absent), read within ``command_timeout`` seconds."""
    shown = __salt__["cmd.run_all"](
        ["unsquashfs", "-cat", path, "meta/snap.yaml"], python_shell=False,
        ignore_retcode=True, timeout=command_timeout)
    if shown["retcode"] != 0:
        raise CommandExecutionError(f"not a snap file (no meta/snap.yaml): {shown['stderr']}")
    meta = salt.utils.yaml.safe_load(shown["stdout"]) or {}
    return [str(arch) for arch in meta.get("architectures") or ["all"]]


def _assets(binary, snap, command_timeout):
    """Every given source resolved, before anything changes."""
    sources = {"binary": binary, "snap": snap}
    return {kind: asset(source, kind, command_timeout)
            for kind, source in sources.items() if source}


# ---------------------------------------------------------------- target


def _target(**given):
    """What to sideload onto (name, channel, cohort, binary_path) and the
    bound of its commands (command_timeout): as given, else from the
    formula's settings."""
    if None not in given.values():
        return given
    settings = __salt__["lxd_pillar.merge"]()
    install = settings["install"]
    defaults = {
        "name": install["snap"],
        "channel": install["channel"],
        "cohort": settings["mode"] == "cluster" and install["cohort"],
        "binary_path": settings["files"]["sideload_binary"],
        "command_timeout": settings["timeouts"]["command"],
    }
    return {key: defaults[key] if value is None else value for key, value in given.items()}


def _record_path(name):
    return os.path.join(_cache_dir(), f"{name}-snap.json")


def _sideloaded_snap(name, command_timeout):
    """The sha256 of the sideloaded snap ``name`` runs (None: a store
    revision), from the record kept when it was installed."""
    installed = __salt__["lxd_snap.info"](name, timeout=command_timeout)
    if installed is None or not installed["revision"].startswith("x"):
        return None
    record, path = {}, _record_path(name)
    if os.path.exists(path):
        with salt.utils.files.fopen(path) as handle:
            record = json.load(handle)
    if record.get("revision") == installed["revision"]:
        return record["sha256"]
    # sideloaded by hand: whatever it is, it is not the asset
    return f"local revision {installed['revision']}"


def _installed_binary(path):
    return salt.utils.hashutils.get_hash(path) if os.path.exists(path) else None


def _current(kind, target):
    if kind == "binary":
        return _installed_binary(target["binary_path"])
    return _sideloaded_snap(target["name"], target["command_timeout"])


def _changes(assets, target):
    changes = {}
    for kind, wanted in assets.items():
        old = _current(kind, target)
        if old != wanted["sha256"]:
            changes[kind] = {"old": old or NOTHING, "new": wanted["sha256"] or REMOVED}
    return changes


def plan(binary=None, snap=None, name=None, channel=None, binary_path=None,
         command_timeout=None):
    """
    Return what sideloading would change, as ``{kind: {old, new}}`` for
    ``binary`` and ``snap`` (each a ``salt://`` source; None leaves that
    kind alone). ``name`` (the snap), ``channel`` and ``binary_path``
    default to ``lxd:install:snap``, ``lxd:install:channel`` and
    ``lxd:files:sideload_binary``, ``command_timeout`` (seconds) to
    ``lxd:timeouts:command``. Changes nothing.

    CLI Example:

    .. code-block:: bash

        salt '*' lxd_sideload.plan binary=salt://lxd-debug/lxd.tar.gz
    """
    target = _target(name=name, channel=channel, binary_path=binary_path,
                     command_timeout=command_timeout)
    return _changes(_assets(binary, snap, target["command_timeout"]), target)


# ---------------------------------------------------------------- apply


def _install_binary(source, path):
    """Atomically, executable before it is in place."""
    handle, staged = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".lxd-sideload.")
    os.close(handle)
    try:
        shutil.copyfile(source, staged)
        os.chmod(staged, 0o755)
        os.replace(staged, path)
    except OSError:
        os.remove(staged)
        raise


def _apply_binary(wanted, target):
    if wanted["path"] is None:
        os.remove(target["binary_path"])
    else:
        _install_binary(wanted["path"], target["binary_path"])
    # the snap's daemon picks lxd.debug up (or drops it) when it starts
    _reload_daemon(target["name"], target["command_timeout"])


def _reload_daemon(name, command_timeout):
    """Reload the snap's LXD, never restart it (a restart shuts down every
    instance), and wait until it answers again if it answered before."""
    if not __salt__["lxd_snap.service_active"](name, "daemon", timeout=command_timeout):
        return
    answered = __salt__["lxd.reachable"]()
    __salt__["lxd_snap.reload_service"](name, "daemon", timeout=command_timeout)
    if answered:
        __salt__["lxd.wait_ready"]()


def _apply_snap(wanted, target):
    name = target["name"]
    record = _record_path(name)
    if wanted["path"] is None:
        __salt__["lxd_snap.amend"](name, target["channel"], cohort=target["cohort"],
                                   timeout=target["command_timeout"])
        if os.path.exists(record):
            os.remove(record)
        return
    installed = __salt__["lxd_snap.install_file"](name, wanted["path"],
                                                  timeout=target["command_timeout"])
    if installed is None or not installed["revision"].startswith("x"):
        raise CommandExecutionError(
            f"the snap file did not install as a local revision of snap {name}; "
            f"is it a {name} snap?"
        )
    with salt.utils.files.fopen(record, "w") as handle:
        json.dump({"revision": installed["revision"], "sha256": wanted["sha256"]}, handle)
    # what the store's assertion would have given it
    __salt__["lxd_snap.alias"](name, "lxc", "lxc", timeout=target["command_timeout"])
    __salt__["lxd_snap.enable_socket"](name, "daemon", "unix", timeout=target["command_timeout"])


APPLY = {"binary": _apply_binary, "snap": _apply_snap}


def apply(binary=None, snap=None, name=None, channel=None, cohort=None, binary_path=None,
          command_timeout=None):
    """
    Sideload ``binary`` and ``snap`` (see :py:func:`plan`; ``cohort``,
    default from ``lxd:install:cohort`` in cluster mode, applies when the
    snap goes back to the store). Every source is fetched and checked
    before anything changes; the snap is installed first, then the binary,
    then LXD is reloaded when the binary changed. Returns the changes.

    CLI Example:

    .. code-block:: bash

        salt '*' lxd_sideload.apply snap=salt://lxd-debug/lxd_amd64.snap
    """
    target = _target(name=name, channel=channel, cohort=cohort, binary_path=binary_path,
                     command_timeout=command_timeout)
    assets = _assets(binary, snap, target["command_timeout"])
    changes = _changes(assets, target)
    # KINDS order: the snap first, so that the binary's reload starts the final snap
    for kind in KINDS:
        if kind not in changes:
            continue
        log.info("Sideloading LXD %s: %s -> %s", kind, changes[kind]["old"], changes[kind]["new"])
        try:
            APPLY[kind](assets[kind], target)
        except (CommandExecutionError, OSError) as exc:
            raise CommandExecutionError(f"lxd:sideload:{kind}: {exc}") from exc
    return changes
