"""What current daemons refuse in their trust store, pinned from the upstream
sources, and how the formula keeps clear of it (no daemon here runs them):

- A trusted certificate's type cannot change: canonical/lxd lxd-6.8 and
  lxd-6.9 ``lxd/certificates.go`` doCertificateUpdate (also lxd-5.0.9 and
  lxd-5.21.5; not lxd-5.0.2, lxd-5.21.0, lxd-6.1 .. lxd-6.7) answers a PATCH
  or PUT whose type differs with 403 "The certificate type cannot be
  changed"; lxc/incus v6.23.0 and v7.0.x ``cmd/incusd/certificates.go``
  doCertificateUpdate (commit 0670e76) with 400 and the same words.
- A certificate's name must not contain ``/`` nor start with ``-``:
  canonical/lxd lxd-6.2 .. lxd-6.9 (and lxd-5.21.7) ``lxd/certificates.go``
  certificatesPost (commit 8aa8361) answers 400 "Invalid certificate name
  %q, name must not start with a hyphen or contain forward slashes";
  Incus (v7.0.1) has no such rule.

The trust store below follows those handlers: a POST adds, a DELETE
removes, a PATCH changes name, restriction and projects, and refuses as
they do. The same states run against real LXD 5.0 and Incus 6.0 in
test/functional/test_access.py.
"""

import base64
import datetime
import hashlib
import importlib.util
from pathlib import Path

import lxd_certificates
import lxd_trust_plan
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from salt.exceptions import CommandExecutionError

REPO = Path(__file__).resolve().parents[2]
TYPE_REFUSAL = {"lxd": "403 Forbidden: The certificate type cannot be changed",
                "incus": "400 Bad Request: The certificate type cannot be changed"}


def make_pem(name):
    key = ec.generate_private_key(ec.SECP384R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
            .sign(key, hashes.SHA384()))
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def fingerprint(pem):
    body = "".join(line for line in pem.splitlines() if not line.startswith("-----"))
    return hashlib.sha256(base64.b64decode(body)).hexdigest()


class TrustStore:
    """/1.0/certificates as the handlers named above keep it."""

    def __init__(self, backend, fail_adds=0):
        self.backend = backend
        self.held = {}
        self.requests = []
        self.fail_adds = fail_adds

    def request(self, method, path, body=None, **_params):
        self.requests.append((method, path, dict(body or {})))
        if method == "POST":
            return self._post(body)
        fp = path.rsplit("/", 1)[-1]
        if method == "DELETE":
            del self.held[fp]
        elif method == "PATCH":
            if body["type"] != self.held[fp]["type"]:
                raise CommandExecutionError(f"LXD refused the request: "
                                            f"{TYPE_REFUSAL[self.backend]}")
            self.held[fp].update(body)
        return {}

    def _post(self, body):
        name = body["name"]
        if self.backend == "lxd" and (name.startswith("-") or "/" in name):
            raise CommandExecutionError(
                f"LXD refused the request: 400 Bad Request: Invalid certificate name {name!r}, "
                "name must not start with a hyphen or contain forward slashes")
        if self.fail_adds:
            self.fail_adds -= 1
            raise CommandExecutionError("LXD is not reachable at /var/lib/lxd/unix.socket")
        fp = fingerprint(body["certificate"])
        self.held[fp] = {key: body[key] for key in ("name", "type", "restricted", "projects")}
        self.held[fp]["fingerprint"] = fp
        return {}

    def listing(self, path, recursion=1):
        assert (path, recursion) == ("certificates", 1)
        return [dict(cert) for cert in self.held.values()]


def trust_module(store):
    spec = importlib.util.spec_from_file_location("lxd_trust", REPO / "_modules/lxd_trust.py")
    loaded = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(loaded)
    loaded.__salt__ = {
        "lxd.request": store.request,
        "lxd.query": store.listing,
        "lxd.certificate_fingerprint": fingerprint,
    }
    return loaded


@pytest.fixture(scope="module")
def pem():
    return make_pem("ci-runner")


