"""
Execution module for the LXD daemon, over its REST API through pylxd. The
daemon is LXD or Incus (``lxd:backend``): they share the REST API, and
where they differ (the join request, the default bridge, the local socket)
this module decides by what the server says of itself (its API extensions
and ``environment.server``), never by version strings.

Connection (first that applies):

- ``lxd:connection:url`` (``https://host:8443``) with ``lxd:connection:cert``
  and ``lxd:connection:key`` (paths to the client certificate and key) and
  ``lxd:connection:verify`` (bool, or a CA / server certificate path);
- ``lxd:connection:socket``, a unix socket path;
- LXD: ``$LXD_DIR/unix.socket``, the snap socket, ``/var/lib/lxd/unix.socket``;
  Incus: ``$INCUS_DIR/unix.socket``, ``/var/lib/incus/unix.socket``,
  ``/run/incus/unix.socket``.

The ``lxd:connection`` and ``lxd:backend`` keys are read with
``config.get``, so they can live in pillar, grains or the minion
configuration.

Listings use ``recursion=1`` (one request) rather than pylxd's managers,
whose ``all()`` issues one extra request per object.
"""

import base64
import copy
import hashlib
import json
import logging
import os
import re
import ssl
import time
import urllib.parse

import salt.utils.files
from salt.exceptions import CommandExecutionError

try:
    import pylxd
    import pylxd.client
    import pylxd.exceptions
    import requests

    # what a request to the daemon can raise: a refusal, or no (timely) answer
    LXD_ERRORS = (pylxd.exceptions.LXDAPIException, requests.exceptions.RequestException)
    HAS_PYLXD = True
except ImportError:
    HAS_PYLXD = False

log = logging.getLogger(__name__)

__virtualname__ = "lxd"

# Per backend: the variable naming the daemon's directory, the local
# sockets to look for in order, the one to expect when none exists yet, and
# the bridge `init` creates by default.
BACKENDS = {
    "lxd": {
        "dir_variable": "LXD_DIR",
        "sockets": ("/var/snap/lxd/common/lxd/unix.socket", "/var/lib/lxd/unix.socket"),
        "default_socket": "/var/lib/lxd/unix.socket",
        "bridge": "lxdbr0",
    },
    "incus": {
        "dir_variable": "INCUS_DIR",
        "sockets": ("/var/lib/incus/unix.socket", "/run/incus/unix.socket"),
        "default_socket": "/var/lib/incus/unix.socket",
        "bridge": "incusbr0",
    },
}

# The join token's field in a join request (PUT /1.0/cluster): LXD 5.0 reads
# it from cluster_password; LXD with `explicit_trust_token` (5.21.2, 6.x)
# and every Incus read cluster_token.
TOKEN_FIELD_EXTENSION = "explicit_trust_token"
# How long a join waits for a token's address to answer with the cluster's
# certificate before trying the next one (lxd init does the same).
PROBE_TIMEOUT = 10
# A daemon coming back from a reload is asked again at this pace.
READY_POLL_SECONDS = 1

# Sections of an `lxd init` preseed, in the order LXD applies them.
PRESEED_SECTIONS = ("config", "networks", "storage_pools", "profiles", "projects")

# What a PUT of a network, pool, profile or project takes.
WRITABLE_FIELDS = ("config", "description", "devices")

# Keys whose values are secrets, by their last word (core.trust_password,
# oidc.client.secret, a token operation's secret): masked in every report.
# Not a key that merely mentions one (cluster.join_token_expiry).
SECRET_WORDS = ("password", "secret", "token")
# ... and secrets whose names end otherwise
SECRET_KEYS = ("maas.api.key", "network.ovn.client_key")
MASK = "********"
# Network listeners: the server key, LXD's default port, and the API
# extension that brought the listener.
LISTENERS = {
    "https": ("core.https_address", 8443, None),
    "bgp": ("core.bgp_address", 179, "network_bgp"),
    "dns": ("core.dns_address", 53, "network_dns"),
    "metrics": ("core.metrics_address", 9100, "metrics"),
}


def __virtual__():
    if not HAS_PYLXD:
        return (
            False,
            "The lxd execution module needs the pylxd Python library: "
            "install it into Salt's Python (salt-pip install pylxd, or "
            "pip install pylxd for a pip-installed Salt).",
        )
    return __virtualname__


# ---------------------------------------------------------------- connection


def _timeouts():
    """``lxd:timeouts``: seconds for a request, an operation, a command."""
    return __salt__["lxd_pillar.merge"]()["timeouts"]


