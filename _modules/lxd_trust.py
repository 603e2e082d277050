"""
LXD's trust store: the client certificates a daemon trusts.

What the LXD charm offers through its ``add-trusted-client`` action and its
``https`` relation, the Salt way:

- ``lxd:trust:clients`` in pillar, kept present or absent by the
  ``lxd_trust.clients_trusted`` state; each is trusted as ``salt:<name>``;
- client minions (``state.apply lxd.client``) publish their certificate in
  the mine (:py:func:`request`); the LXD hosts whose ``lxd:cluster:name``
  they ask for trust them as ``salt-minion:<minion id>`` and publish back
  their connection facts (:py:func:`connection_facts`, read by the clients
  with :py:func:`servers`);
- by hand: :py:func:`add`, :py:func:`token` and :py:func:`remove`.

Those name prefixes mark what the formula manages: a managed certificate
that is no longer wanted is removed; others are left alone.
"""

import os

import salt.utils.files
from salt.exceptions import CommandExecutionError, MinionError

try:  # installed as the saltext-lxd package
    from saltext.lxd.utils import (
        lxd_certificates,
        lxd_secrets,
        lxd_settings,
        lxd_trust_plan,
        lxd_trust_tokens,
    )
    from saltext.lxd.utils.lxd_names import MINE_CLIENT_REQUEST, MINE_SERVER
except ImportError:  # synced from _utils: Salt puts the utils directories on sys.path
    import lxd_certificates
    import lxd_secrets
    import lxd_settings
    import lxd_trust_plan
    import lxd_trust_tokens
    from lxd_names import MINE_CLIENT_REQUEST, MINE_SERVER

__virtualname__ = "lxd_trust"

PILLAR_PREFIX = lxd_trust_plan.PILLAR_PREFIX
MINION_PREFIX = lxd_trust_plan.MINION_PREFIX
# What the formula sets on a trusted certificate, compared on every run.
TRUST_FIELDS = ("name", "type", "restricted", "projects")
# How long a trust token lasts unless told otherwise: time enough to hand
# it to the client's operator, who uses it once.
TRUST_TOKEN_EXPIRY = "1d"
# Trust tokens expire after the server's core.remote_token_expiry (API
# extension remote_token_expiry; LXD and Incus): unset, they never do.
TOKEN_EXPIRY_KEY = "core.remote_token_expiry"
TOKEN_EXPIRY_EXTENSION = "remote_token_expiry"
# Where lxd_trust.token writes tokens, under the minion's cachedir
TOKEN_DIR = "lxd-trust-tokens"


def __virtual__():
    if "lxd.request" not in __salt__:
        return (False, "lxd_trust needs the lxd execution module (pylxd)")
    return __virtualname__


# ---------------------------------------------------------------- the daemon's trust store


def certificates():
    """
    Return the trusted certificates, by fingerprint.

    CLI Example:

    .. code-block:: bash

        salt '*' lxd_trust.certificates
    """
    listed = __salt__["lxd.query"]("certificates", recursion=1) or []
    return {cert["fingerprint"]: cert for cert in listed}


def _check_name(name):
    problem = lxd_certificates.name_problem(name)
    if problem:
        raise CommandExecutionError(
            f"name: {name!r} {problem}: LXD refuses such certificate names")


def _add_certificate(name, pem, type="client", restricted=False, projects=None):
    """Trust the PEM certificate ``pem`` as ``name``; ``restricted`` limits
    it to ``projects``. Returns its fingerprint. (:py:func:`add` is the
    operator's function.)"""
    _check_name(name)
    body = "".join(
        line for line in pem.strip().splitlines() if not line.startswith("-----")
    )
    __salt__["lxd.request"]("POST", "certificates", {
        "name": name, "type": type, "certificate": body,
        "restricted": restricted, "projects": projects or [],
    })
    return __salt__["lxd.certificate_fingerprint"](pem)


def _update_certificate(fingerprint, name, type="client", restricted=False, projects=None):
    """Set the name, type and project restriction of the trusted
    certificate ``fingerprint``."""
    __salt__["lxd.request"]("PATCH", f"certificates/{fingerprint}", {
        "name": name, "type": type, "restricted": restricted, "projects": projects or [],
    })
    return True


def _delete_certificate(fingerprint):
    """Stop trusting the certificate ``fingerprint`` (full, or a unique
    prefix). (:py:func:`remove` is the operator's function.)"""
    __salt__["lxd.request"]("DELETE", f"certificates/{fingerprint}")
    return True


