"""
What is secret, the one definition every report, return, log and debug
bundle masks by: the server, instance and profile keys whose values are
secrets, and the password of a URL with credentials (a proxy's).

Pure functions: the execution modules and states mask what they show with
:py:func:`masked` (data) and :py:func:`masked_text` (YAML as the ``lxc``
client prints it).
"""

import re

# Keys whose values are secrets, by their last word
# (core.trust_password, oidc.client.secret, bgp.peers.<peer>.password, a
# token operation's secret). Not a key that merely mentions one
# (cluster.join_token_expiry).
SECRET_WORDS = ("password", "secret", "token")
# ... by how they end: keys proving an identity (network.ovn.client_key,
# Incus 7's storage.linstor.client_key and its TrueNAS pools'
# truenas.api_key, a *.private_key)
SECRET_ENDINGS = ("private_key", "client_key", "api_key")
# ... by what they start with: Loki's credentials, and what an instance or
# profile hands its guest (cloud-init data, environment variables), where
# passwords and keys are commonly put
SECRET_PREFIXES = ("loki.auth.", "cloud-init.", "environment.")
# ... and by their whole name: the same for older names, credentials of a
# DNS provider, and Incus 7's TPM platform CA private key
SECRET_KEYS = ("maas.api.key", "acme.provider.environment", "instances.tpm.platform_key",
               "user.user-data", "user.vendor-data", "user.network-config")
MASK = "********"
# A `key: value` line of YAML as the lxc client prints it (lxc info,
# lxc config show), a list item's first key included
YAML_KEY_LINE = re.compile(r"^(?P<lead>\s*(?:- )?)(?P<key>[^\s:#'\"][^:\s]*):(?:\s(?P<value>.*))?$")


def masked(data, key=""):
    """
    Return ``data`` with the value of every secret key masked, and the
    password of every URL with credentials (a proxy's), at any depth: what
    state output, ``info``, ``config_get``, ``query``, ``request`` and
    debug bundles show. Secret keys are those whose last word names a
    secret (``password``, ``secret``, ``token``), keys ending in
    ``private_key`` or ``client_key``, ``loki.auth.*``, an instance's or
    profile's ``cloud-init.*``, ``environment.*``, ``user.user-data``,
    ``user.vendor-data`` and ``user.network-config``, and
    ``acme.provider.environment``. Keys that only mention a secret
    (``cluster.join_token_expiry``) are shown.
    """
    if isinstance(data, dict):
        # below a secret's key (a change {old, new} of one), all is secret
        return {name: masked(value, key if _secret(key) else name)
                for name, value in data.items()}
    if isinstance(data, list):
        return [masked(value, key) for value in data]
    return _mask(key, data)


def masked_text(text):
    """
    Return ``text`` (YAML as the ``lxc`` client prints it, e.g. in the
    snap's ``lxd.buginfo``) with the value of every ``key: value`` line
    whose key is a secret (as :py:func:`masked` decides) masked, with
    every line below it that is indented deeper (a block scalar such as
    ``cloud-init.user-data: |``, a wrapped value) left out, and the
    password of the URL a value holds masked.
    """
    shown, hiding_below = [], None
    for line in text.splitlines(keepends=True):
        indent = len(line) - len(line.lstrip())
        if hiding_below is not None and (not line.strip() or indent > hiding_below):
            continue
        hiding_below = None
        content = line.rstrip("\n")
        found = YAML_KEY_LINE.match(content)
        if found:
            if _secret(found["key"]):
                hiding_below = len(found["lead"])
            if found["value"]:
                masked_value = _mask(found["key"], found["value"])
                line = f"{found['lead']}{found['key']}: {masked_value}{line[len(content):]}"
        shown.append(line)
    return "".join(shown)


def _secret(key):
    key = str(key)
    return (key in SECRET_KEYS or key.endswith(SECRET_ENDINGS)
            or key.startswith(SECRET_PREFIXES)
            or re.split(r"[._-]", key)[-1].lower() in SECRET_WORDS)


def _mask(key, value):
    if value and _secret(key):
        return MASK
    if isinstance(value, str) and "@" in value:
        return _masked_url(value)
    return value


def _masked_url(value):
    """``value`` with the password of a URL (``scheme://user:pass@host``,
    the scheme optional) masked, and all of a ``scheme://userinfo@host``
    without one (a token as user name); anything else unchanged. The
    userinfo is what comes before the host, i.e. before the last ``@``:
    a password typed unquoted may hold ``/``, ``?``, ``#``, ``@`` or
    ``:``, so no parser that stops at them finds where it ends."""
    scheme, separator, rest = value.partition("://")
    if not separator:
        scheme, rest = "", value
    credentials, at, host = rest.rpartition("@")
    if not at or (":" not in credentials and not separator):
        return value
    user, colon, _password = credentials.partition(":")
    shown = f"{user}:{MASK}" if colon else MASK
    return f"{scheme}{separator}{shown}@{host}"