def _connection_settings():
    settings = __salt__["config.get"]("lxd:connection", {}) or {}
    return {
        "url": settings.get("url"),
        "socket": settings.get("socket"),
        "cert": settings.get("cert"),
        "key": settings.get("key"),
        "verify": settings.get("verify", True),
    }


def backend():
    """
    Return the daemon this minion is configured for (``lxd:backend``):
    ``lxd`` or ``incus``.

    CLI Example:

    .. code-block:: bash

        salt '*' lxd.backend
    """
    return __salt__["config.get"]("lxd:backend", "lxd") or "lxd"


def installed():
    """
    Return whether the daemon is installed the way ``lxd:install:method``
    installs it: its package (``package``) or its snap (``snap``);
    ``none`` means it was installed by other means, so always True. A host
    where this is False is prepared (``state.apply lxd``) before anything
    asks its daemon.

    CLI Example:

    .. code-block:: bash

        salt '*' lxd.installed
    """
    install = __salt__["lxd_pillar.merge"]()["install"]
    if install["method"] == "package":
        return bool(__salt__["pkg.version"](install["package"]))
    if install["method"] == "snap":
        return "snap.info" in __salt__ and __salt__["snap.info"](install["snap"]) is not None
    return True


def endpoint():
    """
    Return the endpoint this minion reaches LXD through: an https URL or the
    path of a unix socket.

    CLI Example:

    .. code-block:: bash

        salt '*' lxd.endpoint
    """
    settings = _connection_settings()
    if settings["url"]:
        return settings["url"]
    if settings["socket"]:
        return settings["socket"]
    local = BACKENDS.get(backend(), BACKENDS["lxd"])
    if os.environ.get(local["dir_variable"]):
        return os.path.join(os.environ[local["dir_variable"]], "unix.socket")
    return next((path for path in local["sockets"] if os.path.exists(path)),
                local["default_socket"])


def _client():
    """A pylxd client, cached for the life of this Salt run."""
    target = endpoint()
    cache = __context__.setdefault("lxd.clients", {})
    if target not in cache:
        settings = _connection_settings()
        cert = None
        if settings["url"] and settings["cert"]:
            cert = (settings["cert"], settings["key"])
        if not settings["url"] and not os.path.exists(target):
            raise CommandExecutionError(
                f"LXD is not reachable: no unix socket at {target}"
            )
        session = None
        if settings["url"]:
            session = pylxd.client.get_session_for_url(
                target, verify=settings["verify"], cert=cert
            )
            # requests lets $REQUESTS_CA_BUNDLE override an explicit verify
            # (a pinned LXD server certificate): ignore the environment.
            session.trust_env = False
        try:
            client = pylxd.Client(
                endpoint=target, cert=cert, verify=settings["verify"], session=session,
                timeout=_timeouts()["request"],
            )
        except pylxd.exceptions.ClientConnectionFailed as exc:
            raise CommandExecutionError(f"LXD is not reachable at {target}: {exc}") from exc
        except requests.exceptions.RequestException as exc:
            raise _api_error(exc) from exc
        client.api.session.hooks["response"].append(_forget_reads_on_write)
        cache[target] = client
        _reads()["/1.0"] = client.host_info
    return cache[target]


def _reads():
    """What this run's connection read of the server (GET /1.0, cluster,
    members), so that the states of one run share one round trip each; any
    write through the connection forgets it all."""
    return __context__.setdefault("lxd.reads", {}).setdefault(endpoint(), {})


def _read(path, fetch):
    reads = _reads()
    if path not in reads:
        reads[path] = fetch()
    return copy.deepcopy(reads[path])


def _forget_reads():
    __context__.get("lxd.reads", {}).pop(endpoint(), None)


def _forget_reads_on_write(response, *args, **kwargs):
    if response.request.method != "GET":
        _forget_reads()


def _disconnect():
    """Drop this run's connection and what it read: the next call connects
    anew (the server may have restarted, or clustering changed its
    certificate)."""
    __context__.get("lxd.clients", {}).pop(endpoint(), None)
    _forget_reads()


def _api_error(exc):
    """The error to report for what a request raised, naming the daemon
    when it did not answer."""
    if isinstance(exc, requests.exceptions.Timeout):
        return CommandExecutionError(
            f"LXD at {endpoint()} did not answer within {_timeouts()['request']} s "
            f"(lxd:timeouts:request): {exc}"
        )
    if isinstance(exc, requests.exceptions.RequestException):
        return CommandExecutionError(f"LXD is not reachable at {endpoint()}: {exc}")
    return CommandExecutionError(f"LXD refused the request: {exc}")


def _metadata(node, **params):
    try:
        return node.get(params=params or None).json()["metadata"]
    except LXD_ERRORS as exc:
        raise _api_error(exc) from exc