def keep(trust, clients):
    plan = trust.plan(clients, metrics=True)
    trust.apply(plan["steps"])
    return plan["changes"]


@pytest.mark.parametrize("daemon", ["lxd", "incus"])
def test_a_type_change_is_a_removal_and_a_new_trust(daemon, pem):
    store = TrustStore(daemon)
    trust = trust_module(store)
    keep(trust, {"ci": {"cert": pem, "projects": ["default"]}})
    store.requests.clear()

    changes = keep(trust, {"ci": {"cert": pem, "projects": ["default"], "type": "metrics"}})
    fp = fingerprint(pem)
    assert changes == {"salt:ci": {
        "old": {"fingerprint": fp[:12], "type": "client", "projects": ["default"]},
        "new": {"fingerprint": fp[:12], "type": "metrics", "projects": ["default"]},
        "how": "type client -> metrics: removed and re-added"}}
    assert [request[:2] for request in store.requests] == [
        ("DELETE", f"certificates/{fp}"), ("POST", "certificates")]
    assert store.held[fp] == {"fingerprint": fp, "name": "salt:ci", "type": "metrics",
                              "restricted": True, "projects": ["default"]}
    assert trust.plan({"ci": {"cert": pem, "projects": ["default"], "type": "metrics"}},
                      metrics=True)["steps"] == []


def test_the_store_refuses_a_type_change_in_place_as_upstream_does(pem):
    # the rule the formula keeps clear of, as the handlers answer it
    for backend, refusal in TYPE_REFUSAL.items():
        store = TrustStore(backend)
        trust = trust_module(store)
        fp = trust._add_certificate("salt:ci", pem)
        with pytest.raises(CommandExecutionError, match=refusal):
            trust._update_certificate(fp, "salt:ci", type="metrics")


def test_other_changes_stay_in_place(pem):
    store = TrustStore("lxd")
    trust = trust_module(store)
    keep(trust, {"ci": {"cert": pem, "projects": ["default"]}})
    store.requests.clear()
    changes = keep(trust, {"ci": {"cert": pem}})
    assert "how" not in changes["salt:ci"]
    assert [request[0] for request in store.requests] == ["PATCH"]


def test_a_failed_new_trust_restores_the_old_one(pem):
    store = TrustStore("lxd")
    trust = trust_module(store)
    keep(trust, {"ci": {"cert": pem, "projects": ["default"]}})
    before = dict(store.held)
    store.fail_adds = 1
    with pytest.raises(CommandExecutionError, match="not reachable"):
        keep(trust, {"ci": {"cert": pem, "type": "metrics"}})
    assert store.held == before


@pytest.mark.parametrize(("name", "problem"), [
    ("ci/runner", "holds '/'"), ("-ci", "starts with '-'"), ("salt:a/b", "holds '/'")])
def test_a_name_lxd_refuses_is_refused_before_any_request(pem, name, problem):
    store = TrustStore("lxd")
    trust = trust_module(store)
    # as LXD >= 6.2 answers it
    with pytest.raises(CommandExecutionError, match="name must not start with a hyphen or "
                       "contain forward slashes"):
        store.request("POST", "certificates", {
            "name": name, "type": "client", "certificate": pem, "restricted": False,
            "projects": []})
    store.requests.clear()
    for refused in (lambda: trust._add_certificate(name, pem),
                    lambda: trust.issue_trust_token(name)):
        with pytest.raises(CommandExecutionError,
                           match=f"name: '{name}' {problem}: LXD refuses such"):
            refused()
    assert store.requests == []


def test_the_names_the_formula_gives_pass_the_rule():
    # a pillar key is prefixed: one starting with '-' makes a name LXD takes
    for key in ("ci-runner", "-ci", "ci.runner:2"):
        assert lxd_certificates.pillar_client_problem(key) is None
    assert lxd_certificates.name_problem(lxd_trust_plan.MINION_PREFIX + "ci1.example.net") is None
    assert "holds '/'" in lxd_certificates.pillar_client_problem("ci/runner")