def issue_trust_token(name, restricted=False, projects=None, expiry=TRUST_TOKEN_EXPIRY,
                      unmasked=False):
    """
    Create a trust token for a client ``name``, expiring within ``expiry``
    (an LXD expiry such as ``1H`` or ``1d 12H``, default a day), and return
    its ``name``, ``expires_at``, ``notes`` and ``token``, encoded as ``lxc
    config trust add`` prints it. The token is a secret, masked in the
    return unless ``unmasked``: ``lxd_trust.token`` keeps it in a
    root-only file instead.

    Trust tokens expire after the server's ``core.remote_token_expiry``:
    when that is unset or longer than ``expiry``, it is set to ``expiry``
    (said in ``notes``; it applies to every trust token issued after). A
    daemon without the API extension ``remote_token_expiry`` cannot expire
    them: ``expires_at`` is then None and ``notes`` says so.

    CLI Example:

    .. code-block:: bash

        salt-call lxd_trust.issue_trust_token laptop expiry=1H
    """
    _check_name(name)
    seconds = _expiry_seconds(expiry)
    __salt__["lxd.require_extension"]("certificate_token", "issue trust tokens")
    notes = _bound_token_expiry(expiry, seconds)
    # the token's operation runs until a client uses it: do not wait
    created = __salt__["lxd.request"]("POST", "certificates", {
        "name": name, "type": "client", "token": True,
        "restricted": restricted, "projects": projects or [],
    }, wait=False, unmasked=True)
    issued = lxd_trust_tokens.issued(name, created["metadata"], notes)
    return issued if unmasked else lxd_secrets.masked(issued)


def _expiry_seconds(expiry):
    """The longest time LXD expiry ``expiry`` can mean, in seconds."""
    try:
        return lxd_trust_tokens.expiry_seconds(expiry)
    except ValueError as exc:
        raise CommandExecutionError(str(exc)) from exc


def _bound_token_expiry(expiry, seconds):
    """Make the trust tokens this daemon issues from now on expire within
    ``expiry`` (``seconds`` at most); return notes on what was changed or
    could not be."""
    if not __salt__["lxd.has_api_extension"](TOKEN_EXPIRY_EXTENSION):
        return [
            f"this {__salt__['lxd.server_kind']()} cannot make trust tokens expire (it "
            f"lacks the API extension {TOKEN_EXPIRY_EXTENSION}): the token lasts until it "
            "is used or revoked (lxc config trust revoke-token)"
        ]
    current = __salt__["lxd.config_get"](TOKEN_EXPIRY_KEY)
    if current and lxd_settings.expiry_seconds(current) <= seconds:
        return []
    __salt__["lxd.config_set"](TOKEN_EXPIRY_KEY, expiry)
    return [f"{TOKEN_EXPIRY_KEY} set to {expiry} (was {current or 'unset: no expiry'}); "
            "every trust token issued from now on expires within it"]


def _load(cert=None, cert_url=None):
    """The PEM certificate given inline (``cert``) or at ``cert_url``
    (``https://``, ``http://`` or ``salt://``), normalised."""
    if bool(cert) == bool(cert_url):
        raise CommandExecutionError("give exactly one of cert and cert_url")
    if cert_url:
        try:
            cert = __salt__["cp.get_file_str"](cert_url)
        except MinionError as exc:
            raise CommandExecutionError(f"could not fetch {cert_url}: {exc}") from exc
        if not cert:
            raise CommandExecutionError(f"could not fetch a certificate from {cert_url}")
    try:
        return lxd_certificates.normalise_pem(cert)
    except ValueError as exc:
        raise CommandExecutionError(str(exc)) from exc


# ---------------------------------------------------------------- by hand


def trusted():
    """
    Return the trusted certificates, by fingerprint: name, type,
    restricted, projects (without the certificate itself).

    CLI Example:

    .. code-block:: bash

        salt '*' lxd_trust.trusted
    """
    return {
        fingerprint: {field: cert[field] for field in TRUST_FIELDS}
        for fingerprint, cert in certificates().items()
    }


