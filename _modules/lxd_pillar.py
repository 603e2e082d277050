"""
The formula's pillar: merged with its defaults, and validated before any
state changes anything.

Every error names the pillar key and the reason, e.g.
``lxd:install:channel: 'latest/stabel' is not a snap channel ...``.
"""

import os
import re
import unicodedata
import urllib.parse

import salt.utils.yaml
from salt.exceptions import CommandExecutionError

try:  # installed as the saltext-lxd package
    from saltext.lxd.utils import lxd_preseed, lxd_settings
    from saltext.lxd.utils.lxd_backends import BACKENDS
    from saltext.lxd.utils.lxd_names import MANAGED_MARKER, SNAP_RISKS
except ImportError:  # synced from _utils: Salt puts the utils directories on sys.path
    import lxd_preseed
    import lxd_settings
    from lxd_backends import BACKENDS
    from lxd_names import MANAGED_MARKER, SNAP_RISKS

try:  # Salt 3008 masks pillar containers in their repr: show what was given
    from salt.utils.secret import expose
except ImportError:
    def expose(value):
        return value

__virtualname__ = "lxd_pillar"

MODES = ("standalone", "cluster")
INSTALL_METHODS = ("snap", "package", "none")
# The LXD snap tracks that ship lxd.migrate (dropped from 5.21 and latest).
MIGRATE_TRACKS = ("4.0", "5.0")
# The patterns below are matched whole (fullmatch): "$" would let a
# trailing newline through.
# A Debian package name (Debian policy 5.6.1).
PACKAGE_RE = re.compile(r"[a-z0-9][a-z0-9+.-]+")
# A snap name as snapd takes it (naming.ValidateSnap): 2 to 40 lowercase
# letters, digits and single inner hyphens, at least one letter.
SNAP_NAME_RE = re.compile(r"(?=.{2,40}\Z)(?=.*[a-z])[a-z0-9]+(?:-[a-z0-9]+)*")
# A systemd unit name (the characters unit_name_is_valid takes), which
# systemctl cannot take for an option: no leading "-".
UNIT_NAME_RE = re.compile(r"[A-Za-z0-9:_.\\@][A-Za-z0-9:_.\\@-]{0,254}")
SNAP_NAME_PART = r"[a-z0-9][a-z0-9.+_-]*"
CHANNEL_RE = re.compile(
    rf"(?:(?P<track>{SNAP_NAME_PART})/)?(?P<risk>{'|'.join(SNAP_RISKS)})"
    rf"(?:/(?P<branch>{SNAP_NAME_PART}))?"
)
SYSCTL_KEY_RE = re.compile(r"[a-z0-9_]+(\.[A-Za-z0-9_-]+)+")
# What lxd:install names, as the tools that take them define a name.
INSTALL_NAMES = {
    "package": (PACKAGE_RE, "a Debian package name (lowercase letters, digits, + - and ., "
                            "at least 2, the first a letter or digit)"),
    "snap": (SNAP_NAME_RE, "a snap name (2 to 40 lowercase letters, digits and single "
                           "inner hyphens, at least one letter)"),
    "service": (UNIT_NAME_RE, "a systemd unit name (letters, digits and : _ . \\ @ -, "
                              "not starting with -; no / or whitespace)"),
}
# Where lxd:hardening may change modes; any step of a path out of them (a
# symlink such as /proc/self/root, which is the whole filesystem) is refused.
HARDENED_ROOTS = ("/proc", "/sys")
# lxd:files keys that name a directory the formula only looks into; every
# other one names a file it writes, which must be that file itself.
DATA_DIRECTORIES = ("deb_data",)
PRESEED_FIELDS = {
    "networks": ("name", "type", "config", "description", "project"),
    "storage_pools": ("name", "driver", "config", "description"),
    "profiles": ("name", "config", "devices", "description"),
    "projects": ("name", "config", "description"),
}
# LXD's expiry syntax: one or more <number><unit>, e.g. "15M", "1d 12H".
EXPIRY_RE = re.compile(r"\d+[SMHdwmy](?: \d+[SMHdwmy])*")
# The longest lxd:cluster:token_expiry: a join token is a credential (who
# holds it joins the cluster), and one copied into a terminal or a ticket
# must not outlive the day. The formula uses its tokens within seconds;
# a day leaves room for a token issued by hand (lxc cluster add).
TOKEN_EXPIRY_MAX = "1d"
CLUSTER_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
CERT_URL_SCHEMES = ("https://", "http://", "salt://")
PROXY_SCHEMES = ("http", "https", "socks5", "socks5h")
TRUST_TYPES = ("client", "metrics")
# How lxd:trust:client_minions rules target minions: by minion id only, as
# the master matches it (grains are what a minion says of itself).
CLIENT_TARGET_TYPES = ("glob", "list", "pcre")
# Keys that only mean something for the LXD snap: refused with Incus.
SNAP_ONLY_KEYS = ("install:channel", "install:cohort", "install:hold", "install:snap",
                  "snap_config", "sideload", "files:sideload_binary")


