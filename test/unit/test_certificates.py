"""Certificates and trust tokens as the trust store takes them
(_utils/lxd_certificates.py, _utils/lxd_trust_tokens.py), pure: the
fingerprint forms ``lxd_trust.remove`` reads, the hosts a client reads its
servers from, and a token as ``lxc config trust add`` prints it
(canonical/lxd ``shared/api/certificate.go`` CertificateAddToken:
client_name, fingerprint, addresses, secret, and expires_at on daemons
whose tokens expire)."""

import base64
import json

import lxd_certificates
import lxd_trust_tokens
import pytest

FINGERPRINT = "2e9be19abe6896ee" * 4


@pytest.mark.parametrize("given", [
    FINGERPRINT, FINGERPRINT.upper(),
    ":".join(FINGERPRINT[i:i + 2] for i in range(0, 64, 2)).upper(),
    "sha256 Fingerprint=" + ":".join(FINGERPRINT[i:i + 2] for i in range(0, 64, 2)),
    "SHA-256 fingerprint = 2E:9B:E1:9A", " 2e9be19a "])
def test_every_fingerprint_form_reads_as_lxd_writes_it(given):
    assert FINGERPRINT.startswith(lxd_certificates.parse_fingerprint(given))


@pytest.mark.parametrize("given", ["2e9be19", "not hex at all", "sha1 Fingerprint=2E:9B:E1:9A",
                                   FINGERPRINT + "00"])
def test_anything_else_is_no_fingerprint(given):
    with pytest.raises(ValueError, match="is not a SHA-256 fingerprint"):
        lxd_certificates.parse_fingerprint(given)


def test_a_client_reads_its_servers_from_the_hosts_the_master_places_in_its_cluster():
    assert lxd_certificates.hosts_target("prod") == "I@lxd:cluster:name:prod"


@pytest.mark.parametrize(("name", "problem"), [
    ("laptop", None), ("lap.top-2", None), ("..", "names a path"), ("a/b", "names a path"),
    ("", "names a path"), ("-rf", "starts with '-'"), ("lap\ttop", "control characters")])
def test_a_token_file_is_a_plain_file_name(name, problem):
    found = lxd_trust_tokens.file_name_problem(name)
    assert (found is None) if problem is None else (problem in found)


@pytest.mark.parametrize(("expiry", "seconds"), [("1H", 3600), ("1d 12H", 129600)])
def test_a_token_expiry_is_an_lxd_expiry(expiry, seconds):
    assert lxd_trust_tokens.expiry_seconds(expiry) == seconds
    with pytest.raises(ValueError, match="expiry: '1 day' is not an LXD expiry"):
        lxd_trust_tokens.expiry_seconds("1 day")


@pytest.mark.parametrize(("expires", "shown"), [
    ("2026-12-04T18:00:00Z", "2026-12-04T18:00:00Z"), ("0001-01-01T00:00:00Z", None),
    (None, None)])
def test_a_token_is_encoded_as_lxc_prints_it(expires, shown):
    grant = {"fingerprint": FINGERPRINT, "addresses": ["10.0.0.1:8443"], "secret": "s3cret"}
    if expires:
        grant["expiresAt"] = expires
    issued = lxd_trust_tokens.issued("laptop", grant, ["a note"])
    assert {key: issued[key] for key in ("name", "expires_at", "notes")} == {
        "name": "laptop", "expires_at": shown, "notes": ["a note"]}
    assert json.loads(base64.b64decode(issued["token"])) == {
        "client_name": "laptop", "fingerprint": FINGERPRINT, "addresses": ["10.0.0.1:8443"],
        "secret": "s3cret", "expires_at": expires or "0001-01-01T00:00:00Z"}
