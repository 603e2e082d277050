"""
The plans the ``lxd_cluster`` runner makes on the master, as pure
functions of what the cluster minions answered (with who each is replaced
by the master's compiled view): forming or growing clusters, rolling a
snap channel through them, and what a minion's pillar asks of the
settings LXD keeps cluster-wide.
"""

import copy

import salt.utils.yaml

try:  # installed as the saltext-lxd package
    from saltext.lxd.utils import lxd_settings
    from saltext.lxd.utils.lxd_backends import BACKENDS
    from saltext.lxd.utils.lxd_cluster_rules import ONLINE, chain_bounds
except ImportError:  # synced from _utils: Salt puts the utils directories on sys.path
    import lxd_settings
    from lxd_backends import BACKENDS
    from lxd_cluster_rules import ONLINE, chain_bounds

# The config keys LXD keeps per member, answered at each join (member_config);
# every other key of a cluster's networks and storage pools is cluster-wide.
# LXD's and Incus' db.NodeSpecificNetworkConfig / NodeSpecificStorageConfig.
MEMBER_SPECIFIC = {
    "network": ("bgp.ipv4.nexthop", "bgp.ipv6.nexthop", "bridge.external_interfaces", "parent"),
    "storage-pool": ("size", "source", "source.wipe", "volatile.initial_source",
                     "zfs.pool_name", "lvm.thinpool_name", "lvm.vg_name", "lvm.vg.force_reuse"),
}



def run_bound(timeouts, joiners):
    """How long an lxd.cluster run with ``joiners`` can last by its own
    bounds (the bootstrap member's ``lxd:timeouts``): the hosts' preparation
    (an install), then per joiner the join chain's waits for it to be ready
    and, twice when its token was used without a report, for its join (as
    the lxd_join module's ``_offer_join``)."""
    ready, join = chain_bounds(timeouts)
    return timeouts["command"] + timeouts["operation"] + joiners * (ready + 2 * join)


def plan_clusters(statuses, only=None, unanswered=None):
    """
    The ``lxd_cluster.plan`` runner's plan from the minions' statuses (``{minion:
    lxd_cluster.status}``) and the minions that gave none (``{minion:
    cluster}``).
    """
    unanswered = unanswered or {}

    def plan_cluster(name, minions):
        silent = sorted(minion for minion, cluster in unanswered.items() if cluster == name)
        return _plan_cluster(name, minions, silent)

    planned = _plan_each(statuses, only, plan_cluster)
    planned["notes"] = [note for each in planned["clusters"] for note in each["notes"]]
    return planned


def _plan_each(statuses, only, plan_cluster):
    """``plan_cluster(name, {minion: facts})`` for each cluster (or only the
    one named) of the cluster minions' answers; a ValueError is an error of
    that cluster."""
    clusters, errors = {}, []
    for minion, facts in sorted(statuses.items()):
        if facts["mode"] == "cluster":
            clusters.setdefault(facts["cluster"], {})[minion] = facts
    plans = []
    for name in sorted(clusters):
        if only and name != only:
            continue
        try:
            plans.append(plan_cluster(name, clusters[name]))
        except ValueError as exc:
            errors.append(f"cluster {name}: {exc}")
    if only and only not in clusters:
        errors.append(f"cluster {only}: no minion that answered belongs to it")
    return {"clusters": plans, "errors": errors}


def _plan_cluster(name, minions, unanswered=()):
    conflicts = _shared_config_conflicts(minions)
    if conflicts:
        raise ValueError("; ".join(conflicts))
    clustered = {minion: facts for minion, facts in minions.items() if facts["clustered"]}
    members = {}
    for facts in clustered.values():
        members.update(facts["members"])
    online = [
        minion
        for minion, facts in sorted(clustered.items())
        if members.get(facts["server_name"], {}).get("status") == ONLINE
    ]
    wanted = next((facts["bootstrap"] for facts in minions.values() if facts["bootstrap"]), None)
    if clustered:
        if not online:
            raise ValueError(
                f"it has members ({', '.join(sorted(members))}) but none that answered "
                "is online; not bootstrapping a second cluster"
            )
        bootstrap = wanted if wanted in online else online[0]
    elif unanswered:
        raise ValueError(
            f"none of the minions that answered is a member yet, and {', '.join(unanswered)} "
            "did not answer: they may hold the cluster already, so it is not bootstrapped "
            f"(a second cluster named {name} must never appear)"
        )
    elif wanted and wanted not in minions:
        raise ValueError(f"lxd:cluster:bootstrap is {wanted}, which did not answer")
    else:
        bootstrap = wanted or sorted(minions)[0]
    joiners = [
        {"minion": minion, "member": facts["member"]}
        for minion, facts in sorted(minions.items())
        if not facts["clustered"] and minion != bootstrap
    ]
    return {
        "name": name,
        "minions": sorted(minions),
        "members": sorted(members),
        "bootstrap": bootstrap,
        "joiners": joiners,
        "notes": [
            f"{minion}: LXD is not installed yet; it is installed and prepared in this run, "
            + ("then bootstraps the cluster" if minion == bootstrap else "then joins")
            for minion, facts in sorted(minions.items()) if facts.get("installed") is False
        ],
    }


