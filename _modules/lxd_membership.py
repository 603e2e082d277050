"""
Execution module: a daemon's membership of an LXD cluster, through the
REST API (``lxd.request``): enabling clustering on the first member,
joining with a token (the request LXD 5.0, later LXD and Incus each
expect), issuing and revoking join tokens, evacuating and restoring a
member, removing one. The ``lxd_join`` module forms clusters with these;
they are also the operator's day-2 tools.
"""

import base64
import json
import ssl

from salt.exceptions import CommandExecutionError

try:  # installed as the saltext-lxd package
    from saltext.lxd.utils import lxd_cluster_rules as rules
    from saltext.lxd.utils.lxd_secrets import masked
except ImportError:  # synced from _utils: Salt puts the utils directories on sys.path
    import lxd_cluster_rules as rules
    from lxd_secrets import masked

__virtualname__ = "lxd_membership"

# The join token's field in a join request (PUT /1.0/cluster): LXD 5.0 reads
# it from cluster_password; LXD with `explicit_trust_token` (5.21.2, 6.x)
# and every Incus read cluster_token.
TOKEN_FIELD_EXTENSION = "explicit_trust_token"
# How long a join waits for a token's address to answer with the cluster's
# certificate before trying the next one (lxd init does the same).
PROBE_TIMEOUT = 10


def __virtual__():
    if "lxd.request" not in __salt__:
        return (False, "the lxd execution module is not available (is pylxd installed?)")
    return __virtualname__


def _fingerprint(pem):
    return __salt__["lxd.certificate_fingerprint"](pem)


# ---------------------------------------------------------------- joining


def enable_clustering(member, address):
    """
    Turn this standalone daemon into the first member, ``member``, of a new
    cluster, listening for cluster traffic on ``address`` (``host:port``,
    set as ``cluster.https_address``). Existing pools, networks and profiles
    become the cluster's.

    CLI Example:

    .. code-block:: bash

        salt lxd1 lxd_membership.enable_clustering lxd1 10.0.0.1:8443
    """
    __salt__["lxd.config_update"]({"cluster.https_address": address})
    # the daemon restarts its listeners with the cluster's certificate
    __salt__["lxd.request"]("PUT", "cluster", {"server_name": member, "enabled": True},
                            reconnect=True)
    return True


def join_cluster(member, address, token, certificate, member_config):
    """
    Join this fresh daemon to a cluster as ``member``, listening on
    ``address``, with a join ``token`` issued for ``member``, the cluster's
    ``certificate`` (PEM; checked against the fingerprint in the token) and
    ``member_config`` (the keys from the cluster's GET /1.0/cluster with
    this member's values). As ``lxd init`` does, the first address in the
    token that answers with the cluster's certificate is joined through.
    Waits until the join completes.

    The token is a secret: pass it from the mine, not on a command line.

    CLI Example:

    .. code-block:: bash

        salt lxd2 lxd_membership.join_cluster lxd2 10.0.0.2:8443 "$TOKEN" "$PEM" '[]'
    """
    decoded = decode_join_token(token)
    if decoded["server_name"] != member:
        raise CommandExecutionError(
            f"the join token was issued for {decoded['server_name']!r}, not {member!r}"
        )
    if _fingerprint(certificate) != decoded["fingerprint"]:
        raise CommandExecutionError(
            "the cluster certificate does not match the fingerprint in the join token"
        )
    _replace_stale_cluster_address(address)
    body = _join_request(
        member, address, token, certificate, member_config,
        cluster_address=_answering_address(decoded["addresses"], decoded["fingerprint"]),
        server=__salt__["lxd.server_kind"](), extensions=__salt__["lxd.api_extensions"](),
    )
    __salt__["lxd.request"]("PUT", "cluster", body, reconnect=True)
    return True


