"""
Execution module: the storage pools, networks, profiles and projects that
pillar declares (``lxd:storage_pools``, ``lxd:networks``, ``lxd:profiles``,
``lxd:projects``), kept on every ``state.apply lxd`` after initialisation:
what is missing is created, what differs is updated, and what the formula
created is deleted when its entry says ``present: false``. Objects an
operator made by hand are never touched. Profiles and networks may live in
a project (``project``; ``name`` names the object when it is not the
entry's key).

What the formula creates carries the config key ``user.salt.managed``,
valued with the config keys the pillar set (so that a key dropped from the
pillar is unset on the next run). An object of the same name without it
was made by hand: the run fails naming it and leaves it alone (set the key
on it to hand it over).

In a cluster, storage pools and networks are created as LXD requires: each
member first defines its own part (``POST ?target=<member>`` with the
member-specific keys of ``member_config``, from that member's own pillar),
then one member (the one that keeps the shared settings, see
``lxd_cluster.shared_settings_keeper``) creates the object cluster-wide once
every member has defined its part, and makes every other change.
"""

import copy

from salt.exceptions import CommandExecutionError

try:  # installed as the saltext-lxd package
    from saltext.lxd.utils import lxd_secrets, lxd_settings, lxd_shared_settings, lxd_values
    from saltext.lxd.utils.lxd_names import MANAGED_MARKER
except ImportError:  # synced from _utils: Salt puts the utils directories on sys.path
    import lxd_secrets
    import lxd_settings
    import lxd_shared_settings
    import lxd_values
    from lxd_names import MANAGED_MARKER

__virtualname__ = "lxd_resources"

# Per kind: its place in the REST API, the fields a PUT takes, the fields
# fixed at creation, and whether members have their own part.
KINDS = {
    "projects": {"path": "projects", "writable": ("config", "description"),
                 "fixed": (), "per_member": False},
    "storage_pools": {"path": "storage-pools", "writable": ("config", "description"),
                      "fixed": ("driver",), "per_member": True},
    "networks": {"path": "networks", "writable": ("config", "description"),
                 "fixed": ("type",), "per_member": True},
    "profiles": {"path": "profiles", "writable": ("config", "description", "devices"),
                 "fixed": (), "per_member": False},
}
# Kinds whose objects live in a project (pillar field ``project``; a
# ``name`` field lets two entries name the same object in two projects).
IN_PROJECTS = ("networks", "profiles")
# The project feature that gives a project its own objects of a kind
# (without it, LXD answers with the default project's), and its value in a
# project created without it.
PROJECT_FEATURES = {"profiles": ("features.profiles", "true"),
                    "networks": ("features.networks", "false")}
# What is created first: projects hold profiles, profiles use pools and
# networks. Deletions go the other way.
ORDER = ("projects", "storage_pools", "networks", "profiles")
# Network types whose members have no part of their own (LXD refuses
# ?target for them).
CLUSTER_WIDE_NETWORKS = ("ovn",)
# Config keys a daemon rewrites when it creates a pool (a block device's
# source becomes the pool's name, its size and wipe flag are emptied): kept
# as LXD holds them.
SET_AT_CREATION = ("source", "size", "source.wipe", "zfs.pool_name", "lvm.vg_name",
                   "lvm.thinpool_name")
# A value that asks LXD to choose (a bridge's subnet): whatever it chose
# stays.
LXD_CHOOSES = "auto"


def __virtual__():
    if "lxd.request" not in __salt__:
        return (False, "the lxd execution module is not available (is pylxd installed?)")
    return __virtualname__


def ensure(resources=None, mode=None, test=False, settings=None):
    """
    Bring the daemon's storage pools, networks, profiles and projects to
    what ``resources`` declares (default: those four keys of the merged
    pillar; ``mode`` default ``lxd:mode``; ``settings`` the merged pillar,
    default ``lxd_pillar.merge``). With ``test``, change nothing
    and report what would change. Returns ``changes`` (per kind and name:
    created, deleted, defined for this member, or the fields and config
    keys updated, old and new), ``errors`` (each naming its pillar key;
    with errors, nothing was changed, or what this run changed was rolled
    back) and ``notes``.

    CLI Example:

    .. code-block:: bash

        salt '*' lxd_resources.ensure test=True
    """
    if settings is None:
        settings = lxd_settings.minion_settings(__context__, __salt__)
    if resources is None:
        resources = {kind: settings[kind] for kind in ORDER}
    mode = mode or settings["mode"]
    member, keeper, notes = _role(mode)
    if member is False:
        return {"changes": {}, "errors": [], "notes": notes}
    steps, errors = _plan(resources, member, keeper)
    if errors:
        return {"changes": {}, "errors": errors, "notes": notes}
    changes = _report(steps)
    if test or not steps:
        return {"changes": changes, "errors": [], "notes": notes}
    return {"changes": changes, "errors": _apply(steps, settings["timeouts"]),
            "notes": notes}


