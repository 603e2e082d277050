"""Access to a real daemon (LXD and Incus): trusted clients (by hand and kept from
pillar), trust tokens, listeners and proxy settings."""

import base64
import contextlib
import datetime
import functools
import http.server
import json
import os
import socket
import stat
import threading
import urllib.parse
from pathlib import Path

import lxd_certificates
import pytest
import requests
import urllib3
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from salt.exceptions import CommandExecutionError

from test.support.formula import use_settings

urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)
pytestmark = pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")


def make_client(directory, name):
    """A client key and self-signed certificate, as `lxc` makes them."""
    key = ec.generate_private_key(ec.SECP384R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject).issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .sign(key, hashes.SHA384())
    )
    cert_path, key_path = directory / f"{name}.crt", directory / f"{name}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    ))
    fingerprint = cert.fingerprint(hashes.SHA256()).hex()
    return {"cert": str(cert_path), "key": str(key_path), "pem": cert_path.read_text(),
            "fingerprint": fingerprint}


@pytest.fixture
def client(tmp_path):
    return make_client(tmp_path, "ci-runner")


@pytest.fixture
def cert_server(tmp_path):
    """An http server for cert_url, serving tmp_path."""
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=tmp_path)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


@pytest.fixture
def trust(loaders):
    return loaders.modules.lxd_trust


def https_get(daemon, client, path, port=8443):
    response = requests.get(
        f"https://{daemon.address}:{port}{path}",
        cert=(client["cert"], client["key"]), verify=False, timeout=10,
    )
    return response.status_code, response.json() if response.content[:1] == b"{" else None


def trusted_names(daemon):
    return {
        cert["fingerprint"]: (cert["name"], cert["type"], cert["restricted"],
                              cert["projects"])
        for cert in daemon.query("/1.0/certificates?recursion=1")
    }


# ---------------------------------------------------------------- by hand


def test_pem_reflowed_on_one_line_is_accepted(client):
    one_line = " ".join(client["pem"].split())
    assert lxd_certificates.normalise_pem(one_line) == client["pem"]
    with pytest.raises(ValueError, match="not a PEM certificate"):
        lxd_certificates.normalise_pem("hello")
    broken = client["pem"].replace(client["pem"].splitlines()[3], "A" * 64)
    with pytest.raises(ValueError):
        lxd_certificates.normalise_pem(broken)


@pytest.mark.parametrize("form", ["plain", "colons", "openssl", "prefix"])
def test_remove_accepts_every_fingerprint_form(trust, client, lxd_daemon, form):
    fingerprint = client["fingerprint"]
    pairs = ":".join(fingerprint[i:i + 2] for i in range(0, 64, 2)).upper()
    given = {"plain": fingerprint, "colons": pairs,
             "openssl": f"sha256 Fingerprint={pairs}", "prefix": fingerprint[:12]}[form]
    assert trust.add("ci-runner", cert=client["pem"]) == fingerprint
    assert trust.remove(given) == {"fingerprint": fingerprint, "name": "ci-runner"}
    assert trusted_names(lxd_daemon) == {}


def test_added_client_restricted_to_a_project_sees_only_it(trust, client, lxd_daemon):
    lxd_daemon.lxc("project", "create", "other")
    lxd_daemon.lxc("config", "set", "core.https_address", f"{lxd_daemon.address}:8443")
    trust.add("ci-runner", cert=" ".join(client["pem"].split()), projects="default")
    assert trusted_names(lxd_daemon)[client["fingerprint"]] == (
        "ci-runner", "client", True, ["default"])
    status, body = https_get(lxd_daemon, client, "/1.0/projects")
    assert status == 200 and body["metadata"] == ["/1.0/projects/default"]
    status, _ = https_get(lxd_daemon, client, "/1.0/instances?project=default")
    assert status == 200
    status, body = https_get(lxd_daemon, client, "/1.0/instances?project=other")
    # Incus 6.0 answers a denied project with an error 500 of its own words
    if lxd_daemon.backend == "incus":
        assert (status, body["error"]) == (
            500, 'User does not have permissions for project "other"')
    else:
        assert status == 403, json.dumps(body)