def _replace_stale_cluster_address(address):
    """A daemon removed from a cluster keeps its ``cluster.https_address``,
    and Incus >= 6.20 refuses a join whose ``server_address`` that key does
    not cover ("Server address ... is not covered by ... from
    cluster.https_address"; lxc/incus v7.0.1 cmd/incusd/api_cluster.go,
    clusterPutJoin). Not clustered, the key may change: it is set to the
    address this join is at. A fresh daemon has none, and keeps none: the
    join sets it. Read as this run last read the daemon (no request more
    per joiner): only a join or an operator changes the key."""
    stale = __salt__["lxd.config_get"]("cluster.https_address")
    if stale and stale != address:
        __salt__["lxd.config_update"]({"cluster.https_address": address})


def _join_request(member, address, token, certificate, member_config, cluster_address,
                  server="lxd", extensions=()):
    """The body of the join request (PUT /1.0/cluster) that a daemon of kind
    ``server`` with API ``extensions`` expects: the encoded ``token`` goes
    in ``cluster_token`` for Incus and for LXD with ``explicit_trust_token``
    (5.21.2, 6.x; 6.1 and later read nothing else), in ``cluster_password``
    for older LXD (5.0), which took it where a trust password went. Private:
    it holds the token."""
    token_field = "cluster_password"
    if server == "incus" or TOKEN_FIELD_EXTENSION in extensions:
        token_field = "cluster_token"
    return {
        "server_name": member,
        "server_address": address,
        "enabled": True,
        "cluster_address": cluster_address,
        "cluster_certificate": certificate,
        token_field: token,
        "member_config": member_config,
    }


def _answering_address(addresses, fingerprint):
    """The first of a join token's ``addresses`` whose server presents the
    certificate the token names; unreachable ones are skipped, as ``lxd
    init`` does, and a different certificate is refused."""
    unreachable = []
    for cluster_address in addresses:
        host, _, port = cluster_address.rpartition(":")
        try:
            pem = ssl.get_server_certificate((host.strip("[]"), int(port)),
                                             timeout=PROBE_TIMEOUT)
        except (OSError, ValueError) as exc:
            unreachable.append(f"{cluster_address}: {exc}")
            continue
        if _fingerprint(pem) != fingerprint:
            raise CommandExecutionError(
                f"cluster member {cluster_address} does not present the certificate "
                "named in the join token: refusing to join through it"
            )
        return cluster_address
    raise CommandExecutionError(
        "no cluster member listed in the join token answers: " + "; ".join(unreachable)
    )


def decode_join_token(token):
    """
    Return the fields of an encoded cluster join token: server_name,
    fingerprint, addresses, secret and expires_at.

    CLI Example:

    .. code-block:: bash

        salt '*' lxd_membership.decode_join_token "$TOKEN"
    """
    try:
        return json.loads(base64.b64decode(token))
    except (ValueError, TypeError) as exc:
        raise CommandExecutionError(f"not a cluster join token: {exc}") from exc


# ---------------------------------------------------------------- join tokens


def join_tokens():
    """
    Return the pending cluster join tokens, by member name: the token
    operation's id and its expiry (never the secret). LXD 5.0 keeps expired
    tokens listed until they are revoked.

    CLI Example:

    .. code-block:: bash

        salt '*' lxd_membership.join_tokens
    """
    operations = __salt__["lxd.query"]("operations", recursion=1) or {}
    return {
        op["metadata"]["serverName"]: {
            "id": op["id"],
            "expires_at": op["metadata"].get("expiresAt"),
        }
        for op in operations.get("running", [])
        if op["class"] == "token" and "serverName" in (op["metadata"] or {})
    }


def issue_join_token(member, unmasked=False):
    """
    Issue a join token for ``member``; return its ``member``,
    ``expires_at`` and ``token``, the token encoded as ``lxc cluster add``
    prints it. Any earlier token for ``member`` (expired, revoked or
    unused) is revoked first, so at most one is valid.

    The token is a secret, masked in the return unless ``unmasked``: the
    ``lxd.cluster`` orchestrate hands it to the joiner through the mine
    only (``lxd_join.publish_join_offer``).

    CLI Example:

    .. code-block:: bash

        salt lxd1 lxd_membership.issue_join_token lxd4
    """
    revoke_join_token(member)
    # the token's operation runs until the joiner uses it: do not wait
    created = __salt__["lxd.request"]("POST", "cluster/members", {"server_name": member},
                                      wait=False, unmasked=True)
    grant = created["metadata"]
    token = {
        "server_name": grant["serverName"],
        "fingerprint": grant["fingerprint"],
        "addresses": grant["addresses"],
        "secret": grant["secret"],
        "expires_at": grant["expiresAt"],
    }
    issued = {
        "member": token["server_name"],
        "expires_at": token["expires_at"],
        "token": base64.b64encode(json.dumps(token).encode()).decode(),
    }
    return issued if unmasked else masked(issued)