def _listing(node, **params):
    """A collection with ``recursion=1``: Incus answers an empty one with
    null where LXD gives an empty list."""
    return _metadata(node, recursion=1, **params) or []


def query(path, **params):
    """
    Return the metadata of ``GET /1.0/<path>`` (read only), for what has no
    function of its own, e.g. ``resources`` or ``warnings``.

    CLI Example:

    .. code-block:: bash

        salt '*' lxd.query resources
        salt '*' lxd.query operations recursion=1
    """
    node = _client().api
    for part in path.strip("/").split("/"):
        node = node[part]
    return _metadata(node, **params)


def reachable():
    """
    Return True when the LXD daemon answers on :py:func:`endpoint`.

    CLI Example:

    .. code-block:: bash

        salt '*' lxd.reachable
    """
    try:
        _client()
    except CommandExecutionError:
        return False
    return True


def daemon_state():
    """
    Return how the daemon answers now, on a new connection (one this run
    cached may predate a restart): ``ready``; ``held`` (it answers 503
    "LXD daemon setup in progress": after a refresh that changed the
    database schema, LXD holds a cluster member until every member runs its
    version); or ``down``. Over https a held daemon counts as down.

    CLI Example:

    .. code-block:: bash

        salt lxd1 lxd.daemon_state
    """
    _disconnect()
    target = endpoint()
    if reachable():
        return "ready"
    if "://" in target:
        return "down"
    # pylxd reports any answer but 200 as "cannot connect": ask directly
    url = f"{pylxd.client.DEFAULT_SCHEME}{urllib.parse.quote(target, safe='')}/1.0"
    try:
        answer = pylxd.client.get_session_for_url(url).get(url, timeout=10)
    except requests.exceptions.RequestException:
        return "down"
    return "held" if answer.status_code == 503 else "down"


def wait_ready(timeout=None):
    """
    Wait until the daemon answers (after a reload or a restart: there is no
    operation or event to wait on while it is down), asking every second
    for up to ``timeout`` seconds (default ``lxd:timeouts:operation``).
    Raises an error when it does not.

    CLI Example:

    .. code-block:: bash

        salt '*' lxd.wait_ready 60
    """
    deadline = time.monotonic() + (timeout or _timeouts()["operation"])
    while True:
        state = daemon_state()
        if state == "ready":
            return True
        if time.monotonic() >= deadline:
            raise CommandExecutionError(
                f"LXD at {endpoint()} did not come back ({state}) within "
                f"{timeout or _timeouts()['operation']} s"
            )
        time.sleep(READY_POLL_SECONDS)


# ---------------------------------------------------------------- server


def info(refresh=False):
    """
    Return the server information (GET /1.0): api_extensions, config,
    environment (server version, certificate, kernel, storage drivers), as
    this run last read it (``refresh=True``: read it now). Secrets are
    masked (see :py:func:`masked`).

    CLI Example:

    .. code-block:: bash

        salt '*' lxd.info
    """
    return masked(_server(refresh))


def _server(refresh=False):
    """GET /1.0 as the server answered it, secrets included."""
    if refresh:
        _reads().pop("/1.0", None)
    return _read("/1.0", lambda: _metadata(_client().api))


def api_extensions():
    """
    Return the list of API extensions the daemon supports.

    CLI Example:

    .. code-block:: bash

        salt '*' lxd.api_extensions
    """
    return list(_server()["api_extensions"])


def has_api_extension(name):
    """
    Return True when the daemon supports the API extension ``name``.

    CLI Example:

    .. code-block:: bash

        salt '*' lxd.has_api_extension network_bgp
    """
    return name in api_extensions()


def _require_extension(name, what):
    if not has_api_extension(name):
        raise CommandExecutionError(
            f"this {server_kind()} cannot {what}: it lacks the API extension {name}"
        )


def server_kind():
    """
    Return what the daemon says it is (``environment.server``): ``lxd`` or
    ``incus``.

    CLI Example:

    .. code-block:: bash

        salt '*' lxd.server_kind
    """
    return _server()["environment"].get("server", "lxd")


def backend_drift(wanted=None):
    """
    Return the ``lxd:backend`` error when the daemon this minion reaches is
    not the backend the pillar names (``wanted``, default
    :py:func:`backend`); empty when they agree.

    CLI Example:

    .. code-block:: bash

        salt '*' lxd.backend_drift incus
    """
    wanted = wanted or backend()
    found = server_kind()
    if found == wanted:
        return []
    return [
        f"lxd:backend: the daemon at {endpoint()} is {found}, not {wanted} "
        "(set lxd:backend to what runs there, or lxd:connection to reach the other daemon)"
    ]


