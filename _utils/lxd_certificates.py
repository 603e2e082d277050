"""
Certificates as the trust store takes them: PEM text, fingerprints, the
names LXD accepts, and where a client finds the hosts that trust it.

Pure functions: they raise ValueError or return a problem (a string) or
None; the execution modules turn those into their errors.
"""

import base64
import re

try:  # installed as the saltext-lxd package
    from saltext.lxd.utils.lxd_trust_plan import PILLAR_PREFIX
except ImportError:  # synced from _utils: Salt puts the utils directories on sys.path
    from lxd_trust_plan import PILLAR_PREFIX

PEM_RE = re.compile(
    r"-----BEGIN CERTIFICATE-----(?P<body>.*?)-----END CERTIFICATE-----", re.DOTALL
)
FINGERPRINT_RE = re.compile(r"^[0-9a-f]{8,64}$")


def normalise_pem(text):
    """``text`` as a canonical PEM certificate. Whitespace inside it may
    have been re-flowed (a PEM pasted on one line, as ``cert=$(cat
    client.crt)`` gives): the base64 body is re-wrapped at 64 characters.
    Raises ValueError when it is not one parsable X.509 certificate."""
    if not isinstance(text, str):
        raise ValueError(f"must be a PEM certificate, not {type(text).__name__}")
    found = PEM_RE.findall(text)
    if len(found) != 1:
        raise ValueError(
            "not a PEM certificate (expected one -----BEGIN CERTIFICATE----- "
            f"block, found {len(found)})"
        )
    body = "".join(found[0].split())
    try:
        der = base64.b64decode(body, validate=True)
    except ValueError as exc:
        raise ValueError(f"not a PEM certificate: its body is not base64 ({exc})") from exc
    _parse_der(der)
    lines = [body[start:start + 64] for start in range(0, len(body), 64)]
    return "\n".join(
        ["-----BEGIN CERTIFICATE-----", *lines, "-----END CERTIFICATE-----", ""]
    )


def _parse_der(der):
    # cryptography comes with pylxd, which the lxd module needs anyway
    from cryptography import x509

    try:
        return x509.load_der_x509_certificate(der)
    except ValueError as exc:
        raise ValueError(f"not an X.509 certificate: {exc}") from exc


def parse_fingerprint(fingerprint):
    """A certificate fingerprint as LXD writes it (lowercase hex), from
    that form, a colon-separated one, or ``openssl x509 -fingerprint``'s
    ``sha256 Fingerprint=AB:CD:...``; a unique prefix of 8 or more digits
    is enough. Raises ValueError for anything else."""
    text = str(fingerprint).strip()
    text = re.sub(r"^sha-?256\s+fingerprint\s*=\s*", "", text, flags=re.IGNORECASE)
    text = text.replace(":", "").lower()
    if not FINGERPRINT_RE.match(text):
        raise ValueError(
            f"{fingerprint!r} is not a SHA-256 fingerprint (hex, optionally with "
            "colons or openssl's 'sha256 Fingerprint=' prefix; at least 8 digits)"
        )
    return text


def name_problem(name):
    """Why LXD would refuse ``name`` for a trusted certificate, or None.
    LXD 5.21.7 and 6.2 and later refuse a name that starts with ``-`` or
    holds ``/`` (``lxd/certificates.go``, certificatesPost); Incus takes
    them, but a name the formula writes must work on every daemon it
    supports."""
    if not isinstance(name, str):
        return f"is {type(name).__name__}, not a string"
    if name.startswith("-"):
        return "starts with '-'"
    if "/" in name:
        return "holds '/'"
    return None


def pillar_client_problem(key):
    """Why the entry ``key`` of ``lxd:trust:clients`` cannot name a
    certificate (trusted as ``salt:<key>``), or None."""
    if not isinstance(key, str):
        return f"a client's name must be a string, not {type(key).__name__} ({key!r})"
    problem = name_problem(PILLAR_PREFIX + key)
    if problem:
        return (f"it would be trusted as {PILLAR_PREFIX + key!r}, which {problem}: "
                "LXD refuses such certificate names")
    return None


def hosts_target(cluster):
    """The target of the LXD hosts of cluster ``cluster``, whose connection
    facts (certificate, addresses) a client reads, as the master's pillar
    places them: ``lxd:cluster:name`` set to it, ``default`` included (a
    host that leaves it to the default is not found). The master matches
    it, not the minions."""
    return f"I@lxd:cluster:name:{cluster}"