def _role(mode):
    """``(member, keeper, notes)``: this daemon's member name (None when
    standalone; False when a cluster host is not clustered yet) and whether
    it makes the cluster-wide changes."""
    if mode != "cluster":
        return None, True, []
    state = __salt__["lxd.cluster"]()
    if not state["enabled"]:
        return False, False, ["applied once this member is clustered (lxd.cluster)"]
    elsewhere = __salt__["lxd_cluster.shared_settings_keeper"](mode)["where"]
    notes = [f"cluster-wide changes are {elsewhere}"] if elsewhere else []
    return state["server_name"], not elsewhere, notes


# ---------------------------------------------------------------- planning


def _plan(resources, member, keeper):
    """The steps that bring the daemon to ``resources``, in order, and the
    errors (each naming its key) that keep any from being taken."""
    steps, errors, listings = [], [], {}

    def listing(kind, project=None):
        if (kind, project) not in listings:
            listings[kind, project] = listing_of(kind, project)
        return listings[kind, project]

    drivers = __salt__["lxd.info"]()["environment"].get("storage_supported_drivers")
    for kind in ORDER:
        for label, entry in sorted((resources.get(kind) or {}).items()):
            key = f"lxd:{kind}:{label}"
            project = entry.get("project") if kind in IN_PROJECTS else None
            obj = {"kind": kind, "key": label, "name": entry.get("name") or label,
                   "project": None if project == "default" else project}
            current = None
            if obj["project"]:
                live = listing("projects").get(obj["project"])
                problem = project_problem(kind, obj["project"], entry,
                                           resources.get("projects") or {}, live)
                if problem:
                    errors.append(f"{key}:project: {problem}")
                    continue
                if _has_own(kind, live):
                    current = listing(kind, obj["project"]).get(obj["name"])
            else:
                current = listing(kind).get(obj["name"])
            if (kind == "storage_pools" and drivers and current is None
                    and entry.get("present", True)):
                known = sorted(driver["Name"] for driver in drivers)
                if entry.get("driver") not in known:
                    errors.append(f"{key}:driver: {entry.get('driver')!r} is not a storage "
                                  f"driver this daemon has ({', '.join(known)})")
                    continue
            try:
                steps += _steps(obj, entry, current, member, keeper)
            except ValueError as exc:
                errors.append(f"{key}: {exc}")
    deletions = [step for step in steps if step["action"] == "delete"]
    others = [step for step in steps if step["action"] != "delete"]
    return others + deletions[::-1], errors


def project_problem(kind, project, entry, declared, live, declared_at="lxd:projects"):
    """
    Return why an object of ``kind`` (pillar ``entry``) cannot be kept in
    ``project``, as LXD holds it (``live``, None when absent) and as
    ``declared`` (projects by name, from pillar key ``declared_at``)
    declares it; None when it can. ``lxd_init`` asks the same of a
    preseed's networks.

    CLI Example:

    .. code-block:: bash

        salt '*' lxd_resources.project_problem networks ci '{}' '{ci: {}}' null
    """
    if not entry.get("present", True):
        return None  # nothing to keep: a deletion finds it or not
    wanted = declared.get(project)
    if wanted is not None and wanted.get("present", True) is False:
        return f"project {project} is to be deleted ({declared_at}:{project})"
    if wanted is None and live is None:
        return f"there is no project {project}, and {declared_at} does not declare it"
    feature, default = PROJECT_FEATURES[kind]
    held = ((live or {}).get("config") or {}).get(feature, "false") if live else default
    if _strings((wanted or {}).get("config") or {}).get(feature, held) != "true":
        return (f"project {project} does not have {feature}: its {kind} are the default "
                f"project's (set {feature}: true in {declared_at}:{project}:config)")
    return None


def _has_own(kind, live):
    """Whether the live project holds objects of ``kind`` of its own (else
    there are none to find in it yet)."""
    feature = PROJECT_FEATURES[kind][0]
    return live is not None and (live.get("config") or {}).get(feature) == "true"