def __virtual__():
    return __virtualname__


def use_parameters(parameters):
    """
    Take ``parameters`` (``lxd/parameters/defaults.yaml`` as the master
    serves it) as the formula's defaults for the rest of this run, instead
    of fetching them: the lxd_cluster runner sends them with the status job
    it runs on every cluster minion, where a fetch would cost each minion a
    new channel to the master.

    CLI Example:

    .. code-block:: bash

        salt '*' lxd_pillar.use_parameters '{lxd: {mode: standalone}}'
    """
    __context__[lxd_settings.PARAMETERS_KEY] = parameters
    return True


def _parameters():
    return lxd_settings.parameters(__context__, __salt__["cp.get_file_str"])


def merge(defaults=None, pillar=None):
    """
    Return the formula's settings: ``pillar`` (default: the ``lxd`` key from
    ``config.get``) merged over ``defaults`` (default: the formula's
    ``lxd/parameters/defaults.yaml`` for the pillar's ``backend``). Where the pillar gives a value of the
    wrong type for a mapping, the default is kept, so that templates always
    render; :py:func:`validate` reports the bad value.

    CLI Example:

    .. code-block:: bash

        salt '*' lxd_pillar.merge
    """
    if pillar is None:
        pillar = __salt__["config.get"]("lxd", {})
    if defaults is None:
        defaults = lxd_settings.defaults(_parameters(), lxd_settings.backend_of(pillar))
    return lxd_settings.merge(defaults, pillar)


def preseed(init, backend=None):
    """
    Return the effective ``lxd init`` preseed for an ``init`` settings
    mapping: ``init:preseed`` (a mapping, or YAML text) when given, else the
    formula's default for ``backend`` (default: the pillar's ``lxd:backend``;
    see ``lxd_init.default_preseed``).

    CLI Example:

    .. code-block:: bash

        salt '*' lxd_pillar.preseed "$(salt-call --out=json lxd_pillar.merge)"
    """
    given = init.get("preseed")
    if isinstance(given, str):
        given = salt.utils.yaml.safe_load(given) if given.strip() else {}
    if given:
        return given
    if backend is None:
        backend = lxd_settings.backend_of(__salt__["config.get"]("lxd", {}))
    return lxd_preseed.default_preseed(
        backend,
        storage=init.get("storage", True),
        storage_devices=init.get("storage_devices") or [],
        network=init.get("network", True),
    )


def expiry_seconds(expiry):
    """
    Return the longest time, in seconds, that an LXD expiry such as ``15M``
    or ``1d 12H`` (``lxd:cluster:token_expiry``) can mean (see
    ``lxd_settings.expiry_seconds``). Kept for lxd_cluster until the lead
    merges.

    CLI Example:

    .. code-block:: bash

        salt '*' lxd_pillar.expiry_seconds '1d 12H'
    """
    return lxd_settings.expiry_seconds(expiry)


def validate(pillar=None, defaults=None, check_daemon=True):
    """
    Validate the formula's pillar (default: the ``lxd`` key from
    ``config.get``). Returns the list of errors, empty when valid. With
    ``check_daemon`` and a reachable, already initialised daemon, changes to
    ``mode`` and ``init`` since initialisation are errors too.

    CLI Example:

    .. code-block:: bash

        salt '*' lxd_pillar.validate
    """
    if pillar is None:
        pillar = __salt__["config.get"]("lxd", {})
    if not isinstance(pillar, dict):
        return [f"lxd: must be a mapping, not {_kind(pillar)}"]
    if defaults is None:
        defaults = lxd_settings.defaults(_parameters(), lxd_settings.backend_of(pillar))
    errors = _unknown_keys("lxd", pillar, defaults)
    settings = merge(defaults, pillar)
    for key, check in VALIDATORS.items():
        errors.extend(check(f"lxd:{key}", pillar.get(key), settings, defaults))
    errors.extend(_backend_conflicts(pillar, settings))
    # what is on the host is looked at only where the pillar says it validly
    if errors or not check_daemon:
        return errors
    errors.extend(_deb_takeover(settings))
    if errors or "lxd.reachable" not in __salt__:
        return errors
    if __salt__["lxd.reachable"]():
        errors.extend(__salt__["lxd.backend_drift"](settings["backend"]))
        errors.extend(
            __salt__["lxd_init.init_drift"](settings["mode"], preseed(settings["init"]))
        )
        if settings["mode"] == "cluster":
            errors.extend(__salt__["lxd_cluster.address_drift"](settings))
    return errors