def _shared_config_conflicts(minions):
    """Where the cluster's minions ask for different values of a key LXD
    keeps cluster-wide (a member's differing value would be dropped
    silently at its join)."""
    wanted = {}
    for minion, facts in sorted(minions.items()):
        for entry, config in (facts.get("shared_init") or {}).items():
            for key, value in config.items():
                wanted.setdefault((entry, key), {})[minion] = value
    conflicts = []
    for (entry, key), values in sorted(wanted.items()):
        entity, name = entry.split("/", 1)
        holders = {m for m, f in minions.items() if entry in (f.get("shared_init") or {})}
        if len({values.get(minion) for minion in holders}) > 1:
            asked = "; ".join(f"{minion}: {values.get(minion, '(unset)')}"
                              for minion in sorted(holders))
            conflicts.append(
                f"lxd:init: {key} of {entity} {name} is cluster-wide in LXD (per member: "
                f"only {', '.join(MEMBER_SPECIFIC[entity])}), but its minions ask for "
                f"different values ({asked}); give every member the same value"
            )
    return conflicts



def plan_upgrades(statuses, only=None):
    """
    The ``lxd_cluster.upgrade_plan`` runner's plan from the minions' answers
    (``{minion: lxd_cluster.upgrade_status}``).
    """
    return _plan_each(statuses, only, _plan_upgrade)


def _plan_upgrade(name, minions):
    others = sorted(minion for minion, facts in minions.items() if facts["method"] != "snap")
    if others:
        raise ValueError(
            f"{', '.join(others)} do not install LXD as a snap (lxd:install:method); "
            "the formula rolls snap refreshes only"
        )
    channels = sorted({facts["channel"] for facts in minions.values()})
    if len(channels) > 1:
        raise ValueError(
            f"its minions ask for different channels ({', '.join(channels)}): "
            "members must run the same LXD; give them one lxd:install:channel"
        )
    missing = sorted(minion for minion, facts in minions.items() if not facts["installed"])
    if missing:
        raise ValueError(f"the LXD snap is not installed on {', '.join(missing)} "
                         "(run the lxd.cluster orchestrate first)")
    members = set().union(*(facts["members"] for facts in minions.values()))
    unanswered = sorted(members - {facts["member"] for facts in minions.values()})
    if unanswered:
        raise ValueError(
            f"members {', '.join(unanswered)} have no minion that answered: their LXD "
            "cannot be checked or refreshed; nothing was refreshed"
        )
    return {
        "name": name,
        "channel": channels[0],
        "minions": sorted(minions),
        "installed": {
            minion: f"{facts['installed']['channel']} ({facts['installed']['version']})"
            for minion, facts in sorted(minions.items())
        },
        "due": [
            {"minion": minion, "member": facts["member"]}
            for minion, facts in sorted(minions.items())
            if facts["installed"]["channel"] != channels[0]
        ],
    }



def shared_init(settings):
    """The cluster-wide config keys that ``settings`` (a minion's lxd
    pillar over the defaults) asks of its networks and storage pools at
    initialisation: ``{"<entity>/<name>": {key: value}}`` (entity
    ``network`` or ``storage-pool``); from
    ``lxd:init:preseed`` when given, else the default bridge's
    ``lxd:init:network`` mapping."""
    init = settings.get("init") if isinstance(settings.get("init"), dict) else {}
    preseed = init.get("preseed")
    if isinstance(preseed, str):
        try:
            preseed = salt.utils.yaml.safe_load(preseed)
        except salt.utils.yaml.YAMLError:
            preseed = None  # the minion's own validation names the key
    entries = []
    if isinstance(preseed, dict) and preseed:
        # a malformed preseed is the minion's validation to name
        for entity, section in (("network", "networks"), ("storage-pool", "storage_pools")):
            listed = preseed.get(section)
            if isinstance(listed, list):
                entries += [(entity, entry) for entry in listed]
    elif isinstance(init.get("network"), dict):
        bridge = BACKENDS[lxd_settings.backend_of(settings)]["bridge"]
        entries = [("network", {"name": bridge, "config": init["network"]})]
    shared = {}
    for entity, entry in entries:
        if isinstance(entry, dict) and isinstance(entry.get("config") or {}, dict):
            shared[f"{entity}/{entry.get('name')}"] = {
                str(key): str(value) for key, value in (entry.get("config") or {}).items()
                if key not in MEMBER_SPECIFIC[entity]
            }
    return shared



def compiled_identity(minion, compiled, parameters):
    """Who ``minion`` is in its cluster as the master sees it, from its
    pillar as the master ``compiled`` it over the formula's ``parameters``:
    ``member`` is the minion id; ``host`` says whether its pillar makes it
    an LXD host at all (an ``lxd`` key with more than ``client``
    settings); ``pillar_errors`` lists what kept the pillar from compiling
    (then nothing is decided from it)."""
    errors = list(compiled.get("_errors") or [])
    pillar = compiled.get("lxd") if isinstance(compiled.get("lxd"), dict) else {}
    settings = lxd_settings.settings(parameters, copy.deepcopy(pillar))
    cluster = settings.get("cluster") or {}
    return {
        "host": bool(set(pillar) - {"client"}),
        "mode": settings.get("mode"),
        "cluster": cluster.get("name"),
        "member": minion,
        "bootstrap": cluster.get("bootstrap"),
        "remove_on_key_delete": cluster.get("remove_on_key_delete") is not False,
        "evacuate_on_remove": cluster.get("evacuate_on_remove") is True,
        "timeouts": settings.get("timeouts"),
        "key_delete_grace": cluster.get("key_delete_grace"),
        "shared_init": shared_init(settings),
        "pillar_errors": errors,
    }