def add(name, cert=None, cert_url=None, projects=None, type="client"):
    """
    Trust a client certificate (the charm's ``add-trusted-client`` action):
    ``cert`` (PEM, whitespace may be re-flowed) or ``cert_url``;
    ``projects`` restricts it to those projects (a list or comma-separated;
    absent: unrestricted; empty: no access). Returns the fingerprint. A
    certificate already trusted is left as it is, so that targeting every
    member of a cluster acts once.

    CLI Example:

    .. code-block:: bash

        salt lxd1 lxd_trust.add ci-runner cert="$(cat ci.crt)" projects=default,ci
    """
    pem = _load(cert, cert_url)
    fingerprint = __salt__["lxd.certificate_fingerprint"](pem)
    restricted, projects = lxd_trust_plan.projects(projects)
    try:
        _add_certificate(
            name, pem, type=type, restricted=restricted, projects=projects
        )
    except CommandExecutionError:
        # Run on every member of a cluster, one adds it for all: the
        # others find it there, which is what was asked.
        if fingerprint not in trusted():
            raise
    return fingerprint


def remove(fingerprint):
    """
    Stop trusting the certificate with this ``fingerprint`` (any form
    ``lxd_certificates.parse_fingerprint`` reads). Returns the removed certificate's
    full fingerprint and name.

    CLI Example:

    .. code-block:: bash

        salt lxd1 lxd_trust.remove 'sha256 Fingerprint=2E:9B:E1:9A:BE:68:96:EE'
    """
    try:
        wanted = lxd_certificates.parse_fingerprint(fingerprint)
    except ValueError as exc:
        raise CommandExecutionError(str(exc)) from exc
    matches = {fp: cert for fp, cert in trusted().items() if fp.startswith(wanted)}
    if len(matches) != 1:
        found = "none" if not matches else "several; give more digits"
        raise CommandExecutionError(f"no single trusted certificate {wanted}: {found}")
    ((full, cert),) = matches.items()
    _delete_certificate(full)
    return {"fingerprint": full, "name": cert["name"]}


def token(name, projects=None, expiry=TRUST_TOKEN_EXPIRY):
    """
    Create a trust token for a client called ``name`` (``lxc remote add``
    takes it), restricted to ``projects`` as :py:func:`add`, expiring
    within ``expiry`` (see :py:func:`issue_trust_token`). A token is a
    secret: it is written to a file only root can read on this minion
    (``<cachedir>/lxd-trust-tokens/<name>``), never returned; the return
    holds the file, ``expires_at`` and ``notes``. Refused when this server
    has no https listener (``lxd:listen:https``), or when ``name`` is not a
    plain file name.

    CLI Example:

    .. code-block:: bash

        salt lxd1 lxd_trust.token laptop projects=dev expiry=2H
    """
    path = _token_file(name)
    config = __salt__["lxd.config_get"]()
    addresses = [config.get(key) for key in ("core.https_address", "cluster.https_address")]
    if not any(addresses):
        raise CommandExecutionError(
            "this server has no https listener, so a client could not use a "
            "trust token: turn on lxd:listen:https first"
        )
    restricted, projects = lxd_trust_plan.projects(projects)
    issued = issue_trust_token(name, restricted=restricted, projects=projects,
                               expiry=expiry, unmasked=True)
    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    with salt.utils.files.fpopen(path, "w", mode=0o600) as handle:
        handle.write(issued["token"] + "\n")
    return {"name": name, "token_file": path, "expires_at": issued["expires_at"],
            "notes": issued["notes"]}


def _token_file(name):
    """The file :py:func:`token` writes the token of client ``name`` to;
    a name that would leave the token directory (or pass for an option) is
    refused."""
    name = str(name)
    directory = os.path.join(__opts__["cachedir"], TOKEN_DIR)
    problem = lxd_trust_tokens.file_name_problem(name)
    if problem:
        raise CommandExecutionError(
            f"name: {name!r} {problem}: a client's name is the token's file name "
            f"under {directory}"
        )
    return os.path.join(directory, name)


# ---------------------------------------------------------------- kept in pillar


def plan(clients=None, cluster=None, metrics=False, client_minions=None):
    """
    Return what keeping the trust store as wanted would change, without
    changing anything: :py:func:`plan_for` what :py:func:`wanted` says.
    Returns ``{"changes": {LXD name: {"old", "new"}}, "steps": [...],
    "notes": [...]}``; ``steps`` is what :py:func:`apply` runs. A
    certificate whose ``type`` changes is removed and added again (current
    daemons refuse to change it in place); its change says so (``how``).

    CLI Example:

    .. code-block:: bash

        salt lxd1 lxd_trust.plan "$(salt-call --out=json pillar.get lxd:trust:clients)"
    """
    return plan_for(wanted(clients, cluster, metrics, client_minions))


