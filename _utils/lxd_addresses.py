"""
What an ``lxd:addresses`` value names: a pure parser shared by the pillar's
validation and ``lxd_host.address`` (which resolves it on the host).
"""

import ipaddress
import re

# An interface name as the kernel allows it (IFNAMSIZ - 1 characters).
INTERFACE_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.@-]{0,14}$")


def parse_address(spec):
    """
    Return what an ``lxd:addresses`` value names, as ``(kind, value, port)``:
    ``("ip", ip, port)`` for ``IP``, ``IP:port``, ``[v6]`` or ``[v6]:port``;
    ``("network", network, None)`` for a CIDR; ``("interface", name, None)``
    for an interface name. Raises ValueError naming what is wrong.
    """
    text = str(spec).strip()
    if "/" in text:
        return ("network", ipaddress.ip_network(text, strict=False), None)
    host, port = text, None
    bracketed = re.match(r"^\[([^\]]+)\](?::(\d+))?$", text)
    if bracketed:
        host, port = bracketed.groups()
    elif text.count(":") == 1:
        host, port = text.split(":")
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        if bracketed or port is not None or re.match(r"^[0-9.]+$", host):
            raise ValueError(f"{spec!r} is not an IP address") from None
        if not INTERFACE_RE.match(host):
            raise ValueError(
                f"{spec!r} is not an IP, IP:port, [IPv6]:port, CIDR or interface name"
            ) from None
        return ("interface", host, None)
    if port is not None and not 0 < int(port) < 65536:
        raise ValueError(f"{spec!r}: port {port} is out of range")
    return ("ip", ip, int(port) if port else None)
