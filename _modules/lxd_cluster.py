"""
Execution module for this minion's place in its LXD cluster, the
operator's view: who it is (from the ``lxd:cluster`` pillar), what the
``lxd.cluster`` orchestrates need to know about it (``status``,
``upgrade_status``), and which member keeps the settings a cluster shares.

The join chain is in ``lxd_join``; removal in ``lxd_membership``;
evacuation, restore and an upgrade's health checks in ``lxd_maintenance``.
"""


from salt.exceptions import CommandExecutionError

try:  # installed as the saltext-lxd package
    from saltext.lxd.utils import lxd_cluster_rules as rules
    from saltext.lxd.utils import lxd_settings
except ImportError:  # synced from _utils: Salt puts the utils directories on sys.path
    import lxd_cluster_rules as rules
    import lxd_settings

__virtualname__ = "lxd_cluster"

CLUSTER_PORT = 8443


def __virtual__():
    if "lxd.reachable" not in __salt__:
        return (False, "the lxd execution module is not available (is pylxd installed?)")
    return __virtualname__


def _settings():
    """This module's one resolution of the settings (``lxd_pillar.merge``'s)."""
    return lxd_settings.minion_settings(__context__, __salt__)


def _use_parameters(parameters):
    if parameters is not None:
        lxd_settings.use_parameters(__context__, parameters)


def identity():
    """
    Return who this minion is in its cluster, from pillar: ``cluster``
    (``lxd:cluster:name``), ``member`` (the LXD member name: the minion id),
    ``address`` (``lxd:addresses:cluster`` resolved, ``host:port``),
    ``bootstrap``, ``remove_on_key_delete`` and ``evacuate_on_remove``.
    ``mode`` tells whether the minion is a cluster host at all.

    CLI Example:

    .. code-block:: bash

        salt '*' lxd_cluster.identity
    """
    settings = _settings()
    cluster = settings["cluster"]
    return {
        "mode": settings["mode"],
        "cluster": cluster["name"],
        "member": __grains__["id"],
        "address": address(settings["addresses"]["cluster"]),
        "bootstrap": cluster["bootstrap"],
        "remove_on_key_delete": cluster["remove_on_key_delete"],
        "evacuate_on_remove": cluster["evacuate_on_remove"],
    }


def address(spec=None):
    """
    Return the cluster address (``host:port``, port 8443 unless given) an
    ``lxd:addresses:cluster`` value resolves to on this minion.

    CLI Example:

    .. code-block:: bash

        salt '*' lxd_cluster.address 10.0.0.0/24
    """
    return __salt__["lxd_host.address"](spec, port=CLUSTER_PORT)


def status(parameters=None):
    """
    Return :py:func:`identity` and what the daemon says now: ``installed``,
    ``clustered``, ``server_name`` and, when clustered, ``members`` (name:
    status and roles). A host where the daemon is not installed yet
    (``lxd.installed``) answers ``installed: False`` without asking it; a
    daemon that is installed but does not answer is an error. The
    ``lxd_cluster.plan`` runner reads this from every cluster minion,
    sending the formula's ``parameters`` (see ``lxd_settings.use_parameters``).

    CLI Example:

    .. code-block:: bash

        salt -I 'lxd:mode:cluster' lxd_cluster.status
    """
    _use_parameters(parameters)
    facts = identity()
    facts["installed"] = __salt__["lxd.installed"]()
    if not facts["installed"]:
        return dict(facts, clustered=False, server_name=None, members={})
    state = __salt__["lxd.cluster"]()
    facts["clustered"] = bool(state["enabled"])
    facts["server_name"] = state["server_name"]
    facts["members"] = {
        name: {"status": member["status"], "roles": member["roles"]}
        for name, member in __salt__["lxd.cluster_members"]().items()
    }
    return facts


def address_drift(settings=None):
    """
    Return the ``lxd:addresses:cluster`` error when this member's cluster
    address in pillar differs from the one it was clustered with (LXD
    cannot change it); empty otherwise, or when not clustered.

    CLI Example:

    .. code-block:: bash

        salt '*' lxd_cluster.address_drift
    """
    settings = settings or _settings()
    current = __salt__["lxd.config_get"]("cluster.https_address")
    if not current or not __salt__["lxd.cluster"]()["enabled"]:
        return []
    wanted = address(settings["addresses"]["cluster"])
    if wanted == current:
        return []
    return [
        f"lxd:addresses:cluster: this member was clustered at {current}; LXD "
        f"cannot change a member's cluster address, so {wanted} is refused "
        "(restore the pillar, or remove the member and join it again)"
    ]


def shared_settings_keeper(mode):
    """
    Return who keeps the settings a cluster shares (trusted clients,
    ``core.proxy_*``): ``member`` is the member that keeps them when it is
    another one (None when this daemon keeps them, or is not clustered
    yet); ``where`` says so as a phrase for state comments, None when this
    daemon keeps them itself (standalone, or the first online member by
    name, so that one member acts per run and every member's ``state.apply
    lxd`` agrees on which).

    CLI Example:

    .. code-block:: bash

        salt '*' lxd_cluster.shared_settings_keeper cluster
    """
    if mode != "cluster":
        return {"member": None, "where": None}
    state = __salt__["lxd.cluster"]()
    if not state["enabled"]:
        return {"member": None,
                "where": "set by the bootstrap member once the cluster is formed"}
    online = sorted(
        name for name, member in __salt__["lxd.cluster_members"]().items()
        if member["status"] == rules.ONLINE
    )
    if online and online[0] != state["server_name"]:
        return {"member": online[0], "where": f"kept by member {online[0]} for the cluster"}
    return {"member": None, "where": None}


def upgrade_status(parameters=None):
    """
    Return :py:func:`identity` and what a rolling upgrade needs to know:
    ``method`` (``lxd:install:method``), ``channel`` (the pillar's, as
    ``track/risk``), ``installed`` (the snap's tracked channel and version,
    None when not installed or not a snap install) and ``members`` (the
    member names this daemon knows; empty when it does not answer). The
    ``lxd_cluster.upgrade_plan`` runner reads this from every member,
    sending the formula's ``parameters`` (see ``lxd_settings.use_parameters``).

    CLI Example:

    .. code-block:: bash

        salt -I 'lxd:mode:cluster' lxd_cluster.upgrade_status
    """
    _use_parameters(parameters)
    install = _settings()["install"]
    facts = identity()
    facts.update(method=install["method"], channel=install["channel"], installed=None)
    if install["method"] == "snap":
        normalise = __salt__["lxd_snap.normalise_channel"]
        facts["channel"] = normalise(install["channel"])
        snap = __salt__["lxd_snap.info"](install["snap"])
        if snap:
            facts["installed"] = {"channel": normalise(snap["channel"]),
                                  "version": snap["version"]}
    try:
        facts["members"] = sorted(__salt__["lxd.cluster_members"]())
    except CommandExecutionError:
        facts["members"] = []
    return facts
