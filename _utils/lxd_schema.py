"""
What every key of the ``lxd`` pillar may hold: one table (``SCHEMA``,
parallel to ``lxd/parameters/defaults.yaml``; test_schema.py checks the two
agree both ways) and one small checker that reads it. Adding a pillar key
touches the defaults, this table and the docs, nothing else.

A table, not jsonschema: neither Salt 3007 nor 3008 depends on jsonschema,
so it would be one more package to install on every minion, and its
messages name JSON pointers and schema keywords where the formula's errors
name the pillar key (``lxd:install:channel: ...``) and the reason in the
operator's words. Rules that join keys (backend conflicts, what the host
or the daemon says) are code: lxd_pillar_rules and lxd_pillar.

An entry of the table (every field optional):

type
    ``bool``, ``str``, ``int`` (not a boolean), ``list``, ``map``,
    ``scalar`` (a string, number or boolean), or a tuple of these.
what
    The value as ``must be <what>`` describes it.
is
    The same, as ``<value> is not <is>`` says it (patterns).
quote
    False: the value is never quoted (config values may be secrets).
choices, noun
    The values allowed; errors say ``unknown <noun> <value>``.
pattern, prefixes
    A string matched whole (a trailing newline is no part of a name), or
    starting with one of the prefixes.
min, max
    Bounds of a number.
path
    An absolute path; ``plain``: spelled as the one path it means;
    ``own_file``: a file the formula writes itself, not a directory or a
    link elsewhere.
items, values
    The entry every item of a list, every value of an open mapping, meets.
required, null
    Absent or null is an error; null is an error (absent is the default).
missing
    The reason given when a required value is absent or empty.
refused
    Keys of a mapping refused with a reason of their own.
snap_only
    Only the LXD snap has this key: refused with the Incus backend.
rule
    The name of a rule (lxd_pillar_rules.RULES, or lxd_pillar's) run once
    the value passed the checks above; the rule sees the merged settings.

A closed mapping (``type: map`` with entries below it in the table) takes
only the keys the table lists.
"""

import os
import re
import unicodedata

try:  # installed as the saltext-lxd package
    from saltext.lxd.utils.lxd_backends import BACKENDS
    from saltext.lxd.utils.lxd_names import SNAP_RISKS
    from saltext.lxd.utils.lxd_settings import EXPIRY_UNITS
except ImportError:  # synced from _utils: Salt puts the utils directories on sys.path
    from lxd_backends import BACKENDS
    from lxd_names import SNAP_RISKS
    from lxd_settings import EXPIRY_UNITS

try:  # Salt 3008 masks pillar containers in their repr: show what was given
    from salt.utils.secret import expose
except ImportError:
    def expose(value):
        return value

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
# LXD's expiry syntax: one or more <number><unit>, e.g. "15M", "1d 12H".
EXPIRY_RE = re.compile(r"\d+[SMHdwmy](?: \d+[SMHdwmy])*")
# A cluster, project, profile, network or storage pool name.
NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
CERT_URL_SCHEMES = ("https://", "http://", "salt://")
# The longest lxd:cluster:key_delete_grace: a reactor thread waits that long
# for a re-key (lxd_cluster_removal bounds its wait by it).
MAX_KEY_DELETE_GRACE = 3600

BOOL = {"type": "bool", "what": "a boolean"}
FLAG = {"type": "bool", "what": "a boolean (true or false)"}
SCALARS = {"type": "map", "values": {"type": "scalar", "what": "a string, number or boolean",
                                     "quote": False, "null": False}}
CLUSTER_NAME = {"type": "str", "pattern": NAME_RE, "is": "a cluster name (letters, digits, ._-)"}
LXD_NAME = {"type": "str", "pattern": NAME_RE, "is": "a name LXD takes (letters, digits, ._-)",
            "quote": False}
FILE = {"type": "str", "path": ("plain", "own_file"), "what": "an absolute path", "null": False}
SECONDS = {"type": "int", "min": 1, "what": "a whole number of seconds above 0", "null": False}
PROJECTS = {"type": "list", "items": {"type": "str", "pattern": re.compile(r"(?s).+")},
            "what": "a list of project names ([] for no access; absent for all)"}