def config_get(key=None, unmasked=False):
    """
    Return the server configuration, or the value of one ``key`` (None when
    unset). Secrets are masked (see :py:func:`masked`) unless ``unmasked``
    (for states that compare them).

    CLI Example:

    .. code-block:: bash

        salt '*' lxd.config_get
        salt '*' lxd.config_get core.https_address
    """
    config = _server().get("config", {})
    if not unmasked:
        config = masked(config)
    return config if key is None else config.get(key)


def config_set(key, value):
    """
    Set one server configuration key (PATCH /1.0, other keys untouched).

    CLI Example:

    .. code-block:: bash

        salt '*' lxd.config_set core.https_address '[::]:8443'
    """
    return _patch_server_config({key: str(value)})


def config_unset(key):
    """
    Unset one server configuration key.

    CLI Example:

    .. code-block:: bash

        salt '*' lxd.config_unset core.https_address
    """
    return _patch_server_config({key: ""})


def config_update(config):
    """
    Set and unset several server configuration keys in one request: a value
    of None or ``""`` unsets its key; keys not given are untouched.

    CLI Example:

    .. code-block:: bash

        salt '*' lxd.config_update '{core.proxy_http: "http://proxy:3128", core.proxy_https: null}'
    """
    return _patch_server_config(
        {key: "" if value is None else str(value) for key, value in config.items()}
    )


def listener_config(listen, addresses):
    """
    Return the server keys that the listeners in ``listen`` (``lxd:listen``:
    endpoint: on/off) want, each ``core.<endpoint>_address``: the
    ``host:port`` its ``lxd:addresses`` value resolves to (LXD's default port
    unless one is given), or None to unset it. Raises when a listener that
    is on needs an API extension this LXD lacks.

    CLI Example:

    .. code-block:: bash

        salt '*' lxd.listener_config '{https: true}' '{https: 10.0.0.0/24}'
    """
    extensions = api_extensions()
    wanted = {}
    for endpoint, (key, port, extension) in LISTENERS.items():
        if not listen.get(endpoint):
            wanted[key] = None
        elif extension and extension not in extensions:
            raise CommandExecutionError(
                f"lxd:listen:{endpoint}: this LXD cannot listen for {endpoint} "
                f"({key}): it lacks the API extension {extension}"
            )
        else:
            wanted[key] = __salt__["lxd_host.address"](addresses.get(endpoint), port=port)
    # A joining member gets core.https_address = its cluster address from
    # LXD itself: that is the cluster's own listener, not an https one.
    config = _server()["config"]
    cluster_address = config.get("cluster.https_address")
    if wanted["core.https_address"] is None and cluster_address and (
        config.get("core.https_address") == cluster_address
    ):
        wanted["core.https_address"] = cluster_address
    return wanted


def proxy_config(http=None, https=None, no_proxy=None):
    """
    Return the ``core.proxy_*`` server keys for ``lxd:proxy``: each value
    given, else the minion's own proxy settings (``proxy_host``,
    ``proxy_port``, ``proxy_username``, ``proxy_password``, ``no_proxy``);
    None where there is none (the key is unset).

    CLI Example:

    .. code-block:: bash

        salt '*' lxd.proxy_config http=http://proxy:3128
    """
    minion_url, minion_no_proxy = _minion_proxy()
    given = {
        "core.proxy_http": minion_url if http is None else http,
        "core.proxy_https": minion_url if https is None else https,
        "core.proxy_ignore_hosts": minion_no_proxy if no_proxy is None else no_proxy,
    }
    if isinstance(given["core.proxy_ignore_hosts"], list):
        given["core.proxy_ignore_hosts"] = ",".join(given["core.proxy_ignore_hosts"])
    return {key: value or None for key, value in given.items()}


def _minion_proxy():
    """The proxy URL and no_proxy hosts of this minion's configuration, as
    Salt itself uses them."""
    host = __salt__["config.get"]("proxy_host")
    no_proxy = __salt__["config.get"]("no_proxy") or None
    if not host:
        return None, no_proxy
    if "://" not in host:
        host = f"http://{host}"
    port = __salt__["config.get"]("proxy_port")
    user = __salt__["config.get"]("proxy_username")
    scheme, _, rest = host.partition("://")
    credentials = ""
    if user:
        credentials = f"{user}:{__salt__['config.get']('proxy_password') or ''}@"
    return f"{scheme}://{credentials}{rest}{f':{port}' if port else ''}", no_proxy


def _patch_server_config(config):
    try:
        _client().api.patch(json={"config": config})
    except LXD_ERRORS as exc:
        raise _api_error(exc) from exc
    return True


# ---------------------------------------------------------------- objects


