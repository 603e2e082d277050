"""
How the ``lxd`` module talks to a daemon through pylxd: a client on an
endpoint, the daemon's API through it (reads, writes and the wait for
their operations, errors naming the daemon), and the answer of a daemon
that pylxd cannot connect to. It keeps nothing: the module holds the
run's client and what it read.
"""

import os
import time
import urllib.parse

import pylxd
import pylxd.client
import pylxd.exceptions
import requests
from salt.exceptions import CommandExecutionError

try:  # installed as the saltext-lxd package
    from saltext.lxd.utils import lxd_connection, lxd_operations
except ImportError:  # synced from _utils: Salt puts the utils directories on sys.path
    import lxd_connection
    import lxd_operations

# what a request to the daemon can raise: a refusal, or no (timely) answer
LXD_ERRORS = (pylxd.exceptions.LXDAPIException, requests.exceptions.RequestException)


def connect(target, settings, request_timeout):
    """A pylxd client on ``target`` (``lxd:connection`` ``settings``), its
    requests bounded by ``request_timeout`` seconds."""
    cert = lxd_connection.client_cert(settings)
    if not settings["url"] and not os.path.exists(target):
        raise CommandExecutionError(f"LXD is not reachable: no unix socket at {target}")
    session = None
    if settings["url"]:
        session = pylxd.client.get_session_for_url(target, verify=settings["verify"], cert=cert)
        # requests lets $REQUESTS_CA_BUNDLE override an explicit verify
        # (a pinned LXD server certificate): ignore the environment.
        session.trust_env = False
    try:
        return pylxd.Client(endpoint=target, cert=cert, verify=settings["verify"],
                            session=session, timeout=request_timeout)
    except pylxd.exceptions.ClientConnectionFailed as exc:
        raise CommandExecutionError(f"LXD is not reachable at {target}: {exc}") from exc
    except requests.exceptions.RequestException as exc:
        raise api_error(exc, target, request_timeout) from exc


def api_error(exc, target, request_timeout):
    """The error to report for what a request to ``target`` raised, naming
    the daemon when it did not answer."""
    if isinstance(exc, requests.exceptions.Timeout):
        return CommandExecutionError(
            f"LXD at {target} did not answer within {request_timeout} s "
            f"(lxd:timeouts:request): {exc}"
        )
    if isinstance(exc, requests.exceptions.RequestException):
        return CommandExecutionError(f"LXD is not reachable at {target}: {exc}")
    return CommandExecutionError(f"LXD refused the request: {exc}")


class Daemon:
    """The API of the daemon at ``target`` through the pylxd ``client``:
    reads, and writes that wait for their operations within ``timeouts``
    (``lxd:timeouts``); what a request raises is reported naming the
    daemon (:py:func:`api_error`)."""

    def __init__(self, client, target, timeouts):
        self.client = client
        self.target = target
        self.timeouts = timeouts

    def node(self, path):
        """The pylxd node of ``/1.0/<path>``."""
        node = self.client.api
        for part in lxd_operations.path_parts(path):
            node = node[part]
        return node

    def error(self, exc):
        return api_error(exc, self.target, self.timeouts["request"])

    def metadata(self, path, **params):
        """The metadata of ``GET /1.0/<path>``."""
        try:
            return self.node(path).get(params=params or None).json()["metadata"]
        except LXD_ERRORS as exc:
            raise self.error(exc) from exc

    def listing(self, path, **params):
        """A collection with ``recursion=1``: Incus answers an empty one with
        null where LXD gives an empty list."""
        return self.metadata(path, recursion=1, **params) or []

    def send(self, method, path, payload, params=None, wait=True):
        """Send ``method`` to ``/1.0/<path>`` with ``payload`` (see
        ``lxd_operations.payload``) and return the metadata of LXD's answer;
        when LXD answers with an operation and ``wait``, wait for it (see
        :py:meth:`finished`)."""
        send = getattr(self.node(path), method.lower())
        try:
            answer = send(params=params, **payload).json()
            if not wait:
                return answer["metadata"]
            operation = lxd_operations.operation_id(answer)
            return answer.get("metadata") if operation is None else self.finished(operation)
        except LXD_ERRORS as exc:
            raise self.error(exc) from exc

    def finished(self, operation):
        """Wait for ``operation``, at most ``lxd:timeouts:operation`` seconds,
        and return its final state; fail with LXD's error when it failed,
        and with the state it is in when it has not finished."""
        node = self.client.api.operations[operation]
        started = time.monotonic()
        try:
            # LXD answers the wait when the operation ends or its timeout is up
            done = node.wait.get(
                params={"timeout": self.timeouts["operation"]},
                timeout=self.timeouts["operation"] + self.timeouts["request"],
            ).json()["metadata"]
        except pylxd.exceptions.LXDAPIException as exc:
            if exc.response.status_code != 200:
                raise
            # LXD from 5.21 and Incus answer 200 at once and later write the
            # end of the wait: a failed operation's error, or "context deadline
            # exceeded", as an error (lxd-6.9 lxd/operations.go operationWaitGet)
            done = lxd_operations.ended_wait(_operation_state(node), str(exc))
        error = lxd_operations.failure(done, time.monotonic() - started,
                                       self.timeouts["operation"], self.target)
        if error:
            raise CommandExecutionError(error)
        return done


def _operation_state(node):
    """An operation as LXD holds it now; None once LXD dropped it (a few
    seconds after it ended)."""
    try:
        return node.get().json()["metadata"]
    except pylxd.exceptions.NotFound:
        return None


def unix_socket_state(target):
    """``held`` when the daemon on unix socket ``target`` answers 503
    ("LXD daemon setup in progress"), else ``down``: pylxd reports any
    answer but 200 as "cannot connect"."""
    url = f"{pylxd.client.DEFAULT_SCHEME}{urllib.parse.quote(target, safe='')}/1.0"
    try:
        answer = pylxd.client.get_session_for_url(url).get(url, timeout=10)
    except requests.exceptions.RequestException:
        return "down"
    return "held" if answer.status_code == 503 else "down"