TRUST_TYPE = {"choices": ("client", "metrics"), "noun": "type"}

SCHEMA = {
    "backend": {"choices": tuple(BACKENDS), "noun": "backend"},
    "mode": {"choices": ("standalone", "cluster"), "noun": "mode"},
    "install": {"type": "map"},
    "install:method": {"choices": ("snap", "package", "none"), "noun": "method"},
    "install:channel": {
        "type": "str", "pattern": CHANNEL_RE, "snap_only": True,
        "is": f"a snap channel (expected [track/]risk[/branch], risk one of: "
              f"{', '.join(SNAP_RISKS)}; e.g. latest/stable, 5.21/candidate)"},
    "install:cohort": dict(BOOL, snap_only=True),
    "install:hold": dict(BOOL, snap_only=True),
    "install:snap": {
        "type": "str", "pattern": SNAP_NAME_RE, "snap_only": True,
        "is": "a snap name (2 to 40 lowercase letters, digits and single inner hyphens, "
              "at least one letter)"},
    "install:package": {
        "type": "str", "pattern": PACKAGE_RE,
        "is": "a Debian package name (lowercase letters, digits, + - and ., at least 2, "
              "the first a letter or digit)"},
    "install:service": {
        "type": "str", "pattern": UNIT_NAME_RE,
        "is": "a systemd unit name (letters, digits and : _ . \\ @ -, not starting with -; "
              "no / or whitespace)"},
    "install:backports": {
        "type": ("bool", "str"), "pattern": re.compile(r"https?://\S+"), "rule": "backports",
        "what": "a boolean or a Debian mirror URL (http://deb.debian.org/debian)"},
    "install:extra_packages": {
        "type": "list", "items": {"type": "str", "pattern": PACKAGE_RE},
        "what": "a list of package names (e.g. [nftables, dnsmasq-base])"},
    "sideload": {"type": "map", "snap_only": True, "rule": "sideload"},
    "sideload:binary": {"type": "str", "prefixes": ("salt://",), "what": "a salt:// URL"},
    "sideload:snap": {"type": "str", "prefixes": ("salt://",), "what": "a salt:// URL"},
    "snap_config": dict(SCALARS, snap_only=True),
    "sysctl_tuning": FLAG,
    "sysctl": dict(SCALARS, rule="sysctl"),
    "kernel_hardening": FLAG,
    "hardening": {"type": "map", "rule": "hardening"},
    "files": {"type": "map"},
    "files:sysctl_conf": FILE,
    "files:tmpfiles_conf": FILE,
    "files:sideload_binary": dict(FILE, snap_only=True),
    # a directory the formula only looks into
    "files:deb_data": dict(FILE, path=("plain",)),
    "timeouts": {"type": "map"},
    "timeouts:request": SECONDS,
    "timeouts:operation": SECONDS,
    "timeouts:command": SECONDS,
    "connection": {"type": "map", "rule": "connection"},
    "connection:socket": {"type": "str", "what": "a path"},
    "connection:url": {"type": "str", "prefixes": ("https://",), "what": "an https:// URL"},
    "connection:cert": {"type": "str", "what": "a path"},
    "connection:key": {"type": "str", "what": "a path"},
    "connection:verify": {"type": ("bool", "str"), "what": "a boolean or a path"},
    "listen": {"type": "map"},
    "listen:https": BOOL,
    "listen:bgp": BOOL,
    "listen:dns": BOOL,
    "listen:metrics": BOOL,
    "init": {"type": "map"},
    "init:preseed": {"rule": "preseed"},
    "init:storage": BOOL,
    "init:storage_devices": {
        "type": "list", "items": {"type": "str", "path": ()},
        "what": "a list of device paths"},
    "init:network": dict(SCALARS, type=("bool", "map"), what="a boolean or a mapping"),
    "addresses": {"type": "map", "rule": "addresses"},
    "addresses:cluster": {"rule": "address"},
    "addresses:https": {"rule": "address"},
    "addresses:bgp": {"rule": "address"},
    "addresses:dns": {"rule": "address"},
    "addresses:metrics": {"rule": "address"},
    "proxy": {"type": "map"},
    "proxy:http": {"rule": "proxy_url"},
    "proxy:https": {"rule": "proxy_url"},
    "proxy:no_proxy": {
        "type": ("str", "list"), "items": {"type": "str"}, "quote": False,
        "what": "a comma-separated string or a list of hosts"},
    "cluster": {"type": "map"},
    "cluster:name": CLUSTER_NAME,
    "cluster:bootstrap": {"type": "str", "what": "a minion id"},
    "cluster:token_expiry": {
        "type": "str", "pattern": EXPIRY_RE, "rule": "token_expiry",
        "is": f"an LXD expiry (<number><unit>, unit one of {' '.join(EXPIRY_UNITS)}; "
              "e.g. 15M, 1d 12H)"},
    "cluster:remove_on_key_delete": BOOL,
    "cluster:key_delete_grace": {
        "type": "int", "min": 0, "max": MAX_KEY_DELETE_GRACE,
        "what": f"a whole number of seconds from 0 to {MAX_KEY_DELETE_GRACE}"},
    "cluster:evacuate_on_remove": BOOL,
    "trust": {"type": "map"},
    "trust:clients": {"type": "map", "what": "a mapping of names", "rule": "trust_clients"},
    "trust:client_minions": {
        "type": "map", "what": "a mapping of rule names", "rule": "client_minions"},
    "storage_pools": {"type": "map", "what": "a mapping of names", "rule": "resources"},
    "networks": {"type": "map", "what": "a mapping of names", "rule": "resources"},
    "profiles": {"type": "map", "what": "a mapping of names", "rule": "resources"},
    "projects": {"type": "map", "what": "a mapping of names", "rule": "resources"},
    "client": {"type": "map", "refused": {
        key: "a client cannot choose its own access: set it on the hosts, in "
             "lxd:trust:client_minions" for key in ("projects", "type")}},
    "client:cluster": CLUSTER_NAME,
    "client:cert": {"type": "str", "path": (), "what": "an absolute path"},
    "client:key": {"type": "str", "path": (), "what": "an absolute path"},
}

