"""
States for LXD's trust store (over the ``lxd_trust`` execution module).

.. code-block:: yaml

    lxd-trusted-clients:
      lxd_trust.clients_trusted:
        - clients:
            ci-runner:
              cert_url: salt://certs/ci.crt
              projects: [ci]
        - cluster: default
        - metrics: false
        - mode: standalone
"""

from salt.exceptions import CommandExecutionError

try:  # installed as the saltext-lxd package
    from saltext.lxd.utils import lxd_settings, lxd_shared_settings
except ImportError:  # synced from _utils: Salt puts the utils directories on sys.path
    import lxd_settings
    import lxd_shared_settings

__virtualname__ = "lxd_trust"


def __virtual__():
    if "lxd_trust.plan" in __salt__:
        return __virtualname__
    return (False, "the lxd_trust execution module is not available (is pylxd installed?)")


def clients_trusted(name, clients=None, cluster=None, metrics=False, mode="standalone",
                    client_minions=None, timeout=None):
    """
    Ensure LXD trusts exactly the clients the formula wants: the entries of
    ``lxd:trust:clients`` (as ``salt:<name>``) and the client minions asking
    cluster ``cluster`` through the mine (as ``salt-minion:<minion id>``).
    Certificates the formula trusted before and no longer wants are
    removed, as are those of entries with ``present: false``; certificates
    added by other means are left alone. In a cluster one member acts, and
    the others wait for the member that keeps them, then fail when the
    cluster does not hold what they ask (see ``lxd_shared_settings``).

    clients
        ``lxd:trust:clients``.

    cluster
        ``lxd:cluster:name``: whose client minions to trust.

    metrics
        ``lxd:listen:metrics``: certificates of type ``metrics`` are trusted
        only while the metrics listener is on.

    mode
        ``lxd:mode``.

    client_minions
        ``lxd:trust:client_minions``: which client minions are trusted, and
        with what access (a client minion's mine entry gives only its
        certificate).

    timeout
        ``lxd:timeouts:request`` (its value when not given): how long a
        member that does not keep the shared settings waits for the one
        that does.
    """
    ret = {"name": name, "result": True, "changes": {}, "comment": ""}
    if timeout is None:
        timeout = lxd_settings.minion_settings(__context__, __salt__)["timeouts"]["request"]
    try:
        wanted = __salt__["lxd_trust.wanted"](clients or {}, cluster, metrics, client_minions)
        notes = "".join(f" {note}." for note in wanted["notes"])
        shared = lxd_shared_settings.outcome(
            __salt__["lxd_cluster.shared_settings_keeper"](mode),
            lambda: __salt__["lxd_trust.plan_for"](wanted)["changes"],
            "trusted clients", test=__opts__["test"], timeout=timeout)
        if shared is not None:
            ret.update(shared, comment=shared["comment"] + notes)
            return ret
        plan = __salt__["lxd_trust.plan_for"](wanted)
        ret["changes"] = plan["changes"]
        if not plan["steps"]:
            ret["comment"] = "The trusted clients are as wanted." + notes
            return ret
        if __opts__["test"]:
            ret["result"] = None
            ret["comment"] = "The trusted clients would be changed." + notes
            return ret
        __salt__["lxd_trust.apply"](plan["steps"])
    except CommandExecutionError as exc:
        ret["result"] = False
        ret["changes"] = {}
        ret["comment"] = f"Keeping the trusted clients failed: {exc}"
        return ret
    ret["comment"] = "The trusted clients were changed." + notes
    return ret