def test_trust_token_needs_the_https_listener_and_stays_secret(trust, lxd_daemon, loaders):
    with pytest.raises(Exception, match="no https listener"):
        trust.token("laptop")
    assert lxd_daemon.query("/1.0/certificates?recursion=1") == []
    lxd_daemon.lxc("config", "set", "core.https_address", f"{lxd_daemon.address}:8443")
    loaders.context.clear()  # a new job: not what the first call's connection read
    result = trust.token("laptop", projects=["default"])
    assert set(result) == {"name", "token_file", "expires_at", "notes"}
    path = result["token_file"]
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    token = json.loads(base64.b64decode(Path(path).read_text()))
    assert token["client_name"] == "laptop"
    assert token["addresses"] == [f"{lxd_daemon.address}:8443"]
    assert "laptop" in lxd_daemon.lxc("config", "trust", "list-tokens")
    assert result["expires_at"] == token["expires_at"]


def token_operations(daemon):
    """The pending trust tokens' operations, by client name."""
    running = daemon.query("/1.0/operations?recursion=1").get("running", [])
    return {op["metadata"]["request"]["name"]: op for op in running if op["class"] == "token"}


def time_left(expires_at):
    expires = datetime.datetime.fromisoformat(expires_at[:19]).replace(tzinfo=datetime.UTC)
    return expires - datetime.datetime.now(datetime.UTC)


def test_trust_tokens_expire_and_are_masked_in_returns_unless_asked(trust, lxd_daemon,
                                                                     loaders):
    lxd_daemon.lxc("config", "set", "core.https_address", f"{lxd_daemon.address}:8443")
    assert "core.remote_token_expiry" not in lxd_daemon.query("/1.0")["config"]

    issued = trust.issue_trust_token("laptop", expiry="2H")

    secret = token_operations(lxd_daemon)["laptop"]["metadata"]["secret"]
    assert issued["token"] == "********" and secret not in json.dumps(issued)
    # the daemon's tokens never expired: now they do, within what was asked
    assert datetime.timedelta(minutes=119) < time_left(issued["expires_at"]) <= (
        datetime.timedelta(hours=2))
    assert lxd_daemon.query("/1.0")["config"]["core.remote_token_expiry"] == "2H"
    assert issued["notes"] == ["core.remote_token_expiry set to 2H (was unset: no expiry); "
                               "every trust token issued from now on expires within it"]
    assert secret not in json.dumps(loaders.modules.lxd.query("operations", recursion=1))

    # a shorter expiry set by hand is kept
    lxd_daemon.lxc("config", "set", "core.remote_token_expiry", "30M")
    loaders.context.clear()  # a new job: not what the first call's connection read
    unmasked = trust.issue_trust_token("tablet", expiry="2H", unmasked=True)
    token = json.loads(base64.b64decode(unmasked["token"]))
    assert token["secret"] == token_operations(lxd_daemon)["tablet"]["metadata"]["secret"]
    assert unmasked["notes"] == [] and time_left(token["expires_at"]) <= (
        datetime.timedelta(minutes=30))
    assert lxd_daemon.query("/1.0")["config"]["core.remote_token_expiry"] == "30M"


# ---------------------------------------------------------------- from pillar