def storage_pools():
    """
    Return the storage pools, by name.

    CLI Example:

    .. code-block:: bash

        salt '*' lxd.storage_pools
    """
    return _by_name(_client().api.storage_pools)


def networks(managed=None):
    """
    Return the networks, by name; ``managed=True`` keeps only those LXD
    manages, ``managed=False`` only the host's own interfaces.

    CLI Example:

    .. code-block:: bash

        salt '*' lxd.networks managed=True
    """
    found = _by_name(_client().api.networks)
    if managed is None:
        return found
    return {name: net for name, net in found.items() if net["managed"] == managed}


def profiles():
    """
    Return the profiles, by name.

    CLI Example:

    .. code-block:: bash

        salt '*' lxd.profiles
    """
    return _by_name(_client().api.profiles)


def projects():
    """
    Return the projects, by name.

    CLI Example:

    .. code-block:: bash

        salt '*' lxd.projects
    """
    return _by_name(_client().api.projects)


def certificates():
    """
    Return the trusted certificates, by fingerprint.

    CLI Example:

    .. code-block:: bash

        salt '*' lxd.certificates
    """
    return {
        cert["fingerprint"]: cert
        for cert in _listing(_client().api.certificates)
    }


def add_certificate(name, pem, type="client", restricted=False, projects=None):
    """
    Trust the PEM certificate ``pem`` as ``name``; ``restricted`` limits it
    to ``projects``. (``lxd_trust.add`` is the operator's function.)

    CLI Example:

    .. code-block:: bash

        salt lxd1 lxd.add_certificate ci "$(cat ci.crt)" restricted=true projects='[ci]'
    """
    body = "".join(
        line for line in pem.strip().splitlines() if not line.startswith("-----")
    )
    _run(_client().api.certificates.post, json={
        "name": name, "type": type, "certificate": body,
        "restricted": restricted, "projects": projects or [],
    })
    return certificate_fingerprint(pem)


def update_certificate(fingerprint, name, type="client", restricted=False, projects=None):
    """
    Set the name, type and project restriction of the trusted certificate
    ``fingerprint``.

    CLI Example:

    .. code-block:: bash

        salt lxd1 lxd.update_certificate 2e9be19a... ci restricted=true projects='[ci]'
    """
    _run(_client().api.certificates[fingerprint].patch, json={
        "name": name, "type": type, "restricted": restricted, "projects": projects or [],
    })
    return True


def delete_certificate(fingerprint):
    """
    Stop trusting the certificate ``fingerprint`` (full, or a unique prefix).

    CLI Example:

    .. code-block:: bash

        salt lxd1 lxd.delete_certificate 2e9be19a
    """
    _run(_client().api.certificates[fingerprint].delete)
    return True


def issue_trust_token(name, restricted=False, projects=None):
    """
    Create a trust token for a client ``name`` and return it, encoded as
    ``lxc config trust add`` prints it. The return is a secret:
    ``lxd_trust.token`` keeps it in a root-only file instead.

    CLI Example:

    .. code-block:: bash

        salt-call lxd.issue_trust_token laptop
    """
    _require_extension("certificate_token", "issue trust tokens")
    try:
        # the token's operation runs until a client uses it: do not wait
        created = _client().api.certificates.post(json={
            "name": name, "type": "client", "token": True,
            "restricted": restricted, "projects": projects or [],
        })
    except LXD_ERRORS as exc:
        raise _api_error(exc) from exc
    grant = created.json()["metadata"]["metadata"]
    token = {
        "client_name": name,
        "fingerprint": grant["fingerprint"],
        "addresses": grant["addresses"],
        "secret": grant["secret"],
        "expires_at": grant.get("expiresAt", "0001-01-01T00:00:00Z"),
    }
    return base64.b64encode(json.dumps(token).encode()).decode()


def cluster():
    """
    Return the cluster information (GET /1.0/cluster): whether clustering is
    enabled, this member's server name and the ``member_config`` keys a
    joining member must provide.

    CLI Example:

    .. code-block:: bash

        salt '*' lxd.cluster
    """
    return _read("/1.0/cluster", lambda: _metadata(_client().api.cluster))


def _by_name(node):
    return {item["name"]: item for item in _listing(node)}


# ---------------------------------------------------------------- cluster


def cluster_members(refresh=False):
    """
    Return the cluster members, by name (GET /1.0/cluster/members): url,
    status (Online, Offline, Evacuated), roles and database role. Empty when
    clustering is not enabled. As this run last read them, unless
    ``refresh`` (a member may have joined through another member since).

    CLI Example:

    .. code-block:: bash

        salt '*' lxd.cluster_members
    """
    if refresh:
        _forget_reads()
    if not cluster()["enabled"]:
        return {}
    members = _read("/1.0/cluster/members",
                    lambda: _listing(_client().api.cluster.members))
    return {member["server_name"]: member for member in members}


