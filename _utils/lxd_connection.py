"""
Which daemon a minion reaches and how: its ``lxd:connection`` settings,
the endpoint they and the backends table choose, and the error when the
daemon there is not the backend the pillar names. Pure functions; the
``lxd`` module connects.
"""

import os

try:  # installed as the saltext-lxd package
    from saltext.lxd.utils.lxd_backends import BACKENDS
except ImportError:  # synced from _utils: Salt puts the utils directories on sys.path
    from lxd_backends import BACKENDS


def connection_settings(configured):
    """``lxd:connection`` (``configured``, may be None) with every key,
    unset ones None and ``verify`` True."""
    configured = configured or {}
    return {
        "url": configured.get("url"),
        "socket": configured.get("socket"),
        "cert": configured.get("cert"),
        "key": configured.get("key"),
        "verify": configured.get("verify", True),
    }


def endpoint(settings, backend, environ=os.environ, exists=os.path.exists):
    """The URL or unix socket path ``settings`` reach: the URL, the socket,
    else ``backend``'s socket in its directory variable (``environ``), else
    its first local socket that ``exists``, else its default socket."""
    if settings["url"]:
        return settings["url"]
    if settings["socket"]:
        return settings["socket"]
    local = BACKENDS.get(backend, BACKENDS["lxd"])
    if environ.get(local["dir_variable"]):
        return os.path.join(environ[local["dir_variable"]], "unix.socket")
    return next((path for path in local["sockets"] if exists(path)),
                local["default_socket"])


def client_cert(settings):
    """The client certificate and key to present over https; None over a
    unix socket, or when none is set."""
    if settings["url"] and settings["cert"]:
        return (settings["cert"], settings["key"])
    return None


def backend_drift(found, wanted, target):
    """The ``lxd:backend`` error when the daemon at ``target`` is ``found``
    but the pillar names ``wanted``; empty when they agree."""
    if found == wanted:
        return []
    return [
        f"lxd:backend: the daemon at {target} is {found}, not {wanted} "
        "(set lxd:backend to what runs there, or lxd:connection to reach the other daemon)"
    ]
