"""
Execution module: initialising the LXD daemon, as ``lxd init --preseed``
does but through the REST API and with a dry run (``lxd:init``). The
formula's default preseed, the plan of what a preseed would change, its
application (reverted as a whole when a step fails), and the record of
what the formula initialised the daemon with: ``lxd:mode`` and
``lxd:init`` are fixed once LXD is initialised, and later pillar changes to
them are refused (:py:func:`init_drift`).
"""

import hashlib
import json
import logging
import os

import salt.utils.files
from salt.exceptions import CommandExecutionError

try:  # installed as the saltext-lxd package
    from saltext.lxd.utils import lxd_preseed, lxd_secrets
except ImportError:  # synced from _utils: Salt puts the utils directories on sys.path
    import lxd_preseed
    import lxd_secrets

log = logging.getLogger(__name__)

__virtualname__ = "lxd_init"

# Sections of an `lxd init` preseed.
PRESEED_SECTIONS = ("config", "storage_pools", "networks", "projects", "profiles")
# The order LXD applies them in (lxd/init.go initDataNodeApply at lxd-5.0.2
# and lxd-6.9; Incus client/incus_server.go ApplyServerPreseed at v6.0.4 and
# v7.0.1): the default project's networks before the projects, the other
# projects' networks after them (so that their projects exist); storage
# volumes, which the formula does not take, would come before profiles.
APPLY_ORDER = ("config", "storage_pools", "networks", "projects", "project networks",
               "profiles")
DEFAULT_PROJECT = "default"
# Where each section's objects live in the REST API.
API_PATHS = {"networks": "networks", "storage_pools": "storage-pools",
             "profiles": "profiles", "projects": "projects"}
# What a PUT of a network, pool, profile or project takes.
WRITABLE_FIELDS = ("config", "description", "devices")


def __virtual__():
    if "lxd.request" not in __salt__:
        return (False, "the lxd execution module is not available (is pylxd installed?)")
    return __virtualname__


def _masked(key, value):
    """``value`` of server key ``key`` as reports show it (see ``lxd_secrets.masked``)."""
    return lxd_secrets.masked({key: value})[key]


# ---------------------------------------------------------------- preseed


def default_preseed(storage=True, storage_devices=None, network=True):
    """
    Return the ``lxd init`` preseed the formula uses when ``lxd:init:preseed``
    is empty: a storage pool ``local`` (zfs on ``storage_devices``, else
    dir), a bridge (``lxdbr0``; ``incusbr0`` with Incus, as its own init
    names it; ``network`` True for automatic addresses, or a mapping of
    bridge config keys) and a default profile using both.

    CLI Example:

    .. code-block:: bash

        salt '*' lxd_init.default_preseed storage_devices='[/dev/sdb]'
    """
    return lxd_preseed.default_preseed(__salt__["lxd.backend"](), storage=storage,
                                       storage_devices=storage_devices, network=network)


def initialised():
    """
    Return True when the daemon has been configured, by this formula or by
    hand: it has a storage pool, a managed network, or a default profile
    with devices.

    CLI Example:

    .. code-block:: bash

        salt '*' lxd_init.initialised
    """
    if __salt__["lxd.storage_pools"]() or __salt__["lxd.networks"](managed=True):
        return True
    return bool(__salt__["lxd.profiles"]().get("default", {}).get("devices"))


def preseed_plan(preseed):
    """
    Return what applying the ``lxd init`` ``preseed`` (a mapping) would
    change on the daemon, without changing anything: per section, the
    objects to create or update and the server keys to set. Secret values
    are masked.

    CLI Example:

    .. code-block:: bash

        salt '*' lxd_init.preseed_plan '{storage_pools: [{name: local, driver: dir}]}'
    """
    return _report(_plan(preseed))