def revoke_join_token(member):
    """
    Revoke the pending join token of ``member``; return True when there was
    one.

    CLI Example:

    .. code-block:: bash

        salt lxd1 lxd_membership.revoke_join_token lxd4
    """
    pending = join_tokens().get(member)
    if pending is None:
        return False
    __salt__["lxd.request"]("DELETE", f"operations/{pending['id']}")
    return True


# ---------------------------------------------------------------- maintenance and removal


def evacuate_member(member):
    """
    Evacuate cluster member ``member``: its instances are moved (or stopped,
    per their ``cluster.evacuate`` setting) and it takes no new ones until
    restored. Waits until done.

    CLI Example:

    .. code-block:: bash

        salt lxd1 lxd_membership.evacuate_member lxd3
    """
    return _member_action(member, "evacuate")


def restore_member(member):
    """
    Restore an evacuated cluster member ``member``: its instances come back.

    CLI Example:

    .. code-block:: bash

        salt lxd1 lxd_membership.restore_member lxd3
    """
    return _member_action(member, "restore")


def _member_action(member, action):
    __salt__["lxd.require_extension"]("clustering_evacuation", f"{action} cluster members")
    __salt__["lxd.request"]("POST", f"cluster/members/{member}/state", {"action": action})
    return True


def remove_member(member, force=False, accept_data_loss=False):
    """
    Remove ``member`` from the cluster. LXD refuses while it holds
    instances; ``force`` removes a member that LXD reports ``Offline``
    (dead: its instances are lost from the cluster). Forcing out a member in
    any other status (online, evacuated, blocked, evacuating, restoring)
    would leave its instances running outside the cluster, so it is refused
    unless ``accept_data_loss`` says so too.

    CLI Example:

    .. code-block:: bash

        salt lxd1 lxd_membership.remove_member lxd3
        salt lxd1 lxd_membership.remove_member lxd3 force=True
    """
    if force and not accept_data_loss:
        status = __salt__["lxd.cluster_members"]().get(member, {}).get("status")
        # Blocked, and Incus' Evacuating and Restoring, are no proof of death either
        if status not in ("Offline", None):
            raise CommandExecutionError(
                f"{member} is {status}: force removes a member LXD reports Offline; "
                "remove it without force (evacuating first), or add "
                "accept_data_loss=True to drop its instances from the cluster"
            )
    params = {"force": 1} if force else {}
    __salt__["lxd.request"]("DELETE", f"cluster/members/{member}", **params)
    return True


def removal_plan(member, evacuate=False, force=False):
    """
    Return what removing ``member`` from this member's cluster would do:
    ``member`` (whether it is one), ``refused`` (the reason, or None),
    ``instances`` still on it, ``evacuate`` (whether they would be moved
    first) and ``notes`` on what the cluster becomes (members left,
    database fault tolerance), by the rules of ``lxd_cluster_rules``.

    CLI Example:

    .. code-block:: bash

        salt lxd1 lxd_membership.removal_plan lxd3 evacuate=True
    """
    members = __salt__["lxd.cluster_members"]()
    plan = {"member": member in members, "refused": None, "instances": [],
            "evacuate": False, "notes": []}
    if not plan["member"]:
        return plan
    # from the cluster's database: an offline member's too (what force drops)
    plan["instances"] = sorted(__salt__["lxd.instances"](location=member))
    plan["evacuate"] = bool(plan["instances"]) and evacuate
    plan["refused"] = rules.removal_refusal(member, members, plan["instances"], evacuate, force)
    plan["notes"] = rules.removal_notes(member, members)
    return plan