# The entries of the pillar's open mappings, as tables of their own.
HARDENING_ENTRY = {
    field: {"type": "str", "pattern": re.compile(r"0?[0-7]{3}"), "required": True,
            "what": "an octal mode string such as '0700'"}
    for field in ("mode", "default")
}
TRUST_CLIENT = {
    "cert": {},  # a PEM certificate: lxd_trust reads it
    "cert_url": {"type": "str", "prefixes": CERT_URL_SCHEMES,
                 "what": f"an {', '.join(CERT_URL_SCHEMES)} URL"},
    "projects": PROJECTS,
    "type": TRUST_TYPE,
    "present": BOOL,
}
CLIENT_MINIONS_RULE = {
    # by minion id only, as the master matches it (grains are what a
    # minion says of itself)
    "target": {"type": "str", "missing": "every rule needs a target (minion ids)"},
    "tgt_type": {"choices": ("glob", "list", "pcre"), "noun": "target type"},
    "projects": PROJECTS,
    "type": TRUST_TYPE,
}
PRESEED_ENTRY = {
    "name": {"type": "str", "missing": "every entry needs a name"},
    "type": {}, "driver": {}, "description": {},
    "config": SCALARS,
    "project": LXD_NAME,
    "devices": {"type": "map", "values": SCALARS},
}
# lxd init's preseed: its sections of entries (config is one mapping).
PRESEED = {
    section: {field: PRESEED_ENTRY[field] for field in fields}
    for section, fields in {
        "networks": ("name", "type", "config", "description", "project"),
        "storage_pools": ("name", "driver", "config", "description"),
        "profiles": ("name", "config", "devices", "description"),
        "projects": ("name", "config", "description"),
    }.items()
}
RESOURCE_FIELD = {
    "driver": {"type": "str", "what": "a string"},
    "type": {"type": "str", "what": "a string"},
    "description": {"type": "str", "what": "a string"},
    "config": SCALARS,
    "member_config": SCALARS,
    "project": LXD_NAME,
    "name": LXD_NAME,
    "devices": {"type": "map", "what": "a mapping of device names"},
    "present": BOOL,
}
# What each declared resource (lxd:storage_pools and the rest) may hold.
RESOURCES = {
    kind: {field: RESOURCE_FIELD[field] for field in fields}
    for kind, fields in {
        "storage_pools": ("driver", "description", "config", "member_config", "present"),
        "networks": ("type", "description", "config", "member_config", "project", "name",
                     "present"),
        "profiles": ("description", "config", "devices", "project", "name", "present"),
        "projects": ("description", "config", "present"),
    }.items()
}

