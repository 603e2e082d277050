"""
The pillar rules a table cannot say (lxd_schema holds what each key may
hold): rules joining keys (backend conflicts, what another key must be),
the structure of lxd init's preseed, the entries of open mappings (named
resources, hardened paths, client rules). Pure functions: what the host or
the daemon says is lxd_pillar's.

Every rule takes the key's path as errors name it, its value (valid as
far as its own table entry goes) and the merged settings, and returns a
list of errors.
"""

import re
import urllib.parse

import salt.utils.yaml

try:  # installed as the saltext-lxd package
    from saltext.lxd.utils import lxd_schema as schema
    from saltext.lxd.utils.lxd_names import MANAGED_MARKER
    from saltext.lxd.utils.lxd_settings import expiry_seconds
except ImportError:  # synced from _utils: Salt puts the utils directories on sys.path
    import lxd_schema as schema
    from lxd_names import MANAGED_MARKER
    from lxd_settings import expiry_seconds

# Where lxd:hardening may change modes; any step of a path out of them (a
# symlink such as /proc/self/root, which is the whole filesystem) is refused.
HARDENED_ROOTS = ("/proc", "/sys")
SYSCTL_KEY_RE = re.compile(r"[a-z0-9_]+(\.[A-Za-z0-9_-]+)+")
# The longest lxd:cluster:token_expiry: a join token is a credential (who
# holds it joins the cluster), and one copied into a terminal or a ticket
# must not outlive the day. The formula uses its tokens within seconds;
# a day leaves room for a token issued by hand (lxc cluster add).
TOKEN_EXPIRY_MAX = "1d"
PROXY_SCHEMES = ("http", "https", "socks5", "socks5h")


def backend_conflicts(pillar, settings):
    """Keys the pillar gives that the chosen backend has no use for."""
    if settings["backend"] != "incus":
        return []
    errors = []
    if settings["install"]["method"] == "snap":
        errors.append(
            "lxd:install:method: Incus is not published as a snap: use package "
            "(the distribution's incus) or none, with lxd:backend incus"
        )
    for key in schema.snap_only_keys():
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


def _needs_method(where, why, method, settings):
    """``why`` (ending "need(s)") the install method ``method``."""
    given = settings["install"]["method"]
    if given == method:
        return []
    return [f"{where}: {why} lxd:install:method {method}, not {schema.shown(given)}"]


def backports(where, value, settings):
    if not value:
        return []
    return _needs_method(where, "backports are a package source: they need", "package",
                         settings)


def sideload(where, value, settings):
    if not any(value.values()):
        return []
    return _needs_method(where, "sideloading replaces the snap's LXD: it needs", "snap",
                         settings)


def connection(where, value, settings):
    if value.get("url") and not (value.get("cert") and value.get("key")):
        return [f"{where}:url: an https connection needs cert and key"]
    return []


def token_expiry(where, value, settings):
    if expiry_seconds(value) > expiry_seconds(TOKEN_EXPIRY_MAX):
        return [f"{where}: {schema.shown(value)} is longer than {TOKEN_EXPIRY_MAX}: a join "
                f"token lets whoever holds it join the cluster, so it lasts "
                f"{TOKEN_EXPIRY_MAX} at most"]
    return []


def sysctl(where, value, settings):
    """Each key is one line of files:sysctl_conf: a newline would add another."""
    errors = []
    for key, setting in value.items():
        at = f"{where}:{schema.printable(key)}"
        if schema.control_problem(key):
            errors.append(f"{at}: the key {schema.control_problem(key)}")
        elif not SYSCTL_KEY_RE.fullmatch(str(key)):
            errors.append(f"{at}: not a sysctl key name")
        if schema.control_problem(setting):
            errors.append(f"{at}: the value {schema.control_problem(setting)}")
    return errors


def hardening(where, value, settings):
    errors = []
    for target, modes in value.items():
        at = f"{where}:{schema.printable(target)}"
        found = hardening_path_problem(str(target))
        if found:
            errors.append(f"{at}: {found}")
        if modes is None:
            continue  # null: the default entry for that path, if any, stays
        if not isinstance(modes, dict):
            errors.append(f"{at}: must be a mapping, not {schema.kind(modes)}")
            continue
        errors += schema.check_mapping(at, modes, schema.HARDENING_ENTRY, {})
    return errors


def hardening_path_problem(target):
    """Why the formula may not chmod ``target`` (and write it into a
    tmpfiles.d rule), or None: judged as declared and as the kernel
    resolves it, every step of it in /proc or /sys."""
    if not target.startswith(tuple(f"{root}/" for root in HARDENED_ROOTS)):
        return "only paths under /proc and /sys are hardened"
    found = schema.path_problem(target, ("plain",))
    if found:
        return found
    rewritten = next((char for char in target if char.isspace() or char in "*?[]%"), None)
    if rewritten:
        return (f"has {rewritten!r}, which a tmpfiles.d rule does not take as written "
                "(whitespace ends the path, * ? [ ] are globs, % starts a specifier)")
    for step in _steps(target):
        real = schema.resolved(step)
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