def _deb_takeover(settings):
    """The snap cannot take over the data of a distribution package's LXD
    (``lxd:files:deb_data``, initialised: it has a database) but through
    the snap's ``lxd.migrate``, which only the 4.0 and 5.0 snaps ship and
    which runs on Ubuntu only (lxd.install.snap runs it there)."""
    database = os.path.join(settings["files"]["deb_data"], "database")
    if settings["install"]["method"] != "snap" or not os.path.isdir(database):
        return []
    track = settings["install"]["channel"].split("/")[0]
    if __grains__.get("os") == "Ubuntu" and track in MIGRATE_TRACKS:
        return []
    return [
        f"lxd:install:method: {settings['files']['deb_data']} holds the data of a "
        "distribution package's LXD, which the snap cannot take over here: its "
        f"lxd.migrate ships only in the {' and '.join(MIGRATE_TRACKS)} snaps and runs on "
        "Ubuntu only. Keep install:method package, or move the instances off and "
        "purge the package first; nothing was changed."
    ]


# ---------------------------------------------------------------- helpers


def _shown(value):
    """A pillar value quoted in an error (Salt 3008 would print a list or
    mapping from pillar as '**********'); secrets are never quoted here."""
    return repr(expose(value))


def _control_problem(value):
    """Why ``value`` cannot be one line of a file or one argument of a
    command (a control character: a newline would start another), or None."""
    found = next((char for char in str(value) if unicodedata.category(char) == "Cc"), None)
    return None if found is None else f"has a control character ({found!r})"


def _printable(key):
    """A key as an error names it: quoted when it has control characters,
    so that an error stays one line."""
    return repr(str(key)) if _control_problem(key) else str(key)


def _path_spelling_problem(path):
    """Why ``path`` is not spelled as the one path it means, or None: "."
    and ".." steps (".." after a symlink leads elsewhere than it reads),
    doubled or trailing slashes."""
    if os.path.normpath(path) != path:
        return "is not a plain absolute path (no . or .. steps, no doubled or trailing /)"
    return None


def _kind(value):
    names = {dict: "a mapping", list: "a list", str: "a string", bool: "a boolean"}
    if value is None:
        return "empty"
    return names.get(type(value), type(value).__name__)


def _unknown_keys(path, given, known):
    return [
        f"{path}:{key}: unknown key (known: {', '.join(sorted(known))})"
        for key in given
        if key not in known
    ]


def _expect(path, value, types, what):
    """An error list: ``value`` (when given) must be of ``types``."""
    if value is None or isinstance(value, types):
        return []
    return [f"{path}: must be {what}, not {_kind(value)} ({_shown(value)})"]


def _expect_mapping(path, value, known):
    if value is None:
        return []
    if not isinstance(value, dict):
        return [f"{path}: must be a mapping, not {_kind(value)}"]
    return _unknown_keys(path, value, known)


def _scalar_mapping(path, value):
    """A mapping of string keys to scalar values (strings, numbers, booleans)."""
    if value is None:
        return []
    if not isinstance(value, dict):
        return [f"{path}: must be a mapping, not {_kind(value)}"]
    return [
        f"{path}:{key}: must be a string, number or boolean, not {_kind(item)}"
        for key, item in value.items()
        if not isinstance(item, (str, int, float, bool))
    ]


# ---------------------------------------------------------------- sections


def _check_backend(path, value, settings, defaults):
    if value is None or value in BACKENDS:
        return []
    return [f"{path}: unknown backend {_shown(value)} (expected one of: {', '.join(BACKENDS)})"]


def _backend_conflicts(pillar, settings):
    """Keys the pillar gives that the chosen backend has no use for."""
    if settings["backend"] != "incus":
        return []
    errors = []
    if settings["install"]["method"] == "snap":
        errors.append(
            "lxd:install:method: Incus is not published as a snap: use package "
            "(the distribution's incus) or none, with lxd:backend incus"
        )
    for key in SNAP_ONLY_KEYS:
        section, _, name = key.partition(":")
        given = pillar.get(section)
        if name:
            given = given.get(name) if isinstance(given, dict) else None
        if isinstance(given, dict):
            given = [value for value in given.values() if value not in (None, "")]
        if given not in (None, [], ""):
            errors.append(
                f"lxd:{key}: only the LXD snap has this; lxd:backend incus installs "
                "no snap (remove the key)"
            )
    return errors


def _check_mode(path, value, settings, defaults):
    if value is None or value in MODES:
        return []
    return [f"{path}: unknown mode {_shown(value)} (expected one of: {', '.join(MODES)})"]