def _steps(obj, entry, current, member, keeper):
    """The steps for one declared object (raising ValueError for what the
    formula may not do)."""
    kind, name = obj["kind"], obj["name"]
    spec = KINDS[kind]
    present = entry.get("present", True)
    pending = current is not None and current.get("status") == "Pending"
    if current is not None and not pending and MANAGED_MARKER not in (current.get("config") or {}):
        if not present:
            return []  # made by hand: never the formula's to delete
        raise ValueError(f"LXD has a {_described(obj)} that this formula did not "
                         f"create: it is left alone (set {MANAGED_MARKER} on it to hand it over)")
    if not present:
        # a pending object may be an operator's, half made: not the formula's
        deletable = current is not None and keeper and not pending
        return [_step(obj, "delete", current=current)] if deletable else []
    wanted = _wanted(kind, entry)
    member_config = _strings(entry.get("member_config") or {})
    per_member = spec["per_member"] and wanted.get("type") not in CLUSTER_WIDE_NETWORKS
    if member_config and not per_member:
        raise ValueError(f"member_config: a {_singular(kind)} of this kind has no "
                         "member-specific keys")
    if current is None or pending:
        steps = []
        if member and per_member and not _defined_by(current, member):
            steps.append(_step(obj, "define", body=dict(
                {field: wanted[field] for field in spec["fixed"]}, name=name,
                config=member_config), member=member))
        if keeper:
            if member is None:
                wanted["config"] = dict(wanted["config"], **member_config)
            create = _step(obj, "create", body=dict(wanted, name=name),
                           member=member if per_member else None)
            create["member_keys"] = sorted(member_config)
            steps.append(create)
        return steps
    for field in spec["fixed"]:
        if current.get(field) != wanted[field]:
            raise ValueError(f"{field}: LXD cannot change it once created "
                             f"({current.get(field)!r}, not {wanted[field]!r})")
    if member_config:
        _check_member_config(obj, member_config, member, current)
    if not keeper:
        return []
    updated = _updated(current, wanted, spec["writable"], member_config)
    if updated == {field: current.get(field) for field in spec["writable"]}:
        return []
    return [_step(obj, "update", body=updated, current=current)]


def _step(obj, action, body=None, current=None, member=None):
    return dict(obj, action=action, body=body, current=current, member=member)


def _wanted(kind, entry):
    """What LXD should hold for a declared object: its fixed fields, its
    description, its config with the marker (naming the keys set) and, for
    a profile, its devices."""
    spec = KINDS[kind]
    config = _strings(entry.get("config") or {})
    wanted = {"description": entry.get("description") or "",
              "config": dict(config, **{MANAGED_MARKER: ",".join(sorted(config)) or "true"})}
    if kind == "profiles":
        wanted["devices"] = {device: _strings(settings)
                             for device, settings in (entry.get("devices") or {}).items()}
    if "driver" in spec["fixed"]:
        wanted["driver"] = entry.get("driver")
    if "type" in spec["fixed"]:
        wanted["type"] = entry.get("type") or "bridge"
    return wanted


def _updated(current, wanted, writable, member_config):
    """The object as a PUT should send it: the config keys LXD set itself
    (and the member-specific ones) kept, the keys the formula set before
    but the pillar no longer gives unset, the wanted ones set."""
    config = dict(current.get("config") or {})
    previous = (config.get(MANAGED_MARKER) or "").split(",")
    for key in previous:
        if key not in wanted["config"] and key not in member_config:
            config.pop(key, None)
    config.update({key: value for key, value in wanted["config"].items()
                   if not _kept_as_held(key, value, config)})
    updated = {field: copy.deepcopy(current.get(field)) for field in writable}
    updated.update({field: wanted[field] for field in writable if field != "config"})
    updated["config"] = config
    return updated


def _kept_as_held(key, value, held):
    """Whether LXD's own value of ``key`` stands for the wanted ``value``."""
    return key in held and (value == LXD_CHOOSES or key in SET_AT_CREATION)


def _check_member_config(obj, member_config, member, current):
    """Member-specific keys are set when the object is created: refuse a
    pillar that now asks otherwise (LXD keeps a rewritten source as
    volatile.initial_source, and empties size and source.wipe)."""
    held = current.get("config") or {}
    if member:
        held = _metadata(obj, target=member).get("config") or {}
    for key, value in member_config.items():
        if value in (held.get(key, ""), held.get(f"volatile.initial_{key}")) or (
                key in SET_AT_CREATION and held.get(key, "") == ""):
            continue
        raise ValueError(f"member_config:{key}: LXD cannot change it once the "
                         f"{_singular(obj['kind'])} is created ({held.get(key, '')!r}, "
                         f"not {value!r})")


def _defined_by(current, member):
    return current is not None and member in (current.get("locations") or [])


# ---------------------------------------------------------------- applying


def _apply(steps, timeouts):
    """Take the steps in order; on a failure, undo what this run did (in
    reverse) and return the error, naming the key."""
    undo = []
    for step in steps:
        try:
            undo.append(_take(step, timeouts))
        except CommandExecutionError as exc:
            for revert in reversed(undo):
                try:
                    revert()
                except CommandExecutionError as revert_exc:
                    exc = f"{exc}; undoing an earlier change failed too: {revert_exc}"
            return [f"lxd:{step['kind']}:{step['key']}: {step['action']} failed: {exc}; "
                    f"{'what this run changed was undone' if undo else 'nothing was changed'}"]
    return []