def proxy_url(where, value, settings):
    if value == "":  # unsets the key
        return []
    reason = _proxy_url_problem(value)
    if reason:
        return [f"{where}: must be a proxy URL such as http://proxy.example.net:3128 "
                f"({reason})"]
    return []


def _proxy_url_problem(url):
    """Why ``url`` is not a proxy URL, or None: parsed by a URL parser
    (bracketed IPv6 hosts, ports in range), as LXD will use it."""
    if not isinstance(url, str):
        return f"not {schema.kind(url)}"
    shown = schema.shown(url)
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


def preseed(where, value, settings):
    if isinstance(value, str):
        try:
            value = salt.utils.yaml.safe_load(value) if value.strip() else {}
        except salt.utils.yaml.YAMLError as exc:
            reason = " ".join(str(exc).split())
            return [f"{where}: not parsable as YAML: {reason}"]
    if value is None:
        return []
    if not isinstance(value, dict):
        return [f"{where}: must be a mapping or YAML text of one, not {schema.kind(value)}"]
    errors = []
    for key in value:
        if key == "cluster":
            errors.append(f"{where}:cluster: clustering is set by lxd:mode and lxd:cluster, "
                          "not in the preseed")
        elif key != "config" and key not in schema.PRESEED:
            known = ", ".join(("config",) + tuple(schema.PRESEED))
            errors.append(f"{where}:{key}: unknown preseed section (known: {known})")
    errors += schema.check_value(f"{where}:config", value.get("config"), schema.SCALARS, {})
    for section, fields in schema.PRESEED.items():
        errors += _preseed_entries(f"{where}:{section}", value.get(section), fields)
    return errors


def _preseed_entries(where, entries, fields):
    if entries is None:
        return []
    if not isinstance(entries, list):
        return [f"{where}: must be a list, not {schema.kind(entries)}"]
    errors = []
    for index, entry in enumerate(entries):
        at = f"{where}:{index}"
        if not isinstance(entry, dict):
            errors.append(f"{at}: must be a mapping, not {schema.kind(entry)}")
            continue
        errors += schema.check_mapping(at, entry, fields, {}, past_unknown=True)
    return errors


def client_minions(where, value, settings):
    errors = []
    for name, rule in value.items():
        at = f"{where}:{name}"
        if not isinstance(rule, dict):
            errors.append(f"{at}: must be a mapping, not {schema.kind(rule)}")
            continue
        errors += schema.check_mapping(at, rule, schema.CLIENT_MINIONS_RULE, {},
                                       past_unknown=True)
    return errors


def resources(where, value, settings):
    """Named storage pools, networks, profiles or projects: each entry as
    its table says, and no two naming the same object."""
    errors, named = [], {}
    fields = schema.RESOURCES[where.rpartition(":")[2]]
    for name, entry in value.items():
        at = f"{where}:{name}"
        if not (isinstance(name, str) and schema.NAME_RE.fullmatch(name)):
            errors.append(f"{at}: not a name LXD takes (letters, digits, ._-)")
            continue
        if entry is None:
            errors.append(f"{at}: must be a mapping (an empty one: {{}}), not nothing")
            continue
        if not isinstance(entry, dict):
            errors.append(f"{at}: must be a mapping, not {schema.kind(entry)}")
            continue
        entry_errors = schema.check_mapping(at, entry, fields, {}) or _resource(at, where, entry)
        errors += entry_errors
        if entry_errors:
            continue
        scoped = (entry.get("project") or "default", entry.get("name") or name)
        if scoped in named:
            errors.append(f"{at}: names the same {scoped[1]} in project {scoped[0]} as "
                          f"{where}:{named[scoped]}")
        named.setdefault(scoped, name)
    return errors


def _resource(at, where, entry):
    """What one resource's fields say together: the formula's mark is its
    own, a storage pool kept has a driver, every device a type."""
    errors = [f"{at}:{field}:{MANAGED_MARKER}: the formula's own mark, not to be set"
              for field in ("config", "member_config")
              if MANAGED_MARKER in (entry.get(field) or {})]
    if where.endswith("storage_pools") and entry.get("present", True) and not entry.get("driver"):
        errors.append(f"{at}:driver: missing (dir, zfs, btrfs, lvm, ceph, ...)")
    for device, device_config in (entry.get("devices") or {}).items():
        errors += schema.check_value(f"{at}:devices:{device}", device_config, schema.SCALARS, {})
        if not isinstance(device_config, dict) or not device_config.get("type"):
            errors.append(f"{at}:devices:{device}:type: missing (disk, nic, ...)")
    return errors


# The pure rules lxd_schema's entries name, by name.
RULES = {
    "backports": backports,
    "sideload": sideload,
    "connection": connection,
    "token_expiry": token_expiry,
    "sysctl": sysctl,
    "hardening": hardening,
    "proxy_url": proxy_url,
    "preseed": preseed,
    "client_minions": client_minions,
    "resources": resources,
}