def _check_install(path, value, settings, defaults):
    errors = _expect_mapping(path, value, defaults["install"])
    if errors or value is None:
        return errors
    method = value.get("method")
    if method is not None and method not in INSTALL_METHODS:
        errors.append(
            f"{path}:method: unknown method {_shown(method)} "
            f"(expected one of: {', '.join(INSTALL_METHODS)})"
        )
    channel = value.get("channel")
    if channel is not None and not (
        isinstance(channel, str) and CHANNEL_RE.fullmatch(channel)
    ):
        errors.append(
            f"{path}:channel: {_shown(channel)} is not a snap channel "
            "(expected [track/]risk[/branch], risk one of: "
            f"{', '.join(SNAP_RISKS)}; e.g. latest/stable, 5.21/candidate)"
        )
    for flag in ("cohort", "hold"):
        errors.extend(_expect(f"{path}:{flag}", value.get(flag), bool, "a boolean"))
    backports = value.get("backports")
    if not (backports is None or isinstance(backports, bool)
            or (isinstance(backports, str) and re.fullmatch(r"https?://\S+", backports))):
        errors.append(
            f"{path}:backports: must be a boolean or a Debian mirror URL "
            f"(http://deb.debian.org/debian), not {_shown(backports)}"
        )
    elif backports and settings["install"]["method"] != "package":
        errors.append(
            f"{path}:backports: backports are a package source: they need "
            f"lxd:install:method package, not {_shown(settings['install']['method'])}"
        )
    for key, (pattern, what) in INSTALL_NAMES.items():
        name = value.get(key)
        if name is not None and not (isinstance(name, str) and pattern.fullmatch(name)):
            errors.append(f"{path}:{key}: {_shown(name)} is not {what}")
    extra = value.get("extra_packages")
    if extra is not None and not (isinstance(extra, list) and all(
            isinstance(name, str) and PACKAGE_RE.fullmatch(name) for name in extra)):
        errors.append(
            f"{path}:extra_packages: must be a list of package names "
            f"(e.g. [nftables, dnsmasq-base]), not {_shown(extra)}"
        )
    return errors


def _check_snap_config(path, value, settings, defaults):
    return _scalar_mapping(path, value)


def _check_bool(path, value, settings, defaults):
    return _expect(path, value, bool, "a boolean (true or false)")


def _check_sysctl(path, value, settings, defaults):
    errors = _scalar_mapping(path, value)
    if errors or value is None:
        return errors
    # each key is one line of files:sysctl_conf: a newline would add another
    for key, setting in value.items():
        where = f"{path}:{_printable(key)}"
        if _control_problem(key):
            errors.append(f"{where}: the key {_control_problem(key)}")
        elif not SYSCTL_KEY_RE.fullmatch(str(key)):
            errors.append(f"{where}: not a sysctl key name")
        if _control_problem(setting):
            errors.append(f"{where}: the value {_control_problem(setting)}")
    return errors


def _check_hardening(path, value, settings, defaults):
    if value is None:
        return []
    if not isinstance(value, dict):
        return [f"{path}: must be a mapping, not {_kind(value)}"]
    errors = []
    for target, modes in value.items():
        where = f"{path}:{_printable(target)}"
        problem = _hardening_path_problem(str(target))
        if problem:
            errors.append(f"{where}: {problem}")
        errors.extend(_expect_mapping(where, modes, ("mode", "default")))
        if isinstance(modes, dict):
            for field in ("mode", "default"):
                mode = modes.get(field)
                if not (isinstance(mode, str) and re.fullmatch(r"0?[0-7]{3}", mode)):
                    errors.append(
                        f"{where}:{field}: must be an octal mode string "
                        f"such as '0700', not {_shown(mode)}"
                    )
    return errors


def _hardening_path_problem(target):
    """Why the formula may not chmod ``target`` (and write it into a
    tmpfiles.d rule), or None: judged as declared and as the kernel
    resolves it, every step of it in /proc or /sys."""
    if not target.startswith(tuple(f"{root}/" for root in HARDENED_ROOTS)):
        return "only paths under /proc and /sys are hardened"
    problem = _control_problem(target) or _path_spelling_problem(target)
    if problem:
        return problem
    rewritten = next((char for char in target if char.isspace() or char in "*?[]%"), None)
    if rewritten:
        return (f"has {rewritten!r}, which a tmpfiles.d rule does not take as written "
                "(whitespace ends the path, * ? [ ] are globs, % starts a specifier)")
    for step in _steps(target):
        real = _resolved(step)
        if real is None:
            return f"cannot be judged: {step} is a link this host may not read"
        if not any(real == root or real.startswith(f"{root}/") for root in HARDENED_ROOTS):
            return f"leaves /proc and /sys: {step} leads to {real}"
    return None


def _steps(path):
    """``/a/b/c`` -> ``/a``, ``/a/b``, ``/a/b/c``: each resolved on its own,
    /proc/self/root/proc/x (which realpath takes back into /proc) is judged
    by /proc/self/root (the whole filesystem)."""
    parts = path.split("/")[1:]
    return ["/" + "/".join(parts[:count]) for count in range(1, len(parts) + 1)]


def _check_files(path, value, settings, defaults):
    errors = _expect_mapping(path, value, defaults["files"])
    if errors or value is None:
        return errors
    for key, file_path in value.items():
        if not (isinstance(file_path, str) and file_path.startswith("/")):
            errors.append(f"{path}:{key}: must be an absolute path, not {_shown(file_path)}")
            continue
        problem = _control_problem(file_path) or _path_spelling_problem(file_path)
        if not problem and key not in DATA_DIRECTORIES:
            problem = _written_file_problem(file_path)
        if problem:
            errors.append(f"{path}:{key}: {_shown(file_path)} {problem}")
    return errors