def wanted(clients=None, cluster=None, metrics=False, client_minions=None):
    """
    Return the certificates the formula wants trusted, from pillar and the
    mine, not from LXD: ``clients`` (``lxd:trust:clients``) and the client
    minions asking cluster ``cluster`` for trust that the rules
    ``client_minions`` (``lxd:trust:client_minions``) allow (the first
    rule by name that targets a minion); ``metrics`` says whether the
    metrics listener is on (certificates of type ``metrics`` are trusted
    only then). Returns
    ``{"certificates": {LXD name: {...}}, "unwanted": [fingerprints pillar
    revokes], "notes": [...]}``.

    CLI Example:

    .. code-block:: bash

        salt lxd1 lxd_trust.wanted "$(salt-call --out=json pillar.get lxd:trust:clients)"
    """
    minion_requests = _requests(cluster, client_minions) if cluster else {}
    certs, unwanted, notes = _wanted(clients or {}, minion_requests)
    for name in [name for name, entry in certs.items() if entry["type"] == "metrics"]:
        if not metrics:
            notes.append(f"{name}: a metrics certificate, trusted once lxd:listen:metrics is on")
            del certs[name]
    return {"certificates": certs, "unwanted": sorted(unwanted), "notes": notes}


def plan_for(wanted):
    """
    Return what bringing the trust store, as LXD holds it now, to
    ``wanted`` (what :py:func:`wanted` returns) would change, as
    :py:func:`plan` does.

    CLI Example:

    .. code-block:: bash

        salt lxd1 lxd_trust.plan_for "$(salt-call --out=json lxd_trust.wanted ...)"
    """
    return lxd_trust_plan.plan(wanted, certificates())


def apply(steps):
    """
    Run the ``steps`` of a :py:func:`plan`, in order. Returns the number of
    steps run.

    CLI Example:

    .. code-block:: bash

        salt lxd1 lxd_trust.apply "$(salt-call --out=json lxd_trust.plan ... | jq .steps)"
    """
    for action, name, old, entry in steps:
        if action == "remove":
            _delete_certificate(entry["fingerprint"])
        elif action == "add":
            _add_certificate(name, entry["pem"], **lxd_trust_plan.written(entry))
        elif action == "re-add":
            _readd(name, old, entry)
        else:
            _update_certificate(entry["fingerprint"], name, **lxd_trust_plan.written(entry))
    return len(steps)


def _readd(name, old, entry):
    """Trust ``entry``'s certificate again with another type: LXD >= 6.8
    (and 5.0.9, 5.21.5) and Incus >= 6.23 refuse to change a trusted
    certificate's type. When adding it back fails, it is trusted again as
    it was (``old``), and the error raised."""
    _delete_certificate(entry["fingerprint"])
    try:
        _add_certificate(name, entry["pem"], **lxd_trust_plan.written(entry))
    except CommandExecutionError:
        _add_certificate(old["name"], entry["pem"], **lxd_trust_plan.written(old))
        raise


def _wanted(clients, minion_requests):
    """The certificates wanted trusted, by LXD name; the fingerprints
    pillar wants gone (present: false); notes on what was skipped."""
    wanted, unwanted, notes, seen = {}, set(), [], {}
    sources = [
        (PILLAR_PREFIX + name, f"lxd:trust:clients:{name}", entry)
        for name, entry in sorted(clients.items())
    ] + [
        (MINION_PREFIX + minion, f"minion {minion}", entry)
        for minion, entry in sorted(minion_requests.items())
    ]
    for name, origin, entry in sources:
        present = entry.get("present", True)
        if not present and not (entry.get("cert") or entry.get("cert_url")):
            continue
        try:
            pem = _load(entry.get("cert") or entry.get("certificate"), entry.get("cert_url"))
        except CommandExecutionError as exc:
            raise CommandExecutionError(f"{origin}: {exc}") from exc
        fingerprint = __salt__["lxd.certificate_fingerprint"](pem)
        if not present:
            unwanted.add(fingerprint)
        elif fingerprint in unwanted and name.startswith(MINION_PREFIX):
            notes.append(f"{name}: its certificate is one lxd:trust:clients revokes, not trusted")
        elif fingerprint in seen:
            notes.append(f"{name}: same certificate as {seen[fingerprint]}, trusted once")
        else:
            seen[fingerprint] = name
            restricted, projects = lxd_trust_plan.projects(entry.get("projects"))
            wanted[name] = {
                "pem": pem, "fingerprint": fingerprint, "type": entry.get("type") or "client",
                "restricted": restricted, "projects": projects,
            }
    return wanted, unwanted - set(seen), notes