def test_clients_trusted_from_pillar(loaders, lxd_daemon, tmp_path, client, cert_server):
    state = loaders.states.lxd_trust.clients_trusted
    other = make_client(tmp_path, "dashboard")
    scraper = make_client(tmp_path, "scraper")
    by_hand = make_client(tmp_path, "by-hand")
    lxd_daemon.trust_certificate(by_hand["cert"])
    clients = {
        "ci-runner": {"cert": " ".join(client["pem"].split()), "projects": ["default"]},
        "dashboard": {"cert_url": f"{cert_server}/dashboard.crt"},
        "scraper": {"cert": scraper["pem"], "type": "metrics"},
    }
    before = trusted_names(lxd_daemon)
    dry = state("trust", clients=clients, test=True)
    assert dry.result is None
    assert dry.changes == {
        "salt:ci-runner": {"old": None, "new": {
            "fingerprint": client["fingerprint"][:12], "type": "client",
            "projects": ["default"]}},
        "salt:dashboard": {"old": None, "new": {
            "fingerprint": other["fingerprint"][:12], "type": "client",
            "projects": "all projects"}},
    }
    assert "scraper" in dry.comment and "listen:metrics" in dry.comment
    assert trusted_names(lxd_daemon) == before

    assert state("trust", clients=clients).result is True
    names = trusted_names(lxd_daemon)
    assert names[client["fingerprint"]] == ("salt:ci-runner", "client", True, ["default"])
    assert names[other["fingerprint"]] == ("salt:dashboard", "client", False, [])
    again = state("trust", clients=clients)
    assert again.result is True and again.changes == {}

    clients["ci-runner"]["projects"] = []
    del clients["dashboard"]
    changed = state("trust", clients=clients)
    assert set(changed.changes) == {"salt:ci-runner", "salt:dashboard"}
    names = trusted_names(lxd_daemon)
    assert names[client["fingerprint"]] == ("salt:ci-runner", "client", True, [])
    assert other["fingerprint"] not in names
    assert by_hand["fingerprint"] in names          # not the formula's: left alone

    gone = state("trust", clients={"ci-runner": {"cert": client["pem"], "present": False},
                                   "old-hand": {"cert": by_hand["pem"], "present": False}})
    assert gone.result is True
    assert trusted_names(lxd_daemon) == {}


def test_metrics_certificate_trusted_while_the_listener_is_on(
        loaders, lxd_daemon, client, tmp_path):
    state = loaders.states.lxd_trust.clients_trusted
    clients = {"prometheus": {"cert": client["pem"], "type": "metrics"}}
    loaders.states.lxd.listening(
        "listeners", listeners={"metrics": True, "https": True},
        addresses={"metrics": lxd_daemon.address, "https": lxd_daemon.address})
    stranger = make_client(tmp_path, "stranger")
    assert https_get(lxd_daemon, client, "/1.0/metrics", port=9100)[0] == 403
    assert state("trust", clients=clients, metrics=True).result is True
    assert trusted_names(lxd_daemon)[client["fingerprint"]][:2] == (
        "salt:prometheus", "metrics")
    assert https_get(lxd_daemon, client, "/1.0/metrics", port=9100)[0] == 200
    assert https_get(lxd_daemon, stranger, "/1.0/metrics", port=9100)[0] == 403
    # metrics only: the REST API stays closed to it
    assert https_get(lxd_daemon, client, "/1.0/instances")[0] == 403
    assert state("trust", clients=clients, metrics=False).result is True
    assert trusted_names(lxd_daemon) == {}


def test_a_type_change_removes_and_re_adds_the_certificate(loaders, lxd_daemon, client):
    # LXD >= 6.8 and Incus >= 6.23 refuse a type change in place
    # (test/unit/test_trust_rules.py); done the same way on every daemon
    state = loaders.states.lxd_trust.clients_trusted
    shown = {"fingerprint": client["fingerprint"][:12], "projects": ["default"]}
    as_client = {"ci-runner": {"cert": client["pem"], "projects": ["default"]}}
    as_metrics = {"ci-runner": dict(as_client["ci-runner"], type="metrics")}
    assert state("trust", clients=as_client, metrics=True).result is True
    before = trusted_names(lxd_daemon)

    dry = state("trust", clients=as_metrics, metrics=True, test=True)
    assert dry.result is None
    assert dry.changes == {"salt:ci-runner": {
        "old": dict(shown, type="client"), "new": dict(shown, type="metrics"),
        "how": "type client -> metrics: removed and re-added"}}
    assert trusted_names(lxd_daemon) == before

    done = state("trust", clients=as_metrics, metrics=True)
    assert done.result is True and done.changes == dry.changes
    assert trusted_names(lxd_daemon) == {
        client["fingerprint"]: ("salt:ci-runner", "metrics", True, ["default"])}
    again = state("trust", clients=as_metrics, metrics=True)
    assert again.result is True and again.changes == {}

    back = state("trust", clients=as_client, metrics=True)
    assert back.changes["salt:ci-runner"]["how"] == (
        "type metrics -> client: removed and re-added")
    assert trusted_names(lxd_daemon) == before