def _written_file_problem(file_path):
    """Why the formula may not write (or remove) ``file_path`` as its own
    file, or None: a directory, or a symlink on the way (it or a directory
    above it) that would point the write at another file."""
    if os.path.isdir(file_path):
        return "is a directory: give the path of the file itself"
    real = _resolved(file_path)
    if real is None:
        return "cannot be judged: a link on the way is one this host may not read"
    if real != file_path:
        return f"resolves to {real}: give a path without symlinks, the file's own"
    return None


def _resolved(path):
    """``path`` with every symlink resolved (os.path.realpath), or None
    where a link on the way may not be read (/proc/1/root)."""
    try:
        return os.path.realpath(path)
    except OSError:
        return None


def _check_connection(path, value, settings, defaults):
    errors = _expect_mapping(path, value, defaults["connection"])
    if errors or value is None:
        return errors
    for key in ("socket", "cert", "key"):
        errors.extend(_expect(f"{path}:{key}", value.get(key), str, "a path"))
    url = value.get("url")
    if url is not None and not (
        isinstance(url, str) and url.startswith("https://")
    ):
        errors.append(f"{path}:url: must be an https:// URL, not {_shown(url)}")
    if url and not (value.get("cert") and value.get("key")):
        errors.append(f"{path}:url: an https connection needs cert and key")
    errors.extend(
        _expect(f"{path}:verify", value.get("verify"), (bool, str), "a boolean or a path")
    )
    return errors


def _check_init(path, value, settings, defaults):
    errors = _expect_mapping(path, value, defaults["init"])
    if errors or value is None:
        return errors
    errors.extend(_expect(f"{path}:storage", value.get("storage"), bool, "a boolean"))
    devices = value.get("storage_devices")
    if devices is not None and not (
        isinstance(devices, list)
        and all(isinstance(dev, str) and dev.startswith("/") for dev in devices)
    ):
        errors.append(
            f"{path}:storage_devices: must be a list of device paths, not {_shown(devices)}"
        )
    network = value.get("network")
    if isinstance(network, dict):
        errors.extend(_scalar_mapping(f"{path}:network", network))
    else:
        errors.extend(
            _expect(f"{path}:network", network, bool, "a boolean or a mapping")
        )
    errors.extend(_check_preseed(f"{path}:preseed", value.get("preseed"), settings, defaults))
    return errors


def _check_preseed(path, value, settings, defaults):
    if isinstance(value, str):
        try:
            value = salt.utils.yaml.safe_load(value) if value.strip() else {}
        except salt.utils.yaml.YAMLError as exc:
            reason = " ".join(str(exc).split())
            return [f"{path}: not parsable as YAML: {reason}"]
    if value is None:
        return []
    if not isinstance(value, dict):
        return [f"{path}: must be a mapping or YAML text of one, not {_kind(value)}"]
    errors = []
    for key in value:
        if key == "cluster":
            errors.append(
                f"{path}:cluster: clustering is set by lxd:mode and lxd:cluster, "
                "not in the preseed"
            )
        elif key != "config" and key not in PRESEED_FIELDS:
            known = ", ".join(("config",) + tuple(PRESEED_FIELDS))
            errors.append(f"{path}:{key}: unknown preseed section (known: {known})")
    errors.extend(_scalar_mapping(f"{path}:config", value.get("config")))
    for section, fields in PRESEED_FIELDS.items():
        errors.extend(_check_preseed_entries(f"{path}:{section}", value.get(section), fields))
    return errors


def _check_preseed_entries(path, entries, fields):
    if entries is None:
        return []
    if not isinstance(entries, list):
        return [f"{path}: must be a list, not {_kind(entries)}"]
    errors = []
    for index, entry in enumerate(entries):
        where = f"{path}:{index}"
        if not isinstance(entry, dict):
            errors.append(f"{where}: must be a mapping, not {_kind(entry)}")
            continue
        errors.extend(_unknown_keys(where, entry, fields))
        if not isinstance(entry.get("name"), str) or not entry.get("name"):
            errors.append(f"{where}:name: every entry needs a name")
        errors.extend(_check_object_name(f"{where}:project", entry.get("project")))
        errors.extend(_scalar_mapping(f"{where}:config", entry.get("config")))
        devices = entry.get("devices")
        if devices is None:
            continue
        if not isinstance(devices, dict):
            errors.append(f"{where}:devices: must be a mapping, not {_kind(devices)}")
            continue
        for device, device_config in devices.items():
            errors.extend(_scalar_mapping(f"{where}:devices:{device}", device_config))
    return errors