TYPES = {
    "bool": lambda value: isinstance(value, bool),
    "str": lambda value: isinstance(value, str),
    "int": lambda value: isinstance(value, int) and not isinstance(value, bool),
    "list": lambda value: isinstance(value, list),
    "map": lambda value: isinstance(value, dict),
    "scalar": lambda value: isinstance(value, (str, int, float, bool)),
}
# What a value is judged by beyond its type: failing one, the value is
# quoted rather than its kind named.
VALUE_RULES = ("pattern", "prefixes", "min", "max", "path", "items")


# ---------------------------------------------------------------- messages


def shown(value):
    """A pillar value quoted in an error (Salt 3008 would print a list or
    mapping from pillar as '**********'); secrets are never quoted here."""
    return repr(expose(value))


def kind(value):
    names = {dict: "a mapping", list: "a list", str: "a string", bool: "a boolean"}
    if value is None:
        return "empty"
    return names.get(type(value), type(value).__name__)


def control_problem(value):
    """Why ``value`` cannot be one line of a file or one argument of a
    command (a control character: a newline would start another), or None."""
    found = next((char for char in str(value) if unicodedata.category(char) == "Cc"), None)
    return None if found is None else f"has a control character ({found!r})"


def printable(key):
    """A key as an error names it: quoted when it has control characters,
    so that an error stays one line."""
    return repr(str(key)) if control_problem(key) else str(key)


def unknown_keys(where, given, known):
    return [
        f"{where}:{key}: unknown key (known: {', '.join(sorted(known))})"
        for key in given
        if key not in known
    ]


# ---------------------------------------------------------------- paths


def spelling_problem(path):
    """Why ``path`` is not spelled as the one path it means, or None: "."
    and ".." steps (".." after a symlink leads elsewhere than it reads),
    doubled or trailing slashes."""
    if os.path.normpath(path) != path:
        return "is not a plain absolute path (no . or .. steps, no doubled or trailing /)"
    return None


def resolved(path):
    """``path`` with every symlink resolved (os.path.realpath), or None
    where a link on the way may not be read (/proc/1/root)."""
    try:
        return os.path.realpath(path)
    except OSError:
        return None


def written_file_problem(path):
    """Why the formula may not write (or remove) ``path`` as its own
    file, or None: a directory, or a symlink on the way (it or a directory
    above it) that would point the write at another file."""
    if os.path.isdir(path):
        return "is a directory: give the path of the file itself"
    real = resolved(path)
    if real is None:
        return "cannot be judged: a link on the way is one this host may not read"
    if real != path:
        return f"resolves to {real}: give a path without symlinks, the file's own"
    return None


def path_problem(path, rules):
    """Why the absolute ``path`` breaks one of ``rules`` (plain, own_file)."""
    problem = None
    if "plain" in rules:
        problem = control_problem(path) or spelling_problem(path)
    if not problem and "own_file" in rules:
        problem = written_file_problem(path)
    return problem


# ---------------------------------------------------------------- the checker


def _must(where, value, spec):
    # a mapping's content is never quoted: it may hold anything
    is_map = spec.get("type") == "map"
    what = spec.get("what", "a mapping" if is_map else "valid")
    if is_map or spec.get("quote", True) is False:
        return f"{where}: must be {what}, not {kind(value)}"
    if any(rule in spec for rule in VALUE_RULES):
        return f"{where}: must be {what}, not {shown(value)}"
    return f"{where}: must be {what}, not {kind(value)} ({shown(value)})"


