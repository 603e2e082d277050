"""
The storage pools, networks, profiles and projects pillar declares, kept
on every run once LXD is initialised (see ``lxd_resources.ensure``).

.. code-block:: yaml

    lxd-resources:
      lxd_resources.managed:
        - resources:
            profiles:
              web: {config: {limits.cpu: "2"}}
        - mode: standalone
"""

from salt.exceptions import CommandExecutionError

__virtualname__ = "lxd_resources"


def __virtual__():
    if "lxd_resources.ensure" not in __salt__:
        return (False, "the lxd_resources execution module is not available (pylxd?)")
    return __virtualname__


def managed(name, resources=None, mode=None):
    """
    Ensure the daemon holds the declared storage pools, networks, profiles
    and projects: missing ones created, differing ones updated, the
    formula's own deleted where ``present: false``; hand-made ones never
    touched. In a cluster each member defines its own part of a pool or
    network, and one member makes the cluster-wide changes.

    resources
        ``{storage_pools: ..., networks: ..., profiles: ..., projects: ...}``
        from ``lxd:storage_pools`` and the rest.

    mode
        ``lxd:mode`` (default: as pillar says).
    """
    ret = {"name": name, "result": True, "changes": {}, "comment": ""}
    try:
        outcome = __salt__["lxd_resources.ensure"](resources, mode, test=__opts__["test"])
    except CommandExecutionError as exc:
        ret["result"] = False
        ret["comment"] = f"The resources could not be read: {exc}; nothing was changed."
        return ret
    notes = "".join(f" ({note})" for note in outcome["notes"])
    if outcome["errors"]:
        ret["result"] = False
        ret["comment"] = "\n".join(outcome["errors"]) + notes
        return ret
    ret["changes"] = outcome["changes"]
    if not ret["changes"]:
        ret["comment"] = f"The resources are as declared.{notes}"
    elif __opts__["test"]:
        ret["result"] = None
        ret["comment"] = f"The resources would be changed.{notes}"
    else:
        ret["comment"] = f"The resources were changed.{notes}"
    return ret