def apply_preseed(preseed):
    """
    Apply an ``lxd init`` ``preseed`` (a mapping with ``config``,
    ``networks``, ``storage_pools``, ``profiles``, ``projects``) through the
    REST API, in LXD's own order: missing objects are created, existing ones
    get the given keys merged in. On failure everything already applied is
    reverted, as ``lxd init`` does, and the error is raised. Returns the
    changes, secrets masked.

    CLI Example:

    .. code-block:: bash

        salt '*' lxd_init.apply_preseed '{storage_pools: [{name: local, driver: dir}]}'
    """
    plan = _plan(preseed)
    undo = []
    try:
        for step in plan:
            undo.append(_apply_step(step))
    except CommandExecutionError as exc:
        for revert in reversed(undo):
            try:
                revert()
            except CommandExecutionError as revert_exc:
                log.error("lxd: reverting a failed preseed: %s", revert_exc)
        raise CommandExecutionError(
            f"applying the preseed failed and was reverted: {exc}"
        ) from exc
    return _report(plan)


def _plan(preseed):
    """Steps (section, name, action, payload, current) for a preseed."""
    steps = []
    server_config = {
        key: str(value) for key, value in (preseed.get("config") or {}).items()
    }
    if server_config:
        current_config = __salt__["lxd.config_get"](unmasked=True)
        changed = {
            key: value
            for key, value in server_config.items()
            if current_config.get(key, "") != value
        }
        if changed:
            steps.append(("config", None, "set", changed, current_config))
    listings = {}

    def existing(section, project=None):
        if (section, project) not in listings:
            listings[section, project] = __salt__["lxd_resources.listing_of"](section, project)
        return listings[section, project]

    for section in PRESEED_SECTIONS[1:]:
        for index, entry in enumerate(preseed.get(section) or []):
            if _project(section, entry) == DEFAULT_PROJECT:
                current = existing(section).get(entry["name"])
            else:
                current = _in_project(f"{section}:{index}", section, entry, preseed, existing)
            if current is None:
                steps.append((section, entry["name"], "create", entry, None))
            elif _merged(current, entry) != _writable(current):
                steps.append((section, entry["name"], "update", entry, current))
    # stable: within a rank, in the preseed's order
    return sorted(steps, key=_rank)


def _project(section, entry):
    """The project an entry of ``section`` lives in (only networks name one)."""
    return (entry.get("project") if section == "networks" else None) or DEFAULT_PROJECT


def _rank(step):
    """Where LXD applies a step (see ``APPLY_ORDER``)."""
    section, _name, _action, entry, _current = step
    if _project(section, entry) != DEFAULT_PROJECT:
        section = f"project {section}"
    return APPLY_ORDER.index(section)


def _in_project(where, section, entry, preseed, existing):
    """The object ``entry`` names in its project as LXD holds it, or None.
    Refused: an object whose project is neither on the daemon nor in the
    preseed, or would not hold it (LXD puts the networks of a project
    without ``features.networks`` in the default project)."""
    project = entry["project"]
    live = existing("projects").get(project)
    declared = {declared["name"]: declared for declared in preseed.get("projects") or []}
    problem = __salt__["lxd_resources.project_problem"](
        section, project, entry, declared, live, declared_at="lxd:init:preseed:projects")
    if problem:
        raise CommandExecutionError(f"lxd:init:preseed:{where}:project: {problem}")
    if (live or {}).get("config", {}).get(f"features.{section}") != "true":
        return None  # the project is created, or given the feature, by this preseed
    return existing(section, project).get(entry["name"])


def _writable(current):
    return {field: current[field] for field in WRITABLE_FIELDS if field in current}


def _merged(current, entry):
    """The object LXD holds after merging ``entry`` into ``current``."""
    merged = _writable(current)
    for field in ("config", "devices"):
        if field in entry and field in merged:
            merged[field] = dict(merged[field], **_stringify(field, entry[field]))
    if entry.get("description"):
        merged["description"] = entry["description"]
    return merged


def _stringify(field, values):
    if field == "config":
        return {key: str(value) for key, value in values.items()}
    return {
        name: {key: str(value) for key, value in device.items()}
        for name, device in values.items()
    }


