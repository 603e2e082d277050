"""
Execution module: the server settings the formula keeps on every LXD host
besides its initialisation: which network listeners it opens and where
(``lxd:listen``, ``lxd:addresses``) and the proxy it uses (``lxd:proxy``,
else the minion's own). These functions say what the server keys should
be; the ``lxd.listening`` and ``lxd.proxied`` states set them.
"""

import urllib.parse

from salt.exceptions import CommandExecutionError

__virtualname__ = "lxd_server"

# Network listeners: the server key, LXD's default port, and the API
# extension that brought the listener.
LISTENERS = {
    "https": ("core.https_address", 8443, None),
    "bgp": ("core.bgp_address", 179, "network_bgp"),
    "dns": ("core.dns_address", 53, "network_dns"),
    "metrics": ("core.metrics_address", 9100, "metrics"),
}


def __virtual__():
    if "lxd.request" not in __salt__:
        return (False, "the lxd execution module is not available (is pylxd installed?)")
    return __virtualname__


def listener_config(listen, addresses):
    """
    Return the server keys that the listeners in ``listen`` (``lxd:listen``:
    endpoint: on/off) want, each ``core.<endpoint>_address``: the
    ``host:port`` its ``lxd:addresses`` value resolves to (LXD's default port
    unless one is given), or None to unset it. Raises when a listener that
    is on needs an API extension this LXD lacks.

    CLI Example:

    .. code-block:: bash

        salt '*' lxd_server.listener_config '{https: true}' '{https: 10.0.0.0/24}'
    """
    extensions = __salt__["lxd.api_extensions"]()
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
    config = __salt__["lxd.config_get"](unmasked=True)
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

        salt '*' lxd_server.proxy_config http=http://proxy:3128
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
        # quoted whole: a password may hold any of : / ? # @
        password = __salt__["config.get"]("proxy_password") or ""
        credentials = f"{_quoted(user)}:{_quoted(password)}@"
    return f"{scheme}://{credentials}{rest}{f':{port}' if port else ''}", no_proxy


def _quoted(text):
    """``text`` percent-encoded for a URL's userinfo."""
    return urllib.parse.quote(str(text), safe="")