# As the lxd_cluster runner bounds it
MAX_KEY_DELETE_GRACE = 3600


def _check_cluster(path, value, settings, defaults):
    errors = _expect_mapping(path, value, defaults["cluster"])
    if errors or value is None:
        return errors
    name = value.get("name")
    if name is not None and not (isinstance(name, str) and CLUSTER_NAME_RE.fullmatch(name)):
        errors.append(f"{path}:name: {_shown(name)} is not a cluster name (letters, digits, ._-)")
    errors.extend(_expect(f"{path}:bootstrap", value.get("bootstrap"), str, "a minion id"))
    errors.extend(_check_token_expiry(f"{path}:token_expiry", value.get("token_expiry")))
    for flag in ("remove_on_key_delete", "evacuate_on_remove"):
        errors.extend(_expect(f"{path}:{flag}", value.get(flag), bool, "a boolean"))
    grace = value.get("key_delete_grace")
    if grace is not None and (isinstance(grace, bool) or not isinstance(grace, int)
                              or not 0 <= grace <= MAX_KEY_DELETE_GRACE):
        # the reactor's thread waits that long for the key to come back
        errors.append(f"{path}:key_delete_grace: must be a whole number of seconds from 0 "
                      f"to {MAX_KEY_DELETE_GRACE}, not {_shown(grace)}")
    return errors


def _check_token_expiry(path, expiry):
    if expiry is None:
        return []
    if not (isinstance(expiry, str) and EXPIRY_RE.fullmatch(expiry)):
        return [f"{path}: {_shown(expiry)} is not an LXD expiry (<number><unit>, unit one "
                f"of {' '.join(lxd_settings.EXPIRY_UNITS)}; e.g. 15M, 1d 12H)"]
    if expiry_seconds(expiry) > expiry_seconds(TOKEN_EXPIRY_MAX):
        return [f"{path}: {_shown(expiry)} is longer than {TOKEN_EXPIRY_MAX}: a join token "
                f"lets whoever holds it join the cluster, so it lasts {TOKEN_EXPIRY_MAX} "
                "at most"]
    return []


def _check_sideload(path, value, settings, defaults):
    errors = _expect_mapping(path, value, defaults["sideload"])
    if errors or value is None:
        return errors
    for kind, source in value.items():
        if source is not None and not (
            isinstance(source, str) and source.startswith("salt://")
        ):
            errors.append(f"{path}:{kind}: must be a salt:// URL, not {_shown(source)}")
    if any(value.values()) and settings["install"]["method"] != "snap":
        errors.append(
            f"{path}: sideloading replaces the snap's LXD: it needs "
            f"lxd:install:method snap, not {_shown(settings['install']['method'])}"
        )
    return errors


def _check_listen(path, value, settings, defaults):
    errors = _expect_mapping(path, value, defaults["listen"])
    if errors or value is None:
        return errors
    for endpoint, enabled in value.items():
        errors.extend(_expect(f"{path}:{endpoint}", enabled, bool, "a boolean"))
    return errors


def _check_addresses(path, value, settings, defaults):
    errors = _expect_mapping(path, value, defaults["addresses"])
    if errors or value is None:
        return errors
    for endpoint, spec in value.items():
        if spec is None:
            continue
        try:
            __salt__["lxd_host.parse_address"](spec)
        except ValueError as exc:
            errors.append(f"{path}:{endpoint}: {exc}")
    if errors:
        return errors
    # The addresses in use must resolve on this host, before anything changes.
    used = [endpoint for endpoint, on in settings["listen"].items() if on is True]
    if settings["mode"] == "cluster":
        used.append("cluster")
    for endpoint in used:
        try:
            __salt__["lxd_host.address"](value.get(endpoint))
        except CommandExecutionError as exc:
            errors.append(f"{path}:{endpoint}: {exc}")
    return errors


def _check_proxy(path, value, settings, defaults):
    errors = _expect_mapping(path, value, defaults["proxy"])
    if errors or value is None:
        return errors
    for scheme in ("http", "https"):
        url = value.get(scheme)
        if url is None or url == "":
            continue
        reason = _proxy_url_problem(url)
        if reason:
            errors.append(
                f"{path}:{scheme}: must be a proxy URL such as "
                f"http://proxy.example.net:3128 ({reason})"
            )
    hosts = value.get("no_proxy")
    if not (
        hosts is None
        or isinstance(hosts, str)
        or (isinstance(hosts, list) and all(isinstance(host, str) for host in hosts))
    ):
        errors.append(
            f"{path}:no_proxy: must be a comma-separated string or a list of hosts, "
            f"not {_kind(hosts)}"
        )
    return errors