def _apply_step(step):
    """Apply one plan step; return the callable that undoes it."""
    section, name, action, payload, current = step
    request = __salt__["lxd.request"]
    if section == "config":
        __salt__["lxd.config_update"](payload)
        previous = {key: current.get(key, "") for key in payload}
        return lambda: __salt__["lxd.config_update"](previous)
    collection = API_PATHS[section]
    project = _project(section, payload)
    scope = {} if project == DEFAULT_PROJECT else {"project": project}
    if action == "create":
        body = {key: value for key, value in payload.items()
                if value is not None and key != "project"}
        for field in ("config", "devices"):
            if field in body:
                body[field] = _stringify(field, body[field])
        request("POST", collection, body, **scope)
        return lambda: request("DELETE", f"{collection}/{name}", **scope)
    request("PUT", f"{collection}/{name}", _merged(current, payload), **scope)
    return lambda: request("PUT", f"{collection}/{name}", _writable(current), **scope)


def _report(plan):
    changes = {}
    for section, name, action, payload, current in plan:
        if section == "config":
            changes["config"] = {
                key: {"old": _masked(key, current.get(key, "")), "new": _masked(key, value)}
                for key, value in payload.items()
            }
        else:
            project = _project(section, payload)
            shown = name if project == DEFAULT_PROJECT else f"{name} in project {project}"
            changes.setdefault(section, {})[shown] = (
                "created" if action == "create" else "updated"
            )
    return changes


# ---------------------------------------------------------------- init record


def _record_path():
    fingerprint = __salt__["lxd.info"]()["environment"]["certificate_fingerprint"]
    return os.path.join(__opts__["cachedir"], "lxd", f"init-{fingerprint}.json")


def init_record():
    """
    Return what this formula recorded when it initialised the daemon (mode
    and a digest per preseed section), or None. ``mode`` and ``init`` are
    fixed once LXD is initialised: later pillar changes are checked against
    this record. It lives in the minion's cache directory, one file per
    daemon (named after the server certificate fingerprint).

    CLI Example:

    .. code-block:: bash

        salt '*' lxd_init.init_record
    """
    path = _record_path()
    if not os.path.exists(path):
        return None
    with salt.utils.files.fopen(path) as handle:
        return json.load(handle)


def init_record_for(mode, preseed):
    """
    Return the record :py:func:`init_record` would hold for ``mode`` and
    ``preseed`` (digests only: a preseed may carry a trust password).

    CLI Example:

    .. code-block:: bash

        salt '*' lxd_init.init_record_for standalone '{config: {}}'
    """
    sections = {
        section: hashlib.sha256(
            json.dumps(preseed.get(section) or None, sort_keys=True).encode()
        ).hexdigest()
        for section in PRESEED_SECTIONS
    }
    return {"mode": mode, "preseed": sections}


def write_init_record(mode, preseed):
    """
    Record that the daemon was initialised with ``mode`` and ``preseed``.

    CLI Example:

    .. code-block:: bash

        salt '*' lxd_init.write_init_record standalone '{config: {}}'
    """
    path = _record_path()
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with salt.utils.files.fopen(path, "w") as handle:
        json.dump(init_record_for(mode, preseed), handle, sort_keys=True)
    return True


def init_drift(mode, preseed):
    """
    Return the list of ``lxd:mode`` / ``lxd:init`` differences between the
    pillar (``mode``, effective ``preseed``) and what the daemon was
    initialised with; empty when they agree or when nothing was recorded.

    CLI Example:

    .. code-block:: bash

        salt '*' lxd_init.init_drift standalone '{config: {}}'
    """
    record = init_record()
    if record is None:
        return []
    wanted = init_record_for(mode, preseed)
    drift = []
    if record["mode"] != wanted["mode"]:
        drift.append(
            f"lxd:mode: LXD was initialised in {record['mode']} mode; "
            f"changing it to {mode} is refused"
        )
    changed = [
        section
        for section in PRESEED_SECTIONS
        if record["preseed"].get(section) != wanted["preseed"][section]
    ]
    if changed:
        drift.append(
            "lxd:init: LXD is already initialised; changing its "
            f"{', '.join(changed)} through pillar is refused (configure the "
            "live daemon through its API, or restore the pillar)"
        )
    return drift