def enable_clustering(member, address):
    """
    Turn this standalone daemon into the first member, ``member``, of a new
    cluster, listening for cluster traffic on ``address`` (``host:port``,
    set as ``cluster.https_address``). Existing pools, networks and profiles
    become the cluster's.

    CLI Example:

    .. code-block:: bash

        salt lxd1 lxd.enable_clustering lxd1 10.0.0.1:8443
    """
    _patch_server_config({"cluster.https_address": address})
    _run(_client().api.cluster.put, json={"server_name": member, "enabled": True})
    _disconnect()
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

        salt lxd2 lxd.join_cluster lxd2 10.0.0.2:8443 "$TOKEN" "$PEM" '[]'
    """
    decoded = decode_join_token(token)
    if decoded["server_name"] != member:
        raise CommandExecutionError(
            f"the join token was issued for {decoded['server_name']!r}, not {member!r}"
        )
    if certificate_fingerprint(certificate) != decoded["fingerprint"]:
        raise CommandExecutionError(
            "the cluster certificate does not match the fingerprint in the join token"
        )
    body = _join_request(
        member, address, token, certificate, member_config,
        cluster_address=_answering_address(decoded["addresses"], decoded["fingerprint"]),
        server=server_kind(), extensions=api_extensions(),
    )
    _run(_client().api.cluster.put, json=body)
    _disconnect()
    return True


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
        if certificate_fingerprint(pem) != fingerprint:
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

        salt '*' lxd.decode_join_token "$TOKEN"
    """
    try:
        return json.loads(base64.b64decode(token))
    except (ValueError, TypeError) as exc:
        raise CommandExecutionError(f"not a cluster join token: {exc}") from exc


def certificate_fingerprint(pem):
    """
    Return the SHA-256 fingerprint LXD uses for a PEM certificate.

    CLI Example:

    .. code-block:: bash

        salt '*' lxd.certificate_fingerprint "$(cat client.crt)"
    """
    try:
        der = ssl.PEM_cert_to_DER_cert(pem.strip())
    except ValueError as exc:
        raise CommandExecutionError(f"not a PEM certificate: {exc}") from exc
    return hashlib.sha256(der).hexdigest()


def join_tokens():
    """
    Return the pending cluster join tokens, by member name: the token
    operation's id and its expiry (never the secret). LXD 5.0 keeps expired
    tokens listed until they are revoked.

    CLI Example:

    .. code-block:: bash

        salt '*' lxd.join_tokens
    """
    operations = _metadata(_client().api.operations, recursion=1) or {}
    return {
        op["metadata"]["serverName"]: {
            "id": op["id"],
            "expires_at": op["metadata"].get("expiresAt"),
        }
        for op in operations.get("running", [])
        if op["class"] == "token" and "serverName" in (op["metadata"] or {})
    }


def issue_join_token(member):
    """
    Issue a join token for ``member`` and return it, encoded as ``lxc
    cluster add`` prints it. Any earlier token for ``member`` (expired,
    revoked or unused) is revoked first, so at most one is valid.

    The return is a secret: the ``lxd.cluster`` orchestrate hands it to the
    joiner through the mine only (``lxd_cluster.join_offer``).

    CLI Example:

    .. code-block:: bash

        salt lxd1 lxd.issue_join_token lxd4
    """
    revoke_join_token(member)
    try:
        created = _client().api.cluster.members.post(json={"server_name": member})
    except LXD_ERRORS as exc:
        raise _api_error(exc) from exc
    grant = created.json()["metadata"]["metadata"]
    token = {
        "server_name": grant["serverName"],
        "fingerprint": grant["fingerprint"],
        "addresses": grant["addresses"],
        "secret": grant["secret"],
        "expires_at": grant["expiresAt"],
    }
    return base64.b64encode(json.dumps(token).encode()).decode()


def revoke_join_token(member):
    """
    Revoke the pending join token of ``member``; return True when there was
    one.

    CLI Example:

    .. code-block:: bash

        salt lxd1 lxd.revoke_join_token lxd4
    """
    pending = join_tokens().get(member)
    if pending is None:
        return False
    try:
        _client().api.operations[pending["id"]].delete()
    except LXD_ERRORS as exc:
        raise _api_error(exc) from exc
    return True


def instances(location=None):
    """
    Return the instances of every project, by ``project/name``, with their
    status and location; ``location`` keeps those on one cluster member.

    CLI Example:

    .. code-block:: bash

        salt '*' lxd.instances location=lxd3
    """
    found = _listing(_client().api.instances, **{"all-projects": "true"})
    return {
        f"{item['project']}/{item['name']}": {
            "status": item["status"],
            "location": item["location"],
        }
        for item in found
        if location is None or item["location"] == location
    }


