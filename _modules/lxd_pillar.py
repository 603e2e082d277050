"""
The formula's pillar: merged with its defaults, and validated before any
state changes anything.

Every error names the pillar key and the reason, e.g.
``lxd:install:channel: 'latest/stabel' is not a snap channel ...``.
What each key may hold is one table, ``lxd_schema.SCHEMA`` (in the shared
layer, with why it is a table and not jsonschema); the rules joining keys
are ``lxd_pillar_rules``; what the host and the daemon say is here.
"""

import copy
import os

import salt.utils.yaml
from salt.exceptions import CommandExecutionError

try:  # installed as the saltext-lxd package
    from saltext.lxd.utils import (
        lxd_addresses,
        lxd_certificates,
        lxd_pillar_rules,
        lxd_preseed,
        lxd_schema,
        lxd_settings,
    )
except ImportError:  # synced from _utils: Salt puts the utils directories on sys.path
    import lxd_addresses
    import lxd_certificates
    import lxd_pillar_rules
    import lxd_preseed
    import lxd_schema
    import lxd_settings

__virtualname__ = "lxd_pillar"

# The LXD snap tracks that ship lxd.migrate (dropped from 5.21 and latest).
MIGRATE_TRACKS = ("4.0", "5.0")

def __virtual__():
    return __virtualname__


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
        return [f"lxd: must be a mapping, not {lxd_schema.kind(pillar)}"]
    # The checks index nested mappings (pillar["files"]). Salt 3008's opts
    # are copy-on-write: config.get gives a view of them, and such a read
    # copies lxd into the run's opts, hiding later settings from the
    # loaders made from them. A deep copy reads without writing.
    pillar = copy.deepcopy(pillar)
    if defaults is None:
        defaults = lxd_settings.defaults(_parameters(), lxd_settings.backend_of(pillar))
    settings = merge(defaults, pillar)
    context = {"settings": settings, "rules": dict(lxd_pillar_rules.RULES, **HOST_RULES)}
    errors = lxd_schema.check_mapping("lxd", pillar, lxd_schema.SCHEMA, context,
                                      past_unknown=True)
    errors.extend(lxd_pillar_rules.backend_conflicts(pillar, settings))
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


# ------------------------------------------- rules that ask the host's modules


def _address(where, spec, settings):
    try:
        lxd_addresses.parse_address(spec)
    except ValueError as exc:
        return [f"{where}: {exc}"]
    return []


def _addresses(where, value, settings):
    """The addresses in use must resolve on this host, before anything changes."""
    used = [endpoint for endpoint, on in settings["listen"].items() if on is True]
    if settings["mode"] == "cluster":
        used.append("cluster")
    errors = []
    for endpoint in used:
        try:
            __salt__["lxd_host.address"](value.get(endpoint))
        except CommandExecutionError as exc:
            errors.append(f"{where}:{endpoint}: {exc}")
    return errors


def _trust_clients(where, value, settings):
    errors = []
    for name, entry in value.items():
        at = f"{where}:{name}"
        problem = lxd_certificates.pillar_client_problem(name)
        if problem:
            errors.append(f"{at}: {problem}")
            continue
        if not isinstance(entry, dict):
            errors.append(f"{at}: must be a mapping, not {lxd_schema.kind(entry)}")
            continue
        errors.extend(_certificate(at, entry))
        errors.extend(lxd_schema.check_mapping(at, entry, lxd_schema.TRUST_CLIENT, {},
                                               past_unknown=True))
    return errors


def _certificate(where, entry):
    """An error list for a trusted certificate's cert / cert_url."""
    cert, url = entry.get("cert"), entry.get("cert_url")
    if entry.get("present", True) is False and not (cert or url):
        return []
    if bool(cert) == bool(url):
        return [f"{where}: give exactly one of cert (PEM) and cert_url"]
    if url:
        return []  # its scheme is the table's
    try:
        lxd_certificates.normalise_pem(cert)
    except ValueError as exc:
        return [f"{where}:cert: {exc}"]
    return []


# The rules lxd_schema's entries name that need this host's modules.
HOST_RULES = {
    "address": _address,
    "addresses": _addresses,
    "trust_clients": _trust_clients,
}