def test_bad_certificate_changes_nothing(loaders, lxd_daemon, client, cert_server):
    state = loaders.states.lxd_trust.clients_trusted
    clients = {"good": {"cert": client["pem"]},
               "bad": {"cert_url": f"{cert_server}/missing.crt"}}
    result = state("trust", clients=clients)
    assert result.result is False
    assert "lxd:trust:clients:bad" in result.comment
    assert trusted_names(lxd_daemon) == {}


def test_bad_certificate_in_pillar_fails_validation(loaders):
    errors = loaders.modules.lxd_pillar.validate(
        {"trust": {"clients": {"ci": {"cert": "-----BEGIN CERTIFICATE-----\nxx"}}}},
        check_daemon=False,
    )
    assert errors == [
        "lxd:trust:clients:ci:cert: not a PEM certificate (expected one "
        "-----BEGIN CERTIFICATE----- block, found 0)"
    ]


# ---------------------------------------------------------------- listeners


def listening_on(address, port):
    with socket.socket() as probe:
        probe.settimeout(2)
        return probe.connect_ex((address, port)) == 0


def test_listeners_bind_and_unbind(loaders, lxd_daemon):
    state = loaders.states.lxd.listening
    on = {"https": True, "metrics": True, "dns": True, "bgp": True}
    addresses = {"https": lxd_daemon.address, "metrics": f"{lxd_daemon.address}:9101",
                 "dns": f"{lxd_daemon.address}:5353", "bgp": f"{lxd_daemon.address}:1179"}
    dry = state("listeners", listeners=on, addresses=addresses, test=True)
    assert dry.result is None
    assert dry.changes["core.https_address"] == {
        "old": None, "new": f"{lxd_daemon.address}:8443"}
    assert not listening_on(lxd_daemon.address, 8443)

    assert state("listeners", listeners=on, addresses=addresses).result is True
    config = lxd_daemon.query("/1.0")["config"]
    assert config["core.metrics_address"] == f"{lxd_daemon.address}:9101"
    assert config["core.dns_address"] == f"{lxd_daemon.address}:5353"
    assert config["core.bgp_address"] == f"{lxd_daemon.address}:1179"
    for port in (8443, 9101, 5353):
        assert listening_on(lxd_daemon.address, port), port
    assert state("listeners", listeners=on, addresses=addresses).changes == {}

    off = state("listeners", listeners={}, addresses=addresses)
    assert set(off.changes) == {"core.https_address", "core.metrics_address",
                                "core.dns_address", "core.bgp_address"}
    for port in (8443, 9101, 5353):
        assert not listening_on(lxd_daemon.address, port), port


def test_listener_ipv6_is_bracketed(loaders, lxd_daemon):
    result = loaders.states.lxd.listening(
        "listeners", listeners={"https": True}, addresses={"https": "0:0:0:0:0:0:0:1"})
    assert result.result is True
    assert lxd_daemon.query("/1.0")["config"]["core.https_address"] == "[::1]:8443"


def test_listener_without_its_api_extension_fails_clearly(loaders, lxd_daemon, monkeypatch):
    lxd = loaders.modules.lxd
    # An LXD older than the BGP listener, the only way to have one here: the
    # server information this run read lacks the extension.
    lxd.api_extensions()
    read = loaders.context["lxd.reads"][lxd.endpoint()]["/1.0"]
    monkeypatch.setitem(read, "api_extensions",
                        [ext for ext in read["api_extensions"] if ext != "network_bgp"])
    with pytest.raises(CommandExecutionError, match="lxd:listen:bgp.*network_bgp"):
        loaders.modules.lxd_server.listener_config(
            {"https": True, "bgp": True},
            {"https": lxd_daemon.address, "bgp": lxd_daemon.address})