def evacuate_member(member):
    """
    Evacuate cluster member ``member``: its instances are moved (or stopped,
    per their ``cluster.evacuate`` setting) and it takes no new ones until
    restored. Waits until done.

    CLI Example:

    .. code-block:: bash

        salt lxd1 lxd.evacuate_member lxd3
    """
    return _member_action(member, "evacuate")


def restore_member(member):
    """
    Restore an evacuated cluster member ``member``: its instances come back.

    CLI Example:

    .. code-block:: bash

        salt lxd1 lxd.restore_member lxd3
    """
    return _member_action(member, "restore")


def _member_action(member, action):
    _require_extension("clustering_evacuation", f"{action} cluster members")
    node = _client().api.cluster.members[member].state
    _run(node.post, json={"action": action})
    return True


def remove_member(member, force=False, accept_data_loss=False):
    """
    Remove ``member`` from the cluster. LXD refuses while it holds
    instances; ``force`` removes a member that LXD reports offline (dead:
    its instances are lost from the cluster). Forcing out a member that is
    still online would leave its instances running outside the cluster, so
    it is refused unless ``accept_data_loss`` says so too.

    CLI Example:

    .. code-block:: bash

        salt lxd1 lxd.remove_member lxd3
        salt lxd1 lxd.remove_member lxd3 force=True
    """
    if force and not accept_data_loss:
        status = cluster_members().get(member, {}).get("status")
        if status in ("Online", "Evacuated"):
            raise CommandExecutionError(
                f"{member} is {status}: force removes a member LXD reports offline; "
                "remove it without force (evacuating first), or add "
                "accept_data_loss=True to drop its instances from the cluster"
            )
    params = {"force": 1} if force else None
    _run(_client().api.cluster.members[member].delete, params=params)
    return True


def _run(request, **kwargs):
    """Send a request; when LXD answers with an operation, wait for it, at
    most ``lxd:timeouts:operation`` seconds."""
    timeouts = _timeouts()
    try:
        response = request(**kwargs).json()
        if response.get("type") == "async":
            operation = response["operation"].rsplit("/", 1)[-1]
            # LXD answers the wait when the operation ends or its timeout is up
            done = _client().api.operations[operation].wait.get(
                params={"timeout": timeouts["operation"]},
                timeout=timeouts["operation"] + timeouts["request"],
            ).json()["metadata"]
            if done["status"] in ("Running", "Pending"):
                raise CommandExecutionError(
                    f"LXD at {endpoint()} did not finish {done['description']!r} within "
                    f"{timeouts['operation']} s (lxd:timeouts:operation); it goes on in "
                    "the background"
                )
            if done["status"] != "Success":
                raise CommandExecutionError(f"LXD refused the request: {done['err']}")
    except LXD_ERRORS as exc:
        raise _api_error(exc) from exc
    return True


# ---------------------------------------------------------------- init


def default_preseed(storage=True, storage_devices=None, network=True):
    """
    Return the ``lxd init`` preseed the formula uses when ``lxd:init:preseed``
    is empty: a storage pool ``local`` (zfs on ``storage_devices``, else
    dir), a bridge (``lxdbr0``; ``incusbr0`` with Incus, as its own init
    names it; ``network`` True for automatic addresses, or a mapping of
    bridge config keys) and a default profile using both.

    CLI Example:

    .. code-block:: bash

        salt '*' lxd.default_preseed storage_devices='[/dev/sdb]'
    """
    preseed = {"config": {}, "profiles": []}
    devices = {}
    if storage:
        if storage_devices:
            pool = {"driver": "zfs", "config": {"source": ",".join(storage_devices)}}
        else:
            pool = {"driver": "dir", "config": {}}
        preseed["storage_pools"] = [dict(pool, name="local", description="")]
        devices["root"] = {"type": "disk", "path": "/", "pool": "local"}
    if network:
        config = {"ipv4.address": "auto", "ipv6.address": "auto"}
        if isinstance(network, dict):
            config = {key: str(value) for key, value in network.items()}
        bridge = BACKENDS.get(backend(), BACKENDS["lxd"])["bridge"]
        preseed["networks"] = [
            {"name": bridge, "type": "bridge", "description": "", "config": config}
        ]
        devices["eth0"] = {"type": "nic", "name": "eth0", "network": bridge}
    preseed["profiles"].append({"name": "default", "devices": devices})
    return preseed


