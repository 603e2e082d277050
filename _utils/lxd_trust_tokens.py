"""
Trust tokens (what ``lxc remote add`` takes): their expiry, the file
``lxd_trust.token`` keeps one in, and the token as ``lxc config trust
add`` prints it.

Pure functions: they raise ValueError or return a problem (a string) or
None; the execution module turns those into its errors.
"""

import base64
import json

try:  # installed as the saltext-lxd package
    from saltext.lxd.utils.lxd_settings import expiry_seconds as lxd_expiry_seconds
except ImportError:  # synced from _utils: Salt puts the utils directories on sys.path
    from lxd_settings import expiry_seconds as lxd_expiry_seconds

# LXD writes year 1 for a token that never expires
NEVER = "0001-01-01T00:00:00Z"


def expiry_seconds(expiry):
    """The longest time LXD expiry ``expiry`` can mean, in seconds; a
    ValueError naming ``expiry`` when it is not one."""
    try:
        seconds = lxd_expiry_seconds(str(expiry))
    except (KeyError, ValueError, IndexError):
        seconds = 0
    if seconds <= 0:
        raise ValueError(f"expiry: {expiry!r} is not an LXD expiry (e.g. 1H, 1d 12H)")
    return seconds


def file_name_problem(name):
    """Why client name ``name`` cannot be the file its token is written to
    (it would leave the token directory, or pass for an option), or None."""
    if name in ("", ".") or "/" in name or ".." in name:
        return "names a path, not a file"
    if name.startswith("-"):
        return "starts with '-'"
    if any(ord(char) < 32 or ord(char) == 127 for char in name):
        return "holds control characters"
    return None


def issued(name, grant, notes):
    """What issuing a token for client ``name`` returns, from the metadata
    of LXD's token operation (``grant``): ``name``, ``expires_at`` (None
    when it never expires), ``notes`` and the ``token``, encoded as ``lxc
    config trust add`` prints it."""
    token = {
        "client_name": name,
        "fingerprint": grant["fingerprint"],
        "addresses": grant["addresses"],
        "secret": grant["secret"],
        "expires_at": grant.get("expiresAt", NEVER),
    }
    return {
        "name": name,
        "expires_at": None if token["expires_at"].startswith("0001-") else token["expires_at"],
        "notes": notes,
        "token": base64.b64encode(json.dumps(token).encode()).decode(),
    }