def _proxy_url_problem(url):
    """Why ``url`` is not a proxy URL, or None: parsed by a URL parser
    (bracketed IPv6 hosts, ports in range), as LXD will use it."""
    if not isinstance(url, str):
        return f"not {_kind(url)}"
    shown = _shown(url)
    if "@" in url:  # credentials are not quoted
        scheme, separator, rest = url.partition("://")
        prefix = f"{scheme}{separator}" if separator else ""
        shown = repr(f"{prefix}********@{(rest if separator else url).rpartition('@')[2]}")
    if any(char.isspace() for char in url):
        return f"{shown} has spaces"
    try:
        parts = urllib.parse.urlsplit(url)
        if parts.port == 0:
            return f"{shown}: port 0"
    except ValueError as exc:  # an unclosed [IPv6], a port out of range
        return f"{shown}: {exc}"
    if parts.scheme not in PROXY_SCHEMES:
        return f"{shown}: the scheme must be one of: {', '.join(PROXY_SCHEMES)}"
    if not parts.hostname:
        return f"{shown}: no host"
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        return f"{shown}: a proxy URL has no path, query or fragment"
    return None


def _check_projects(path, projects):
    if projects is None or (
        isinstance(projects, list) and all(isinstance(p, str) and p for p in projects)
    ):
        return []
    return [
        f"{path}: must be a list of project names ([] for no access; absent for "
        f"all), not {_shown(projects)}"
    ]


def _check_certificate(path, entry):
    """An error list for a trusted certificate's cert / cert_url."""
    cert, url = entry.get("cert"), entry.get("cert_url")
    if entry.get("present", True) is False and not (cert or url):
        return []
    if bool(cert) == bool(url):
        return [f"{path}: give exactly one of cert (PEM) and cert_url"]
    if url:
        if isinstance(url, str) and url.startswith(CERT_URL_SCHEMES):
            return []
        return [
            f"{path}:cert_url: must be an {', '.join(CERT_URL_SCHEMES)} URL, not {_shown(url)}"
        ]
    try:
        __salt__["lxd_trust.normalise_pem"](cert)
    except ValueError as exc:
        return [f"{path}:cert: {exc}"]
    return []


def _check_trust(path, value, settings, defaults):
    errors = _expect_mapping(path, value, defaults["trust"])
    if errors or value is None:
        return errors
    errors.extend(_check_client_minions(f"{path}:client_minions", value.get("client_minions")))
    clients = value.get("clients")
    if clients is None:
        return errors
    if not isinstance(clients, dict):
        return [f"{path}:clients: must be a mapping of names, not {_kind(clients)}"]
    fields = ("cert", "cert_url", "projects", "type", "present")
    for name, entry in clients.items():
        where = f"{path}:clients:{name}"
        problem = __salt__["lxd_trust.pillar_client_problem"](name)
        if problem:
            errors.append(f"{where}: {problem}")
            continue
        if not isinstance(entry, dict):
            errors.append(f"{where}: must be a mapping, not {_kind(entry)}")
            continue
        errors.extend(_unknown_keys(where, entry, fields))
        errors.extend(_check_certificate(where, entry))
        errors.extend(_check_projects(f"{where}:projects", entry.get("projects")))
        errors.extend(_check_trust_type(f"{where}:type", entry.get("type")))
        errors.extend(_expect(f"{where}:present", entry.get("present"), bool, "a boolean"))
    return errors


def _check_client_minions(path, rules):
    if rules is None:
        return []
    if not isinstance(rules, dict):
        return [f"{path}: must be a mapping of rule names, not {_kind(rules)}"]
    errors = []
    for name, rule in rules.items():
        where = f"{path}:{name}"
        if not isinstance(rule, dict):
            errors.append(f"{where}: must be a mapping, not {_kind(rule)}")
            continue
        errors.extend(_unknown_keys(where, rule, ("target", "tgt_type", "projects", "type")))
        if not (isinstance(rule.get("target"), str) and rule["target"]):
            errors.append(f"{where}:target: every rule needs a target (minion ids)")
        tgt_type = rule.get("tgt_type")
        if tgt_type is not None and tgt_type not in CLIENT_TARGET_TYPES:
            errors.append(
                f"{where}:tgt_type: unknown target type {_shown(tgt_type)} "
                f"(expected one of: {', '.join(CLIENT_TARGET_TYPES)})"
            )
        errors.extend(_check_projects(f"{where}:projects", rule.get("projects")))
        errors.extend(_check_trust_type(f"{where}:type", rule.get("type")))
    return errors


def _check_trust_type(path, kind):
    if kind is None or kind in TRUST_TYPES:
        return []
    return [f"{path}: unknown type {_shown(kind)} (expected one of: {', '.join(TRUST_TYPES)})"]