def test_bad_address_fails_validation_and_changes_nothing(loaders):
    errors = loaders.modules.lxd_pillar.validate(
        {"listen": {"https": True}, "addresses": {"https": "10.9.9.0/24"}},
        check_daemon=False,
    )
    assert errors == ["lxd:addresses:https: no local address in 10.9.9.0/24"]
    errors = loaders.modules.lxd_pillar.validate(
        {"addresses": {"dns": "[fe80::zz]:53"}}, check_daemon=False)
    assert errors == ["lxd:addresses:dns: '[fe80::zz]:53' is not an IP address"]


# ---------------------------------------------------------------- proxy


def test_proxy_from_pillar_then_unset(loaders, lxd_daemon):
    state = loaders.states.lxd.proxied
    result = state("proxy", http="http://proxy.example.net:3128",
                   https="http://proxy.example.net:3128", no_proxy=["localhost", ".lan"])
    assert result.result is True
    config = lxd_daemon.query("/1.0")["config"]
    assert config["core.proxy_http"] == "http://proxy.example.net:3128"
    assert config["core.proxy_ignore_hosts"] == "localhost,.lan"
    assert state("proxy", http="http://proxy.example.net:3128",
                 https="http://proxy.example.net:3128",
                 no_proxy="localhost,.lan").changes == {}
    assert state("proxy", http="", https="", no_proxy="").result is True
    config = lxd_daemon.query("/1.0")["config"]
    assert not {"core.proxy_http", "core.proxy_https", "core.proxy_ignore_hosts"} & set(config)


@contextlib.contextmanager
def minion_proxy(loaders, **settings):
    """The minion's own proxy options (its configuration's ``proxy_*``)."""
    loaders.opts.update(settings)
    try:
        yield
    finally:
        for key in settings:
            loaders.opts.pop(key)
        loaders.opts["no_proxy"] = []


def test_proxy_defaults_to_the_minions_own(loaders, lxd_daemon):
    with minion_proxy(loaders, proxy_host="proxy.lan", proxy_port=3128, proxy_username="salt",
                      proxy_password="pr0xy-pass", no_proxy=["localhost"]):
        result = loaders.states.lxd.proxied("proxy")
    assert result.result is True
    assert "pr0xy-pass" not in repr(result)
    assert result.changes["core.proxy_http"]["new"] == "http://salt:********@proxy.lan:3128"
    config = lxd_daemon.query("/1.0")["config"]
    assert config["core.proxy_https"] == "http://salt:pr0xy-pass@proxy.lan:3128"
    assert config["core.proxy_ignore_hosts"] == "localhost"
    # what the module shows of the server hides the password too
    lxd = loaders.modules.lxd
    assert lxd.config_get("core.proxy_https") == "http://salt:********@proxy.lan:3128"
    assert "pr0xy-pass" not in repr(lxd.info(refresh=True))
    assert lxd.config_get("core.proxy_https", unmasked=True) == config["core.proxy_https"]


def test_a_minion_proxy_password_is_quoted_for_lxd_and_never_shown(loaders, lxd_daemon):
    password = "p/a@ss:w#rd?"
    with minion_proxy(loaders, proxy_host="http://proxy.lan", proxy_port=3128,
                      proxy_username="salt@corp", proxy_password=password):
        result = loaders.states.lxd.proxied("proxy")
    assert result.result is True, result
    config = lxd_daemon.query("/1.0")["config"]
    assert config["core.proxy_http"] == (
        "http://salt%40corp:p%2Fa%40ss%3Aw%23rd%3F@proxy.lan:3128")
    assert result.changes["core.proxy_http"]["new"] == "http://salt%40corp:********@proxy.lan:3128"
    lxd = loaders.modules.lxd
    shown = repr(result) + repr(lxd.info(refresh=True)) + repr(lxd.config_get())
    for form in (password, urllib.parse.quote(password, safe=""), "p/a", "w#rd"):
        assert form not in shown


def test_proxy_error_is_reported_not_raised(loaders, tmp_path):
    use_settings(loaders, {"connection": {"socket": str(tmp_path / "none.socket")}})
    result = loaders.states.lxd.proxied("proxy", http="http://proxy:3128")
    assert result.result is False
    assert "not reachable" in result.comment