def _is_not(where, value, spec):
    if spec.get("quote", True) is False:
        return f"{where}: not {spec['is']}"
    return f"{where}: {shown(value)} is not {spec['is']}"


def _fits_type(value, spec):
    types = spec.get("type", ())
    types = (types,) if isinstance(types, str) else types
    return not types or any(TYPES[name](value) for name in types)


def _fits(value, spec):
    """Whether ``value`` (not None) meets ``spec`` but its paths' rules."""
    if not _fits_type(value, spec):
        return False
    if isinstance(value, str):
        if "pattern" in spec and not spec["pattern"].fullmatch(value):
            return False
        if "prefixes" in spec and not value.startswith(spec["prefixes"]):
            return False
        if "path" in spec and not value.startswith("/"):
            return False
    if isinstance(value, (int, float)) and not isinstance(value, bool) and not (
            spec.get("min", value) <= value <= spec.get("max", value)):
        return False
    if isinstance(value, list) and "items" in spec:
        return all(item is not None and _fits(item, spec["items"]) for item in value)
    return True


def problem(where, value, spec):
    """The error for one value against its own entry, or None."""
    if "choices" in spec and value not in spec["choices"]:
        return (f"{where}: unknown {spec['noun']} {shown(value)} "
                f"(expected one of: {', '.join(spec['choices'])})")
    if not _fits(value, spec):
        return _is_not(where, value, spec) if "is" in spec else _must(where, value, spec)
    if isinstance(value, str) and spec.get("path"):
        found = path_problem(value, spec["path"])
        return f"{where}: {shown(value)} {found}" if found else None
    return None


def children(table, key=""):
    """The keys of ``table`` directly below ``key`` ("" for its top)."""
    start = f"{key}:" if key else ""
    return [name[len(start):] for name in table
            if name.startswith(start) and name != key and ":" not in name[len(start):]]


def check_value(where, value, spec, context, table=None, key=None):
    """Errors for ``value`` at ``where`` against ``spec``: its entry, the
    entries below it in ``table`` (at ``key``), then its rule."""
    if value is None:
        refused = spec.get("required") or spec.get("null") is False
        return [_must(where, value, spec)] if refused else []
    found = problem(where, value, spec)
    if found:
        return [found]
    errors = []
    if isinstance(value, dict):
        if table is not None and children(table, key):
            errors = check_mapping(where, value, table, context, key)
        elif "values" in spec:
            for name, item in value.items():
                errors += check_value(f"{where}:{printable(name)}", item, spec["values"], context)
    if not errors and "rule" in spec:
        errors = context["rules"][spec["rule"]](where, value, context["settings"])
    return errors


def check_mapping(where, value, table, context, key="", past_unknown=False):
    """Errors for the mapping ``value`` against the entries of ``table``
    below ``key``: its keys, then each value; a mapping with keys it does
    not know is not looked into, unless ``past_unknown``."""
    spec = table.get(key, {})
    refused = [name for name in spec.get("refused", ()) if name in value]
    if refused:
        return [f"{where}:{name}: {spec['refused'][name]}" for name in refused]
    known = children(table, key)
    errors = unknown_keys(where, value, known)
    if errors and not past_unknown:
        return errors
    for name in known:
        path = f"{key}:{name}" if key else name
        entry = table[path]
        if name not in value:
            errors += [f"{where}:{name}: {entry['missing']}"] if "missing" in entry else []
            errors += [_must(f"{where}:{name}", None, entry)] if entry.get("required") else []
            continue
        item = value[name]
        if "missing" in entry and (item in (None, "") or problem(where, item, entry)):
            errors.append(f"{where}:{name}: {entry['missing']}")
        elif item is None and entry.get("null") is False:
            errors.append(_must(f"{where}:{name}", item, entry))
        else:
            errors += check_value(f"{where}:{name}", item, entry, context, table, path)
    return errors


def snap_only_keys():
    """The keys only the LXD snap has, in the table's order."""
    return [key for key, spec in SCHEMA.items() if spec.get("snap_only")]