def _check_client(path, value, settings, defaults):
    if isinstance(value, dict):
        moved = [key for key in ("projects", "type") if key in value]
        if moved:
            return [
                f"{path}:{key}: a client cannot choose its own access: set it on the "
                "hosts, in lxd:trust:client_minions" for key in moved
            ]
    errors = _expect_mapping(path, value, defaults["client"])
    if errors or value is None:
        return errors
    name = value.get("cluster")
    if name is not None and not (isinstance(name, str) and CLUSTER_NAME_RE.fullmatch(name)):
        errors.append(f"{path}:cluster: {_shown(name)} is not a cluster name (letters, digits, ._-)")
    for key in ("cert", "key"):
        file_path = value.get(key)
        if file_path is not None and not (
            isinstance(file_path, str) and file_path.startswith("/")
        ):
            errors.append(f"{path}:{key}: must be an absolute path, not {_shown(file_path)}")
    return errors


def _check_timeouts(path, value, settings, defaults):
    errors = _expect_mapping(path, value, defaults["timeouts"])
    if errors or value is None:
        return errors
    return [
        f"{path}:{key}: must be a whole number of seconds above 0, not {_shown(seconds)}"
        for key, seconds in value.items()
        if isinstance(seconds, bool) or not isinstance(seconds, int) or seconds <= 0
    ]


# What each declared resource (lxd:storage_pools and the rest) may hold.
RESOURCE_FIELDS = {
    "storage_pools": ("driver", "description", "config", "member_config", "present"),
    "networks": ("type", "description", "config", "member_config", "project", "name",
                 "present"),
    "profiles": ("description", "config", "devices", "project", "name", "present"),
    "projects": ("description", "config", "present"),
}
# The config key that marks what the formula created (lxd_resources).


def _check_resources(path, value, settings, defaults):
    kind = path.rpartition(":")[2]
    if value is None:
        return []
    if not isinstance(value, dict):
        return [f"{path}: must be a mapping of names, not {_kind(value)}"]
    errors, named = [], {}
    for name, entry in value.items():
        where = f"{path}:{name}"
        if not (isinstance(name, str) and CLUSTER_NAME_RE.fullmatch(name)):
            errors.append(f"{where}: not a name LXD takes (letters, digits, ._-)")
            continue
        if entry is None:
            errors.append(f"{where}: must be a mapping (an empty one: {{}}), not nothing")
            continue
        errors += _expect_mapping(where, entry, RESOURCE_FIELDS[kind])
        if not isinstance(entry, dict) or errors:
            continue
        entry_errors = _check_resource(where, kind, entry)
        errors += entry_errors
        if entry_errors:
            continue
        scoped = (entry.get("project") or "default", entry.get("name") or name)
        if scoped in named:
            errors.append(f"{where}: names the same {scoped[1]} in project {scoped[0]} as "
                          f"{path}:{named[scoped]}")
        named.setdefault(scoped, name)
    return errors


def _check_object_name(path, name):
    if name is None or (isinstance(name, str) and CLUSTER_NAME_RE.fullmatch(name)):
        return []
    return [f"{path}: not a name LXD takes (letters, digits, ._-)"]


def _check_resource(where, kind, entry):
    errors = _expect(f"{where}:present", entry.get("present"), bool, "a boolean")
    errors += _expect(f"{where}:description", entry.get("description"), str, "a string")
    for field in ("driver", "type"):
        errors += _expect(f"{where}:{field}", entry.get(field), str, "a string")
    for field in ("project", "name"):
        errors += _check_object_name(f"{where}:{field}", entry.get(field))
    for field in ("config", "member_config"):
        errors += _scalar_mapping(f"{where}:{field}", entry.get(field))
        if MANAGED_MARKER in (entry.get(field) or {}):
            errors.append(f"{where}:{field}:{MANAGED_MARKER}: the formula's own mark, "
                          "not to be set")
    if kind == "storage_pools" and entry.get("present", True) and not entry.get("driver"):
        errors.append(f"{where}:driver: missing (dir, zfs, btrfs, lvm, ceph, ...)")
    devices = entry.get("devices")
    if devices is not None and not isinstance(devices, dict):
        errors.append(f"{where}:devices: must be a mapping of device names, not "
                      f"{_kind(devices)}")
    for device, settings in (devices or {}).items():
        errors += _scalar_mapping(f"{where}:devices:{device}", settings)
        if not isinstance(settings, dict) or not settings.get("type"):
            errors.append(f"{where}:devices:{device}:type: missing (disk, nic, ...)")
    return errors


VALIDATORS = {
    "backend": _check_backend,
    "timeouts": _check_timeouts,
    "mode": _check_mode,
    "install": _check_install,
    "snap_config": _check_snap_config,
    "sysctl_tuning": _check_bool,
    "sysctl": _check_sysctl,
    "kernel_hardening": _check_bool,
    "hardening": _check_hardening,
    "files": _check_files,
    "connection": _check_connection,
    "init": _check_init,
    "sideload": _check_sideload,
    "listen": _check_listen,
    "addresses": _check_addresses,
    "proxy": _check_proxy,
    "cluster": _check_cluster,
    "trust": _check_trust,
    "client": _check_client,
    "storage_pools": _check_resources,
    "networks": _check_resources,
    "profiles": _check_resources,
    "projects": _check_resources,
}
