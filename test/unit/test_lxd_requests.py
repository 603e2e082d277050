"""How the lxd module chooses its daemon and reads LXD's answers: pure
functions of _utils/lxd_connection and _utils/lxd_operations, and the
errors _utils/lxd_pylxd reports. Answers and
operation states as LXD writes them (lxd-6.9 shared/api/response.go,
shared/api/operation.go, shared/api/status_code.go)."""

import lxd_connection
import lxd_operations
import lxd_pylxd
import pytest
import requests
from salt.exceptions import CommandExecutionError

INCUS_SOCKETS = ("/var/lib/incus/unix.socket", "/run/incus/unix.socket")


def settings(**given):
    return lxd_connection.connection_settings(given)


def test_connection_settings_default_to_a_verified_local_daemon():
    assert lxd_connection.connection_settings(None) == {
        "url": None, "socket": None, "cert": None, "key": None, "verify": True}
    assert settings(verify="/etc/lxd/server.crt")["verify"] == "/etc/lxd/server.crt"


def test_the_endpoint_is_the_url_then_the_socket_then_the_backends_own():
    never = lambda path: False  # noqa: E731
    assert lxd_connection.endpoint(settings(url="https://lxd1:8443", socket="/s"), "lxd",
                                   {}, never) == "https://lxd1:8443"
    assert lxd_connection.endpoint(settings(socket="/s"), "lxd", {}, never) == "/s"
    assert lxd_connection.endpoint(settings(), "incus", {"INCUS_DIR": "/srv/incus",
                                                         "LXD_DIR": "/srv/lxd"},
                                   never) == "/srv/incus/unix.socket"
    assert lxd_connection.endpoint(settings(), "incus", {},
                                   INCUS_SOCKETS[1].__eq__) == INCUS_SOCKETS[1]
    assert lxd_connection.endpoint(settings(), "incus", {}, never) == INCUS_SOCKETS[0]
    assert lxd_connection.endpoint(settings(), "lxd", {}, never) == "/var/lib/lxd/unix.socket"
    assert lxd_connection.endpoint(settings(), "other", {}, never) == "/var/lib/lxd/unix.socket"


def test_a_client_certificate_only_over_https():
    assert lxd_connection.client_cert(settings(cert="c", key="k")) is None
    assert lxd_connection.client_cert(settings(url="https://h:8443")) is None
    assert lxd_connection.client_cert(settings(url="https://h:8443", cert="c", key="k")) == (
        "c", "k")


def test_backend_drift_names_both_daemons():
    assert lxd_connection.backend_drift("incus", "incus", "/s") == []
    [error] = lxd_connection.backend_drift("lxd", "incus", "/s")
    assert error.startswith("lxd:backend: the daemon at /s is lxd, not incus ")


def test_requests_go_to_the_path_with_their_body():
    assert lxd_operations.path_parts("/cluster/members/lxd4/") == ["cluster", "members", "lxd4"]
    assert lxd_operations.path_parts("") == []
    assert lxd_operations.payload({"config": {}}) == {"json": {"config": {}}}
    assert lxd_operations.payload(None, (b"tar", {"X": "1"})) == {
        "data": b"tar", "headers": {"X": "1"}}


def test_an_async_answer_names_its_operation():
    assert lxd_operations.operation_id(
        {"type": "async", "operation": "/1.0/operations/66e8-4f"}) == "66e8-4f"
    assert lxd_operations.operation_id({"type": "sync", "metadata": {}}) is None


def test_an_operation_succeeds_fails_or_is_still_going_on():
    assert lxd_operations.failure({"status": "Success"}, 1, 60, "/s") is None
    assert lxd_operations.failure({"status": "Failure", "err": "no space"}, 1, 60, "/s") == (
        "LXD refused the request: no space")
    assert lxd_operations.failure({"status": "Cancelled"}, 1, 60, "/s") == (
        "LXD refused the request: Cancelled")
    running = {"status": "Running", "description": "Creating instance"}
    assert lxd_operations.failure(running, 60.2, 60, "/s") == (
        "LXD at /s did not finish 'Creating instance' within 60 s (lxd:timeouts:operation): "
        "it is Running and goes on in the background")
    assert "(LXD ended the wait after 5 s of 60 s)" in lxd_operations.failure(
        dict(running, status="Pending"), 5.2, 60, "/s")


def test_a_wait_lxd_ended_reports_the_operation_or_the_error():
    assert lxd_operations.ended_wait({"status": "Running"}, "deadline") == {"status": "Running"}
    assert lxd_operations.ended_wait(None, "deadline") == {"status": "Failure", "err": "deadline"}


def test_what_a_request_raised_names_the_daemon_and_the_bound(tmp_path):
    late = lxd_pylxd.api_error(requests.exceptions.ReadTimeout("slow"), "/s", 30)
    assert str(late) == "LXD at /s did not answer within 30 s (lxd:timeouts:request): slow"
    gone = lxd_pylxd.api_error(requests.exceptions.ConnectionError("refused"), "/s", 30)
    assert str(gone) == "LXD is not reachable at /s: refused"
    missing = str(tmp_path / "unix.socket")
    with pytest.raises(CommandExecutionError, match="no unix socket at"):
        lxd_pylxd.connect(missing, settings(), 30)
    assert lxd_pylxd.unix_socket_state(missing) == "down"