def _take(step, timeouts):
    """Take one step; return what undoes it."""
    kind, name, member = step["kind"], step["name"], step["member"]
    path = KINDS[kind]["path"]

    def request(method, where, body=None, **params):
        return __salt__["lxd.request"](method, where, body, **_scoped(step, **params))

    if step["action"] == "define":
        request("POST", path, step["body"], target=member)
        # kept: LXD would drop the pending object whole, every member's part
        return lambda: None
    if step["action"] == "create":
        if member:
            _await_every_member(step, timeouts["request"])
        request("POST", path, step["body"])
        return lambda: request("DELETE", f"{path}/{name}")
    if step["action"] == "update":
        request("PUT", f"{path}/{name}", step["body"])
        previous = {field: step["current"].get(field) for field in KINDS[kind]["writable"]}
        return lambda: request("PUT", f"{path}/{name}", previous)
    request("DELETE", f"{path}/{name}")
    return lambda: _not_undone(step)


def _not_undone(obj):
    raise CommandExecutionError(f"the deleted {_described(obj)} cannot be brought back")


def _await_every_member(step, bound):
    """Wait until every cluster member has defined its part of a pending
    pool or network (they do so in the same state run), at most ``bound``
    seconds (``lxd:timeouts:request``), each with the member-specific keys
    this member gives."""
    kind, name, keys = step["kind"], step["name"], step["member_keys"]
    members = set(__salt__["lxd.cluster_members"](refresh=True))
    missing = lxd_shared_settings.await_members(
        lambda: sorted(members - set(_metadata(step).get("locations") or [])), bound)
    if missing:
        raise CommandExecutionError(
            f"members {', '.join(missing)} did not define their part within {bound} s "
            "(lxd:timeouts:request): apply lxd on them (their member_config comes from "
            "their own pillar)")
    for other in sorted(members):
        given = set(_metadata(step, target=other).get("config") or {})
        for key in sorted(set(keys) ^ given):
            holder = other if key in keys else "this member"
            # the pending object goes whole, so that every member defines
            # its part again from its pillar once fixed
            __salt__["lxd.request"]("DELETE", f"{KINDS[kind]['path']}/{name}",
                                    **_scoped(step))
            raise CommandExecutionError(
                f"member_config:{key}: {holder} defined its part without it (each member "
                "gives its own, in its own pillar); the pending "
                f"{_singular(kind)} was dropped: fix the pillar and apply lxd again")


# ---------------------------------------------------------------- reading


def listing_of(kind, project=None):
    """
    Return the objects of ``kind`` (``storage_pools``, ``networks``,
    ``profiles``, ``projects``) by name, in ``project`` if given, as LXD
    holds them: unmasked, for comparing and writing back.

    CLI Example:

    .. code-block:: bash

        salt '*' lxd_resources.listing_of networks project=ci
    """
    scope = {"project": project} if project else {}
    # as LXD has them, to compare: what a report shows is masked by _report
    found = __salt__["lxd.query"](KINDS[kind]["path"], recursion=1, unmasked=True,
                                  **scope) or []
    return {item["name"]: item for item in found}


def _metadata(obj, **params):
    path = f"{KINDS[obj['kind']]['path']}/{obj['name']}"
    return __salt__["lxd.query"](path, unmasked=True, **_scoped(obj, **params)) or {}


def _scoped(obj, **params):
    """Query parameters for a request about ``obj``: its project, if any."""
    return dict(params, project=obj["project"]) if obj["project"] else params


def _report(steps):
    """The changes the steps make, secrets masked: per kind and name."""
    changes = {}
    for step in steps:
        entry = changes.setdefault(step["kind"], {})
        if step["action"] == "update":
            entry[step["key"]] = _differences(step["current"], step["body"])
        elif step["action"] == "define":
            entry[step["key"]] = f"defined for member {step['member']}"
        else:
            entry[step["key"]] = f"{step['action']}d"
    return lxd_secrets.masked(changes)


def _differences(current, updated):
    differences = {}
    for field, value in updated.items():
        old = current.get(field)
        if field in ("config", "devices"):
            old = old or {}
            changed = {key: {"old": old.get(key), "new": value.get(key)}
                       for key in sorted(set(old) | set(value)) if old.get(key) != value.get(key)}
            if changed:
                differences[field] = changed
        elif old != value:
            differences[field] = {"old": old, "new": value}
    return differences


def _strings(mapping):
    return lxd_values.stringified(mapping)


def _described(obj):
    """``profile web``, ``profile web in project ci``."""
    where = f" in project {obj['project']}" if obj["project"] else ""
    return f"{_singular(obj['kind'])} {obj['name']}{where}"


def _singular(kind):
    return {"storage_pools": "storage pool", "networks": "network",
            "profiles": "profile", "projects": "project"}[kind]
