"""
Execution module for the LXD daemon: the connection to its REST API
through pylxd, what the daemon says of itself (server information, API
extensions, configuration, cluster and members, instances) and the one way
the formula's other modules write to it (:py:func:`request`, which waits
for LXD's operations within ``lxd:timeouts``). The daemon is LXD or Incus
(``lxd:backend``): they share the REST API, and where they differ the
formula decides by what the server says of itself (its API extensions and
``environment.server``), never by version strings.

What the formula does with the daemon lives beside this module, one concern
each: ``lxd_init`` (initialisation), ``lxd_membership`` (clustering, join
tokens, evacuation, removal), ``lxd_server`` (listeners and proxy),
``lxd_trust`` (trusted certificates), ``lxd_cluster`` (forming clusters).

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

import copy
import hashlib
import logging
import ssl
import time

import salt.utils.args
from salt.exceptions import CommandExecutionError

try:  # installed as the saltext-lxd package
    from saltext.lxd.utils import lxd_connection, lxd_operations, lxd_settings
    from saltext.lxd.utils.lxd_secrets import masked as _masked
except ImportError:  # synced from _utils: Salt puts the utils directories on sys.path
    import lxd_connection
    import lxd_operations
    import lxd_settings
    from lxd_secrets import masked as _masked

try:
    import pylxd

    try:  # installed as the saltext-lxd package
        from saltext.lxd.utils import lxd_pylxd
    except ImportError:  # synced from _utils (it needs pylxd too)
        import lxd_pylxd
    HAS_PYLXD = True
except ImportError:
    HAS_PYLXD = False

log = logging.getLogger(__name__)

__virtualname__ = "lxd"

# A daemon coming back from a reload is asked again at this pace.
READY_POLL_SECONDS = 1



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


def _settings():
    """The formula's settings, from the shared layer rather than the
    lxd_pillar module: that one asks this module about the daemon when it
    validates, and modules must not call each other in circles."""
    return lxd_settings.minion_settings(__context__, __salt__)


def _timeouts():
    """``lxd:timeouts``: seconds for a request, an operation, a command. The
    one place this module resolves the formula's settings: its connection
    and waits serve almost every function, so they are not passed down."""
    return _settings()["timeouts"]


def _connection_settings():
    return lxd_connection.connection_settings(__salt__["config.get"]("lxd:connection", {}))


def backend():
    """
    Return the daemon this minion is configured for (``lxd:backend``):
    ``lxd`` or ``incus``.

    CLI Example:

    .. code-block:: bash

        salt '*' lxd.backend
    """
    return __salt__["config.get"]("lxd:backend", "lxd") or "lxd"


def installed(install=None):
    """
    Return whether the daemon is installed the way ``install`` (the
    ``lxd:install`` settings, default: the pillar's) installs it: its
    package (``method: package``) or its snap (``snap``); ``none`` means it
    was installed by other means, so always True. A host where this is
    False is prepared (``state.apply lxd``) before anything asks its daemon.

    CLI Example:

    .. code-block:: bash

        salt '*' lxd.installed
    """
    if install is None:
        install = _settings()["install"]
    if install["method"] == "package":
        return bool(__salt__["pkg.version"](install["package"]))
    if install["method"] == "snap":
        return "lxd_snap.info" in __salt__ and __salt__["lxd_snap.info"](
            install["snap"], timeout=_timeouts()["command"]) is not None
    return True


def endpoint():
    """
    Return the endpoint this minion reaches LXD through: an https URL or the
    path of a unix socket.

    CLI Example:

    .. code-block:: bash

        salt '*' lxd.endpoint
    """
    return lxd_connection.endpoint(_connection_settings(), backend())


def _client():
    """A pylxd client, cached for the life of this Salt run."""
    target = endpoint()
    cache = __context__.setdefault("lxd.clients", {})
    if target not in cache:
        client = lxd_pylxd.connect(target, _connection_settings(), _timeouts()["request"])
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


def _daemon():
    """The daemon's API through this run's client."""
    return lxd_pylxd.Daemon(_client(), endpoint(), _timeouts())


def query(path, unmasked=False, **params):
    """
    Return the metadata of ``GET /1.0/<path>`` (read only), for what has no
    function of its own, e.g. ``resources`` or ``warnings``. Secrets (a
    token operation's secret, an instance's cloud-init data) are masked
    (see ``lxd_secrets.masked``) unless ``unmasked`` (for what compares or
    writes back what it read).

    CLI Example:

    .. code-block:: bash

        salt '*' lxd.query resources
        salt '*' lxd.query operations recursion=1
    """
    found = _daemon().metadata(path, **salt.utils.args.clean_kwargs(**params))
    return found if unmasked else _masked(found)


def request(method, path, body=None, wait=True, reconnect=False, upload=None,
            unmasked=False, **params):
    """
    Send ``method`` (POST, PUT, PATCH, DELETE) to ``/1.0/<path>`` with the
    JSON ``body`` and query ``params``, and return the metadata LXD answers.
    When LXD answers with an operation it is waited for (at most
    ``lxd:timeouts:operation`` seconds) and its final state returned,
    unless ``wait`` is False (a token's operation runs until it is used).
    ``reconnect`` drops this run's connection afterwards (the request
    restarted the daemon's listeners, e.g. enabling clustering). ``upload``
    is ``(data, headers)`` for a body that is not JSON (an image's
    tarball). The formula's other modules send their writes through this
    function. Secrets in the answer (the secret of a token's operation)
    are masked (see ``lxd_secrets.masked``) unless ``unmasked``.

    CLI Example:

    .. code-block:: bash

        salt lxd1 lxd.request DELETE cluster/members/lxd4 force=1
        salt lxd1 lxd.request PATCH profiles/default '{description: Default}'
    """
    daemon = _daemon()
    params = salt.utils.args.clean_kwargs(**params) or None
    try:
        answer = daemon.send(method, path, lxd_operations.payload(body, upload), params, wait)
    finally:
        if reconnect:
            _disconnect()
    return answer if unmasked else _masked(answer)


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
    return lxd_pylxd.unix_socket_state(target)


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
    masked (see ``lxd_secrets.masked``).

    CLI Example:

    .. code-block:: bash

        salt '*' lxd.info
    """
    return _masked(_server(refresh))


def version():
    """
    Return the daemon's version (``environment.server_version``, e.g.
    ``5.0.2``). Salt 3007's own ``lxd`` module had this function (it ran
    ``lxd --version``); this module takes that module's name, and keeps it
    so that what tests for it (``"lxd.version" in __salt__``) still finds
    it. See docs/install.rst, "Installing".

    CLI Example:

    .. code-block:: bash

        salt '*' lxd.version
    """
    return _server()["environment"]["server_version"]


def pylxd_version():
    """
    Return the version of pylxd this module uses (as Salt 3007's own
    ``lxd`` module did).

    CLI Example:

    .. code-block:: bash

        salt '*' lxd.pylxd_version
    """
    return pylxd.__version__


def _server(refresh=False):
    """GET /1.0 as the server answered it, secrets included."""
    if refresh:
        _reads().pop("/1.0", None)
    return _read("/1.0", lambda: _daemon().metadata(""))


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


def require_extension(name, what):
    """
    Raise an error saying this daemon cannot do ``what`` when it lacks the
    API extension ``name``; return True otherwise.

    CLI Example:

    .. code-block:: bash

        salt '*' lxd.require_extension clustering_evacuation "evacuate members"
    """
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
    return lxd_connection.backend_drift(server_kind(), wanted or backend(), endpoint())


def config_get(key=None, unmasked=False, refresh=False):
    """
    Return the server configuration, or the value of one ``key`` (None when
    unset), as this run last read it (``refresh=True``: read it now).
    Secrets are masked (see ``lxd_secrets.masked``) unless ``unmasked`` (for
    states that compare them).

    CLI Example:

    .. code-block:: bash

        salt '*' lxd.config_get
        salt '*' lxd.config_get core.https_address
    """
    config = _server(refresh).get("config", {})
    if not unmasked:
        config = _masked(config)
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


def _patch_server_config(config):
    request("PATCH", "", {"config": config})
    return True


# ---------------------------------------------------------------- objects


def storage_pools():
    """
    Return the storage pools, by name.

    CLI Example:

    .. code-block:: bash

        salt '*' lxd.storage_pools
    """
    return _by_name("storage-pools")


def networks(managed=None):
    """
    Return the networks, by name; ``managed=True`` keeps only those LXD
    manages, ``managed=False`` only the host's own interfaces.

    CLI Example:

    .. code-block:: bash

        salt '*' lxd.networks managed=True
    """
    found = _by_name("networks")
    if managed is None:
        return found
    return {name: net for name, net in found.items() if net["managed"] == managed}


def profiles():
    """
    Return the profiles, by name, secrets masked (see ``lxd_secrets.masked``).

    CLI Example:

    .. code-block:: bash

        salt '*' lxd.profiles
    """
    return _by_name("profiles")


def projects():
    """
    Return the projects, by name.

    CLI Example:

    .. code-block:: bash

        salt '*' lxd.projects
    """
    return _by_name("projects")


def cluster():
    """
    Return the cluster information (GET /1.0/cluster): whether clustering is
    enabled, this member's server name and the ``member_config`` keys a
    joining member must provide.

    CLI Example:

    .. code-block:: bash

        salt '*' lxd.cluster
    """
    return _read("/1.0/cluster", lambda: _daemon().metadata("cluster"))


def _by_name(path):
    """A listing by name, secrets masked (a profile's cloud-init data, a
    network's BGP passwords): these are read, never written back."""
    return {item["name"]: _masked(item) for item in _daemon().listing(path)}


# ---------------------------------------------------------------- cluster


def cluster_members(refresh=False):
    """
    Return the cluster members, by name (GET /1.0/cluster/members): url,
    status (Online, Offline, Evacuated, Blocked; Incus also Evacuating and
    Restoring), roles and database role. Empty when
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
                    lambda: _daemon().listing("cluster/members"))
    return {member["server_name"]: member for member in members}


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


def instances(location=None):
    """
    Return the instances of every project, by ``project/name``, with their
    status and location; ``location`` keeps those on one cluster member.

    CLI Example:

    .. code-block:: bash

        salt '*' lxd.instances location=lxd3
    """
    found = _daemon().listing("instances", **{"all-projects": "true"})
    return {
        f"{item['project']}/{item['name']}": {
            "status": item["status"],
            "location": item["location"],
        }
        for item in found
        if location is None or item["location"] == location
    }