def initialised():
    """
    Return True when the daemon has been configured, by this formula or by
    hand: it has a storage pool, a managed network, or a default profile
    with devices.

    CLI Example:

    .. code-block:: bash

        salt '*' lxd.initialised
    """
    if storage_pools() or networks(managed=True):
        return True
    return bool(profiles().get("default", {}).get("devices"))


def preseed_plan(preseed):
    """
    Return what applying the ``lxd init`` ``preseed`` (a mapping) would
    change on the daemon, without changing anything: per section, the
    objects to create or update and the server keys to set. Secret values
    are masked.

    CLI Example:

    .. code-block:: bash

        salt '*' lxd.preseed_plan '{storage_pools: [{name: local, driver: dir}]}'
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

        salt '*' lxd.apply_preseed '{storage_pools: [{name: local, driver: dir}]}'
    """
    plan = _plan(preseed)
    undo = []
    try:
        for step in plan:
            undo.append(_apply_step(step))
    except (*LXD_ERRORS, CommandExecutionError) as exc:
        for revert in reversed(undo):
            try:
                revert()
            except LXD_ERRORS as revert_exc:
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
        current_config = config_get(unmasked=True)
        changed = {
            key: value
            for key, value in server_config.items()
            if current_config.get(key, "") != value
        }
        if changed:
            steps.append(("config", None, "set", changed, current_config))
    listings = {
        "networks": networks,
        "storage_pools": storage_pools,
        "profiles": profiles,
        "projects": projects,
    }
    for section in PRESEED_SECTIONS[1:]:
        entries = preseed.get(section) or []
        if not entries:
            continue
        existing = listings[section]()
        for entry in entries:
            current = existing.get(entry["name"])
            if current is None:
                steps.append((section, entry["name"], "create", entry, None))
            elif _merged(current, entry) != _writable(current):
                steps.append((section, entry["name"], "update", entry, current))
    return steps


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
    api = _client().api
    if section == "config":
        _patch_server_config(payload)
        previous = {key: current.get(key, "") for key in payload}
        return lambda: api.patch(json={"config": previous})
    collection = getattr(api, section)
    if action == "create":
        body = {key: value for key, value in payload.items() if value is not None}
        for field in ("config", "devices"):
            if field in body:
                body[field] = _stringify(field, body[field])
        collection.post(json=body)
        return lambda: collection[name].delete()
    collection[name].put(json=_merged(current, payload))
    return lambda: collection[name].put(json=_writable(current))


def _report(plan):
    changes = {}
    for section, name, action, payload, current in plan:
        if section == "config":
            changes["config"] = {
                key: {"old": _mask(key, current.get(key, "")), "new": _mask(key, value)}
                for key, value in payload.items()
            }
        else:
            changes.setdefault(section, {})[name] = (
                "created" if action == "create" else "updated"
            )
    return changes


def masked(data, key=""):
    """
    Return ``data`` with the value of every key whose last word names a
    secret (``password``, ``secret``, ``token``) masked, and the password of
    every URL with credentials (a proxy's), at any depth: what state
    output, ``info``, ``config_get`` and debug bundles show. Keys that only
    mention a secret (``cluster.join_token_expiry``) are shown.

    CLI Example:

    .. code-block:: bash

        salt '*' lxd.masked '{config: {core.trust_password: x}}'
    """
    if isinstance(data, dict):
        # below a secret's key (a change {old, new} of one), all is secret
        return {name: masked(value, key if _secret(key) else name)
                for name, value in data.items()}
    if isinstance(data, list):
        return [masked(value, key) for value in data]
    return _mask(key, data)


def _secret(key):
    key = str(key)
    return key in SECRET_KEYS or re.split(r"[._-]", key)[-1].lower() in SECRET_WORDS


def _mask(key, value):
    if value and _secret(key):
        return MASK
    if isinstance(value, str) and "@" in value:
        return _masked_url(value)
    return value


def _masked_url(value):
    """``value`` with the password of a URL (``scheme://user:pass@host``,
    the scheme optional) masked; anything else unchanged."""
    scheme, separator, rest = value.partition("://")
    if not separator:
        scheme, rest = "", value
    credentials, at, host = rest.rpartition("@")
    if not at or ":" not in credentials or "/" in credentials:
        return value
    user = credentials.split(":", 1)[0]
    return f"{scheme}{separator}{user}:{MASK}@{host}"


# ---------------------------------------------------------------- init record


def _record_path():
    fingerprint = _server()["environment"]["certificate_fingerprint"]
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

        salt '*' lxd.init_record
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

        salt '*' lxd.init_record_for standalone '{config: {}}'
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

        salt '*' lxd.write_init_record standalone '{config: {}}'
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

        salt '*' lxd.init_drift standalone '{config: {}}'
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
