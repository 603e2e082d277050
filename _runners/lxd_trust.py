"""
Runner for the https relation, on the master: when a client minion's key is
deleted (``reactor/key_deleted.sls``), its certificate stops being trusted
by the LXD hosts: once per cluster (one answering member), and on each
standalone host. The hosts, and their clusters, are what the master's
pillar says (``lxd_master.Master.compiled_identity``), never what a minion
publishes.

.. code-block:: bash

    salt-run lxd_trust.revoke ci1
"""

import logging

try:  # installed as the saltext-lxd package
    from saltext.lxd.utils import lxd_master, lxd_salt_compat
except ImportError:  # synced from _utils: Salt puts the utils directories on sys.path
    import lxd_master
    import lxd_salt_compat

log = logging.getLogger(__name__)

__virtualname__ = "lxd_trust"


def __virtual__():
    return __virtualname__


def _host_groups(master, minion):
    """The LXD hosts that may trust ``minion`` (accepted minions whose pillar,
    as the master compiles it, makes them hosts), grouped so that each trust
    store is asked once: a cluster's members together, standalone hosts
    alone."""
    # compiled only for minions the master's pillar cache gives an lxd key
    cached = lxd_salt_compat.pillar_matches(__opts__, "I@lxd:*")
    groups = {}
    for host in sorted(cached):
        facts = master.compiled_identity(host)
        if host == minion or not facts["host"]:
            continue
        key = facts["cluster"] if facts["mode"] == "cluster" else f"host {host}"
        groups.setdefault(key, []).append(host)
    return groups


def revoke(minion):
    """
    Stop trusting client minion ``minion`` (``salt-minion:<minion>``) on
    every LXD host that publishes its connection facts: for a cluster, on
    the first member that answers. Returns, per cluster or host, what was
    done (``revoked``); ``result`` False and a non-zero exit when a cluster
    or host could not be asked.

    CLI Example:

    .. code-block:: bash

        salt-run lxd_trust.revoke ci1
    """
    master = lxd_master.Master(__opts__, __context__)
    # the reactor keeps one runner client across reactions: compile anew
    __context__.pop(lxd_master.IDENTITIES, None)
    outcome = {group: _revoke_in(master, hosts, minion)
               for group, hosts in _host_groups(master, minion).items()}
    failed = sorted(group for group, (done, _) in outcome.items() if not done)
    revoked = {group: text for group, (_, text) in outcome.items()}
    if failed:
        __context__["retcode"] = 1
        log.warning("lxd_trust: client %s not revoked everywhere: %s", minion, revoked)
    else:
        log.info("lxd_trust: client %s revoked: %s", minion, revoked)
    return {"minion": minion, "result": not failed, "revoked": revoked,
            "retcode": int(bool(failed))}


def _revoke_in(master, hosts, minion):
    """Forget ``minion`` in one trust store (a cluster's, or a standalone
    host's), through the first of ``hosts`` that does it: (done, what)."""
    answered = master.answering(hosts)
    tried = []
    for host in answered:
        answer = lxd_salt_compat.run(__opts__, host, "lxd_trust.forget_minion", master.wait(),
                                     arg=[minion], full_return=True).get(host)
        if isinstance(answer, dict) and answer.get("retcode", 0) == 0:
            removed = answer["ret"]
            return True, (f"removed {removed[:12]} via {host}" if removed else "was not trusted")
        said = answer.get("ret") if isinstance(answer, dict) else answer
        tried.append(f"{host}: {str(said)[:200]}")
    if not answered:
        return False, f"no host answered (tried: {', '.join(hosts)})"
    return False, "not revoked: " + "; ".join(tried)