# ---------------------------------------------------------------- https relation


def _settings():
    """The formula's settings, merged by the shared layer."""
    return lxd_settings.minion_settings(__context__, __salt__)


def request():
    """
    Return what this client minion asks LXD hosts for (its mine entry
    ``lxd_client``): the cluster (``lxd:client:cluster``) and its
    certificate (read from ``lxd:client:cert``; the key stays on this
    minion). Its access is the hosts' to give (``lxd:trust:client_minions``).

    CLI Example:

    .. code-block:: bash

        salt ci1 lxd_trust.request
    """
    settings = _settings()["client"]
    with salt.utils.files.fopen(settings["cert"]) as handle:
        certificate = lxd_certificates.normalise_pem(handle.read())
    return {"cluster": settings["cluster"], "certificate": certificate}


def _requests(cluster, client_minions=None):
    """By minion id, the client minions that ask cluster ``cluster``
    (``lxd:cluster:name`` of the hosts) for trust and that a rule of
    ``client_minions`` (``lxd:trust:client_minions``) allows: the
    certificate from the minion's mine entry, the ``projects`` and ``type``
    from the rule (the first by name that targets it). The master matches
    each rule's target against minion ids; a minion no rule targets gets
    nothing, whatever it publishes."""
    allowed = {}
    for rule_name, rule in sorted((client_minions or {}).items()):
        published = __salt__["mine.get"](rule["target"], MINE_CLIENT_REQUEST,
                                         tgt_type=rule.get("tgt_type") or "glob")
        for minion, entry in sorted(published.items()):
            if minion in allowed or not isinstance(entry, dict):
                continue
            if entry.get("cluster") != cluster or not entry.get("certificate"):
                continue
            allowed[minion] = {"certificate": entry["certificate"], "rule": rule_name,
                               "type": rule.get("type") or "client"}
            if "projects" in rule:
                allowed[minion]["projects"] = rule["projects"]
    return allowed


def connection_facts():
    """
    Return what a client needs to connect to this LXD host (its mine entry
    ``lxd_server``, the charm's https relation answer): its cluster name,
    certificate (the cluster's, in a cluster) and fingerprint, and the
    addresses of its https and metrics listeners.

    CLI Example:

    .. code-block:: bash

        salt lxd1 lxd_trust.connection_facts
    """
    settings = _settings()
    server = __salt__["lxd.info"]()
    environment, config = server["environment"], server["config"]
    return {
        "cluster": settings["cluster"]["name"],
        "mode": settings["mode"],
        "certificate": environment["certificate"],
        "certificate_fingerprint": environment["certificate_fingerprint"],
        "addresses": environment.get("addresses") or [],
        "metrics_addresses": [config["core.metrics_address"]]
        if config.get("core.metrics_address") else [],
    }


def servers(cluster=None):
    """
    Return the connection facts of the LXD hosts of cluster ``cluster``
    (default: this client's ``lxd:client:cluster``), by minion id: only
    from minions the master's pillar places in that cluster
    (``lxd_certificates.hosts_target``), whatever other minions publish.

    CLI Example:

    .. code-block:: bash

        salt ci1 lxd_trust.servers
    """
    if cluster is None:
        cluster = _settings()["client"]["cluster"]
    published = __salt__["mine.get"](lxd_certificates.hosts_target(cluster), MINE_SERVER, tgt_type="compound")
    return {minion: facts for minion, facts in published.items() if isinstance(facts, dict)}


def forget_minion(minion):
    """
    Stop trusting client minion ``minion`` (the certificate trusted as
    ``salt-minion:<minion>``). Returns its fingerprint, or None when it was
    not trusted. The ``lxd_trust.on_key_deleted`` runner calls this.

    CLI Example:

    .. code-block:: bash

        salt lxd1 lxd_trust.forget_minion ci1
    """
    for fingerprint, cert in trusted().items():
        if cert["name"] == MINION_PREFIX + minion:
            _delete_certificate(fingerprint)
            return fingerprint
    return None
